"""Sigstore bundles (v0.3, DSSE content): build one for a key-based signature, parse one strictly.

Wire format: https://github.com/sigstore/protobuf-specs/blob/main/protos/sigstore_bundle.proto,
as the ``sigstore-models`` types model it. A key-based bundle is what sigstore-go's ``sign.Bundle``
writes for cosign v3 ``sign --key --tlog-upload=false`` (``pkg/sign/signer.go``): ``mediaType``,
``verificationMaterial.publicKey.hint`` = base64(sha256(DER SubjectPublicKeyInfo)) (cosign
``internal/key/svkeypair.go``), no tlog entries, and ``dsseEnvelope`` with one signature.

The parser bounds what it reads (size, nesting depth), refuses duplicate keys, and accepts bundles
carrying an X.509 certificate and Rekor entries (keyless): it reports the signer identity and the
log entries, but it cannot check the Fulcio chain or the Rekor inclusion offline (``keyless``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ocikit._io._json import max_depth, refuse_duplicate_keys
from ocikit._oci._gojson import go_json
from ocikit._trust._dsse import Envelope

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

__all__ = [
    "BUNDLE_MEDIA_PREFIX",
    "BUNDLE_MEDIA_TYPE",
    "MAX_BUNDLE",
    "ParsedBundle",
    "bundle_bytes",
    "key_hint",
    "parse_bundle",
]

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
#: cosign keeps referrers whose layer media type starts with this (``pkg/cosign/verify.go`` ``GetBundles``).
BUNDLE_MEDIA_PREFIX = "application/vnd.dev.sigstore.bundle"
#: cosign's attachment limit is 128 MiB; a DSSE bundle of a manifest digest is about 1 KiB and an
#: OMS bundle of a large model tree a few MiB, so 32 MiB leaves room without reading anything absurd.
MAX_BUNDLE = 32 * 1024 * 1024
_MAX_DEPTH = 64
#: Fulcio's OIDC issuer extensions (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"
_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"


@dataclass(frozen=True)
class ParsedBundle:
    """What a bundle holds. ``certificate`` is DER; ``identity``/``issuer`` come from it (unverified)."""

    media_type: str
    envelope: Envelope | None  # None for a message-signature bundle
    hint: str | None
    certificate: bytes | None
    identity: str | None
    issuer: str | None
    tlog_entries: int
    log_indexes: tuple[int, ...]

    @property
    def keyless(self) -> bool:
        return self.certificate is not None

    def certificate_key(self) -> object | None:
        """The certificate's public key, or None (no certificate, or one that does not parse)."""
        if self.certificate is None:
            return None
        from cryptography import x509

        try:
            return x509.load_der_x509_certificate(self.certificate).public_key()
        except ValueError:
            return None

    def to_dict(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "keyHint": self.hint, "certificate": self.certificate is not None,
                "identity": self.identity, "issuer": self.issuer, "tlogEntries": self.tlog_entries,
                "logIndexes": list(self.log_indexes)}


def key_hint(key: EllipticCurvePublicKey) -> str:
    """base64(sha256(DER SubjectPublicKeyInfo)), cosign's and model_signing's public key hint."""
    from cryptography.hazmat.primitives import serialization

    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")


def bundle_bytes(envelope: Envelope, key: EllipticCurvePublicKey) -> bytes:
    """The v0.3 bundle JSON of ``envelope`` signed by ``key``; deterministic, built with sigstore-models."""
    from sigstore_models.bundle.v1 import Bundle, VerificationMaterial
    from sigstore_models.common.v1 import PublicKeyIdentifier
    from sigstore_models.intoto import Envelope as ModelEnvelope
    from sigstore_models.intoto import Signature

    def b64(raw: bytes) -> bytes:  # sigstore-models' ProtoBytes validator takes the base64 form
        return base64.b64encode(raw)

    model = Bundle(
        media_type="application/vnd.dev.sigstore.bundle.v0.3+json",  # BUNDLE_MEDIA_TYPE, as its Literal
        verification_material=VerificationMaterial(public_key=PublicKeyIdentifier(hint=key_hint(key)),
                                                   tlog_entries=[]),
        dsse_envelope=ModelEnvelope(payload=b64(envelope.payload), payload_type=envelope.payload_type,
                                    signatures=[Signature(sig=b64(s)) for s in envelope.signatures]),
    )
    return go_json(model.to_dict())


def _load(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_BUNDLE:
        raise ValueError(f"the bundle is {len(data)} bytes, more than the {MAX_BUNDLE}-byte limit")
    if max_depth(data) > _MAX_DEPTH:
        raise ValueError(f"the bundle nests deeper than {_MAX_DEPTH} levels")
    try:
        obj = json.loads(data, object_pairs_hook=refuse_duplicate_keys(ValueError))
    except RecursionError as e:  # pragma: no cover - max_depth stops this first
        raise ValueError("the bundle nests too deeply") from e
    if not isinstance(obj, dict):
        raise ValueError("the bundle is not a JSON object")
    material = obj.get("verificationMaterial")
    if isinstance(material, dict) and "tlogEntries" not in material:
        material["tlogEntries"] = []  # protojson omits an empty list; sigstore-models requires the key
    return obj


def _identity(der: bytes) -> tuple[str | None, str | None]:
    """(subject alternative name, OIDC issuer) of a Fulcio certificate, unverified."""
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None, None
    identity = None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [*san.get_values_for_type(x509.RFC822Name), *san.get_values_for_type(x509.UniformResourceIdentifier)]
        identity = names[0] if names else None
    except x509.ExtensionNotFound:
        pass
    issuer = None
    for ext in cert.extensions:
        if ext.oid.dotted_string in (_ISSUER_V2, _ISSUER_V1) and isinstance(ext.value, x509.UnrecognizedExtension):
            raw = ext.value.value
            # v2 is a DER UTF8String (tag 0x0c, short length), v1 the raw string
            text = raw[2:] if ext.oid.dotted_string == _ISSUER_V2 and raw[:1] == b"\x0c" else raw
            issuer = text.decode("utf-8", "replace")
    return identity, issuer


def parse_bundle(data: bytes) -> ParsedBundle:
    """Parse a Sigstore bundle (v0.1-v0.3 media types). Raises ValueError saying what is wrong."""
    from pydantic import ValidationError
    from sigstore_models.bundle.v1 import Bundle

    obj = _load(data)
    try:
        model = Bundle.model_validate(obj)
    except ValidationError as e:
        first = e.errors()[0] if e.errors() else {"loc": (), "msg": str(e)}
        where = ".".join(str(x) for x in first["loc"]) or "bundle"
        raise ValueError(f"not a Sigstore bundle: {where}: {first['msg']}") from e
    material = model.verification_material
    certificate = None
    if material.certificate is not None:
        certificate = material.certificate.raw_bytes
    elif material.x509_certificate_chain is not None and material.x509_certificate_chain.certificates:
        certificate = material.x509_certificate_chain.certificates[0].raw_bytes
    identity, issuer = _identity(certificate) if certificate is not None else (None, None)
    envelope = None
    if model.dsse_envelope is not None:
        env = model.dsse_envelope
        envelope = Envelope(env.payload, env.payload_type, tuple(s.sig for s in env.signatures))
    return ParsedBundle(
        model.media_type,
        envelope,
        material.public_key.hint if material.public_key is not None else None,
        certificate,
        identity,
        issuer,
        len(material.tlog_entries),
        tuple(e.log_index for e in material.tlog_entries),
    )
