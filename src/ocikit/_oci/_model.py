"""OCI values: descriptors, image manifests, image indexes, media types, canonical JSON. Pure.

Specs: image-spec's manifest, descriptor and index pages (``docs/compatibility.md`` §1.5).
Serialisation follows Go's ``encoding/json`` as KitOps uses it (compact, struct
key order, ``<>&`` escaped) so that a manifest we write has one well-defined byte form
(``docs/compatibility.md`` §1.2, §2.2). Parsing is strict and bounded: a manifest is at most
:data:`MAX_MANIFEST_BYTES`, digests are validated, an object that is both a manifest and an index is
refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ocikit._io._digest import Digest
from ocikit._oci._gojson import go_json
from ocikit.errors import VerificationError

__all__ = [
    "ANNOTATION_CREATED",
    "ANNOTATION_REF_NAME",
    "ANNOTATION_TITLE",
    "EMPTY_CONFIG",
    "EMPTY_JSON",
    "INDEX",
    "KITOPS_CONFIG",
    "KITOPS_MANIFEST_ARTIFACT",
    "MANIFEST",
    "MAX_MANIFEST_BYTES",
    "Descriptor",
    "Index",
    "Manifest",
    "parse_manifest_or_index",
]

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
EMPTY_JSON = b"{}"

KITOPS_CONFIG = "application/vnd.kitops.modelkit.config.v1+json"
KITOPS_MANIFEST_ARTIFACT = "application/vnd.kitops.modelkit.manifest.v1+json"
MODELPACK_CONFIG = "application/vnd.cncf.model.config.v1+json"
MODELPACK_MANIFEST_ARTIFACT = "application/vnd.cncf.model.manifest.v1+json"
#: modctl 0.2.x writes the pre-CNCF ModelPack names (modctl pkg/backend/build/legacy.go at v0.2.2).
LEGACY_MODELPACK_CONFIG = "application/vnd.cnai.model.config.v1+json"
LEGACY_MODELPACK_MANIFEST_ARTIFACT = "application/vnd.cnai.model.manifest.v1+json"
LEGACY_ANNOTATION_FILEPATH = "org.cnai.model.filepath"
#: Docker Model Runner's model configs (docker/model-runner pkg/distribution/types/config.go).
DOCKER_MODEL_CONFIGS = ("application/vnd.docker.ai.model.config.v0.1+json",
                        "application/vnd.docker.ai.model.config.v0.2+json")

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CREATED = "org.opencontainers.image.created"
ANNOTATION_TITLE = "org.opencontainers.image.title"
ANNOTATION_CLI_VERSION = "ml.kitops.modelkit.cli-version"
ANNOTATION_FILEPATH = "org.cncf.model.filepath"

#: Largest manifest or index we parse (the distribution registry's own limit is 4 MiB).
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


def _str(obj: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise VerificationError(f"{where}: missing {key!r}")
        return None
    if not isinstance(value, str):
        raise VerificationError(f"{where}: {key!r} must be a string")
    return value


def _top_level(
    obj: Any, where: str, other_keys: tuple[str, ...], both: str, media_types: tuple[str, ...]
) -> str | None:
    """The mediaType of a manifest or index document, after the checks both kinds share.

    ``other_keys`` are the other kind's fields (their presence makes the document ambiguous, said as
    "has both ``both``"); ``media_types`` the mediaTypes this kind may declare (or none at all).
    """
    if not isinstance(obj, dict):
        raise VerificationError(f"{where}: must be a JSON object")
    if obj.get("schemaVersion") != 2:
        raise VerificationError(f"{where}: schemaVersion must be 2")
    if any(key in obj for key in other_keys):
        raise VerificationError(f"{where}: has both {both} (ambiguous)")
    media_type = _str(obj, "mediaType", where, required=False)
    if media_type is not None and media_type not in media_types:
        raise VerificationError(f"{where}: unexpected mediaType {media_type!r}")
    return media_type


def _annotations(obj: Mapping[str, Any], where: str) -> dict[str, str]:
    value = obj.get("annotations")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise VerificationError(f"{where}: annotations must map strings to strings")
    return dict(value)


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor. ``annotations`` is a dict but never mutated after creation."""

    media_type: str
    digest: Digest
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str | None = None
    data: bytes | None = None
    platform: Mapping[str, Any] | None = None

    def __hash__(self) -> int:
        return hash((self.media_type, self.digest, self.size))

    @classmethod
    def for_bytes(cls, media_type: str, payload: bytes, **kw: Any) -> Descriptor:
        return cls(media_type, Digest.of_bytes(payload), len(payload), **kw)

    def to_dict(self) -> dict[str, Any]:
        # Go struct order: mediaType, digest, size, urls, annotations, data, platform, artifactType
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))
        if self.data is not None:
            import base64

            out["data"] = base64.b64encode(self.data).decode()
        if self.platform is not None:
            out["platform"] = dict(self.platform)
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    @classmethod
    def from_dict(cls, obj: Any, where: str = "descriptor") -> Descriptor:
        if not isinstance(obj, dict):
            raise VerificationError(f"{where}: must be an object")
        media_type = _str(obj, "mediaType", where)
        digest = Digest.parse(_str(obj, "digest", where) or "")
        size = obj.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or size > 1 << 50:
            raise VerificationError(f"{where}: size must be a non-negative integer")
        data = None
        if obj.get("data") is not None:
            import base64
            import binascii

            try:
                data = base64.b64decode(obj["data"], validate=True)
            except (binascii.Error, TypeError, ValueError) as e:
                raise VerificationError(f"{where}: data is not valid base64") from e
            digest.verify_bytes(data, size=size, what=f"{where} data")
        platform = obj.get("platform")
        return cls(
            media_type or "",
            digest,
            size,
            _annotations(obj, where),
            _str(obj, "artifactType", where, required=False),
            data,
            platform if isinstance(platform, dict) else None,
        )


@dataclass(frozen=True)
class Manifest:
    """An OCI image manifest."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str | None = None
    subject: Descriptor | None = None
    media_type: str | None = MANIFEST

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": 2}
        if self.media_type:
            out["mediaType"] = self.media_type
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["config"] = self.config.to_dict()
        out["layers"] = [layer.to_dict() for layer in self.layers]
        return _with_subject_and_annotations(out, self.subject, self.annotations)

    def to_bytes(self) -> bytes:
        return go_json(self.to_dict())

    @classmethod
    def from_dict(cls, obj: Any, where: str = "manifest") -> Manifest:
        media_type = _top_level(obj, where, ("manifests",), "'layers' and 'manifests'", (MANIFEST, DOCKER_MANIFEST))
        # Go marshals a nil slice as null (docs/compatibility.md §1.2)
        layers_raw = _list(obj, "layers", where)
        subject = obj.get("subject")
        return cls(
            Descriptor.from_dict(obj.get("config"), f"{where} config"),
            tuple(Descriptor.from_dict(d, f"{where} layer {i}") for i, d in enumerate(layers_raw)),
            _annotations(obj, where),
            _str(obj, "artifactType", where, required=False),
            Descriptor.from_dict(subject, f"{where} subject") if subject is not None else None,
            media_type,
        )

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "manifest") -> Manifest:
        return cls.from_dict(_load(data, where), where)


@dataclass(frozen=True)
class Index:
    """An OCI image index (used for the referrers fallback tag and multi-artifact listings)."""

    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str | None = None
    subject: Descriptor | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": 2, "mediaType": INDEX}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["manifests"] = [m.to_dict() for m in self.manifests]
        return _with_subject_and_annotations(out, self.subject, self.annotations)

    def to_bytes(self) -> bytes:
        return go_json(self.to_dict())

    @classmethod
    def from_dict(cls, obj: Any, where: str = "index") -> Index:
        _top_level(obj, where, ("layers", "config"), "'manifests' and 'layers'/'config'", (INDEX, DOCKER_LIST))
        raw = _list(obj, "manifests", where)
        subject = obj.get("subject")
        return cls(
            tuple(Descriptor.from_dict(d, f"{where} entry {i}") for i, d in enumerate(raw)),
            _annotations(obj, where),
            _str(obj, "artifactType", where, required=False),
            Descriptor.from_dict(subject, f"{where} subject") if subject is not None else None,
        )

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "index") -> Index:
        return cls.from_dict(_load(data, where), where)


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """``obj[key]`` as a list; a missing or null one is empty (a Go nil slice marshals as null)."""
    raw = obj.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise VerificationError(f"{where}: {key} must be a list")
    return raw


def _with_subject_and_annotations(
    out: dict[str, Any], subject: Descriptor | None, annotations: Mapping[str, str]
) -> dict[str, Any]:
    """``out`` (a manifest's or index's JSON so far) with the subject and annotations they end with."""
    if subject is not None:
        out["subject"] = subject.to_dict()
    if annotations:
        out["annotations"] = dict(sorted(annotations.items()))
    return out


def _load(data: bytes, where: str) -> Any:
    if len(data) > MAX_MANIFEST_BYTES:
        raise VerificationError(f"{where}: {len(data)} bytes is larger than the {MAX_MANIFEST_BYTES} limit")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise VerificationError(f"{where}: not valid JSON ({e})") from e


def parse_manifest_or_index(data: bytes, media_type: str | None, where: str = "manifest") -> Manifest | Index:
    """Parse bytes whose kind is told by ``media_type`` (or, if absent, by the body)."""
    obj = _load(data, where)
    if not isinstance(obj, dict):
        raise VerificationError(f"{where}: must be a JSON object")
    if "manifests" in obj and ("layers" in obj or "config" in obj):
        raise VerificationError(f"{where}: is both an image manifest and an index (ambiguous)")
    body_type = obj.get("mediaType")
    if media_type and body_type and media_type != body_type and {media_type, body_type} <= {MANIFEST, INDEX}:
        raise VerificationError(f"{where}: served as {media_type} but the body says {body_type}")
    if media_type in (INDEX, DOCKER_LIST) or body_type in (INDEX, DOCKER_LIST) or "manifests" in obj:
        return Index.from_dict(obj, where)
    return Manifest.from_dict(obj, where)
