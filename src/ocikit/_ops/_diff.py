"""What changed between two ModelKits: Kitfile fields, layers, and the files inside changed layers.

``kit diff`` (``docs/compatibility.md`` §4.7) compares config digests and layer digests only. This goes
further, because the question a reviewer asks is *what* changed:

* **Kitfile fields**, flattened to dotted paths (``model.parameters.metrics.accuracy``,
  ``datasets[reviews].license``). List elements are matched by their name or path, not by
  position, so reordering the datasets is not reported as every dataset changing.
* **Layers**, matched the same way (kind + name or path): added, removed, changed (different
  digest) or the same, with their sizes.
* **Files** inside changed layers, from the SBOMs attached to both ModelKits (each file's
  SHA-256, ``ocikit:file:path``). Only the manifests, configs and SBOMs are read, never a layer,
  so diffing two multi-GB ModelKits on a registry costs a few small requests. Without an SBOM on
  either side the file list is simply unknown (``None``), not empty.

Either side may be local or remote (``_repos.locate``: the local copy when there is one).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ocikit._config import RegistryOptions
from ocikit._io._digest import Digest
from ocikit._modelkit._view import LayerSummary, ModelKitView, element_key, read_modelkit
from ocikit._oci._model import Manifest
from ocikit._oci._reference import Reference
from ocikit._store._storage import Storage
from ocikit.errors import OcikitError

__all__ = [
    "DiffResult",
    "FieldChange",
    "FileChanges",
    "LayerChange",
    "diff",
    "diff_storages",
    "field_changes",
    "layer_changes",
    "sbom_files",
]

log = logging.getLogger(__name__)

_KIND_ORDER = {"model": 0, "modelpart": 1, "code": 2, "dataset": 3, "docs": 4, "other": 5}
_PROP_LAYER_DIGEST = "ocikit:layer:digest"
_PROP_FILE_PATH = "ocikit:file:path"


# ------------------------------------------------------------------------------------ values


@dataclass(frozen=True)
class FieldChange:
    path: str  # dotted, e.g. model.parameters.metrics.f1 or datasets[reviews].path
    old: Any  # None when added
    new: Any  # None when removed
    change: str  # "added", "removed", "changed"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "change": self.change, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class FileChanges:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, list[str]]:
        return {"added": list(self.added), "removed": list(self.removed), "modified": list(self.modified)}

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.modified)


@dataclass(frozen=True)
class LayerChange:
    status: str  # "same", "changed", "added", "removed"
    kind: str
    key: str
    a: LayerSummary | None
    b: LayerSummary | None
    #: For changed layers: which files differ (from the SBOMs); None when no SBOM tells.
    files: FileChanges | None = None

    @property
    def path(self) -> str | None:
        side = self.b or self.a
        return side.path if side is not None else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status,
            "kind": self.kind,
            "key": self.key,
            "a": self.a.to_dict() if self.a else None,
            "b": self.b.to_dict() if self.b else None,
        }
        if self.status == "changed":
            out["files"] = self.files.to_dict() if self.files is not None else None
        return out


@dataclass(frozen=True)
class DiffResult:
    a: Reference
    b: Reference
    a_digest: Digest
    b_digest: Digest
    a_config: Digest
    b_config: Digest
    fields: tuple[FieldChange, ...]
    layers: tuple[LayerChange, ...]
    annotations: tuple[FieldChange, ...] = ()

    @property
    def identical(self) -> bool:
        return self.a_digest == self.b_digest

    @property
    def same_config(self) -> bool:
        return self.a_config == self.b_config

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": {"reference": str(self.a), "digest": str(self.a_digest), "config": str(self.a_config)},
            "b": {"reference": str(self.b), "digest": str(self.b_digest), "config": str(self.b_config)},
            "identical": self.identical,
            "sameConfig": self.same_config,
            "fields": [c.to_dict() for c in self.fields],
            "annotations": [c.to_dict() for c in self.annotations],
            "layers": [c.to_dict() for c in self.layers],
        }


# ------------------------------------------------------------------------------ reading (SBOMs)


def sbom_files(storage: Storage, subject: Digest) -> dict[Digest, dict[str, str]] | None:
    """Files per layer digest (path → sha256 hex) from the SBOM attached to ``subject``, if any."""
    from ocikit._trust._sbom import find_sbom

    try:
        data = find_sbom(storage, subject)
    except OcikitError as e:
        log.warning("cannot read the SBOM of %s: %s", subject, e)
        return None
    if data is None:
        return None
    try:
        doc = json.loads(data)
    except ValueError:  # find_sbom parsed it already; only a race could get here
        return None
    out: dict[Digest, dict[str, str]] = {}
    for component in doc.get("components") or []:
        if not isinstance(component, Mapping):
            continue
        layer_digest = _property(component, _PROP_LAYER_DIGEST)
        if layer_digest is None or not Digest.is_valid(layer_digest):
            continue
        files = out.setdefault(Digest.parse(layer_digest), {})
        for child in _walk(component.get("components") or []):
            path = _property(child, _PROP_FILE_PATH)
            sha = next((h.get("content") for h in child.get("hashes") or []
                        if isinstance(h, Mapping) and h.get("alg") == "SHA-256"), None)
            if isinstance(path, str) and isinstance(sha, str):
                files[path] = sha.lower()
    return out


def _property(component: Mapping[str, Any], name: str) -> str | None:
    for prop in component.get("properties") or []:
        if isinstance(prop, Mapping) and prop.get("name") == name and isinstance(prop.get("value"), str):
            return str(prop["value"])
    return None


def _walk(components: list[Any]) -> Iterator[Mapping[str, Any]]:
    stack = list(components)
    while stack:
        component = stack.pop()
        if isinstance(component, Mapping):
            yield component
            stack.extend(component.get("components") or [])


# ------------------------------------------------------------------------------ comparing


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    """Dotted paths → leaf values. Lists of mappings are keyed by name/path; other lists are leaves."""
    if isinstance(value, Mapping):
        if not value and prefix:
            out[prefix] = {}
        for key in value:
            _flatten(value[key], f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        seen: set[str] = set()
        for index, element in enumerate(value):
            key = element_key(element, index)
            if key in seen:  # two elements with the same name: fall back to the position
                key = f"#{index}"
            seen.add(key)
            _flatten(element, f"{prefix}[{key}]", out)
    else:
        out[prefix] = value


def field_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[FieldChange]:
    flat_a: dict[str, Any] = {}
    flat_b: dict[str, Any] = {}
    _flatten(a, "", flat_a)
    _flatten(b, "", flat_b)
    changes = []
    for path in sorted(flat_a.keys() | flat_b.keys()):
        if path not in flat_b:
            changes.append(FieldChange(path, flat_a[path], None, "removed"))
        elif path not in flat_a:
            changes.append(FieldChange(path, None, flat_b[path], "added"))
        elif not _same(flat_a[path], flat_b[path]):
            changes.append(FieldChange(path, flat_a[path], flat_b[path], "changed"))
    return changes


def _same(x: Any, y: Any) -> bool:
    # 1 and 1.0 are the same number in JSON; True is not 1.
    if isinstance(x, bool) or isinstance(y, bool):
        return type(x) is type(y) and x == y
    return bool(x == y) if type(x) is type(y) or _numbers(x, y) else False


def _numbers(x: Any, y: Any) -> bool:
    return isinstance(x, int | float) and isinstance(y, int | float)


def _file_changes(a: Mapping[str, str], b: Mapping[str, str]) -> FileChanges:
    return FileChanges(
        added=tuple(sorted(b.keys() - a.keys())),
        removed=tuple(sorted(a.keys() - b.keys())),
        modified=tuple(sorted(p for p in a.keys() & b.keys() if a[p] != b[p])),
    )


def layer_changes(
    a: ModelKitView,
    b: ModelKitView,
    files_a: Mapping[Digest, Mapping[str, str]] | None = None,
    files_b: Mapping[Digest, Mapping[str, str]] | None = None,
) -> list[LayerChange]:
    index_a = {(layer.kind, layer.key): layer for layer in a.layers}
    index_b = {(layer.kind, layer.key): layer for layer in b.layers}
    changes = []
    for kind_key in sorted(index_a.keys() | index_b.keys(), key=lambda k: (_KIND_ORDER.get(k[0], 9), k[1])):
        la, lb = index_a.get(kind_key), index_b.get(kind_key)
        kind, key = kind_key
        if la is None:
            changes.append(LayerChange("added", kind, key, None, lb))
        elif lb is None:
            changes.append(LayerChange("removed", kind, key, la, None))
        elif la.digest == lb.digest:
            changes.append(LayerChange("same", kind, key, la, lb))
        else:
            files = None
            if files_a is not None and files_b is not None and la.digest in files_a and lb.digest in files_b:
                files = _file_changes(files_a[la.digest], files_b[lb.digest])
            changes.append(LayerChange("changed", kind, key, la, lb, files))
    return changes


def _annotations(manifest: Manifest) -> dict[str, str]:
    """Manifest annotations to compare; a ModelPack's Kitfile annotation is compared field by field."""
    from ocikit._modelkit._modelpack import ANNOTATION_KITFILE

    return {k: v for k, v in manifest.annotations.items() if k != ANNOTATION_KITFILE}


def diff_storages(
    storage_a: Storage, ref_a: Reference, storage_b: Storage, ref_b: Reference
) -> DiffResult:
    """Compare ``ref_a`` in ``storage_a`` with ``ref_b`` in ``storage_b``."""
    a = read_modelkit(storage_a, ref_a.identifier, ref_a)
    b = read_modelkit(storage_b, ref_b.identifier, ref_b)
    files_a = files_b = None
    if a.digest != b.digest and any(la.digest not in {lb.digest for lb in b.layers} for la in a.layers):
        files_a = sbom_files(storage_a, a.digest)
        files_b = sbom_files(storage_b, b.digest)
    return DiffResult(
        a=ref_a,
        b=ref_b,
        a_digest=a.digest,
        b_digest=b.digest,
        a_config=a.config_digest,
        b_config=b.config_digest,
        fields=tuple(field_changes(a.kitfile, b.kitfile)),
        layers=tuple(layer_changes(a, b, files_a, files_b)),
        annotations=tuple(field_changes(_annotations(a.manifest), _annotations(b.manifest))),
    )


def diff(
    a: str | Reference,
    b: str | Reference,
    *,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
) -> DiffResult:
    """Compare two ModelKits, each local or remote (the local copy when there is one).

    Reads manifests, configs and SBOMs only; no layer is downloaded.
    """
    from ocikit._ops._repos import locate

    ref_a = a if isinstance(a, Reference) else Reference.parse(a)
    ref_b = b if isinstance(b, Reference) else Reference.parse(b)
    storage_a = locate(ref_a, home=home, options=options)
    storage_b = locate(ref_b, home=home, options=options)
    return diff_storages(storage_a, ref_a, storage_b, ref_b)
