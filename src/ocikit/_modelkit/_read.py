"""Reading a ModelKit in either format (:func:`read_model`): one entry point for every reader (unpack,
inspect, list, diff, lineage) that returns the Kitfile and which manifest layer belongs to which
Kitfile element:

* KitOps ModelKit: the config blob is the Kitfile.
* ModelPack with ``ml.kitops.modelkit.kitfile``: that Kitfile; layers are paired with its
  elements by counting per kind in manifest order, as for ModelKits.
* ModelPack made by another tool (modctl, ...): a Kitfile is synthesised from the config and the
  layers' ``org.cncf.model.filepath`` annotations: the first ``weight`` layer is ``model.path``,
  further weight and ``weight.config`` layers are ``model.parts``, ``code``/``dataset``/``doc``
  layers are ``code``/``datasets``/``docs``. (kit lets the last weight layer win and leaves the
  others without an element; we keep every layer in the Kitfile.) Every layer needs the
  annotation, and it must be a safe relative path.
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ocikit._io._digest import Digest
from ocikit._modelkit._layer_types import DOCKER_CONFIGS, classify
from ocikit._modelkit._modelpack import ANNOTATION_KITFILE, check_filepath, is_kitops, is_modelpack
from ocikit._oci._model import (
    ANNOTATION_FILEPATH,
    LEGACY_ANNOTATION_FILEPATH,
    LEGACY_MODELPACK_CONFIG,
    MODELPACK_CONFIG,
    Manifest,
)
from ocikit.errors import DigestMismatchError, KitfileError, NotAModelKitError, VerificationError

if TYPE_CHECKING:
    from ocikit._kitfile._elements import LayerInfo
    from ocikit._kitfile._model import Kitfile
    from ocikit._store._storage import Storage

__all__ = ["LayerSlot", "ModelContent", "modelpack_content", "read_model"]

log = logging.getLogger(__name__)

#: Kitfile section of layers no Kitfile element describes (a newer writer's layer types).
OTHER = "other"


@dataclass(frozen=True)
class LayerSlot:
    """One manifest layer tied to the Kitfile element it holds."""

    position: int  # index in manifest.layers
    kind: str
    codec: str
    raw: bool
    section: str
    index: int
    path: str  # the element's Kitfile path
    filepath: str | None  # org.cncf.model.filepath, cleaned and checked (where the raw file goes)
    diff_id: Digest | None  # known digest of the uncompressed tar (checked on unpack)


@dataclass(frozen=True)
class ModelContent:
    """What a reader needs of a ModelKit or ModelPack."""

    format: str  # "kitops", "modelpack" or "docker"
    kitfile: Kitfile
    infos: Mapping[tuple[str, int], LayerInfo]
    config: Any  # the config blob as JSON
    #: ModelPacks: manifest layer → element. None for KitOps (paired by counting, in _unpack).
    slots: tuple[LayerSlot, ...] | None
    kitfile_source: str  # "config", "annotation" or "synthesised"


def read_model(storage: Storage, manifest: Manifest, what: str) -> ModelContent:
    """The Kitfile of the ModelKit/ModelPack ``manifest`` in ``storage``; NotAModelKitError otherwise."""
    from ocikit._kitfile._model import Kitfile
    from ocikit._store._storage import read_blob

    if is_kitops(manifest):
        data = read_blob(storage, manifest.config, what=f"config of {what}")
        kitfile, infos = Kitfile.from_config_json(data)
        return ModelContent("kitops", kitfile, infos, _json(data, what), None, "config")
    if is_modelpack(manifest):
        if manifest.config.media_type not in (MODELPACK_CONFIG, LEGACY_MODELPACK_CONFIG):
            raise NotAModelKitError(f"{what} has the ModelPack artifactType but config media type "
                                    f"{manifest.config.media_type!r}")
        data = read_blob(storage, manifest.config, what=f"config of {what}")
        return modelpack_content(manifest, data, what)
    if manifest.config.media_type in DOCKER_CONFIGS:
        data = read_blob(storage, manifest.config, what=f"config of {what}")
        return modelpack_content(manifest, data, what, fmt="docker")
    raise NotAModelKitError(
        f"{what} is not a ModelKit or ModelPack (config media type {manifest.config.media_type!r})",
        hint="ocikit reads KitOps ModelKits, CNCF ModelPack models and Docker model artifacts",
    )


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as e:
        raise VerificationError(f"config of {what} is not valid JSON") from e


def _diff_ids(config: Any, count: int, what: str, fmt: str) -> list[Digest | None]:
    # ModelPack: modelfs.diffIds; Docker: rootfs.diff_ids (docker/model-runner pkg/distribution/oci/config.go)
    outer, inner = ("rootfs", "diff_ids") if fmt == "docker" else ("modelfs", "diffIds")
    modelfs = config.get(outer) if isinstance(config, dict) else None
    raw = modelfs.get(inner) if isinstance(modelfs, dict) else None
    if not isinstance(raw, list) or len(raw) != count:
        return [None] * count
    out: list[Digest | None] = []
    for value in raw:
        if not isinstance(value, str) or not Digest.is_valid(value):
            raise VerificationError(f"config of {what}: {outer}.{inner} holds {value!r}, not a sha256 digest")
        out.append(Digest.parse(value))
    return out


def _kinds(manifest: Manifest, what: str) -> list[tuple[str, str, bool]]:
    """(kind, codec, raw) per layer; a layer type we do not know is kind "unknown", with a warning."""
    out = []
    for i, layer in enumerate(manifest.layers):
        lt = classify(layer.media_type, layer.annotations)
        if not lt.known:
            log.warning("%s layer %d has media type %s, which this ocikit does not know; it is unpacked "
                        "at its %s annotation", what, i, layer.media_type, ANNOTATION_FILEPATH)
        out.append((lt.kind, lt.codec, lt.raw))
    return out


def modelpack_content(manifest: Manifest, config_bytes: bytes, what: str, fmt: str = "modelpack") -> ModelContent:
    """A ModelPack's (or, ``fmt="docker"``, a Docker model artifact's) Kitfile and layer slots."""
    from ocikit._kitfile._model import Kitfile

    config = _json(config_bytes, what)
    if not isinstance(config, dict):
        raise VerificationError(f"config of {what} must be a JSON object")
    diff_ids = _diff_ids(config, len(manifest.layers), what, fmt)
    kinds = _kinds(manifest, what)
    filepaths = [_filepath(layer.annotations, f"{what} layer {i}") for i, layer in enumerate(manifest.layers)]
    for i, ((kind, _, raw), fp) in enumerate(zip(kinds, filepaths, strict=True)):
        if (raw or kind == "unknown") and (fp is None or fp == "."):
            raise VerificationError(f"{what} layer {i} is a raw file without an org.cncf.model.filepath "
                                    "annotation naming it", hint="the ModelPack cannot be unpacked")
    text = manifest.annotations.get(ANNOTATION_KITFILE)
    if text is not None:
        try:
            kitfile, infos = Kitfile.from_config_json(text.encode("utf-8"))
        except KitfileError as e:
            raise VerificationError(f"{what}: the {ANNOTATION_KITFILE} annotation is not a valid Kitfile: {e}") from e
        slots = _count_slots(manifest, kitfile, infos, kinds, filepaths, diff_ids, what)
        return ModelContent(fmt, kitfile, infos, config, slots, "annotation")
    kitfile, slots = _synthesise(manifest, config, kinds, filepaths, diff_ids, what)
    from ocikit._kitfile._elements import LayerInfo

    infos = {(s.section, s.index): LayerInfo(manifest.layers[s.position].digest,
                                             s.diff_id or manifest.layers[s.position].digest)
             for s in slots}
    return ModelContent(fmt, kitfile, infos, config, slots, "synthesised")


def _count_slots(manifest: Manifest, kitfile: Kitfile, infos: Mapping[tuple[str, int], LayerInfo],
                 kinds: list[tuple[str, str, bool]], filepaths: list[str | None],
                 diff_ids: list[Digest | None], what: str) -> tuple[LayerSlot, ...]:
    by_kind: dict[str, list[Any]] = {}
    for el in kitfile.layer_elements():
        by_kind.setdefault(el.kind, []).append(el)
    used: dict[str, int] = {}
    slots = []
    for i, (layer, (kind, codec, raw)) in enumerate(zip(manifest.layers, kinds, strict=True)):
        if kind == "unknown":
            fp = filepaths[i] or "."
            slots.append(LayerSlot(i, kind, codec, raw, OTHER, i, fp, filepaths[i], diff_ids[i]))
            continue
        n = used.get(kind, 0)
        used[kind] = n + 1
        elements = by_kind.get(kind, [])
        if n >= len(elements):
            raise VerificationError(f"{what}: the manifest has more {kind} layers than its Kitfile lists")
        el = elements[n]
        info = infos.get((el.section, el.index))
        if info is not None and info.digest != layer.digest:
            raise DigestMismatchError(
                f"{what}: digest in the Kitfile annotation and manifest do not match in {kind} layer {el.path!r}"
            )
        diff_id = diff_ids[i] or (info.diff_id if info is not None else None)
        slots.append(LayerSlot(i, kind, codec, raw, el.section, el.index, el.path,
                               filepaths[i] or posixpath.normpath(el.path or "."), diff_id))
    return tuple(slots)


def _synthesise(manifest: Manifest, config: Mapping[str, Any], kinds: list[tuple[str, str, bool]],
                filepaths: list[str | None], diff_ids: list[Digest | None],
                what: str) -> tuple[Kitfile, tuple[LayerSlot, ...]]:
    from ocikit._kitfile._model import Kitfile

    for i, fp in enumerate(filepaths):
        if fp is None:
            raise VerificationError(
                f"{what} layer {i} has no {ANNOTATION_FILEPATH} annotation and the manifest carries no Kitfile",
                hint="ocikit needs one of them to know where the layer's files belong",
            )
    descriptor = config.get("descriptor") if isinstance(config.get("descriptor"), dict) else {}
    model_config = config.get("config") if isinstance(config.get("config"), dict) else {}
    assert isinstance(descriptor, dict) and isinstance(model_config, dict)

    model_path: str | None = None
    parts: list[dict[str, Any]] = []
    sections: dict[str, list[dict[str, Any]]] = {"code": [], "datasets": [], "docs": [], "prompts": [],
                                                 "mcpServers": []}
    places: list[tuple[str, int]] = []
    for i, (kind, fp) in enumerate(zip((k for k, _, _ in kinds), filepaths, strict=True)):
        assert fp is not None
        if kind == "unknown":
            places.append((OTHER, i))
        elif kind == "model" and model_path is None:
            model_path = fp
            places.append(("model", 0))
        elif kind in ("model", "modelpart"):
            places.append(("parts", len(parts)))
            parts.append({"path": fp})
        else:
            section = {"code": "code", "dataset": "datasets", "docs": "docs", "prompt": "prompts",
                       "mcpb": "mcpServers"}[kind]
            places.append((section, len(sections[section])))
            sections[section].append({"path": fp})
    name = text(descriptor, "name") or text(descriptor, "title")
    licenses = [lic for lic in descriptor.get("licenses") or [] if isinstance(lic, str) and lic]
    authors = [a for a in descriptor.get("authors") or [] if isinstance(a, str) and a]
    doc: dict[str, Any] = {
        "manifestVersion": "1.0.0",
        "package": {"name": name, "version": text(descriptor, "version"),
                    "description": text(descriptor, "description"),
                    "license": " AND ".join(licenses) or None, "authors": authors or None},
    }
    if model_path is not None or parts:
        doc["model"] = {"name": name, "path": model_path, "format": text(model_config, "format"),
                        "parts": parts or None, "parameters": _model_parameters(model_config)}
    for section, elements in sections.items():
        if elements:
            doc[section] = elements
    try:
        kitfile = Kitfile.from_dict(doc, source=f"Kitfile synthesised from {what}")
    except KitfileError as e:
        raise VerificationError(f"{what}: cannot make a Kitfile from the ModelPack config: {e}") from e
    slots = tuple(
        LayerSlot(i, kind, codec, raw, section, index, filepaths[i] or ".", filepaths[i], diff_ids[i])
        for i, ((kind, codec, raw), (section, index)) in enumerate(zip(kinds, places, strict=True))
    )
    return kitfile, slots


def text(obj: Mapping[str, Any], key: str) -> str | None:
    """``obj[key]`` when it is a non-empty string."""
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def _filepath(annotations: Mapping[str, str], where: str) -> str | None:
    """A layer's path annotation, checked: ``org.cncf.model.filepath`` or modctl 0.2's ``org.cnai.model.filepath``."""
    for key in (ANNOTATION_FILEPATH, LEGACY_ANNOTATION_FILEPATH):
        if key in annotations:
            return check_filepath(annotations[key], where)
    return None


def _model_parameters(model_config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The scalar fields of a ModelPack ``config`` (architecture, paramSize, precision, quantization...)
    or a Docker config's ``config`` (architecture, parameters, quantization, size, context_size), as
    ``model.parameters`` of the synthesised Kitfile; ``format`` is ``model.format``."""
    out = {k: v for k, v in sorted(model_config.items())
           if k != "format" and isinstance(v, (str, int, float, bool)) and v != ""}
    return out or None
