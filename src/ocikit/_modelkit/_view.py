"""A ModelKit as diff and lineage see it: its digest, its Kitfile, each layer tied to its element.

Layers are keyed by kind + the element's name or path, so versions can be compared element by
element. Reads the manifest and the config only (``_modelpack.read_model``: a KitOps ModelKit or a
CNCF ModelPack), never a layer, from any ``Storage``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ocikit._io._digest import Digest
from ocikit._oci._model import Manifest
from ocikit._oci._reference import Reference
from ocikit._store._storage import Storage, read_manifest

__all__ = ["LayerSummary", "ModelKitView", "element_key", "read_modelkit"]

#: Kitfile section → (layer kind, label used in field paths).
_SECTIONS = (("parts", "modelpart"), ("code", "code"), ("datasets", "dataset"), ("docs", "docs"))


@dataclass(frozen=True)
class LayerSummary:
    """One layer of a ModelKit, tied to the Kitfile element it came from."""

    kind: str  # model, modelpart, code, dataset, docs (or "other" for a layer no element names)
    key: str  # what identifies the element across versions: its name, else its path
    path: str | None
    name: str | None
    digest: Digest
    size: int
    media_type: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "path": self.path, "name": self.name,
                "digest": str(self.digest), "size": self.size, "mediaType": self.media_type}


@dataclass(frozen=True)
class ModelKitView:
    """What diff and lineage need of a ModelKit: its digest, config (as a Kitfile) and layers."""

    reference: Reference
    digest: Digest
    manifest: Manifest
    config_digest: Digest
    kitfile: Mapping[str, Any]  # the Kitfile in YAML shape (Kitfile.to_dict())
    model_reference: str | None  # model.path when it names a parent ModelKit
    layers: tuple[LayerSummary, ...]


def element_key(element: Mapping[str, Any], index: int) -> str:
    """What identifies a Kitfile element across versions: its name, else its path, else ``#index``."""
    for name in ("name", "path"):
        value = element.get(name)
        if isinstance(value, str) and value:
            return value
    return f"#{index}"


def read_modelkit(storage: Storage, identifier: str, reference: Reference) -> ModelKitView:
    """Manifest and config of a ModelKit or CNCF ModelPack, with each layer tied to its Kitfile
    element (a ModelPack without a Kitfile annotation: the Kitfile synthesised from its config)."""
    from ocikit._modelkit._read import read_model

    desc, manifest = read_manifest(storage, identifier)
    content = read_model(storage, manifest, reference.display)
    kitfile, infos = content.kitfile, content.infos
    by_digest = {layer.digest: layer for layer in manifest.layers}
    kit = kitfile.to_dict()

    layers: list[LayerSummary] = []
    claimed: set[Digest] = set()

    def add(kind: str, section: str, index: int, element: Mapping[str, Any], key: str) -> None:
        info = infos.get((section, index))
        if info is None or info.digest not in by_digest:
            return
        layer = by_digest[info.digest]
        claimed.add(layer.digest)
        name = element.get("name")
        path = element.get("path")
        layers.append(LayerSummary(kind, key, path if isinstance(path, str) else None,
                                   name if isinstance(name, str) else None,
                                   layer.digest, layer.size, layer.media_type))

    model = kit.get("model") or {}
    if model:
        add("model", "model", 0, model, "model")
    for section, kind in _SECTIONS:
        elements = (model.get("parts") or []) if section == "parts" else (kit.get(section) or [])
        seen: set[str] = set()
        for index, element in enumerate(elements):
            key = element_key(element, index)
            if key in seen:  # two elements with the same name: the later one goes by position
                key = f"#{index}"
            seen.add(key)
            add(kind, section, index, element, key)
    for index, layer in enumerate(manifest.layers):  # layers no element names (foreign writers)
        if layer.digest not in claimed:
            title = layer.annotations.get("org.opencontainers.image.title")
            layers.append(LayerSummary("other", title or f"layer {index}", title, None,
                                       layer.digest, layer.size, layer.media_type))
    return ModelKitView(reference.with_digest(desc.digest), desc.digest, manifest,
                        manifest.config.digest, kit, kitfile.model_reference, tuple(layers))
