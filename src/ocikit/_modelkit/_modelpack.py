"""CNCF ModelPack (model-spec) artifacts: media types, the config blob, and reading either format.

Writing (``pack(..., format="modelpack")``, kitops-format.md §5.1, §5.2): layers use
``application/vnd.cncf.model.{weight, weight.config, dataset, code, doc}.v1.tar[+gzip|+zstd]``
(kit's mapping of model, parts, datasets, code, docs), the config is
``application/vnd.cncf.model.config.v1+json`` with ``descriptor``/``modelfs``/``config``, the
manifest's ``artifactType`` is ``application/vnd.cncf.model.manifest.v1+json`` and the Kitfile
travels as JSON in the manifest annotation ``ml.kitops.modelkit.kitfile`` (the bytes a KitOps config
blob would have), as ``kit pack --use-model-pack`` does.

Reading (:func:`read_model`): one entry point for every reader (unpack, inspect, list, diff,
lineage) that returns the Kitfile and which manifest layer belongs to which Kitfile element:

* KitOps ModelKit: the config blob is the Kitfile.
* ModelPack with ``ml.kitops.modelkit.kitfile``: that Kitfile; layers are paired with its
  elements by counting per kind in manifest order, as for ModelKits.
* ModelPack made by another tool (modctl, ...): a Kitfile is synthesised from the config and the
  layers' ``org.cncf.model.filepath`` annotations: the first ``weight`` layer is ``model.path``,
  further weight and ``weight.config`` layers are ``model.parts``, ``code``/``dataset``/``doc``
  layers are ``code``/``datasets``/``docs``. (kit lets the last weight layer win and leaves the
  others without an element; we keep every layer in the Kitfile.) Every layer needs the
  annotation, and it must be a safe relative path.

``.raw`` layers (one uncompressed file, no tar) are read: the file is placed at the layer's
``org.cncf.model.filepath``; :class:`RawAsTar` presents it to the strict tar extractor as a
one-entry tar so it gets every check a tar entry gets.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ocikit._config import source_date_epoch
from ocikit._io._digest import Digest
from ocikit._layers._format import BLOCK, tar_header
from ocikit._layers._types import parse_layer_media_type
from ocikit._oci._model import (
    ANNOTATION_FILEPATH,
    KITOPS_CONFIG,
    MODELPACK_CONFIG,
    MODELPACK_MANIFEST_ARTIFACT,
    Manifest,
)
from ocikit.errors import (
    DigestMismatchError,
    KitfileError,
    NotAModelKitError,
    UnsafeArchiveError,
    UsageError,
    VerificationError,
)

if TYPE_CHECKING:
    from ocikit._kitfile._model import Kitfile, LayerInfo
    from ocikit._layers._types import PackedLayer
    from ocikit._store._storage import Storage

__all__ = [
    "ANNOTATION_FILE_METADATA",
    "ANNOTATION_KITFILE",
    "FORMATS",
    "LayerSlot",
    "ModelContent",
    "RawAsTar",
    "build_config",
    "check_filepath",
    "created_at",
    "is_kitops",
    "is_modelpack",
    "layer_kind",
    "modelpack_media_type",
    "read_model",
]

#: The Kitfile as JSON in a ModelPack manifest (kit, kitops-format.md §1.4).
ANNOTATION_KITFILE = "ml.kitops.modelkit.kitfile"
#: model-spec docs/annotations.md: JSON {name, mode, uid, gid, size, mtime, typeflag} of a raw layer's file.
ANNOTATION_FILE_METADATA = "org.cncf.model.file.metadata+json"
FORMATS = ("kitops", "modelpack")

_MP_PREFIX = "application/vnd.cncf.model."
#: KitOps layer kind ↔ ModelPack layer type (kit's pkg/lib/constants/mediatype/modelpack.go).
_KIND_TO_MP = {"model": "weight", "modelpart": "weight.config", "dataset": "dataset", "code": "code",
               "docs": "doc"}
_MP_TO_KIND = {v: k for k, v in _KIND_TO_MP.items()}
_SUFFIX = {"none": "", "gzip": "+gzip", "gzip-fastest": "+gzip", "zstd": "+zstd"}
_MP_RE = re.compile(r"^application/vnd\.cncf\.model\.(weight|weight\.config|dataset|code|doc)\.v1\.(tar|raw)"
                    r"(?:\+(\w+))?$")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def modelpack_media_type(kind: str, compression: str = "none") -> str:
    """The ModelPack media type of a layer of KitOps ``kind`` (``gzip-fastest`` is ``tar+gzip``)."""
    if kind not in _KIND_TO_MP:
        raise ValueError(f"unknown layer kind {kind!r}")
    if compression not in _SUFFIX:
        raise UsageError(f"invalid compression {compression!r}: must be one of {', '.join(_SUFFIX)}")
    return f"{_MP_PREFIX}{_KIND_TO_MP[kind]}.v1.tar{_SUFFIX[compression]}"


def layer_kind(media_type: str) -> tuple[str, str, bool]:
    """``(kind, codec, raw)`` of a KitOps or ModelPack layer; ``kind`` in KitOps terms
    (model, modelpart, code, dataset, docs), ``codec`` none/gzip/zstd. Anything else is refused."""
    m = _MP_RE.match(media_type)
    if m is None:
        kind, codec = parse_layer_media_type(media_type)
        return kind, codec, False
    codec = m.group(3) or "none"
    raw = m.group(2) == "raw"
    if codec not in ("none", "gzip", "zstd"):
        raise UnsafeArchiveError(f"layer media type {media_type!r}: unknown compression {codec!r}")
    if raw and codec != "none":
        # model-spec: raw = "unarchived, uncompressed"; kit refuses raw + compression for ModelPack
        raise UnsafeArchiveError(f"layer media type {media_type!r}: a raw layer cannot be compressed")
    return _MP_TO_KIND[m.group(1)], codec, raw


def is_modelpack(manifest: Manifest) -> bool:
    """newer kit's ModelFormatForManifest: the CNCF artifactType or config media type."""
    return manifest.artifact_type == MODELPACK_MANIFEST_ARTIFACT or manifest.config.media_type == MODELPACK_CONFIG


def is_kitops(manifest: Manifest) -> bool:
    return manifest.config.media_type == KITOPS_CONFIG


def check_filepath(path: str, where: str) -> str:
    """A layer's ``org.cncf.model.filepath``, cleaned; refused unless a relative path inside the target."""
    if not path or "\x00" in path or "\\" in path or any(ord(c) < 0x20 or c == "\x7f" for c in path):
        raise UnsafeArchiveError(f"{where}: org.cncf.model.filepath {path!r} is empty or has "
                                 "backslashes or control characters")
    if path.startswith("/") or _WINDOWS_DRIVE.match(path):
        raise UnsafeArchiveError(f"{where}: org.cncf.model.filepath {path!r} is an absolute path")
    if ".." in path.split("/"):
        raise UnsafeArchiveError(f"{where}: org.cncf.model.filepath {path!r} leaves the target directory")
    return posixpath.normpath(path)


# ------------------------------------------------------------------------------------------------
# writing


def created_at() -> str:
    """``descriptor.createdAt``: SOURCE_DATE_EPOCH when set (reproducible digests), else now."""
    moment = source_date_epoch() or datetime.now(tz=timezone.utc).replace(microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _licenses(kitfile: Kitfile) -> list[str]:
    """Sorted unique licenses of package, model, parts, datasets and code (kit's ToModelPackConfig)."""
    found = [kitfile.package.license]
    if kitfile.model is not None:
        found.append(kitfile.model.license)
        found.extend(p.license for p in kitfile.model.parts)
    found.extend(d.license for d in kitfile.datasets)
    found.extend(c.license for c in kitfile.code)
    return sorted({lic for lic in found if lic})


def build_config(kitfile: Kitfile, layers: Sequence[PackedLayer], created: str) -> bytes:
    """The ModelPack config blob (model-spec specs-go/v1/config.go field order, omitempty)."""
    from ocikit._oci._model import go_json

    pkg = kitfile.package
    descriptor: dict[str, Any] = {"createdAt": created}
    if pkg.authors:
        descriptor["authors"] = list(pkg.authors)
    if pkg.name:
        descriptor["name"] = pkg.name
    if pkg.version:
        descriptor["version"] = pkg.version
    licenses = _licenses(kitfile)
    if licenses:
        descriptor["licenses"] = licenses
    if pkg.name:
        descriptor["title"] = pkg.name
    if pkg.description:
        descriptor["description"] = pkg.description
    config: dict[str, Any] = {}
    if kitfile.model is not None and kitfile.model.format:
        config["format"] = kitfile.model.format
    return go_json({
        "descriptor": descriptor,
        "modelfs": {"type": "layers", "diffIds": [str(layer.diff_id) for layer in layers]},
        "config": config,
    })


# ------------------------------------------------------------------------------------------------
# reading


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

    format: str  # "kitops" or "modelpack"
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
        if manifest.config.media_type != MODELPACK_CONFIG:
            raise NotAModelKitError(f"{what} has the ModelPack artifactType but config media type "
                                    f"{manifest.config.media_type!r}")
        data = read_blob(storage, manifest.config, what=f"config of {what}")
        return modelpack_content(manifest, data, what)
    raise NotAModelKitError(
        f"{what} is not a ModelKit or ModelPack (config media type {manifest.config.media_type!r})",
        hint="ocikit reads KitOps ModelKits and CNCF ModelPack models",
    )


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as e:
        raise VerificationError(f"config of {what} is not valid JSON") from e


def _diff_ids(config: Any, count: int, what: str) -> list[Digest | None]:
    modelfs = config.get("modelfs") if isinstance(config, dict) else None
    raw = modelfs.get("diffIds") if isinstance(modelfs, dict) else None
    if not isinstance(raw, list) or len(raw) != count:
        return [None] * count
    out: list[Digest | None] = []
    for value in raw:
        if not isinstance(value, str) or not Digest.is_valid(value):
            raise VerificationError(f"config of {what}: modelfs.diffIds holds {value!r}, not a sha256 digest")
        out.append(Digest.parse(value))
    return out


def modelpack_content(manifest: Manifest, config_bytes: bytes, what: str) -> ModelContent:
    from ocikit._kitfile._model import Kitfile

    config = _json(config_bytes, what)
    if not isinstance(config, dict):
        raise VerificationError(f"config of {what} must be a JSON object")
    diff_ids = _diff_ids(config, len(manifest.layers), what)
    kinds = [layer_kind(layer.media_type) for layer in manifest.layers]
    filepaths = [
        check_filepath(layer.annotations[ANNOTATION_FILEPATH], f"{what} layer {i}")
        if ANNOTATION_FILEPATH in layer.annotations else None
        for i, layer in enumerate(manifest.layers)
    ]
    for i, ((_, _, raw), fp) in enumerate(zip(kinds, filepaths, strict=True)):
        if raw and (fp is None or fp == "."):
            raise VerificationError(f"{what} layer {i} is a raw file without an org.cncf.model.filepath "
                                    "annotation naming it", hint="the ModelPack cannot be unpacked")
    text = manifest.annotations.get(ANNOTATION_KITFILE)
    if text is not None:
        try:
            kitfile, infos = Kitfile.from_config_json(text.encode("utf-8"))
        except KitfileError as e:
            raise VerificationError(f"{what}: the {ANNOTATION_KITFILE} annotation is not a valid Kitfile: {e}") from e
        slots = _count_slots(manifest, kitfile, infos, kinds, filepaths, diff_ids, what)
        return ModelContent("modelpack", kitfile, infos, config, slots, "annotation")
    kitfile, slots = _synthesise(manifest, config, kinds, filepaths, diff_ids, what)
    from ocikit._kitfile._model import LayerInfo

    infos = {(s.section, s.index): LayerInfo(manifest.layers[s.position].digest,
                                             s.diff_id or manifest.layers[s.position].digest)
             for s in slots}
    return ModelContent("modelpack", kitfile, infos, config, slots, "synthesised")


def _count_slots(manifest: Manifest, kitfile: Kitfile, infos: Mapping[tuple[str, int], LayerInfo],
                 kinds: list[tuple[str, str, bool]], filepaths: list[str | None],
                 diff_ids: list[Digest | None], what: str) -> tuple[LayerSlot, ...]:
    by_kind: dict[str, list[Any]] = {}
    for el in kitfile.layer_elements():
        by_kind.setdefault(el.kind, []).append(el)
    used: dict[str, int] = {}
    slots = []
    for i, (layer, (kind, codec, raw)) in enumerate(zip(manifest.layers, kinds, strict=True)):
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

    def text(obj: Mapping[str, Any], key: str) -> str | None:
        value = obj.get(key)
        return value if isinstance(value, str) and value else None

    model_path: str | None = None
    parts: list[dict[str, Any]] = []
    sections: dict[str, list[dict[str, Any]]] = {"code": [], "datasets": [], "docs": []}
    places: list[tuple[str, int]] = []
    for kind, fp in zip((k for k, _, _ in kinds), filepaths, strict=True):
        assert fp is not None
        if kind == "model" and model_path is None:
            model_path = fp
            places.append(("model", 0))
        elif kind in ("model", "modelpart"):
            places.append(("parts", len(parts)))
            parts.append({"path": fp})
        else:
            section = {"code": "code", "dataset": "datasets", "docs": "docs"}[kind]
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
                        "parts": parts or None}
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


# ------------------------------------------------------------------------------------------------
# raw layers


def raw_mode(annotations: Mapping[str, str]) -> int:
    """The file mode from ``org.cncf.model.file.metadata+json`` (0644 if absent or unreadable)."""
    text = annotations.get(ANNOTATION_FILE_METADATA)
    if text:
        try:
            mode = json.loads(text).get("mode")
        except (ValueError, AttributeError):
            mode = None
        if isinstance(mode, int) and not isinstance(mode, bool) and 0 <= mode <= 0o7777:
            return mode
    return 0o644


class RawAsTar:
    """A raw layer's bytes presented as a one-file tar (header, body, padding, end blocks), so the
    strict tar extractor places and checks it like any tar entry. ``body`` yields exactly ``size``
    bytes (a verifying reader)."""

    def __init__(self, body: Any, name: str, mode: int, size: int) -> None:
        self._parts: list[Any] = [tar_header(name, mode & 0o777, size, is_dir=False)]
        self._body = body
        self._left = size
        self._tail = bytes((-size) % BLOCK) + bytes(2 * BLOCK)
        self._stage = 0  # 0 header, 1 body, 2 tail, 3 done
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        out = bytearray()
        while (n < 0 or len(out) < n) and self._stage < 3:
            want = (n - len(out)) if n >= 0 else 1 << 20
            if self._stage == 0:
                header = self._parts[0]
                out += header[:want]
                self._parts[0] = header[want:]
                if not self._parts[0]:
                    self._stage = 1 if self._left else 2
            elif self._stage == 1:
                chunk = self._body.read(min(want, self._left))
                if not chunk:
                    raise UnsafeArchiveError("raw layer ended before its declared size")
                out += chunk
                self._left -= len(chunk)
                if not self._left:
                    self._stage = 2
            else:
                out += self._tail[:want]
                self._tail = self._tail[want:]
                if not self._tail:
                    self._stage = 3
        return bytes(out)
