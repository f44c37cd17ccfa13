"""The cosign signature format: simple-signing payloads, the ``.sig`` image, ECDSA signatures.

Format, exactly as cosign writes and checks it (``docs/compatibility.md`` §6.1-6.5; sigstore/cosign
https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md, ``pkg/oci/static``, ``pkg/cosign/verify.go``):

* the **payload** is simple-signing JSON naming the manifest digest and the repository,
  Go-compact and in Go struct order::

    {"critical":{"identity":{"docker-reference":"<registry>/<repository>"},
                 "image":{"docker-manifest-digest":"sha256:<hex>"},
                 "type":"cosign container image signature"},
     "optional":null}                       # or {"k":"v",...} (keys sorted) with -a k=v

* the **signature** is ECDSA P-256 over SHA-256 of the payload bytes, ASN.1 DER, standard base64;
* both live in the **same repository** under the tag ``sha256-<hex>.sig``: an OCI image manifest
  (config ``application/vnd.oci.image.config.v1+json``) with one layer per signature, layer
  media type ``application/vnd.dev.cosign.simplesigning.v1+json``, layer blob = the payload,
  layer annotation ``dev.cosignproject.cosign/signature`` = the base64 signature.

Pure bytes in, bytes out: no storage, no keys read from disk (``_signing`` does both).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ocikit._io._digest import Digest
from ocikit._io._json import refuse_duplicate_keys
from ocikit._oci._gojson import go_json
from ocikit._oci._model import MANIFEST
from ocikit._oci._reference import Reference

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.ec import (
        EllipticCurvePrivateKey,
        EllipticCurvePublicKey,
    )

__all__ = [
    "MAX_PAYLOAD",
    "MAX_SIGNATURES",
    "OCI_IMAGE_CONFIG",
    "PAYLOAD_TYPE",
    "SIGNATURE_ANNOTATION",
    "SIMPLESIGNING",
    "docker_reference",
    "ggcr_descriptor",
    "identity_key",
    "parse_strict_payload",
    "sign_bytes",
    "signature_config",
    "signature_manifest",
    "signature_ok",
    "simple_signing_payload",
]

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
OCI_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
PAYLOAD_TYPE = "cosign container image signature"

#: cosign's ``maxLayers``: a ``.sig`` manifest with more layers is refused (CVE-2023-46737).
MAX_SIGNATURES = 1000
#: A payload is a few hundred bytes; cosign's own cap is 128 MiB, ours is far smaller.
MAX_PAYLOAD = 1024 * 1024

_ZERO_TIME = "0001-01-01T00:00:00Z"
_DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")


def docker_reference(ref: Reference) -> str:
    """The identity a payload names: ``registry/repository`` without tag or digest."""
    return ref.name


def identity_key(name: str) -> str:
    """Normalise Docker Hub spellings so ``docker.io/x`` and ``index.docker.io/library/x`` match."""
    registry, _, repository = name.partition("/")
    if registry in _DOCKER_HUB:
        if "/" not in repository:
            repository = f"library/{repository}"
        return f"docker.io/{repository}"
    return name


def simple_signing_payload(
    reference: str, digest: Digest, annotations: Mapping[str, str] | None = None
) -> bytes:
    """The simple-signing payload bytes, as cosign's Go ``json.Marshal`` writes them.

    sigstore/sigstore ``pkg/signature/payload/payload.go``: fields in declaration order, no
    ``omitempty`` on ``optional`` (so ``null`` without annotations), map keys sorted.
    """
    optional = None if not annotations else {k: annotations[k] for k in sorted(annotations)}
    return go_json({
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": str(digest)},
            "type": PAYLOAD_TYPE,
        },
        "optional": optional,
    })


def signature_config(payload_digests: list[Digest]) -> bytes:
    """The ``.sig`` image's config blob, as go-containerregistry builds it for cosign.

    ``mutate.Append`` on ``empty.Image`` (ggcr ``pkg/v1/config.go`` field order): one ``diff_id``
    and one zero-time history entry per signature layer.
    """
    return go_json({
        "architecture": "",
        "created": _ZERO_TIME,
        "history": [{"created": _ZERO_TIME} for _ in payload_digests],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [str(d) for d in payload_digests]},
        "config": {},
    })


def ggcr_descriptor(media_type: str, digest: Digest, size: int) -> dict[str, Any]:
    # go-containerregistry's v1.Descriptor order is mediaType, size, digest (unlike the OCI one).
    return {"mediaType": media_type, "size": size, "digest": str(digest)}


def signature_manifest(config: bytes, layers: list[dict[str, Any]]) -> bytes:
    return go_json({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": ggcr_descriptor(OCI_IMAGE_CONFIG, Digest.of_bytes(config), len(config)),
        "layers": layers,
    })


def parse_strict_payload(data: bytes) -> dict[str, Any]:
    """Parse a payload under containers/image's strict rules (``sigstore_payload.go``).

    Exactly ``critical``/``optional`` at the top, exactly ``type``/``image``/``identity`` in
    ``critical``, exactly one key in each of those; duplicate keys anywhere are refused.
    """

    def exact(obj: Any, keys: set[str], where: str) -> dict[str, Any]:
        if not isinstance(obj, dict) or set(obj) != keys:
            raise ValueError(f"{where} must have exactly {sorted(keys)}")
        return obj

    parsed = json.loads(data, object_pairs_hook=refuse_duplicate_keys(ValueError))
    obj = exact(parsed, {"critical", "optional"}, "payload")
    critical = exact(obj["critical"], {"type", "image", "identity"}, "critical")
    image = exact(critical["image"], {"docker-manifest-digest"}, "critical.image")
    identity = exact(critical["identity"], {"docker-reference"}, "critical.identity")
    if critical["type"] != PAYLOAD_TYPE:
        raise ValueError(f"critical.type is {critical['type']!r}, not {PAYLOAD_TYPE!r}")
    if not isinstance(image["docker-manifest-digest"], str) or not isinstance(identity["docker-reference"], str):
        raise ValueError("docker-manifest-digest and docker-reference must be strings")
    optional = obj["optional"]
    if optional is not None:
        if not isinstance(optional, dict):
            raise ValueError("optional must be null or an object")
        if "creator" in optional and not isinstance(optional["creator"], str):
            raise ValueError("optional.creator must be a string")
        if "timestamp" in optional and (type(optional["timestamp"]) is not int):
            raise ValueError("optional.timestamp must be an integer")
    return obj


# ------------------------------------------------------------------------------------------ ECDSA


def sign_bytes(key: EllipticCurvePrivateKey, payload: bytes) -> str:
    """The base64 ASN.1 DER ECDSA signature over SHA-256 of ``payload``."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    return base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode("ascii")


def signature_ok(key: EllipticCurvePublicKey, payload: bytes, b64: object) -> bool:
    """Whether ``b64`` (an annotation value, so of any JSON type) is a valid signature of ``payload``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    if not isinstance(b64, str) or not b64:
        return False
    try:
        signature = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
