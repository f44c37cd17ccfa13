"""CNCF ModelPack (model-spec) artifacts: media types, telling the formats apart, and the config blob.

Writing (``pack(..., format="modelpack")``, docs/compatibility.md §5.1, §5.2): layers use
``application/vnd.cncf.model.{weight, weight.config, dataset, code, doc}.v1.tar[+gzip|+zstd]``
(kit's mapping of model, parts, datasets, code, docs), the config is
``application/vnd.cncf.model.config.v1+json`` with ``descriptor``/``modelfs``/``config``, the
manifest's ``artifactType`` is ``application/vnd.cncf.model.manifest.v1+json`` and the Kitfile
travels as JSON in the manifest annotation ``ml.kitops.modelkit.kitfile`` (the bytes a KitOps config
blob would have), as ``kit pack --use-model-pack`` does.

Reading either format is ``_read``; ``.raw`` layers are ``_raw``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ocikit._config import source_date_epoch
from ocikit._layers._types import parse_layer_media_type
from ocikit._oci._gojson import go_json
from ocikit._oci._model import (
    KITOPS_CONFIG,
    LEGACY_MODELPACK_CONFIG,
    LEGACY_MODELPACK_MANIFEST_ARTIFACT,
    MODELPACK_CONFIG,
    MODELPACK_MANIFEST_ARTIFACT,
    Manifest,
)
from ocikit.errors import UnsafeArchiveError, UsageError

if TYPE_CHECKING:
    from ocikit._kitfile._model import Kitfile
    from ocikit._layers._types import PackedLayer

__all__ = [
    "ANNOTATION_KITFILE",
    "FORMATS",
    "build_config",
    "check_filepath",
    "created_at",
    "is_kitops",
    "is_modelpack",
    "layer_kind",
    "modelpack_media_type",
]

#: The Kitfile as JSON in a ModelPack manifest (kit, docs/compatibility.md §1.4).
ANNOTATION_KITFILE = "ml.kitops.modelkit.kitfile"
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


def modelpack_media_type(kind: str, compression: str = "none", *, raw: bool = False) -> str:
    """The ModelPack media type of a layer of KitOps ``kind`` (``gzip-fastest`` is ``tar+gzip``;
    ``raw``: ``.v1.raw``, never compressed)."""
    if kind not in _KIND_TO_MP:
        raise ValueError(f"unknown layer kind {kind!r}")
    if compression not in _SUFFIX:
        raise UsageError(f"invalid compression {compression!r}: must be one of {', '.join(_SUFFIX)}")
    if raw:
        return f"{_MP_PREFIX}{_KIND_TO_MP[kind]}.v1.raw"
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
    return manifest.artifact_type in (MODELPACK_MANIFEST_ARTIFACT, LEGACY_MODELPACK_MANIFEST_ARTIFACT) or \
        manifest.config.media_type in (MODELPACK_CONFIG, LEGACY_MODELPACK_CONFIG)


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
