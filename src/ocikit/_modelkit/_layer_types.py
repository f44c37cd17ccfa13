"""What a model layer's media type says, for every writer we read: kit (``application/vnd.kitops.modelkit.*``),
CNCF ModelPack (``application/vnd.cncf.model.*``, modctl) and Docker Model Runner (``application/vnd.docker.ai.*``).

:func:`classify` gives the layer's kind in KitOps terms (``model``, ``modelpart``, ``code``, ``dataset``,
``docs``, ``prompt``, ``mcpb``), its compression and whether it is a tar or one raw file. A media type
under one of those prefixes that we do not know (a newer writer's) is ``known=False``: the reader
places it by its ``org.cncf.model.filepath`` annotation and logs a warning, never drops it silently.
Anything else (a foreign prefix, an unknown compression, a compressed ModelPack raw layer) is refused.

Sources (each fixture's README under ``tests/compat/`` names file and commit):

* kit: ``pkg/lib/constants/mediatype/mediatype.go``
  (``application/vnd.kitops.modelkit.<base>.v1.<tar|raw>[+gzip|+zstd]``, compression allowed on raw
  kit layers), ``kitops.go``, ``consts.go`` (prompts are ``code`` layers with
  ``ml.kitops.modelkit.layer-subtype: prompt``), the MCPB test
  (``application/vnd.kitops.modelkit.mcpb.v1.raw``).
* Docker: ``pkg/distribution/types/config.go`` of docker/model-runner.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ocikit.errors import UnsafeArchiveError

__all__ = [
    "ANNOTATION_LAYER_SUBTYPE",
    "DOCKER_CONFIGS",
    "DOCKER_CONFIG_V01",
    "DOCKER_CONFIG_V02",
    "SUBTYPE_PROMPT",
    "LayerType",
    "classify",
    "is_model_layer_family",
    "kitops_media_type",
]

#: kit ``constants.LayerSubtypeAnnotation``: what a ``code`` layer really holds.
ANNOTATION_LAYER_SUBTYPE = "ml.kitops.modelkit.layer-subtype"
SUBTYPE_PROMPT = "prompt"

DOCKER_CONFIG_V01 = "application/vnd.docker.ai.model.config.v0.1+json"
DOCKER_CONFIG_V02 = "application/vnd.docker.ai.model.config.v0.2+json"
DOCKER_CONFIGS = (DOCKER_CONFIG_V01, DOCKER_CONFIG_V02)

_KIT_PREFIX = "application/vnd.kitops.modelkit."
_MP_PREFIX = ("application/vnd.cncf.model.", "application/vnd.cnai.model.")
_DOCKER_PREFIX = "application/vnd.docker.ai."
_KIT_RE = re.compile(r"^application/vnd\.kitops\.modelkit\.(\w+)\.v1\.(\w+)(?:\+(\w+))?$")
#: ``cnai``: the pre-CNCF names modctl 0.2.x still writes (its pkg/backend/build/legacy.go)
_MP_RE = re.compile(r"^application/vnd\.(?:cncf|cnai)\.model\.(\w+(?:\.\w+)?)\.v1\.(\w+)(?:\+(\w+))?$")
_KIT_BASES = ("model", "modelpart", "code", "dataset", "docs", "mcpb")
_MP_BASES = {"weight": "model", "weight.config": "modelpart", "dataset": "dataset", "code": "code", "doc": "docs"}
#: docker/model-runner media type → (kind, tar?). Weights are ``model`` (the first one) or parts.
_DOCKER = {
    "application/vnd.docker.ai.gguf.v3": ("model", False),
    "application/vnd.docker.ai.safetensors": ("model", False),
    "application/vnd.docker.ai.dduf": ("model", False),
    "application/vnd.docker.ai.license": ("docs", False),
    "application/vnd.docker.ai.mmproj": ("modelpart", False),
    "application/vnd.docker.ai.chat.template.jinja": ("modelpart", False),
    "application/vnd.docker.ai.model.file": ("modelpart", False),
    "application/vnd.docker.ai.vllm.config.tar": ("modelpart", True),
    "application/vnd.docker.ai.dir.tar": ("modelpart", True),
}
_CODECS = {"": "none", "none": "none", "gzip": "gzip", "zstd": "zstd"}


@dataclass(frozen=True)
class LayerType:
    """One layer's media type, read."""

    family: str  # "kitops", "modelpack" or "docker"
    kind: str  # model, modelpart, code, dataset, docs, prompt, mcpb; "unknown" when not known
    codec: str  # none, gzip, zstd
    raw: bool  # one file (placed at its path annotation), not a tar
    known: bool = True


def is_model_layer_family(media_type: str) -> bool:
    """A media type under a prefix one of the model writers we read uses."""
    return media_type.startswith((_KIT_PREFIX, *_MP_PREFIX, _DOCKER_PREFIX))


def kitops_media_type(kind: str, compression: str = "none", *, raw: bool = False) -> str:
    """kit's ``application/vnd.kitops.modelkit.<base>.v1.<tar|raw>[+gzip|+zstd]`` (a prompt is a ``code`` layer)."""
    base = "code" if kind == "prompt" else kind
    if base not in _KIT_BASES:
        raise ValueError(f"unknown layer kind {kind!r}")
    suffix = {"none": "", "gzip": "+gzip", "gzip-fastest": "+gzip", "zstd": "+zstd"}[compression]
    return f"{_KIT_PREFIX}{base}.v1.{'raw' if raw else 'tar'}{suffix}"


def _codec(media_type: str, text: str | None) -> str:
    codec = _CODECS.get(text or "")
    if codec is None:
        raise UnsafeArchiveError(f"layer media type {media_type!r}: unknown compression {text!r}")
    return codec


def _format(media_type: str, text: str) -> bool:
    if text not in ("tar", "raw"):
        raise UnsafeArchiveError(f"layer media type {media_type!r}: unknown layer format {text!r}",
                                 hint="a layer is a tar or one raw file")
    return text == "raw"


def classify(media_type: str, annotations: Mapping[str, str] | None = None) -> LayerType:
    """The :class:`LayerType` of ``media_type``; UnsafeArchiveError for one no model writer uses."""
    m = _KIT_RE.match(media_type)
    if m is not None:
        raw, codec = _format(media_type, m.group(2)), _codec(media_type, m.group(3))
        base = m.group(1)
        if base not in _KIT_BASES:
            return LayerType("kitops", "unknown", codec, raw, known=False)
        if base == "code" and (annotations or {}).get(ANNOTATION_LAYER_SUBTYPE) == SUBTYPE_PROMPT:
            base = "prompt"
        return LayerType("kitops", base, codec, raw)
    m = _MP_RE.match(media_type)
    if m is not None:
        raw, codec = _format(media_type, m.group(2)), _codec(media_type, m.group(3))
        if raw and codec != "none":
            # model-spec: raw = "unarchived, uncompressed"; kit refuses raw + compression for ModelPack
            raise UnsafeArchiveError(f"layer media type {media_type!r}: a raw layer cannot be compressed")
        kind = _MP_BASES.get(m.group(1))
        return LayerType("modelpack", kind or "unknown", codec, raw, known=kind is not None)
    if media_type in _DOCKER:
        kind, is_tar = _DOCKER[media_type]
        return LayerType("docker", kind, "none", not is_tar)
    if media_type.startswith(_DOCKER_PREFIX) and media_type not in DOCKER_CONFIGS:
        return LayerType("docker", "unknown", "none", not media_type.endswith(".tar"), known=False)
    raise UnsafeArchiveError(
        f"layer media type {media_type!r} is not a model layer",
        hint="ocikit reads application/vnd.kitops.modelkit.*, application/vnd.cncf.model.* and "
             "application/vnd.docker.ai.* layers",
    )
