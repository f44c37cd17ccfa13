"""Sigstore bundle signatures (cosign v3's default) on a MemoryStorage: the bytes pinned by goldens,
sign/verify round trips, the preference for a bundle over the legacy tag, and keyless bundles.

Goldens: ``tests/goldens/sigstore-bundle-sign.json`` (the whole bundle: signatures are RFC 6979
deterministic, so with a fixed key the bytes are fixed) and ``sigstore-bundle-referrer.json`` (the
referrer manifest with a fixed clock). Rewrite with ``pytest tests/unit/test_bundle.py --update-goldens``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import sigstore_bundle_reference as reference
from fakes.modelkit import push_tiny_kit
from ocikit._io._digest import Digest
from ocikit._oci._model import MANIFEST, Descriptor, Manifest
from ocikit._oci._reference import Reference
from ocikit._store._referrers import list_referrers
from ocikit._store._storage import MemoryStorage
from ocikit._trust._bundle import BUNDLE_MEDIA_TYPE, bundle_bytes, key_hint, parse_bundle
from ocikit._trust._bundle_oci import BundleVerifyResult, attach_bundle, referrer_manifest, sign_bundle
from ocikit._trust._dsse import INTOTO_PAYLOAD_TYPE, pae, sign_envelope, signature_valid
from ocikit._trust._intoto import COSIGN_SIGN_PREDICATE, parse_statement, statement_bytes
from ocikit._trust._keys import public_key_pem
from ocikit._trust._signing import VerifyResult, sign_manifest
from ocikit._trust._trust_check import verify_signed
from ocikit.errors import SignatureError

GOLDENS = Path(__file__).resolve().parents[1] / "goldens"
FIXED_KEY = ec.derive_private_key(0x0C1C17_5EED_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0001,
                                  ec.SECP256R1())
CLOCK = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
SUBJECT = Descriptor(MANIFEST, Digest.of_bytes(b"a ModelKit manifest"), 405)
NAME = "registry.example/acme/sentiment"


def _golden(name: str, data: bytes, update: bool) -> None:
    path = GOLDENS / name
    if update:
        path.write_bytes(data)
    assert data == path.read_bytes(), f"{name} changed; review and rerun with --update-goldens"


def _pub(tmp_path: Path, key: ec.EllipticCurvePrivateKey, name: str = "k.pub") -> Path:
    path = tmp_path / name
    path.write_bytes(public_key_pem(key.public_key()))
    return path


def test_the_bundle_and_referrer_bytes_are_pinned(update_goldens: bool) -> None:
    statement = statement_bytes(SUBJECT.digest, COSIGN_SIGN_PREDICATE, None, {"ci": "release"})
    bundle = bundle_bytes(sign_envelope(FIXED_KEY, INTOTO_PAYLOAD_TYPE, statement), FIXED_KEY.public_key())
    _golden("sigstore-bundle-sign.json", bundle, update_goldens)
    _golden("sigstore-bundle-referrer.json", referrer_manifest(bundle, SUBJECT, COSIGN_SIGN_PREDICATE, CLOCK),
            update_goldens)


def test_the_statement_is_cosign_v3s_shape() -> None:
    statement = json.loads(statement_bytes(SUBJECT.digest, COSIGN_SIGN_PREDICATE))
    assert statement == {"_type": "https://in-toto.io/Statement/v1",
                         "subject": [{"digest": {"sha256": SUBJECT.digest.hex}, "annotations": {}}],
                         "predicateType": "https://sigstore.dev/cosign/sign/v1", "predicate": {}}


def test_the_referrer_manifest_is_cosign_v3s_shape() -> None:
    bundle = b'{"mediaType":"x"}'
    manifest = json.loads(referrer_manifest(bundle, SUBJECT, COSIGN_SIGN_PREDICATE, CLOCK))
    assert list(manifest) == ["schemaVersion", "mediaType", "config", "layers", "annotations", "subject",
                              "artifactType"]
    assert manifest["config"] == {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                                  "digest": str(Digest.of_bytes(b"{}")), "artifactType": BUNDLE_MEDIA_TYPE}
    assert manifest["layers"] == [{"mediaType": BUNDLE_MEDIA_TYPE, "size": len(bundle),
                                   "digest": str(Digest.of_bytes(bundle))}]
    assert manifest["annotations"] == {"dev.sigstore.bundle.content": "dsse-envelope",
                                       "dev.sigstore.bundle.predicateType": COSIGN_SIGN_PREDICATE,
                                       "org.opencontainers.image.created": "2026-01-02T03:04:05Z"}
    assert manifest["artifactType"] == BUNDLE_MEDIA_TYPE


def test_pae_and_hint_match_the_independent_reference() -> None:
    assert pae("t", b"ab") == reference.pae("t", b"ab") == b"DSSEv1 1 t 2 ab"
    parsed = json.loads(reference.make_bundle(FIXED_KEY, str(SUBJECT.digest)))
    assert parsed["verificationMaterial"]["publicKey"]["hint"] == key_hint(FIXED_KEY.public_key())


def test_sign_then_verify_prefers_the_bundle_and_resigning_adds_nothing(tmp_path: Path) -> None:
    storage = MemoryStorage(NAME)
    desc = push_tiny_kit(storage)
    first, added = sign_bundle(storage, desc, FIXED_KEY, annotations={"ci": "release"}, clock=lambda: CLOCK)
    again, added_again = sign_bundle(storage, desc, FIXED_KEY, annotations={"ci": "release"})
    assert added and not added_again and again.digest == first.digest
    assert [d.artifact_type for d in list_referrers(storage, desc.digest)] == [BUNDLE_MEDIA_TYPE]
    sign_manifest(storage, Reference.parse(f"{NAME}:1.0.0"), desc, FIXED_KEY, annotations=None)
    result = verify_signed(storage, Reference.parse(f"{NAME}:1.0.0"), desc, _pub(tmp_path, FIXED_KEY),
                           annotations={"ci": "release"})
    assert isinstance(result, BundleVerifyResult)
    assert result.to_dict()["format"] == "bundle" and result.digest == desc.digest
    assert result.bundles[0].referrer == first.digest


def test_a_bad_bundle_falls_back_to_a_good_legacy_signature(tmp_path: Path) -> None:
    storage = MemoryStorage(NAME)
    desc = push_tiny_kit(storage)
    sign_bundle(storage, desc, ec.generate_private_key(ec.SECP256R1()))  # another signer's bundle
    sign_manifest(storage, Reference.parse(f"{NAME}:1.0.0"), desc, FIXED_KEY, annotations=None)
    result = verify_signed(storage, Reference.parse(f"{NAME}:1.0.0"), desc, _pub(tmp_path, FIXED_KEY))
    assert isinstance(result, VerifyResult) and result.to_dict()["format"] == "legacy"


@pytest.mark.parametrize(("case", "message"), [
    ("wrong key", "no signature verifies with this key"),
    ("other digest", "the bundle is for sha256:"),
    ("annotation", "annotation ci is missing"),
    ("predicate", "predicate type is https://slsa.dev/provenance/v1"),
])
def test_refusals_name_the_reason(tmp_path: Path, case: str, message: str) -> None:
    storage = MemoryStorage(NAME)
    desc = push_tiny_kit(storage)
    key = ec.generate_private_key(ec.SECP256R1()) if case == "wrong key" else FIXED_KEY
    digest = Digest.of_bytes(b"another manifest") if case == "other digest" else desc.digest
    predicate = "https://slsa.dev/provenance/v1" if case == "predicate" else COSIGN_SIGN_PREDICATE
    statement = statement_bytes(digest, predicate)
    attach_bundle(storage, desc, bundle_bytes(sign_envelope(key, INTOTO_PAYLOAD_TYPE, statement), key.public_key()),
                  predicate)
    required = {"ci": "release"} if case == "annotation" else None
    with pytest.raises(SignatureError, match=message) as info:
        verify_signed(storage, Reference.parse(f"{NAME}:1.0.0"), desc, _pub(tmp_path, FIXED_KEY),
                      annotations=required)
    assert info.value.exit_code == 3


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _keyless_bundle(digest: Digest) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.dev")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(name)
            .public_key(key.public_key()).serial_number(7).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(minutes=10))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("dev@example.com")]), critical=True)
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"),
                                                      b"\x0c\x1bhttps://accounts.example.com"), critical=False)
            .sign(key, hashes.SHA256()))
    statement = statement_bytes(digest, COSIGN_SIGN_PREDICATE)
    envelope = sign_envelope(key, INTOTO_PAYLOAD_TYPE, statement)
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {
            "certificate": {"rawBytes": b64(cert.public_bytes(serialization.Encoding.DER))},
            "tlogEntries": [{"logIndex": "123456", "logId": {"keyId": b64(b"log")},
                             "kindVersion": {"kind": "dsse", "version": "0.0.1"}, "integratedTime": "1767225600",
                             "inclusionPromise": {"signedEntryTimestamp": b64(b"set")},
                             "inclusionProof": {"logIndex": "5", "rootHash": b64(b"r" * 32), "treeSize": "9",
                                                "hashes": [], "checkpoint": {"envelope": "cp"}},
                             "canonicalizedBody": b64(b"{}")}],
        },
        "dsseEnvelope": {"payload": b64(envelope.payload), "payloadType": INTOTO_PAYLOAD_TYPE,
                         "signatures": [{"sig": b64(envelope.signatures[0])}]},
    }
    return json.dumps(bundle).encode(), key


def test_a_keyless_bundle_is_reported_and_never_silently_trusted(tmp_path: Path) -> None:
    storage = MemoryStorage(NAME)
    desc = push_tiny_kit(storage)
    data, key = _keyless_bundle(desc.digest)
    parsed = parse_bundle(data)
    assert (parsed.identity, parsed.issuer, parsed.tlog_entries, parsed.log_indexes) == (
        "dev@example.com", "https://accounts.example.com", 1, (123456,))
    assert parsed.envelope is not None and signature_valid(parsed.certificate_key(), parsed.envelope)
    attach_bundle(storage, desc, data, COSIGN_SIGN_PREDICATE)
    with pytest.raises(SignatureError, match=r"keyless .*dev@example\.com.*signature valid.*cannot be checked offline"):
        verify_signed(storage, Reference.parse(f"{NAME}:1.0.0"), desc, _pub(tmp_path, key))


def test_a_reference_bundle_without_tlog_entries_parses() -> None:
    """Go's protojson omits the empty ``tlogEntries``; sigstore-models wants the key."""
    data = reference.make_bundle(FIXED_KEY, str(SUBJECT.digest))
    parsed = parse_bundle(data)
    assert parsed.envelope is not None and signature_valid(FIXED_KEY.public_key(), parsed.envelope)
    assert parse_statement(parsed.envelope.payload).names(SUBJECT.digest)


def test_the_referrer_is_a_valid_manifest_for_ocikits_own_parser() -> None:
    manifest = Manifest.from_bytes(referrer_manifest(b"{}", SUBJECT, COSIGN_SIGN_PREDICATE, CLOCK))
    assert manifest.subject is not None and manifest.subject.digest == SUBJECT.digest
    assert manifest.config.artifact_type == BUNDLE_MEDIA_TYPE
