"""The file components of a layer: one per packed file with its SHA-256, written as JSON text one at
a time (a dataset layer may hold a hundred thousand) and checked without building each as a dict.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from json.encoder import encode_basestring
from typing import Any

from ocikit._layers._types import FileRecord
from ocikit._trust._sbom_doc import EXECUTABLE_DESERIALIZATION, PROP_FILE_PATH, P

__all__ = ["FileListing", "check_file_component", "file_json", "file_text"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def file_json(bom_ref: str, rec: FileRecord, kind: tuple[str, str] | None) -> dict[str, Any]:
    """One packed file as CycloneDX JSON (keys and properties sorted like the library writes them)."""
    props: dict[str, str] = {PROP_FILE_PATH: rec.path, f"{P}file:size": str(rec.size)}
    if kind is not None:
        props[EXECUTABLE_DESERIALIZATION] = "true"
        props[f"{P}security:format"] = kind[0]
        props[f"{P}security:detectedBy"] = kind[1]
    return {
        "bom-ref": bom_ref,
        "hashes": [{"alg": "SHA-256", "content": rec.sha256}],
        "name": rec.path,
        "properties": [{"name": k, "value": v} for k, v in sorted(props.items())],
        "type": "file",
    }


def file_text(bom_ref: str, rec: FileRecord, kind: tuple[str, str] | None, indent: str) -> str:
    """``json.dumps(file_json(...), indent=2, ensure_ascii=False)`` with every line after the
    first indented by ``indent``, written out: with ``indent`` set, ``json`` runs its pure-Python
    encoder, ~13 µs per file component; this is a few (tests compare the two)."""
    q = encode_basestring
    i1 = "\n" + indent + "  "
    i2 = i1 + "  "
    i3 = i2 + "  "
    props = [(PROP_FILE_PATH, rec.path), (f"{P}file:size", str(rec.size))]
    if kind is not None:
        props += [(EXECUTABLE_DESERIALIZATION, "true"), (f"{P}security:format", kind[0]),
                  (f"{P}security:detectedBy", kind[1])]
        props.sort()
    listed = ",".join(f'{i2}{{{i3}"name": {q(k)},{i3}"value": {q(v)}{i2}}}' for k, v in props)
    return (f'{{{i1}"bom-ref": {q(bom_ref)},{i1}"hashes": [{i2}{{{i3}"alg": "SHA-256",{i3}"content": '
            f'{q(rec.sha256)}{i2}}}{i1}],{i1}"name": {q(rec.path)},{i1}"properties": [{listed}{i1}],'
            f'{i1}"type": "file"\n{indent}}}')


def _plain_file(bom_ref: str, rec: FileRecord, kind: tuple[str, str] | None) -> bool:
    """What :func:`check_file_component` accepts, checked without building the component."""
    # typed as str, but a caller's records are checked, not trusted (as the schema would)
    values: tuple[object, ...] = (bom_ref, rec.path, rec.sha256, *(kind or ()))
    return (all(isinstance(v, str) for v in values) and bom_ref != ""
            and _HEX64.match(rec.sha256) is not None)


class FileListing:
    """The file components of one layer, kept small: the JSON is generated again when written.

    A dataset layer may hold a hundred thousand files; their components as dicts took ~4 KiB
    each (460 MiB at 100,000 files). What is kept per file is its bom-ref; the pickle verdicts
    (rare) by position; the schema sample (the first few and the first of each shape, see
    :meth:`sample_of`); the first error.
    """

    __slots__ = ("_count", "_shapes", "error", "kinds", "records", "refs", "sample")

    def __init__(self, records: Sequence[FileRecord] = ()) -> None:
        self.records = records
        self.refs: list[str] = []
        self.kinds: dict[int, tuple[str, str]] = {}
        self.sample: list[dict[str, Any]] = []
        self.error: str | None = None
        self._shapes: set[tuple[str, ...]] = set()
        self._count = 0

    def sample_of(self, component: dict[str, Any]) -> None:
        shape = tuple(p["name"] for p in component["properties"])
        if self._count < 8 or shape not in self._shapes:
            self.sample.append(component)
        self._shapes.add(shape)
        self._count += 1

    def add(self, bom_ref: str, rec: FileRecord, kind: tuple[str, str] | None) -> None:
        # Only two shapes exist (with or without the pickle properties): a dict is built for the
        # sample's members and for a file that fails the plain check (to name the error).
        shape = _SHAPES[kind is not None]
        plain = _plain_file(bom_ref, rec, kind)
        if self._count < 8 or shape not in self._shapes or not plain:
            component = file_json(bom_ref, rec, kind)
            self.sample_of(component)
            if not plain and self.error is None:
                self.error = check_file_component(component)
        else:
            self._count += 1
        if kind is not None:
            self.kinds[len(self.refs)] = kind
        self.refs.append(bom_ref)

    def texts(self, indent: str) -> Iterator[str]:
        for i, (ref, rec) in enumerate(zip(self.refs, self.records, strict=True)):
            yield file_text(ref, rec, self.kinds.get(i), indent)


#: The property names of a file component without and with the pickle flags (sorted).
_SHAPES = (
    tuple(sorted((PROP_FILE_PATH, f"{P}file:size"))),
    tuple(sorted((PROP_FILE_PATH, f"{P}file:size", EXECUTABLE_DESERIALIZATION, f"{P}security:format",
                  f"{P}security:detectedBy"))),
)


def check_file_component(f: Mapping[str, Any]) -> str | None:
    """What the 1.6 schema demands of the values in a file component built by :func:`file_json`."""
    ok = (
        isinstance(f.get("bom-ref"), str) and f["bom-ref"] != ""
        and isinstance(f.get("name"), str)
        and f.get("type") == "file"
        and all(h.get("alg") == "SHA-256" and isinstance(h.get("content"), str) and _HEX64.match(h["content"])
                for h in f.get("hashes", []))
        and all(isinstance(p.get("name"), str) and isinstance(p.get("value"), str) for p in f.get("properties", []))
    )
    return None if ok else f"file component {f.get('name')!r} is malformed"
