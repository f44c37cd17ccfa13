"""CycloneDX 1.6 ML-BOM for a ModelKit: build, attach as an OCI 1.1 referrer, find, verify files.

What the SBOM holds (details in ``docs/sbom.md``):

* ``metadata.component`` — the ModelKit itself: a ``pkg:oci`` purl whose version is the manifest
  digest (https://github.com/package-url/purl-spec, type ``oci``), name/version/authors/license from
  the Kitfile ``package``, provenance properties (git commit and dirty flag, Kitfile digest).
* one component per layer — the model (``machine-learning-model`` with a ``modelCard``), its parts,
  each dataset (``data`` with ``data[]``), code (``application``) and docs (``file``) — hashed with the
  layer digest, holding one nested ``file`` component per packed file with its SHA-256;
* the Python dependencies declared in the code layers (``_deps``), optionally the packing environment;
* a ``dependencies`` graph tying them together.

cyclonedx-python-lib 11.x has no classes for ``modelCard`` or component ``data`` (``# TODO since
CDX1.5`` in ``cyclonedx/model/component.py``), so they are added to the JSON after the library
serialised the rest; the result is then validated against the strict 1.6 schema. The output is
deterministic: no random serial number, no wall-clock time (``SOURCE_DATE_EPOCH`` only), sorted.

Attachment follows the shape Trivy looks for (``signing-sbom.md`` §6.2): a manifest with
``artifactType: application/vnd.cyclonedx+json``, the empty config, exactly one layer of that media
type, and ``subject`` = the ModelKit manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import secrets
import stat
import subprocess
import uuid
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from json.encoder import encode_basestring
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ocikit._config import source_date_epoch
from ocikit._io._digest import CHUNK, Digest
from ocikit._kitfile._deps import PythonDependency, is_dependency_file, merge, parse_dependency_file
from ocikit._layers._tar import FileRecord, PackedLayer
from ocikit._oci._model import (
    ANNOTATION_TITLE,
    EMPTY_CONFIG,
    EMPTY_JSON,
    MANIFEST,
    Descriptor,
    Manifest,
)
from ocikit._oci._reference import Reference
from ocikit._store._storage import Storage, read_blob
from ocikit.errors import (
    FileVerificationError,
    NotFoundError,
    OcikitError,
    PackError,
    VerificationError,
)

if TYPE_CHECKING:
    from ocikit._config import RegistryOptions
    from ocikit._kitfile._model import Kitfile

__all__ = [
    "EXECUTABLE_DESERIALIZATION",
    "SBOM_FILENAME",
    "SBOM_MEDIA_TYPE",
    "VerifyFilesResult",
    "attach_sbom",
    "build_sbom",
    "find_sbom",
    "sbom",
    "verify_files",
]

log = logging.getLogger(__name__)

#: IANA media type of CycloneDX JSON. Used verbatim as the referrer's ``artifactType`` and layer
#: media type: Trivy compares the strings exactly, so no ``; version=1.6`` parameter.
SBOM_MEDIA_TYPE = "application/vnd.cyclonedx+json"
#: The name ``ocikit unpack`` gives the SBOM in the target directory (not a packed file).
SBOM_FILENAME = "SBOM.json"
#: Files in an unpacked directory that ocikit writes itself and the SBOM does not list.
_UNPACK_METADATA = frozenset({"Kitfile", SBOM_FILENAME})
#: Largest SBOM read back (about 500 bytes per file: a ModelKit with 400k files still fits).
MAX_SBOM_BYTES = 256 * 1024 * 1024

#: Property set on components whose bytes are deserialised by executing code (pickle and
#: formats built on it). Present only when true: a missing flag is never a claim of safety.
EXECUTABLE_DESERIALIZATION = "ocikit:security:executable-deserialization"

_P = "ocikit:"
_PROP_FILE_PATH = "ocikit:file:path"
_GIT_TIMEOUT = 10.0

#: Extensions of formats that unpickle on load (reliability.md §1.11). ``.bin`` is too generic to
#: flag by name (it is flagged by content, e.g. a PyTorch zip holding ``data.pkl``).
_PICKLE_EXTENSIONS = {
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".joblib": "joblib",
    ".pt": "pytorch",
    ".pth": "pytorch",
    ".ckpt": "pytorch",
}
_PICKLE_FORMATS = {"pickle", "pkl", "joblib", "pytorch", "torch", "pt", "pth", "ckpt"}

#: Kitfile section → (CycloneDX component type value, bom-ref prefix).
_SECTION_TYPES = {
    "model": ("machine-learning-model", "model"),
    "parts": ("machine-learning-model", "part"),
    "datasets": ("data", "dataset"),
    "code": ("application", "code"),
    "docs": ("file", "docs"),
}
_APPROACHES = {"supervised", "unsupervised", "reinforcement-learning", "semi-supervised", "self-supervised"}


# --------------------------------------------------------------------------------------------
# build


def build_sbom(
    kitfile: Kitfile,
    layers: Sequence[PackedLayer],
    manifest_desc: Descriptor,
    reference: Reference | None,
    context_dir: Path | None,
    *,
    include_env: bool = False,
    config: Descriptor | None = None,
) -> bytes:
    """The CycloneDX 1.6 JSON SBOM of a packed ModelKit (validated; same inputs → same bytes).

    ``kitfile`` is an :class:`ocikit._kitfile._model.Kitfile`; ``layers`` the layers as written (their
    :class:`FileRecord` hashes are used, nothing is re-hashed); ``context_dir`` is where the
    dependency files of code layers are read and the git provenance is taken (``None`` skips both);
    ``config`` is the Kitfile config blob's descriptor, recorded as the Kitfile digest.
    """
    builder = _Builder(kitfile, layers, manifest_desc, reference, context_dir, include_env, config)
    return builder.build()


def _get(obj: Any, name: str) -> Any:
    return getattr(obj, name, None) if obj is not None else None


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _scalar(value: Any) -> str:
    """A Kitfile parameter value as the string CycloneDX wants (metrics values are strings)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)



def git_provenance(context_dir: Path) -> dict[str, str]:
    """``{commit, dirty}`` of the checkout holding ``context_dir``; ``{}`` without git or a repo.

    ``core.fsmonitor`` is forced off: a repository's own config could otherwise make ``git status``
    run a command of its choosing. ``dirty`` is scoped to ``context_dir`` (what was packed).
    """
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    base = ["git", "-c", "core.fsmonitor=false", "-C", str(context_dir)]
    try:
        head = subprocess.run(
            [*base, "rev-parse", "--verify", "--quiet", "HEAD^{commit}"],
            capture_output=True, text=True, timeout=_GIT_TIMEOUT, env=env, check=False,
        )
        if head.returncode != 0:
            return {}
        commit = head.stdout.strip()
        if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit):
            return {}
        status = subprocess.run(
            [*base, "status", "--porcelain", "--", "."],
            capture_output=True, text=True, timeout=_GIT_TIMEOUT, env=env, check=False,
        )
    except (OSError, subprocess.SubprocessError) as e:  # no git binary, timeout, ...
        log.info("no git provenance for %s: %s", context_dir, e)
        return {}
    out = {"commit": commit}
    if status.returncode == 0:
        out["dirty"] = "true" if status.stdout.strip() else "false"
    return out


def _inside(root: Path, rel: str) -> Path | None:
    """``root/rel`` if it stays inside ``root`` (no absolute path, no ``..``), else None."""
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or "\\" in rel:
        return None
    return root.joinpath(*pure.parts)


def _suffix(path: str) -> str:
    """``PurePosixPath(path).suffix`` without building a path object (called once per file)."""
    name = path.rstrip("/").rpartition("/")[2]
    i = name.rfind(".")
    return name[i:] if 0 < i < len(name) - 1 else ""


def pickle_kind(path: str, local: str | os.PathLike[str] | None) -> tuple[str, str] | None:
    """``(format, how)`` if the file is a pickle-based format, by extension and by content magic.

    Content checks are cheap: the first two bytes (pickle protocol 2+ starts with ``0x80 <proto>``,
    https://github.com/python/cpython/blob/main/Lib/pickletools.py) and, for zip files, the central
    directory (PyTorch's ``torch.save`` zip holds ``<name>/data.pkl``).
    """
    ext = _suffix(path).lower()
    by_name = None if ext == ".safetensors" else _PICKLE_EXTENSIONS.get(ext)
    if local is not None:
        try:
            if stat.S_ISREG(os.lstat(local).st_mode):
                # os-level open/read: this runs once per packed file, and a buffered file object
                # costs several syscalls and microseconds more per file (docs/performance.md)
                fd = os.open(local, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                try:
                    head = os.read(fd, 4)
                finally:
                    os.close(fd)
                if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
                    return (by_name or "pickle", "content")
                if head == b"PK\x03\x04":
                    with zipfile.ZipFile(local) as zf:
                        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in zf.namelist()):
                            return ("pytorch", "content")
        except (OSError, zipfile.BadZipFile, ValueError) as e:
            log.debug("could not look inside %s: %s", local, e)
    if by_name is not None:
        return (by_name, "extension")
    return None


@lru_cache(maxsize=1)
def _validator() -> Any:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    return JsonStrictValidator(SchemaVersion.V1_6)


#: Components (and dependency entries) per validation view; see :func:`_validation_views`.
_VIEW_SIZE = 50


def _validation_views(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Copies of ``doc`` with at most :data:`_VIEW_SIZE` leaf components per list, covering all.

    The schema marks ``components`` and ``dependencies`` ``uniqueItems``; jsonschema checks that
    pairwise for objects (``jsonschema._utils.uniq``), which is quadratic: 5000 files in one layer
    took 6 s. Each view keeps every component that has children (so every leaf keeps its full
    parent chain) and one slice of the leaves, so every component is validated by the strict
    validator in some view. Uniqueness across views is the caller's check: distinct bom-refs.
    """
    split: dict[int, tuple[list[Any], list[list[Any]]]] = {}  # id(list) → (containers, leaf chunks)

    def prepare(items: list[Any]) -> int:
        containers = [c for c in items if isinstance(c, dict) and c.get("components")]
        leaves = [c for c in items if not (isinstance(c, dict) and c.get("components"))]
        chunks = [leaves[i:i + _VIEW_SIZE] for i in range(0, len(leaves), _VIEW_SIZE)] or [[]]
        split[id(items)] = (containers, chunks)
        return max([len(chunks), *(prepare(c["components"]) for c in containers)])

    def view(items: list[Any], i: int) -> list[Any]:
        containers, chunks = split[id(items)]
        return [{**c, "components": view(c["components"], i)} for c in containers] + chunks[i % len(chunks)]

    components = doc.get("components") or []
    dependencies = doc.get("dependencies") or []
    total = max(prepare(components), -(-len(dependencies) // _VIEW_SIZE), 1)
    if total == 1:
        return [doc]
    out = []
    for i in range(total):
        v = dict(doc)
        if components:
            v["components"] = view(components, i)
        if dependencies:
            start = (i % max(1, -(-len(dependencies) // _VIEW_SIZE))) * _VIEW_SIZE
            v["dependencies"] = dependencies[start:start + _VIEW_SIZE]
        out.append(v)
    return out


def validate_sbom(text: str) -> str | None:
    """None when ``text`` is valid CycloneDX 1.6 JSON (strict schema), else the first error.

    Large documents are validated in views (:func:`_validation_views`) plus a bom-ref
    uniqueness check, which together imply the ``uniqueItems`` constraints the views split up.
    """
    doc = json.loads(text)
    views = _validation_views(doc) if isinstance(doc, dict) else [doc]
    if len(views) > 1:
        refs = [c.get("bom-ref") for c in _iter_components(doc)]
        if len(refs) != len(set(refs)) or None in refs:
            return "bom-refs are missing or not unique"
        dep_refs = [d.get("ref") for d in doc.get("dependencies") or [] if isinstance(d, Mapping)]
        if len(dep_refs) != len(set(dep_refs)):
            return "dependencies list a ref twice"
    for v in views:
        error = _validator().validate_str(text if v is doc else json.dumps(v))
        if error is None:
            continue
        data = getattr(error, "data", None)
        where = "/".join(str(p) for p in getattr(data, "absolute_path", []) or [])
        message = getattr(data, "message", None) or str(error)
        return f"{message} (at /{where})" if where else str(message)
    return None


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _file_json(bom_ref: str, rec: FileRecord, kind: tuple[str, str] | None) -> dict[str, Any]:
    """One packed file as CycloneDX JSON (keys and properties sorted like the library writes them)."""
    props: dict[str, str] = {_PROP_FILE_PATH: rec.path, f"{_P}file:size": str(rec.size)}
    if kind is not None:
        props[EXECUTABLE_DESERIALIZATION] = "true"
        props[f"{_P}security:format"] = kind[0]
        props[f"{_P}security:detectedBy"] = kind[1]
    return {
        "bom-ref": bom_ref,
        "hashes": [{"alg": "SHA-256", "content": rec.sha256}],
        "name": rec.path,
        "properties": [{"name": k, "value": v} for k, v in sorted(props.items())],
        "type": "file",
    }


def _file_text(bom_ref: str, rec: FileRecord, kind: tuple[str, str] | None, indent: str) -> str:
    """``json.dumps(_file_json(...), indent=2, ensure_ascii=False)`` with every line after the
    first indented by ``indent``, written out: with ``indent`` set, ``json`` runs its pure-Python
    encoder, ~13 µs per file component; this is a few (tests compare the two)."""
    q = encode_basestring
    i1 = "\n" + indent + "  "
    i2 = i1 + "  "
    i3 = i2 + "  "
    props = [(_PROP_FILE_PATH, rec.path), (f"{_P}file:size", str(rec.size))]
    if kind is not None:
        props += [(EXECUTABLE_DESERIALIZATION, "true"), (f"{_P}security:format", kind[0]),
                  (f"{_P}security:detectedBy", kind[1])]
        props.sort()
    listed = ",".join(f'{i2}{{{i3}"name": {q(k)},{i3}"value": {q(v)}{i2}}}' for k, v in props)
    return (f'{{{i1}"bom-ref": {q(bom_ref)},{i1}"hashes": [{i2}{{{i3}"alg": "SHA-256",{i3}"content": '
            f'{q(rec.sha256)}{i2}}}{i1}],{i1}"name": {q(rec.path)},{i1}"properties": [{listed}{i1}],'
            f'{i1}"type": "file"\n{indent}}}')


def _plain_file(bom_ref: str, rec: FileRecord, kind: tuple[str, str] | None) -> bool:
    """What :func:`_check_file_component` accepts, checked without building the component."""
    # typed as str, but a caller's records are checked, not trusted (as the schema would)
    values: tuple[object, ...] = (bom_ref, rec.path, rec.sha256, *(kind or ()))
    return (all(isinstance(v, str) for v in values) and bom_ref != ""
            and _HEX64.match(rec.sha256) is not None)


class _FileListing:
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
            component = _file_json(bom_ref, rec, kind)
            self.sample_of(component)
            if not plain and self.error is None:
                self.error = _check_file_component(component)
        else:
            self._count += 1
        if kind is not None:
            self.kinds[len(self.refs)] = kind
        self.refs.append(bom_ref)

    def texts(self, indent: str) -> Iterator[str]:
        for i, (ref, rec) in enumerate(zip(self.refs, self.records, strict=True)):
            yield _file_text(ref, rec, self.kinds.get(i), indent)


#: The property names of a file component without and with the pickle flags (sorted).
_SHAPES = (
    tuple(sorted((_PROP_FILE_PATH, f"{_P}file:size"))),
    tuple(sorted((_PROP_FILE_PATH, f"{_P}file:size", EXECUTABLE_DESERIALIZATION, f"{_P}security:format",
                  f"{_P}security:detectedBy"))),
)


def _check_file_component(f: Mapping[str, Any]) -> str | None:
    """What the 1.6 schema demands of the values in a file component built by :func:`_file_json`."""
    ok = (
        isinstance(f.get("bom-ref"), str) and f["bom-ref"] != ""
        and isinstance(f.get("name"), str)
        and f.get("type") == "file"
        and all(h.get("alg") == "SHA-256" and isinstance(h.get("content"), str) and _HEX64.match(h["content"])
                for h in f.get("hashes", []))
        and all(isinstance(p.get("name"), str) and isinstance(p.get("value"), str) for p in f.get("properties", []))
    )
    return None if ok else f"file component {f.get('name')!r} is malformed"


def _license_factory() -> Any:
    try:
        from cyclonedx.contrib.license.factories import LicenseFactory
    except ImportError:  # cyclonedx-python-lib < 11.5
        from cyclonedx.factory.license import LicenseFactory
    return LicenseFactory()


class _Builder:
    """One SBOM build. Holds the library objects and the JSON patches applied afterwards."""

    def __init__(
        self,
        kitfile: Any,
        layers: Sequence[PackedLayer],
        manifest_desc: Descriptor,
        reference: Reference | None,
        context_dir: Path | None,
        include_env: bool,
        config: Descriptor | None,
    ) -> None:
        self.kitfile = kitfile
        self.layers = list(layers)
        self.manifest_desc = manifest_desc
        self.reference = reference
        self.context_dir = context_dir
        self.include_env = include_env
        self.config = config
        self.refs: set[str] = set()
        self.model_cards: dict[str, dict[str, Any]] = {}
        self.component_data: dict[str, list[dict[str, Any]]] = {}
        self._dep_sources: dict[str, tuple[str, ...]] = {}
        self.nested_files: dict[str, _FileListing] = {}

    # -- small helpers ------------------------------------------------------------------------

    def _ref(self, wanted: str) -> str:
        ref, n = wanted, 2
        while ref in self.refs:
            ref, n = f"{wanted}-{n}", n + 1
        self.refs.add(ref)
        return ref

    @staticmethod
    def _props(pairs: Mapping[str, str | None]) -> list[Any]:
        from cyclonedx.model import Property

        return [Property(name=k, value=v) for k, v in pairs.items() if v is not None]

    @staticmethod
    def _sha256(hex_digest: str) -> list[Any]:
        from cyclonedx.model import HashAlgorithm, HashType

        return [HashType(alg=HashAlgorithm.SHA_256, content=hex_digest)]

    @staticmethod
    def _licenses(value: Any) -> list[Any]:
        text = _str_or_none(value)
        return [_license_factory().make_from_string(text)] if text else []

    def _local(self, path: str) -> Path | None:
        return _inside(self.context_dir, path) if self.context_dir is not None else None

    def _local_str(self, path: str) -> str | None:
        """:meth:`_local` as a string, without path objects for the usual clean tar name."""
        if self.context_dir is None:
            return None
        if (path and not path.startswith(("/", "./")) and "\\" not in path and "//" not in path
                and not path.endswith(("/", "/.")) and "/./" not in path and path != "."
                and ".." not in path.split("/")):
            return f"{self.context_dir}/{path}"
        local = self._local(path)
        return None if local is None else str(local)

    # -- the document ------------------------------------------------------------------------

    def build(self) -> bytes:
        from cyclonedx.model.bom import Bom
        from cyclonedx.model.component import Component, ComponentType
        from cyclonedx.output.json import JsonV1Dot6

        bom = Bom(serial_number=uuid.uuid5(uuid.NAMESPACE_URL, f"ocikit:sbom:{self.manifest_desc.digest}"))
        timestamp = source_date_epoch()
        if timestamp is not None:
            bom.metadata.timestamp = timestamp
        from ocikit._version import __version__

        bom.metadata.tools.components.add(
            Component(type=ComponentType.APPLICATION, name="ocikit", version=__version__)
        )
        modelkit = self._modelkit_component()
        bom.metadata.component = modelkit

        elements = self._element_components()
        for component, _ in elements.values():
            bom.components.add(component)

        deps, deps_by_layer = self._python_dependencies()
        dep_components: dict[str, Any] = {}
        for dep in deps:
            comp = self._dependency_component(dep)
            dep_components[str(comp.bom_ref.value)] = comp
            bom.components.add(comp)

        # the graph: ModelKit → every element; model → its parts; code → its Python dependencies
        bom.register_dependency(modelkit, [c for c, _ in elements.values()])
        model = elements.get("model")
        parts = [c for key, (c, _) in elements.items() if key.startswith("part-")]
        if model is not None and parts:
            bom.register_dependency(model[0], parts)
        for component, layer in elements.values():
            if layer is not None and layer.kind == "code":
                refs = deps_by_layer.get(id(layer), [])
                targets = [dep_components[r] for r in refs if r in dep_components]
                if targets:
                    bom.register_dependency(component, targets)
        if self.include_env:
            env = self._environment_component()
            bom.components.add(env)
            env_refs = [r for r, c in dep_components.items() if "environment" in self._dep_sources.get(r, ())]
            bom.register_dependency(env, [dep_components[r] for r in env_refs])

        doc = json.loads(JsonV1Dot6(bom).output_as_string())
        if timestamp is None:  # the library stamps "now"; without SOURCE_DATE_EPOCH there is no time
            doc.get("metadata", {}).pop("timestamp", None)
        # Validate with a sample of the generated file components (the first few and one of
        # each shape), and every file component with the same checks the schema makes of
        # their values: validating 50k identical-shaped entries with jsonschema took 26 s.
        sample = {ref: listing.sample for ref, listing in self.nested_files.items()}
        self._patch(doc, sample)
        error = validate_sbom(json.dumps(doc, ensure_ascii=False))
        if error is None:
            error = next((listing.error for listing in self.nested_files.values() if listing.error), None)
        # The file lists go in as placeholders and are written one component at a time below, so
        # neither the lists nor a second copy of the whole text are ever held (docs/performance.md).
        marker = f"\0ocikit-files-{secrets.token_hex(8)}:"
        self._patch(doc, {ref: f"{marker}{i}" for i, ref in enumerate(self.nested_files)})
        text = json.dumps(self._ordered(doc), indent=2, ensure_ascii=False) + "\n"
        if error is not None:
            raise OcikitError(
                f"internal error: the generated SBOM for {self.manifest_desc.digest} is not valid "
                f"CycloneDX 1.6: {error}",
                hint="this is a bug in ocikit; please report it with the Kitfile",
            )
        return self._splice(text, json.dumps(marker, ensure_ascii=False)[:-1])

    def _splice(self, text: str, quoted_marker: str) -> bytes:
        """``text`` with each placeholder replaced by its file list, formatted as ``json.dumps``
        (``indent=2``) formats a list at that depth; JSON strings hold no raw newline, so
        re-indenting a component's own ``json.dumps`` is exact."""
        listings = list(self.nested_files.values())
        out = io.BytesIO()
        pos = 0
        while True:
            start = text.find(quoted_marker, pos)
            if start < 0:
                break
            end = text.index('"', start + len(quoted_marker)) + 1
            listing = listings[int(text[start + len(quoted_marker):end - 1])]
            line = text.rfind("\n", 0, start) + 1
            outer = " " * (len(text[line:start]) - len(text[line:start].lstrip(" ")))
            inner = outer + "  "
            out.write(text[pos:start].encode("utf-8"))
            out.write(b"[")
            first, sep = ("\n" + inner).encode(), (",\n" + inner).encode()
            for i, component in enumerate(listing.texts(inner)):
                out.write(sep if i else first)
                out.write(component.encode("utf-8"))
            out.write(b"\n" + outer.encode() + b"]")
            pos = end
        out.write(text[pos:].encode("utf-8"))
        return out.getvalue()

    @staticmethod
    def _ordered(doc: dict[str, Any]) -> dict[str, Any]:
        """Top-level keys in reading order (the library writes them alphabetically, ``$schema`` last)."""
        first = ["$schema", "bomFormat", "specVersion", "serialNumber", "version", "metadata",
                 "components", "dependencies"]
        out = {k: doc[k] for k in first if k in doc}
        out.update({k: v for k, v in doc.items() if k not in out})
        return out

    def _patch(self, doc: dict[str, Any], files: Mapping[str, list[dict[str, Any]] | str]) -> None:
        """Add ``modelCard`` and ``data`` (not modelled by cyclonedx-python-lib 11.x) by bom-ref."""

        def walk(components: list[dict[str, Any]]) -> None:
            for comp in components:
                ref = comp.get("bom-ref")
                if ref in self.model_cards:
                    comp["modelCard"] = self.model_cards[ref]
                if ref in self.component_data:
                    comp["data"] = self.component_data[ref]
                walk(comp.get("components", []))
                if isinstance(ref, str) and ref in files:  # after the walk: nothing inside to patch
                    comp["components"] = files[ref]
                ordered = sorted(comp.items())  # keys in the library's (alphabetical) order
                comp.clear()
                comp.update(ordered)

        walk(doc.get("components", []))
        meta_component = doc.get("metadata", {}).get("component")
        if meta_component is not None:
            walk([meta_component])

    # -- components --------------------------------------------------------------------------

    def _modelkit_component(self) -> Any:
        from cyclonedx.model.component import Component, ComponentType
        from cyclonedx.model.contact import OrganizationalContact
        from packageurl import PackageURL

        package = _get(self.kitfile, "package")
        ref = self.reference
        purl_name = (ref.repository.rsplit("/", 1)[-1] if ref is not None else None) or _str_or_none(
            _get(package, "name")
        ) or "modelkit"
        qualifiers: dict[str, str] = {}
        if ref is not None and not ref.is_local:
            qualifiers["repository_url"] = ref.name
        if ref is not None and ref.tag:
            qualifiers["tag"] = ref.tag
        purl = PackageURL(type="oci", name=purl_name.lower(), version=str(self.manifest_desc.digest),
                          qualifiers=qualifiers or None)
        props: dict[str, str | None] = {
            f"{_P}manifest:digest": str(self.manifest_desc.digest),
            f"{_P}manifest:mediaType": self.manifest_desc.media_type,
            f"{_P}reference": str(ref) if ref is not None else None,
            f"{_P}kitfile:manifestVersion": _str_or_none(_get(self.kitfile, "manifest_version")),
            f"{_P}kitfile:digest": str(self.config.digest) if self.config is not None else None,
        }
        if self.context_dir is not None:
            git = git_provenance(self.context_dir)
            props[f"{_P}git:commit"] = git.get("commit")
            props[f"{_P}git:dirty"] = git.get("dirty")
        authors = [str(a) for a in (_get(package, "authors") or []) if _str_or_none(a)]
        return Component(
            # An OCI artifact is a packaging format: CycloneDX "container" ("a packaging and/or
            # runtime format, not specific to any particular technology").
            type=ComponentType.CONTAINER,
            bom_ref=self._ref("modelkit"),
            name=_str_or_none(_get(package, "name")) or purl_name,
            version=_str_or_none(_get(package, "version")) or (ref.tag if ref is not None else None),
            description=_str_or_none(_get(package, "description")),
            licenses=self._licenses(_get(package, "license")),
            authors=[OrganizationalContact(name=a) for a in authors] or None,
            purl=purl,
            hashes=self._sha256(self.manifest_desc.digest.hex),
            properties=self._props(props),
        )

    def _element(self, section: str, index: int) -> Any:
        kf = self.kitfile
        model = _get(kf, "model")
        try:
            if section == "model":
                return model
            if section == "parts":
                return list(_get(model, "parts") or [])[index]
            if section in ("datasets", "code", "docs"):
                return list(_get(kf, section) or [])[index]
        except IndexError:
            return None
        return None

    def _element_components(self) -> dict[str, tuple[Any, PackedLayer | None]]:
        out: dict[str, tuple[Any, PackedLayer | None]] = {}
        for layer in self.layers:
            element = self._element(layer.section, layer.index)
            comp = self._layer_component(layer, element)
            out[str(comp.bom_ref.value)] = (comp, layer)
        model = _get(self.kitfile, "model")
        if model is not None and "model" not in out:
            # the model's path is another ModelKit's reference: no layer here, described anyway
            comp = self._layer_component(None, model)
            out[str(comp.bom_ref.value)] = (comp, None)
        if model is not None and "model" in out:
            self.model_cards["model"] = self._model_card(model, out)
        return out

    def _layer_component(self, layer: PackedLayer | None, element: Any) -> Any:
        from cyclonedx.model.component import Component, ComponentType

        section = layer.section if layer is not None else "model"
        type_value, prefix = _SECTION_TYPES.get(section, ("file", section))
        ref = self._ref(prefix if section == "model" else f"{prefix}-{layer.index if layer else 0}")
        path = layer.path if layer is not None else _str_or_none(_get(element, "path"))
        name = _str_or_none(_get(element, "name")) or path or ref
        props: dict[str, str | None] = {f"{_P}kitfile:section": section, f"{_P}path": path}
        hashes: list[Any] = []
        flagged: list[str] = []
        if layer is not None:
            props.update({
                f"{_P}layer:digest": str(layer.descriptor.digest),
                f"{_P}layer:mediaType": layer.descriptor.media_type,
                f"{_P}layer:size": str(layer.descriptor.size),
                f"{_P}layer:diffId": str(layer.diff_id),
                f"{_P}layer:files": str(len(layer.files)),
            })
            hashes = self._sha256(layer.descriptor.digest.hex)
            records = sorted(layer.files, key=lambda r: r.path)
            if records:
                listing = _FileListing(records)
                for rec in records:
                    kind = pickle_kind(rec.path, self._local_str(rec.path))
                    listing.add(self._ref(f"{ref}:{rec.path}"), rec, kind)
                self.nested_files[ref] = listing
                flagged = sorted({kind[0] for kind in listing.kinds.values()})
        else:
            props[f"{_P}model:reference"] = path
        if section == "parts":
            props[f"{_P}part:type"] = _str_or_none(_get(element, "type"))
        if section in ("model", "datasets"):
            params = _get(element, "parameters")
            if params is not None:
                props[f"{_P}parameters"] = json.dumps(params, sort_keys=True, ensure_ascii=False, default=str)
        fmt = _str_or_none(_get(element, "format")) if section == "model" else None
        if fmt is not None and fmt.lower() in _PICKLE_FORMATS:
            flagged = sorted({*flagged, fmt.lower()})
        if flagged:
            props[EXECUTABLE_DESERIALIZATION] = "true"
            props[f"{_P}security:formats"] = ",".join(flagged)
        if section == "datasets":
            data: dict[str, Any] = {"type": "dataset", "name": name}
            description = _str_or_none(_get(element, "description"))
            if description:
                data["description"] = description
            self.component_data[ref] = [data]
        return Component(
            type=ComponentType(type_value),
            bom_ref=ref,
            name=name,
            version=_str_or_none(_get(element, "version")) if section == "model" else None,
            description=_str_or_none(_get(element, "description")),
            licenses=self._licenses(_get(element, "license")),
            hashes=hashes or None,
            properties=self._props(dict(sorted(props.items()))),
        )

    def _model_card(self, model: Any, elements: Mapping[str, tuple[Any, PackedLayer | None]]) -> dict[str, Any]:
        """``modelCard`` (CycloneDX 1.6 ``modelCard``) from the Kitfile model and its parameters."""
        raw = _get(model, "parameters")
        params: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        mp: dict[str, Any] = {}
        approach = _str_or_none(params.get("approach"))
        if approach is not None and approach in _APPROACHES:
            mp["approach"] = {"type": approach}
        for key, names in (
            ("task", ("task",)),
            ("architectureFamily", ("architectureFamily", "architecture_family", "architecture")),
            ("modelArchitecture", ("modelArchitecture", "model_architecture")),
        ):
            for n in names:
                value = _str_or_none(params.get(n)) if not isinstance(params.get(n), (dict, list)) else None
                if value:
                    mp[key] = value
                    break
        datasets = [{"ref": ref} for ref in elements if ref.startswith("dataset-")]
        if datasets:
            mp["datasets"] = datasets
        for key in ("inputs", "outputs"):
            io = params.get(key)
            items = io if isinstance(io, list) else [io] if isinstance(io, str) else []
            formats = [{"format": _scalar(i.get("format") if isinstance(i, dict) else i)}
                       for i in items if i is not None]
            if formats:
                mp[key] = formats
        card: dict[str, Any] = {}
        if mp:
            card["modelParameters"] = mp
        metrics = _metrics(params.get("metrics"))
        if metrics:
            card["quantitativeAnalysis"] = {"performanceMetrics": metrics}
        props = [
            {"name": f"{_P}model:{k}", "value": v}
            for k, v in (("framework", _str_or_none(_get(model, "framework"))),
                         ("format", _str_or_none(_get(model, "format"))))
            if v is not None
        ]
        if props:
            card["properties"] = props
        return card

    # -- Python dependencies -------------------------------------------------------------------

    def _python_dependencies(self) -> tuple[list[PythonDependency], dict[int, list[str]]]:
        found: list[PythonDependency] = []
        files_by_layer: dict[int, set[str]] = {}
        if self.context_dir is not None:
            for layer in self.layers:
                if layer.kind != "code":
                    continue
                paths: set[str] = set()
                for rec in layer.files:
                    if is_dependency_file(rec.path):
                        found.extend(self._read_dependency_file(rec))
                        paths.add(rec.path)
                files_by_layer[id(layer)] = paths
        if self.include_env:
            found.extend(_environment_distributions())
        deps = merge(found)
        self._dep_sources = {self._dep_ref(d): d.sources for d in deps}
        by_layer = {
            key: [self._dep_ref(d) for d in deps if paths & set(d.sources)]
            for key, paths in files_by_layer.items()
        }
        return deps, by_layer

    def _read_dependency_file(self, rec: FileRecord) -> list[PythonDependency]:
        local = self._local(rec.path)
        if local is None or rec.size > 8 * 1024 * 1024:
            return []
        try:
            data = local.read_bytes()
        except OSError as e:
            raise PackError(f"cannot read {rec.path} for the SBOM: {e.strerror or e}") from e
        # the file was hashed while packing; a different hash now means it changed in between
        if hashlib.sha256(data).hexdigest() != rec.sha256:
            raise PackError(
                f"{rec.path} changed while packing (its SHA-256 differs from the packed copy)",
                hint="pack again once nothing writes to the context directory",
            )
        return parse_dependency_file(rec.path, data.decode("utf-8", errors="replace"))

    @staticmethod
    def _dep_ref(dep: PythonDependency) -> str:
        return dep.purl if dep.pinned else f"unpinned:pypi/{dep.name}"

    def _dependency_component(self, dep: PythonDependency) -> Any:
        from cyclonedx.model.component import Component, ComponentType
        from packageurl import PackageURL

        props: dict[str, str | None] = {
            f"{_P}dependency:source": ",".join(dep.sources),
            f"{_P}dependency:pinned": "true" if dep.pinned else "false",
            f"{_P}dependency:specifier": dep.specifier or None,
            f"{_P}dependency:extras": ",".join(dep.extras) or None,
            f"{_P}dependency:marker": dep.marker,
            f"{_P}dependency:url": dep.url,
        }
        return Component(
            type=ComponentType.LIBRARY,
            bom_ref=self._ref(self._dep_ref(dep)),
            name=dep.name,
            version=dep.version,
            # only a pinned dependency gets a purl: a version-less purl makes scanners guess
            purl=PackageURL(type="pypi", name=dep.name, version=dep.version) if dep.pinned else None,
            properties=self._props(props),
        )

    def _environment_component(self) -> Any:
        import platform
        import sys

        from cyclonedx.model.component import Component, ComponentType

        return Component(
            type=ComponentType.PLATFORM,
            bom_ref=self._ref("packing-environment"),
            name=platform.python_implementation().lower(),
            version=platform.python_version(),
            description="The Python environment ocikit packed in",
            properties=self._props({
                f"{_P}environment": "packing",
                f"{_P}environment:platform": sys.platform,
            }),
        )


def _metrics(raw: Any) -> list[dict[str, Any]]:
    """``parameters.metrics`` as CycloneDX ``performanceMetrics`` (every value a string).

    Accepts ``{accuracy: 0.93}``, ``{accuracy: {value: 0.93, slice: test, lowerBound: …}}`` and
    ``[{type|name: accuracy, value: 0.93, slice: test}]``.
    """
    items: list[tuple[str, Any]] = []
    if isinstance(raw, Mapping):
        items = [(str(k), v) for k, v in sorted(raw.items(), key=lambda kv: str(kv[0]))]
    elif isinstance(raw, list):
        for entry in raw:
            if isinstance(entry, Mapping) and (entry.get("type") or entry.get("name")) is not None:
                items.append((str(entry.get("type") or entry.get("name")), entry))
    out = []
    for name, value in items:
        metric: dict[str, Any] = {"type": name}
        if isinstance(value, Mapping):
            if value.get("value") is not None:
                metric["value"] = _scalar(value["value"])
            if value.get("slice") is not None:
                metric["slice"] = _scalar(value["slice"])
            lo = value.get("lowerBound", value.get("lower_bound"))
            hi = value.get("upperBound", value.get("upper_bound"))
            if lo is not None or hi is not None:
                metric["confidenceInterval"] = {
                    k: _scalar(v) for k, v in (("lowerBound", lo), ("upperBound", hi)) if v is not None
                }
        elif value is not None:
            metric["value"] = _scalar(value)
        out.append(metric)
    return out


def _environment_distributions() -> list[PythonDependency]:
    """The distributions installed in the running interpreter (``importlib.metadata``)."""
    from importlib.metadata import distributions

    from packaging.utils import canonicalize_name

    out = []
    for dist in distributions():
        name, version = dist.metadata["Name"], dist.version
        if not name or not version:
            continue
        out.append(PythonDependency(str(canonicalize_name(name)), version, f"=={version}",
                                    sources=("environment",)))
    return out


# --------------------------------------------------------------------------------------------
# attach / find / read


def inherit_parent_files(sbom_bytes: bytes, parents: Sequence[tuple[str, bytes | None]]) -> bytes:
    """Add the files of a derived ModelKit's parents (``model.path`` references) to its SBOM.

    ``unpack`` writes the parents' files beside the child's, so ``verify-files`` must find them
    listed: each parent becomes one component (``ocikit:parent:reference``) holding a copy of the
    file components of the parent's own SBOM (which already include its ancestors' files).
    ``parents`` = (reference, parent SBOM bytes or None when it has none), nearest first; a
    path is listed once, from the nearest parent. Same inputs, same bytes.
    """
    doc = json.loads(sbom_bytes)
    listed = set(_expected_files(doc, "the new SBOM"))
    added: list[dict[str, Any]] = []
    for i, (reference, parent_sbom) in enumerate(parents, start=1):
        if parent_sbom is None:
            log.warning("parent %s has no SBOM: its files are not listed in the new SBOM", reference)
            continue
        parent_doc = _parse_sbom(parent_sbom, f"the SBOM of parent {reference}")
        files: list[dict[str, Any]] = []
        for comp in _iter_components(parent_doc):
            props = {p.get("name"): p.get("value") for p in comp.get("properties") or [] if isinstance(p, Mapping)}
            path = props.get(_PROP_FILE_PATH)
            if not isinstance(path, str) or path in listed:
                continue
            listed.add(path)
            copied = {k: v for k, v in comp.items() if k in ("hashes", "name", "properties", "type")}
            files.append({"bom-ref": f"parent-{i}:{comp.get('bom-ref', path)}", **copied})
        files.sort(key=lambda f: str(f["name"]))
        added.append({
            "bom-ref": f"parent-{i}",
            "components": files,
            "name": reference,
            "properties": [{"name": f"{_P}parent:reference", "value": reference}],
            "type": "application",
        })
    if not added:
        return sbom_bytes
    doc.setdefault("components", []).extend(added)
    _expected_files(doc, "the new SBOM")  # the same file never twice with two hashes
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    error = validate_sbom(text)
    if error is not None:
        raise OcikitError(f"internal error: the SBOM with the parents' files is not valid CycloneDX 1.6: {error}",
                          hint="this is a bug in ocikit; please report it with the Kitfile")
    return text.encode("utf-8")


def attach_sbom(storage: Storage, subject: Descriptor, sbom_bytes: bytes) -> Descriptor:
    """Push ``sbom_bytes`` as an OCI 1.1 referrer of ``subject``; returns the referrer's descriptor."""
    config = Descriptor(EMPTY_CONFIG, Digest.of_bytes(EMPTY_JSON), len(EMPTY_JSON), data=EMPTY_JSON)
    layer = Descriptor.for_bytes(SBOM_MEDIA_TYPE, sbom_bytes,
                                 annotations={ANNOTATION_TITLE: "sbom.cdx.json"})
    for desc, data in ((config, EMPTY_JSON), (layer, sbom_bytes)):
        if not storage.has_blob(desc):
            # the empty blob must exist too: distribution 2.8 checks that config blobs exist
            storage.push_blob(Descriptor(desc.media_type, desc.digest, desc.size), io.BytesIO(data))
    from ocikit._store._referrers import push_referrer

    manifest = Manifest(
        config=config,
        layers=(layer,),
        artifact_type=SBOM_MEDIA_TYPE,
        subject=Descriptor(subject.media_type, subject.digest, subject.size),
    )
    return push_referrer(storage, manifest)


def find_sbom(storage: Storage, subject_digest: Digest) -> bytes | None:
    """The SBOM attached to ``subject_digest`` (verified), or None when there is none.

    Several SBOM referrers (e.g. packed again with ``include_env``) → the last listed, which for the
    fallback index is the most recently attached. A referrer that does not have the SBOM shape or
    whose blob does not match its digest is skipped; if none is usable, that is an error.
    """
    from ocikit._store._referrers import list_referrers

    candidates = list_referrers(storage, subject_digest, artifact_type=SBOM_MEDIA_TYPE)
    first_error: VerificationError | None = None
    for desc in reversed(candidates):
        try:
            return _read_referrer(storage, desc, subject_digest)
        except VerificationError as e:
            log.warning("skipping SBOM referrer %s: %s", desc.digest, e)
            first_error = first_error or e
    if first_error is not None:
        raise VerificationError(f"no usable SBOM for {subject_digest}: {first_error}") from first_error
    return None


def _read_referrer(storage: Storage, desc: Descriptor, subject_digest: Digest) -> bytes:
    where = f"SBOM referrer {desc.digest}"
    manifest = Manifest.from_bytes(storage.fetch_manifest(Descriptor(MANIFEST, desc.digest, desc.size)), where)
    if (manifest.artifact_type or manifest.config.media_type) != SBOM_MEDIA_TYPE:
        raise VerificationError(f"{where}: artifactType is not {SBOM_MEDIA_TYPE}")
    if manifest.subject is None or manifest.subject.digest != subject_digest:
        raise VerificationError(f"{where}: its subject is not {subject_digest}")
    if len(manifest.layers) != 1 or manifest.layers[0].media_type != SBOM_MEDIA_TYPE:
        raise VerificationError(f"{where}: must have exactly one {SBOM_MEDIA_TYPE} layer")
    data = read_blob(storage, manifest.layers[0], limit=MAX_SBOM_BYTES, what="SBOM")
    _parse_sbom(data, where)
    return data


def _parse_sbom(data: bytes, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise VerificationError(f"{where} is not valid JSON ({e})") from e
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise VerificationError(f"{where} is not a CycloneDX document (bomFormat is missing)")
    return doc


def sbom(reference: str, *, home: str | os.PathLike[str] | None = None,
         options: RegistryOptions | None = None) -> bytes:
    """The SBOM of the ModelKit at ``reference`` (local store if present there, else the registry).

    Reads the manifest, the referrers listing and the SBOM blob only: no layer is fetched.
    """
    from ocikit._ops._repos import locate

    ref = Reference.parse(reference)
    storage = locate(ref, home=home, options=options)
    desc = storage.resolve(ref.identifier)
    data = find_sbom(storage, desc.digest)
    if data is None:
        raise NotFoundError(
            f"{ref.display} ({desc.digest.short}) has no SBOM attached",
            hint="pack it with ocikit (SBOMs are attached by default), then push it with its referrers",
        )
    return data


# --------------------------------------------------------------------------------------------
# verify-files


@dataclass(frozen=True)
class VerifyFilesResult:
    """Every file the SBOM lists is present with its SHA-256, and nothing else is there."""

    directory: Path
    sbom: Path
    subject: str | None  # the ModelKit's purl from metadata.component
    files: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "sbom": str(self.sbom), "subject": self.subject,
                "files": self.files, "bytes": self.bytes, "ok": True}


@dataclass(frozen=True)
class _Expected:
    path: str
    sha256: str
    size: int | None


def _iter_components(doc: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    stack: list[Any] = list(doc.get("components") or [])
    meta = doc.get("metadata")
    if isinstance(meta, Mapping) and isinstance(meta.get("component"), Mapping):
        stack.append(meta["component"])
    while stack:
        comp = stack.pop()
        if isinstance(comp, Mapping):
            yield comp
            stack.extend(comp.get("components") or [])


def _expected_files(doc: Mapping[str, Any], sbom_name: str) -> dict[str, _Expected]:
    out: dict[str, _Expected] = {}
    for comp in _iter_components(doc):
        props = {p.get("name"): p.get("value") for p in comp.get("properties") or [] if isinstance(p, Mapping)}
        path = props.get(_PROP_FILE_PATH)
        if not isinstance(path, str):
            continue
        sha = next((h.get("content") for h in comp.get("hashes") or []
                    if isinstance(h, Mapping) and h.get("alg") == "SHA-256"), None)
        if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha):
            raise FileVerificationError(f"{sbom_name}: file {path!r} has no SHA-256 hash")
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts or "\\" in path or not pure.parts or path != pure.as_posix():
            raise FileVerificationError(f"{sbom_name} lists an unsafe file path {path!r}",
                                        hint="this SBOM is malformed or hostile; do not trust it")
        size_text = props.get(f"{_P}file:size")
        size = int(size_text) if isinstance(size_text, str) and size_text.isdigit() else None
        entry = _Expected(path, sha.lower(), size)
        if path in out and out[path].sha256 != entry.sha256:
            raise FileVerificationError(f"{sbom_name} lists {path!r} twice with different hashes")
        out[path] = entry
    return out


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


_BAD_SBOM_HINT = "pass the CycloneDX SBOM of the ModelKit: 'ocikit sbom REF -o FILE', or the SBOM.json unpack wrote"


def verify_files(
    directory: str | os.PathLike[str], sbom_path: str | os.PathLike[str] | None = None
) -> VerifyFilesResult:
    """Check an unpacked ModelKit against its SBOM: same files, same SHA-256, nothing extra.

    ``sbom_path`` defaults to ``<directory>/SBOM.json``. The ``Kitfile`` and ``SBOM.json`` that
    ``ocikit unpack`` writes at the top of the directory are not counted as extra. Raises
    :class:`FileVerificationError` (exit 3) naming every extra, missing and modified file.
    """
    root = Path(directory)
    if not root.is_dir():
        raise NotFoundError(f"directory {root} does not exist", hint="pass the directory you unpacked into")
    sbom_file = Path(sbom_path) if sbom_path is not None else root / SBOM_FILENAME
    try:
        if sbom_file.stat().st_size > MAX_SBOM_BYTES:
            raise FileVerificationError(f"{sbom_file} is larger than {MAX_SBOM_BYTES} bytes")
        data = sbom_file.read_bytes()
    except FileNotFoundError as e:
        raise NotFoundError(f"SBOM {sbom_file} does not exist",
                            hint="fetch it with 'ocikit sbom REF -o SBOM.json'") from e
    except OSError as e:
        raise FileVerificationError(f"cannot read SBOM {sbom_file}: {e.strerror or e}") from e
    try:
        doc = _parse_sbom(data, str(sbom_file))
    except VerificationError as e:
        # The SBOM itself is unusable: saying "the files on disk differ" would be wrong.
        raise FileVerificationError(str(e), hint=_BAD_SBOM_HINT) from e
    expected = _expected_files(doc, sbom_file.name)
    if not expected:
        raise FileVerificationError(f"{sbom_file} lists no files to verify",
                                    hint="use an SBOM written by ocikit for this ModelKit")

    ignored = set(_UNPACK_METADATA)
    with contextlib.suppress(ValueError):  # the SBOM may live outside the directory
        ignored.add(sbom_file.resolve().relative_to(root.resolve()).as_posix())
    present: dict[str, os.stat_result] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = Path(dirpath).relative_to(root)
        names = list(filenames) + [d for d in dirnames if Path(dirpath, d).is_symlink()]
        for name in names:
            rel = (rel_dir / name).as_posix()
            present[rel] = Path(dirpath, name).lstat()

    missing: list[str] = []
    modified: list[str] = []  # for the message
    details: list[dict[str, Any]] = []  # for ``verify-files --json``
    total = 0

    def differs(path: str, text: str, want: _Expected, size: int | None, sha256: str | None) -> None:
        modified.append(f"{path} ({text})")
        details.append({"path": path, "size": size, "expectedSize": want.size,
                        "sha256": sha256, "expectedSha256": want.sha256})

    for path in sorted(expected):
        want = expected[path]
        info = present.pop(path, None)
        if info is None:
            missing.append(path)
            continue
        if not stat.S_ISREG(info.st_mode):
            differs(path, "not a regular file", want, None, None)
            continue
        if want.size is not None and info.st_size != want.size:
            differs(path, f"{info.st_size} bytes, expected {want.size}", want, info.st_size, None)
            continue
        got = _hash_file(root / path)
        if got != want.sha256:
            differs(path, f"sha256 {got[:12]}…, expected {want.sha256[:12]}…", want, info.st_size, got)
            continue
        total += info.st_size
    extra = sorted(p for p in present if p not in ignored)
    problems = [f"modified {m}" for m in modified] + [f"missing {m}" for m in missing] + [f"extra {e}" for e in extra]
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        counts = ", ".join(f"{n} {what}" for n, what in ((len(modified), "modified"), (len(missing), "missing"),
                                                         (len(extra), "extra")) if n)
        raise FileVerificationError(f"{root} does not match {sbom_file.name} ({counts}): {shown}",
                                    modified=details, missing=missing, extra=extra)
    meta = doc.get("metadata")
    subject = meta.get("component", {}).get("purl") if isinstance(meta, Mapping) else None
    return VerifyFilesResult(root, sbom_file, subject if isinstance(subject, str) else None, len(expected), total)
