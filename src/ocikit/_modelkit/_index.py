"""ModelKit indexes (kit 1.17 ``kit index``): typed variants, parsing, the exact bytes, label selection.

A ModelKit index is an OCI image index (https://github.com/opencontainers/image-spec/blob/main/image-index.md)
with ``artifactType`` ``application/vnd.kitops.modelkit.index.v1+json`` whose entries are the
ModelKits of one model's variants (docs/model-index.md). Each entry is an OCI descriptor plus
kit's ``modelMetadata`` object: label name → a JSON value, stored verbatim (kit's
``ModelMetadata map[string]json.RawMessage``). ``key=value`` labels are JSON strings,
``key:=json`` labels raw JSON. The entry annotation ``ml.kitops.modelkit.original-tag`` records
the tag a ModelKit was added by.

Bytes follow Go's ``encoding/json`` of kit's structs: index fields in the order schemaVersion,
mediaType, artifactType, manifests (``[]`` when empty, never ``null``), subject, annotations;
each entry the descriptor's fields then ``modelMetadata`` (keys sorted, as Go sorts map keys;
each value compacted, numbers kept as written). Parsing is hostile-input safe: bounded size and
entry count, duplicate JSON keys and duplicate child digests refused, every child must be an OCI
image manifest (a nested index is refused: a variant is a ModelKit, nesting depth 0).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ocikit._io._json import refuse_duplicate_keys
from ocikit._oci._gojson import go_json
from ocikit._oci._model import INDEX, MANIFEST, Descriptor
from ocikit.errors import UsageError, VerificationError

__all__ = [
    "ANNOTATION_ORIGINAL_TAG",
    "ARTIFACT_TYPE_KIT_INDEX",
    "MAX_INDEX_BYTES",
    "MAX_VARIANTS",
    "ModelKitIndex",
    "Variant",
    "is_kit_index",
    "parse_label_changes",
    "parse_selector",
]

ARTIFACT_TYPE_KIT_INDEX = "application/vnd.kitops.modelkit.index.v1+json"
ANNOTATION_ORIGINAL_TAG = "ml.kitops.modelkit.original-tag"
#: An index larger than this, or with more entries, is refused before it is parsed further.
MAX_INDEX_BYTES = 1024 * 1024
MAX_VARIANTS = 1024
_MAX_LABEL_BYTES = 64 * 1024


class _Number(str):
    """A JSON number's text, kept verbatim (kit stores values as ``json.RawMessage``)."""


def _load(data: bytes | str, where: str) -> Any:
    try:
        return json.loads(data, object_pairs_hook=refuse_duplicate_keys(lambda m: VerificationError(f"{where}: {m}")),
                          parse_float=_Number, parse_int=_Number, parse_constant=_bad_constant)
    except VerificationError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise VerificationError(f"{where}: not valid JSON ({e})") from e


def _bad_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _compact(value: Any) -> str:
    """Go's ``json.Compact`` of a parsed value (object key order kept, numbers verbatim)."""
    if isinstance(value, _Number):
        return str.__str__(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{go_json(k).decode()}:{_compact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_compact(v) for v in value) + "]"
    return go_json(value).decode()


def _plain(value: Any) -> Any:
    """A parsed value with numbers as int/float (for JSON output of ``index list``)."""
    if isinstance(value, _Number):
        text = str.__str__(value)
        return float(text) if any(c in text for c in ".eE") else int(text)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def format_label(raw: str) -> str:
    """kit's ``FormatLabelValue``: a string value unquoted, anything else as its compact JSON."""
    value = _load(raw, "label")
    return value if isinstance(value, str) and not isinstance(value, _Number) else raw


@dataclass(frozen=True)
class Variant:
    """One entry of a ModelKit index: the ModelKit's descriptor and its labels (raw compact JSON)."""

    descriptor: Descriptor
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def labels(self) -> dict[str, str]:
        """Label name → its value as kit shows it (``quantization`` → ``q4_0``)."""
        return {k: format_label(v) for k, v in sorted(self.metadata.items())}

    @property
    def original_tag(self) -> str | None:
        return self.descriptor.annotations.get(ANNOTATION_ORIGINAL_TAG)

    def label_pairs(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.labels.items()]

    def to_dict(self) -> dict[str, Any]:
        """JSON for ``index list --json``: digest, size in integer bytes, labels (as JSON values)."""
        return {"digest": str(self.descriptor.digest), "mediaType": self.descriptor.media_type,
                "size": self.descriptor.size, "tag": self.original_tag,
                "labels": {k: _plain(_load(v, "label")) for k, v in sorted(self.metadata.items())},
                "annotations": dict(sorted(self.descriptor.annotations.items()))}

    def _json(self) -> str:
        entry = go_json(self.descriptor.to_dict()).decode()
        if not self.metadata:
            return entry
        meta = ",".join(f"{go_json(k).decode()}:{v}" for k, v in sorted(self.metadata.items()))
        return entry[:-1] + ',"modelMetadata":{' + meta + "}}"


@dataclass(frozen=True)
class ModelKitIndex:
    """A ModelKit index: its variants in order, and the index's own annotations."""

    variants: tuple[Variant, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        out = ('{"schemaVersion":2,"mediaType":' + go_json(INDEX).decode() + ',"artifactType":'
               + go_json(ARTIFACT_TYPE_KIT_INDEX).decode() + ',"manifests":['
               + ",".join(v._json() for v in self.variants) + "]")
        if self.annotations:
            out += ',"annotations":' + go_json(dict(sorted(self.annotations.items()))).decode()
        return (out + "}").encode("utf-8")

    def get(self, digest: str) -> Variant | None:
        return next((v for v in self.variants if str(v.descriptor.digest) == digest), None)

    def with_variant(self, variant: Variant) -> ModelKitIndex:
        """kit's ``AddEntry``: an entry with the same digest is replaced in place, else appended."""
        if len(self.variants) >= MAX_VARIANTS and self.get(str(variant.descriptor.digest)) is None:
            raise UsageError(f"an index holds at most {MAX_VARIANTS} ModelKits")
        found = False
        out = []
        for v in self.variants:
            if v.descriptor.digest == variant.descriptor.digest:
                out.append(variant)
                found = True
            else:
                out.append(v)
        if not found:
            out.append(variant)
        return ModelKitIndex(tuple(out), self.annotations)

    def without(self, digest: str) -> ModelKitIndex:
        if self.get(digest) is None:
            raise UsageError(f"the index has no ModelKit {digest}",
                             hint="see the digests with 'ocikit index list'")
        return ModelKitIndex(tuple(v for v in self.variants if str(v.descriptor.digest) != digest),
                             self.annotations)

    def select(self, selector: Mapping[str, str], where: str) -> Variant:
        """kit's ``SelectEntry``: the one variant carrying every selected label (exit 2 otherwise)."""
        matches = [v for v in self.variants if all(v.labels.get(k) == want for k, want in selector.items())]
        if len(matches) == 1:
            return matches[0]
        if not self.variants:
            raise UsageError(f"{where}: index contains no ModelKits")
        if not matches:
            wanted = ", ".join(f"{k}={v}" for k, v in sorted(selector.items())) or "no labels"
            raise UsageError(f"{where}: no ModelKit in the index has {wanted}. The index contains:\n"
                             + describe(self.variants), hint="choose one with --select KEY=VALUE")
        raise UsageError(f"{where}: {len(matches)} ModelKits in the index match; add labels to select one "
                         "of:\n" + describe(matches), hint="choose one with --select KEY=VALUE")

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "index") -> ModelKitIndex:
        if len(data) > MAX_INDEX_BYTES:
            raise VerificationError(f"{where}: {len(data)} bytes is larger than the {MAX_INDEX_BYTES}-byte "
                                    "limit for a ModelKit index")
        obj = _load(data, where)
        if not is_kit_index(obj):
            raise VerificationError(f"{where}: not a ModelKit index (an OCI image index with artifactType "
                                    f"{ARTIFACT_TYPE_KIT_INDEX})")
        raw = obj.get("manifests")
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            raise VerificationError(f"{where}: manifests must be a list")
        if len(raw) > MAX_VARIANTS:
            raise VerificationError(f"{where}: {len(raw)} entries; a ModelKit index holds at most {MAX_VARIANTS}")
        variants = tuple(_variant(e, f"{where} entry {i}") for i, e in enumerate(raw))
        seen: set[str] = set()
        for v in variants:
            if str(v.descriptor.digest) in seen:
                raise VerificationError(f"{where}: ModelKit {v.descriptor.digest} is listed twice")
            seen.add(str(v.descriptor.digest))
        annotations = obj.get("annotations") or {}
        if not isinstance(annotations, dict) or not all(isinstance(x, str) for x in annotations.values()):
            raise VerificationError(f"{where}: annotations must map strings to strings")
        return cls(variants, dict(annotations))


def is_kit_index(obj: Any) -> bool:
    """Whether a parsed document is a ModelKit index (image index mediaType, kit's artifactType)."""
    return (isinstance(obj, dict) and obj.get("schemaVersion") in (2, _Number("2"))
            and obj.get("mediaType") == INDEX and obj.get("artifactType") == ARTIFACT_TYPE_KIT_INDEX
            and "layers" not in obj and "config" not in obj)


def _variant(obj: Any, where: str) -> Variant:
    if not isinstance(obj, dict):
        raise VerificationError(f"{where}: must be an object")
    entry = {k: (int(v) if isinstance(v, _Number) and k == "size" and v.isdigit() else v)
             for k, v in obj.items() if k != "modelMetadata"}
    desc = Descriptor.from_dict(entry, where)
    if desc.media_type == INDEX:
        raise VerificationError(f"{where}: is itself an image index; a ModelKit index lists ModelKits only "
                                "(nested indexes are refused)")
    if desc.media_type != MANIFEST:
        raise VerificationError(f"{where}: media type {desc.media_type!r} is not an OCI image manifest")
    meta = obj.get("modelMetadata")
    if meta is None:
        return Variant(desc)
    if not isinstance(meta, dict):
        raise VerificationError(f"{where}: modelMetadata must be an object")
    return Variant(desc, {str(k): _compact(v) for k, v in meta.items()})


def describe(variants: Iterable[Variant]) -> str:
    """kit's ``DescribeEntries``: one line per variant, its tag (or digest) and labels."""
    lines = []
    for v in variants:
        labels = ", ".join(v.label_pairs()) or "no labels"
        lines.append(f"  {v.original_tag or v.descriptor.digest}  ({labels})")
    return "\n".join(lines)


def parse_selector(args: Sequence[str]) -> dict[str, str]:
    """kit's ``ParseLabelSelector``: ``key=value`` arguments, each key once."""
    selector: dict[str, str] = {}
    for arg in args:
        key, eq, value = arg.partition("=")
        if not eq or not key:
            raise UsageError(f"invalid label {arg!r}: expected key=value")
        if key in selector:
            raise UsageError(f"invalid label {arg!r}: {key} is already set to {selector[key]!r}; each label "
                             "can be specified only once")
        selector[key] = value
    return selector


def parse_label_changes(args: Sequence[str]) -> list[tuple[str, str | None]]:
    """``key=value`` (a JSON string), ``key:=json`` (raw JSON) or ``key-`` (remove) → (key, raw JSON or None)."""
    out: list[tuple[str, str | None]] = []
    for arg in args:
        if len(arg) > _MAX_LABEL_BYTES:
            raise UsageError(f"label {arg[:40]!r}… is longer than {_MAX_LABEL_BYTES} bytes")
        key, eq, value = arg.partition("=")
        if eq and key.endswith(":") and len(key) > 1:
            try:
                raw = _compact(_load(value, f"label {key[:-1]}"))
            except VerificationError as e:
                raise UsageError(f"invalid label {arg!r}: the value after := must be JSON") from e
            out.append((key[:-1], raw))
        elif eq and key:
            out.append((key, go_json(value).decode()))
        elif not eq and arg.endswith("-") and len(arg) > 1:
            out.append((arg[:-1], None))
        else:
            raise UsageError(f"invalid label {arg!r}: expected key=value to set, or key- to remove")
    return out


def apply_label_changes(metadata: Mapping[str, str], changes: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    out = dict(metadata)
    for key, raw in changes:
        if raw is None:
            out.pop(key, None)
        else:
            out[key] = raw
    return out
