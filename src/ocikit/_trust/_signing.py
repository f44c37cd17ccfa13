"""cosign-compatible signatures of manifest digests (key-based, legacy ``.sig`` tag scheme): sign a
manifest in a storage, verify one, make a key pair. The bytes on the wire are ``_simple_signing``'s.

Verification is a conjunction (``docs/reliability.md`` §H7): at least one layer whose signature
verifies over the exact blob bytes with the given key AND whose payload names the digest being
used AND the repository it was fetched for AND carries the required annotations. Zero such layers
is a failure, never a vacuous success. Callers then use content **by the verified digest** and do
not resolve the tag again.

Everything here talks to a :class:`~ocikit._store._storage.Storage`, so the local store and a registry
behave the same, and any manifest (a ModelKit, a stage event) can be signed. Turning a reference
into a storage is ``_ops._trust``'s job (``sign``, ``verify``).
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocikit._io._digest import Digest
from ocikit._oci._model import MANIFEST, Descriptor
from ocikit._oci._reference import Reference
from ocikit._store._referrers import signature_tag
from ocikit._store._storage import Storage, read_blob
from ocikit._trust._keys import load_private_key, load_public_key, resolve_password, write_keypair
from ocikit._trust._simple_signing import (
    MAX_PAYLOAD,
    MAX_SIGNATURES,
    OCI_IMAGE_CONFIG,
    SIGNATURE_ANNOTATION,
    SIMPLESIGNING,
    docker_reference,
    ggcr_descriptor,
    identity_key,
    parse_strict_payload,
    sign_bytes,
    signature_config,
    signature_manifest,
    signature_ok,
    simple_signing_payload,
)
from ocikit.errors import (
    DigestMismatchError,
    NotFoundError,
    RegistryError,
    SignatureError,
    UsageError,
    VerificationError,
)

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.ec import (
        EllipticCurvePrivateKey,
        EllipticCurvePublicKey,
    )

__all__ = [
    "SignResult",
    "VerifiedSignature",
    "VerifyResult",
    "keygen",
    "sign_descriptor",
    "sign_manifest",
    "verify_descriptor",
]

log = logging.getLogger(__name__)

_RETRIES = 5


# --------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class VerifiedSignature:
    """One ``.sig`` layer that passed every check."""

    docker_reference: str
    digest: Digest
    payload_digest: Digest
    annotations: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {  # the payload's docker-reference / docker-manifest-digest, in camelCase like every --json key
            "dockerReference": self.docker_reference,
            "dockerManifestDigest": str(self.digest),
            "payloadDigest": str(self.payload_digest),
            "optional": dict(self.annotations) or None,
        }


@dataclass(frozen=True)
class VerifyResult:
    """What was verified: use content by ``digest`` from now on, never by the tag."""

    reference: Reference  # pinned to ``digest``
    digest: Digest
    signature_tag: str
    signatures: tuple[VerifiedSignature, ...]
    location: str  # the repository the signature was read from
    format: str = "legacy"  # the ``.sig`` tag scheme (a Sigstore bundle is ``_bundle_oci``'s result)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": str(self.reference),
            "digest": str(self.digest),
            "verified": True,
            "format": self.format,
            "signatureTag": self.signature_tag,
            "location": self.location,
            "signatures": [s.to_dict() for s in self.signatures],
        }


@dataclass(frozen=True)
class SignResult:
    reference: Reference  # pinned to ``digest``
    digest: Digest
    signature_tag: str
    signature: Descriptor  # the ``.sig`` manifest
    added: bool  # False when an equivalent signature by this key was already there
    location: str  # the repository the signature was written to
    local: bool  # True when written to the local store (push it to publish)
    format: str = "legacy"

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": str(self.reference),
            "digest": str(self.digest),
            "format": self.format,
            "signatureTag": self.signature_tag,
            "signatureManifest": str(self.signature.digest),
            "added": self.added,
            "location": self.location,
            "local": self.local,
        }



# ------------------------------------------------------------------------------------------- sign


def _read_signature_manifest(storage: Storage, tag: str) -> dict[str, Any] | None:
    """The current ``.sig`` manifest as a JSON dict, or None when there is none yet."""
    try:
        desc = storage.resolve(tag)
    except NotFoundError:
        return None
    data = storage.fetch_manifest(desc)
    if desc.media_type != MANIFEST:
        # containers/image refuses any other type here (docker_client.go getSigstoreAttachmentManifest)
        raise SignatureError(f"{storage.name}:{tag} is a {desc.media_type}, not an OCI image manifest")
    try:
        obj = json.loads(data)
    except ValueError as e:
        raise SignatureError(f"{storage.name}:{tag} is not valid JSON") from e
    layers = obj.get("layers") if isinstance(obj, dict) else None
    if not isinstance(obj, dict) or not isinstance(layers if layers is not None else [], list):
        raise SignatureError(f"{storage.name}:{tag} is not an image manifest")
    if layers is not None and len(layers) > MAX_SIGNATURES:
        raise SignatureError(f"{storage.name}:{tag} holds {len(layers)} signatures, more than {MAX_SIGNATURES}")
    return obj


def _layer_digest(layer: Any) -> Digest | None:
    if not isinstance(layer, dict) or not Digest.is_valid(layer.get("digest", "")):
        return None
    return Digest.parse(layer["digest"])


def _is_duplicate(layer: Any, payload_digest: Digest, public: EllipticCurvePublicKey, payload: bytes) -> bool:
    """cosign ``pkg/cosign/remote/remote.go`` ``dd.Find``: same payload, same media type, no other
    annotations, and a signature that verifies with the signer's key."""
    if _layer_digest(layer) != payload_digest or layer.get("mediaType") != SIMPLESIGNING:
        return False
    annotations = layer.get("annotations") or {}
    if not isinstance(annotations, dict) or set(annotations) != {SIGNATURE_ANNOTATION}:
        return False
    return signature_ok(public, payload, annotations[SIGNATURE_ANNOTATION])


def _manifest_descriptor(storage: Storage, ref: Reference, desc: Descriptor) -> None:
    if not storage.has_manifest(desc.digest):
        raise NotFoundError(f"{ref.name}@{desc.digest} is not in {storage.name}; nothing to sign")


def sign_manifest(
    storage: Storage,
    ref: Reference,
    desc: Descriptor,
    key: EllipticCurvePrivateKey,
    *,
    annotations: Mapping[str, str] | None,
) -> tuple[Descriptor, bool]:
    """Sign ``desc`` in ``storage`` with the loaded ``key``: (the ``.sig`` manifest, whether a
    signature was added; False when an equivalent one by this key was already there)."""
    _manifest_descriptor(storage, ref, desc)
    payload = simple_signing_payload(docker_reference(ref), desc.digest, annotations)
    payload_desc = Descriptor(SIMPLESIGNING, Digest.of_bytes(payload), len(payload))
    public = key.public_key()
    tag = signature_tag(desc.digest)
    signature = sign_bytes(key, payload)
    if not storage.has_blob(payload_desc):
        storage.push_blob(payload_desc, io.BytesIO(payload))
    for attempt in range(_RETRIES):
        current = _read_signature_manifest(storage, tag)
        layers: list[Any] = list((current or {}).get("layers") or [])
        if any(_is_duplicate(layer, payload_desc.digest, public, payload) for layer in layers):
            log.info("%s@%s already carries this signature; not adding another", ref.name, desc.digest)
            return storage.resolve(tag), False
        if len(layers) >= MAX_SIGNATURES:
            raise SignatureError(f"{storage.name}:{tag} already holds {MAX_SIGNATURES} signatures")
        layers.append({
            **ggcr_descriptor(SIMPLESIGNING, payload_desc.digest, payload_desc.size),
            "annotations": {SIGNATURE_ANNOTATION: signature},
        })
        digests = [d for d in (_layer_digest(layer) for layer in layers) if d is not None]
        config = signature_config(digests)
        config_desc = Descriptor(OCI_IMAGE_CONFIG, Digest.of_bytes(config), len(config))
        if not storage.has_blob(config_desc):
            storage.push_blob(config_desc, io.BytesIO(config))
        pushed = storage.push_manifest(signature_manifest(config, layers), MANIFEST, tag=tag)
        # Signers append by read-modify-write and registries do not honour If-Match: read back and
        # retry if a concurrent signer replaced the manifest (cosign itself just loses the write).
        after = _read_signature_manifest(storage, tag) or {}
        if any(isinstance(x, dict) and (x.get("annotations") or {}).get(SIGNATURE_ANNOTATION) == signature
               for x in after.get("layers") or []):
            log.info("signed %s@%s: %s in %s", ref.name, desc.digest, tag, storage.name)
            return pushed, True
        log.info("%s changed under us; retrying (%d)", tag, attempt + 1)
        time.sleep(0.05 * (attempt + 1))
    raise RegistryError(f"could not update {storage.name}:{tag}; another signer keeps replacing it")


def sign_descriptor(
    storage: Storage,
    ref: Reference,
    desc: Descriptor,
    private_key_path: str | os.PathLike[str],
    *,
    password: str | bytes | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Descriptor:
    """Sign the manifest ``desc`` in ``storage`` (repository ``ref.name``); return the ``.sig``
    manifest's descriptor. Re-signing with the same key and payload adds nothing."""
    key = load_private_key(private_key_path, password)
    return sign_manifest(storage, ref, desc, key, annotations=annotations)[0]


# ----------------------------------------------------------------------------------------- verify


def _check_layer(
    storage: Storage,
    layer: Descriptor,
    key: EllipticCurvePublicKey,
    digest: Digest,
    identity: str,
    annotations: Mapping[str, str],
) -> tuple[VerifiedSignature | None, int, str]:
    """(verified, rank, reason). Higher rank = the more telling reason to report on failure."""
    if layer.media_type != SIMPLESIGNING:
        return None, 0, f"a layer has media type {layer.media_type}, not a simple-signing payload"
    if SIGNATURE_ANNOTATION not in layer.annotations:
        return None, 0, f"a layer has no {SIGNATURE_ANNOTATION} annotation"
    try:
        payload = read_blob(storage, layer, limit=MAX_PAYLOAD, what="signature payload")
    except (DigestMismatchError, UsageError) as e:
        return None, 1, f"a signature payload is corrupt ({e})"
    except NotFoundError:
        return None, 1, f"the signature payload {layer.digest} is missing"
    if not signature_ok(key, payload, layer.annotations[SIGNATURE_ANNOTATION]):
        return None, 2, "no signature verifies with this key (wrong key, or a tampered payload)"
    try:
        obj = parse_strict_payload(payload)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None, 3, f"the signed payload is malformed: {e}"
    named = obj["critical"]["image"]["docker-manifest-digest"]
    if named != str(digest):
        return None, 5, f"the signature is for {named}, not {digest} (the content changed after signing?)"
    claimed = obj["critical"]["identity"]["docker-reference"]
    if identity_key(claimed) != identity_key(identity):
        return None, 4, f"the signature is for repository {claimed}, not {identity}"
    optional = obj["optional"] or {}
    for k, v in annotations.items():
        if optional.get(k) != v:
            shown = "missing" if k not in optional else repr(optional[k])
            return None, 4, f"the signature's annotation {k} is {shown}, required {v!r}"
    return VerifiedSignature(claimed, digest, layer.digest, dict(optional)), 6, ""


def verify_descriptor(
    storage: Storage,
    ref: Reference,
    desc: Descriptor,
    public_key_path: str | os.PathLike[str],
    *,
    annotations: Mapping[str, str] | None = None,
) -> VerifyResult:
    """Check that ``desc`` (a manifest in repository ``ref.name``) carries a valid signature by
    the key at ``public_key_path``. Raises SignatureError (exit 3) with one line saying why not."""
    key = load_public_key(public_key_path)
    tag = signature_tag(desc.digest)
    shown = f"{ref.name}@{desc.digest}"
    try:
        sig_desc = storage.resolve(tag)
    except NotFoundError as e:
        raise SignatureError(
            f"{shown} is not signed (no {tag} in {storage.name})",
            hint="sign it with 'ocikit sign', or pull the signature with the ModelKit",
        ) from e
    if sig_desc.media_type != MANIFEST:
        raise SignatureError(f"{shown}: {tag} is a {sig_desc.media_type}, not an OCI image manifest")
    try:
        from ocikit._oci._model import Manifest

        manifest = Manifest.from_bytes(storage.fetch_manifest(sig_desc), f"signature manifest {tag}")
    except VerificationError as e:
        if isinstance(e, SignatureError):
            raise
        raise SignatureError(f"{shown}: the signature manifest {tag} is invalid ({e})") from e
    if not manifest.layers:
        raise SignatureError(f"{shown} is not signed ({tag} holds no signatures)")
    if len(manifest.layers) > MAX_SIGNATURES:
        raise SignatureError(f"{shown}: {tag} holds {len(manifest.layers)} signatures, more than {MAX_SIGNATURES}")
    verified: list[VerifiedSignature] = []
    best = (-1, "")
    for layer in manifest.layers:
        found, rank, reason = _check_layer(storage, layer, key, desc.digest, ref.name, annotations or {})
        if found is not None:
            verified.append(found)
        elif rank > best[0]:
            best = (rank, reason)
    if not verified:
        raise SignatureError(f"{shown}: {best[1]}", hint=f"checked {len(manifest.layers)} signature(s) in {tag}")
    return VerifyResult(
        Reference(ref.registry, ref.repository, ref.tag, desc.digest),
        desc.digest,
        tag,
        tuple(verified),
        storage.name,
    )


# ------------------------------------------------------------------------------------------- keys


def keygen(
    prefix: str | os.PathLike[str] = "cosign",
    password: str | bytes | None = None,
    force: bool = False,
    *,
    cosign_format: bool = False,
) -> tuple[Path, Path]:
    """Write ``<prefix>.key`` (PKCS#8 PEM, 0600; encrypted when ``password`` is non-empty) and
    ``<prefix>.pub``. ``cosign_format`` writes cosign's ``ENCRYPTED SIGSTORE PRIVATE KEY``
    instead (needs PyNaCl), which ``cosign sign --key`` reads directly."""
    pw = resolve_password(password)
    return write_keypair(prefix, pw, force=force, cosign_format=cosign_format)

