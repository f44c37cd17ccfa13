"""DSSE envelopes: the pre-authentication encoding, signing it with an ECDSA P-256 key, checking it.

Spec: https://github.com/secure-systems-lab/dsse/blob/master/protocol.md —
``PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`` with lengths as ASCII
decimal byte counts; the signature is over PAE, never over the bare payload. Signatures are ASN.1
DER ECDSA over SHA-256, what sigstore-go's key signer writes (``pkg/sign/keys.go``).

Signing is deterministic (RFC 6979, https://www.rfc-editor.org/rfc/rfc6979): the same key and
payload always give the same signature bytes, so a bundle is reproducible and a re-sign is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

__all__ = ["INTOTO_PAYLOAD_TYPE", "Envelope", "pae", "sign_envelope", "signature_valid"]

#: The payloadType of an envelope around an in-toto statement.
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope: payload bytes, their type, and raw signature bytes (not base64)."""

    payload: bytes
    payload_type: str
    signatures: tuple[bytes, ...]


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE v1 pre-authentication encoding of ``payload``."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def sign_envelope(key: EllipticCurvePrivateKey, payload_type: str, payload: bytes) -> Envelope:
    """An envelope with one deterministic ECDSA-P256-SHA256 signature over PAE."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    signature = key.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    return Envelope(payload, payload_type, (signature,))


def signature_valid(key: object, envelope: Envelope) -> bool:
    """Whether any signature of ``envelope`` verifies over PAE with ``key`` (an EC public key).

    A key of another type (RSA, Ed25519 in a keyless certificate) is checked with its own scheme.
    """
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    message = pae(envelope.payload_type, envelope.payload)
    for signature in envelope.signatures:
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                digest = hashes.SHA384() if key.curve.key_size == 384 else (
                    hashes.SHA512() if key.curve.key_size == 521 else hashes.SHA256())
                key.verify(signature, message, ec.ECDSA(digest))
            elif isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(signature, message)
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            else:
                continue
        except (InvalidSignature, UnsupportedAlgorithm, ValueError):
            continue
        return True
    return False

