"""Sigstore bundles as OCI 1.1 referrers, as cosign v3 writes and finds them: attach a signed
statement about a manifest, find and verify the bundles attached to one, and the one verification
entry point that prefers a bundle and falls back to the legacy ``.sig`` tag.

Shape (sigstore/cosign ``pkg/oci/remote/write.go`` ``WriteAttestationNewBundleFormat`` and
``WriteReferrer``; ``docs/signing.md``): a manifest pushed by digest with go-containerregistry's field
order, ``config`` the empty descriptor carrying ``artifactType``, one layer of the bundle media type,
annotations ``dev.sigstore.bundle.content: dsse-envelope``, ``dev.sigstore.bundle.predicateType`` and
``org.opencontainers.image.created``, ``subject`` the signed manifest, ``artifactType`` last.

Verification (``docs/reliability.md`` §H7) is a conjunction per bundle: the referrer manifest
really is a bundle referrer of this digest (whatever the referrers index claims), the bundle parses
within bounds, a DSSE signature verifies over PAE with the given key, the payload is an in-toto
statement naming this digest with the expected predicate type and the required annotations.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ocikit._io._digest import Digest
from ocikit._oci._gojson import go_json
from ocikit._oci._model import ANNOTATION_CREATED, EMPTY_CONFIG, EMPTY_JSON, MANIFEST, Descriptor, Manifest
from ocikit._oci._reference import Reference
from ocikit._store._referrers import add_to_fallback, list_referrers
from ocikit._store._storage import Storage, read_blob
from ocikit._trust._bundle import (
    BUNDLE_MEDIA_PREFIX,
    BUNDLE_MEDIA_TYPE,
    MAX_BUNDLE,
    ParsedBundle,
    bundle_bytes,
    parse_bundle,
)
from ocikit._trust._dsse import INTOTO_PAYLOAD_TYPE, sign_envelope, signature_valid
from ocikit._trust._intoto import COSIGN_SIGN_PREDICATE, Statement, parse_statement, statement_bytes
from ocikit.errors import DigestMismatchError, NotFoundError, SignatureError, UsageError, VerificationError

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey, EllipticCurvePublicKey

__all__ = [
    "BUNDLE_CONTENT",
    "BUNDLE_PREDICATE_TYPE",
    "BundleSignResult",
    "BundleVerifyResult",
    "VerifiedBundle",
    "attach_bundle",
    "referrer_manifest",
    "sign_bundle",
    "verify_bundles",
]

log = logging.getLogger(__name__)

BUNDLE_CONTENT = "dev.sigstore.bundle.content"
BUNDLE_PREDICATE_TYPE = "dev.sigstore.bundle.predicateType"
#: At most this many bundle referrers of one manifest are examined.
MAX_BUNDLES = 64

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class VerifiedBundle:
    """One bundle referrer that passed every check."""

    referrer: Digest
    bundle: ParsedBundle
    statement: Statement

    def to_dict(self) -> dict[str, Any]:
        return {"referrer": str(self.referrer), "predicateType": self.statement.predicate_type,
                "keyHint": self.bundle.hint, "tlogEntries": self.bundle.tlog_entries}


@dataclass(frozen=True)
class BundleVerifyResult:
    """A manifest verified by Sigstore bundle(s): use content by ``digest`` from now on."""

    reference: Reference  # pinned to ``digest``
    digest: Digest
    bundles: tuple[VerifiedBundle, ...]
    location: str
    format: str = "bundle"
    signature_tag: str = ""  # a bundle has no tag; kept so callers can read either result alike

    @property
    def signatures(self) -> tuple[VerifiedBundle, ...]:
        return self.bundles

    def to_dict(self) -> dict[str, Any]:
        return {"reference": str(self.reference), "digest": str(self.digest), "verified": True,
                "format": "bundle", "location": self.location, "bundles": [b.to_dict() for b in self.bundles]}


@dataclass(frozen=True)
class BundleSignResult:
    reference: Reference  # pinned to ``digest``
    digest: Digest
    referrer: Descriptor  # the referrer manifest holding the bundle
    added: bool  # False when this very bundle was already attached
    location: str
    local: bool
    format: str = "bundle"

    def to_dict(self) -> dict[str, Any]:
        return {"reference": str(self.reference), "digest": str(self.digest), "format": "bundle",
                "referrer": str(self.referrer.digest), "artifactType": BUNDLE_MEDIA_TYPE,
                "added": self.added, "location": self.location, "local": self.local}


# ------------------------------------------------------------------------------------------ write


def _ggcr(media_type: str, digest: Digest, size: int) -> dict[str, Any]:
    return {"mediaType": media_type, "size": size, "digest": str(digest)}


def referrer_manifest(bundle: bytes, subject: Descriptor, predicate_type: str, created: datetime) -> bytes:
    """The referrer manifest's bytes, field for field as cosign's ``referrerManifest`` marshals."""
    config = {**_ggcr(EMPTY_CONFIG, Digest.of_bytes(EMPTY_JSON), len(EMPTY_JSON)), "artifactType": BUNDLE_MEDIA_TYPE}
    annotations = {
        BUNDLE_CONTENT: "dsse-envelope",
        BUNDLE_PREDICATE_TYPE: predicate_type,
        ANNOTATION_CREATED: created.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return go_json({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": config,
        "layers": [_ggcr(BUNDLE_MEDIA_TYPE, Digest.of_bytes(bundle), len(bundle))],
        "annotations": dict(sorted(annotations.items())),
        "subject": _ggcr(subject.media_type, subject.digest, subject.size),
        "artifactType": BUNDLE_MEDIA_TYPE,
    })


def _existing(storage: Storage, subject: Digest, bundle_digest: Digest) -> Descriptor | None:
    for d in list_referrers(storage, subject)[:MAX_BUNDLES * 4]:
        if d.artifact_type != BUNDLE_MEDIA_TYPE:
            continue
        try:
            manifest = Manifest.from_bytes(storage.fetch_manifest(Descriptor(MANIFEST, d.digest, d.size)))
        except (VerificationError, NotFoundError):
            continue
        if any(layer.digest == bundle_digest for layer in manifest.layers):
            return d
    return None


def attach_bundle(storage: Storage, subject: Descriptor, bundle: bytes, predicate_type: str,
                  clock: Clock | None = None) -> tuple[Descriptor, bool]:
    """Push ``bundle`` as a referrer of ``subject``; (its descriptor, whether it was added)."""
    if not storage.has_manifest(subject.digest):
        raise NotFoundError(f"{subject.digest} is not in {storage.name}; nothing to sign")
    bundle_digest = Digest.of_bytes(bundle)
    found = _existing(storage, subject.digest, bundle_digest)
    if found is not None:
        return found, False
    for media_type, data in ((EMPTY_CONFIG, EMPTY_JSON), (BUNDLE_MEDIA_TYPE, bundle)):
        desc = Descriptor.for_bytes(media_type, data)
        if not storage.has_blob(desc):
            storage.push_blob(desc, io.BytesIO(data))
    data = referrer_manifest(bundle, subject, predicate_type, (clock or _now)())
    pushed = storage.push_manifest(data, MANIFEST)
    manifest = Manifest.from_bytes(data)
    entry = Descriptor(MANIFEST, pushed.digest, pushed.size, dict(manifest.annotations), BUNDLE_MEDIA_TYPE)
    if storage.referrers(subject.digest) is None:
        add_to_fallback(storage, subject.digest, entry)
    log.info("attached bundle %s to %s in %s", pushed.digest, subject.digest, storage.name)
    return entry, True


def sign_bundle(storage: Storage, desc: Descriptor, key: EllipticCurvePrivateKey, *,
                annotations: Mapping[str, str] | None = None, predicate_type: str = COSIGN_SIGN_PREDICATE,
                predicate: Mapping[str, Any] | None = None, clock: Clock | None = None) -> tuple[Descriptor, bool]:
    """Sign a statement about ``desc`` (cosign v3 ``sign`` by default) and attach its bundle."""
    statement = statement_bytes(desc.digest, predicate_type, predicate, annotations)
    envelope = sign_envelope(key, INTOTO_PAYLOAD_TYPE, statement)
    return attach_bundle(storage, desc, bundle_bytes(envelope, key.public_key()), predicate_type, clock)


# ----------------------------------------------------------------------------------------- verify


def _read_referrer(storage: Storage, entry: Descriptor, subject: Digest) -> tuple[bytes, Digest]:
    """The bundle bytes of referrer ``entry``; ValueError when it is not a bundle referrer of ``subject``."""
    manifest = Manifest.from_bytes(storage.fetch_manifest(Descriptor(MANIFEST, entry.digest, entry.size)),
                                   f"referrer {entry.digest}")
    actual = manifest.artifact_type or manifest.config.media_type
    if not actual.startswith(BUNDLE_MEDIA_PREFIX):
        raise ValueError(f"the referrers index says {entry.artifact_type} but its manifest says {actual}")
    if manifest.subject is None or manifest.subject.digest != subject:
        raise ValueError(f"its subject is {manifest.subject.digest if manifest.subject else 'missing'}, not {subject}")
    layers = [layer for layer in manifest.layers if layer.media_type.startswith(BUNDLE_MEDIA_PREFIX)]
    if len(manifest.layers) != 1 or len(layers) != 1:
        kinds = ", ".join(layer.media_type for layer in manifest.layers) or "none"
        raise ValueError(f"it must hold exactly one bundle layer (has: {kinds})")
    return read_blob(storage, layers[0], limit=MAX_BUNDLE, what="Sigstore bundle"), entry.digest


def _check(storage: Storage, entry: Descriptor, digest: Digest, key: EllipticCurvePublicKey,
           predicate_type: str | None, annotations: Mapping[str, str]) -> tuple[VerifiedBundle | None, int, str]:
    """(verified, rank, reason): a higher rank is the more telling reason to report."""
    try:
        data, referrer = _read_referrer(storage, entry, digest)
        bundle = parse_bundle(data)
    except (ValueError, VerificationError, UsageError, DigestMismatchError) as e:
        return None, 1, f"bundle referrer {entry.digest.short} is unusable: {e}"
    except NotFoundError:
        return None, 1, f"bundle referrer {entry.digest.short} or its blob is missing"
    if bundle.envelope is None:
        return None, 1, f"bundle {entry.digest.short} holds a message signature, not a DSSE envelope"
    if bundle.keyless:
        ok = signature_valid(bundle.certificate_key(), bundle.envelope)
        return None, 3, (f"bundle {entry.digest.short} is keyless (certificate for {bundle.identity or '?'}, "
                         f"issuer {bundle.issuer or '?'}, {bundle.tlog_entries} Rekor entr"
                         f"{'y' if bundle.tlog_entries == 1 else 'ies'}; signature "
                         f"{'valid' if ok else 'INVALID'} with the certificate's key): the Fulcio chain and "
                         "Rekor inclusion cannot be checked offline, so it is not trusted")
    if not signature_valid(key, bundle.envelope):
        return None, 2, "no signature verifies with this key (wrong key, or a tampered bundle)"
    if bundle.envelope.payload_type != INTOTO_PAYLOAD_TYPE:
        return None, 4, f"the signed payload is {bundle.envelope.payload_type}, not an in-toto statement"
    try:
        statement = parse_statement(bundle.envelope.payload)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None, 4, f"the signed statement is malformed: {e}"
    if not statement.names(digest):
        named = ", ".join(f"{a}:{h}" for s in statement.subjects for a, h in s.items())
        return None, 6, f"the bundle is for {named}, not {digest} (the content changed after signing?)"
    if predicate_type is not None and statement.predicate_type != predicate_type:
        return None, 5, f"the bundle's predicate type is {statement.predicate_type}, not {predicate_type}"
    got = statement.annotations_of(digest)
    for k, v in annotations.items():
        if got.get(k) != v:
            return None, 5, f"the bundle's annotation {k} is {repr(got[k]) if k in got else 'missing'}, required {v!r}"
    return VerifiedBundle(referrer, bundle, statement), 7, ""


def verify_bundles(storage: Storage, digest: Digest, key: EllipticCurvePublicKey, *,
                   predicate_type: str | None = COSIGN_SIGN_PREDICATE,
                   annotations: Mapping[str, str] | None = None) -> tuple[list[VerifiedBundle], int, str]:
    """(bundles that verify, how many bundle referrers were examined, best reason for the others)."""
    entries = [d for d in list_referrers(storage, digest)
               if (d.artifact_type or "").startswith(BUNDLE_MEDIA_PREFIX)]
    if len(entries) > MAX_BUNDLES:
        raise SignatureError(f"{digest} has {len(entries)} bundle referrers, more than {MAX_BUNDLES}")
    verified: list[VerifiedBundle] = []
    best = (-1, "")
    for entry in entries:
        found, rank, reason = _check(storage, entry, digest, key, predicate_type, annotations or {})
        if found is not None:
            verified.append(found)
        elif rank > best[0]:
            best = (rank, reason)
    return verified, len(entries), best[1]
