"""The OCI image view's wire formats: the image config and manifest built from a ModelKit's layers.

Pure functions of their inputs, so the bytes are reproducible (a golden pins them). The config
follows the OCI image-spec config (https://github.com/opencontainers/image-spec/blob/main/config.md):
``architecture``, ``os``, ``config.Labels`` and ``rootfs`` with ``type: layers`` and the
uncompressed ``diff_ids``, in the field order of the spec's Go struct; no ``created`` (optional,
and a time would make the bytes differ per run). docs/kubernetes.md says how it is used.
"""

from __future__ import annotations

from dataclasses import dataclass

from ocikit._io._digest import Digest
from ocikit._oci._gojson import go_json
from ocikit._oci._model import MANIFEST, Descriptor, Manifest
from ocikit.errors import UsageError

__all__ = [
    "ANNOTATION_MODELKIT_DIGEST", "IMAGE_CONFIG", "LAYER_MEDIA_TYPES", "Platform", "image_config", "image_manifest",
]

IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
#: codec of a ModelKit layer → the OCI image layer media type of the same bytes
#: (https://github.com/opencontainers/image-spec/blob/main/layer.md)
LAYER_MEDIA_TYPES = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}
#: On the image manifest and as a config label: the digest of the ModelKit manifest it is a view of.
ANNOTATION_MODELKIT_DIGEST = "dev.ocikit.modelkit.digest"

_ARCHES = ("amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "loong64", "mips64le")


@dataclass(frozen=True)
class Platform:
    """``os/architecture[/variant]`` as Go's GOOS/GOARCH name them (the image-spec config, above)."""

    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.split("/")
        if len(parts) not in (2, 3) or parts[0] != "linux" or parts[1] not in _ARCHES or not all(parts):
            raise UsageError(f"--platform {text!r} is not linux/<architecture>[/<variant>]",
                             hint=f"use e.g. linux/amd64; architectures: {', '.join(_ARCHES)}")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


def image_config(diff_ids: list[Digest], modelkit: Digest, platform: Platform) -> bytes:
    """The image config bytes (Go field order: architecture, os, variant, config, rootfs)."""
    obj: dict[str, object] = {"architecture": platform.architecture, "os": platform.os}
    if platform.variant:
        obj["variant"] = platform.variant
    obj["config"] = {"Labels": {ANNOTATION_MODELKIT_DIGEST: str(modelkit)}}
    obj["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in diff_ids]}
    return go_json(obj)


def image_manifest(config: bytes, layers: list[tuple[Descriptor, str]], subject: Descriptor) -> Manifest:
    """The image manifest: ``layers`` are (ModelKit layer, codec) → the same blob as an image layer."""
    return Manifest(
        config=Descriptor.for_bytes(IMAGE_CONFIG, config),
        layers=tuple(Descriptor(LAYER_MEDIA_TYPES[codec], d.digest, d.size) for d, codec in layers),
        annotations={ANNOTATION_MODELKIT_DIGEST: str(subject.digest)},
        subject=Descriptor(subject.media_type or MANIFEST, subject.digest, subject.size),
    )
