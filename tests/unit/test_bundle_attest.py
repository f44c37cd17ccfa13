"""Attestations as bundle referrers (``cosign attest`` with the new bundle format) on a MemoryStorage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from fakes.modelkit import push_tiny_kit
from ocikit._oci._reference import Reference
from ocikit._store._storage import MemoryStorage
from ocikit._trust._attest import attest_descriptor, load_predicate, verify_attestation
from ocikit._trust._bundle_oci import sign_bundle
from ocikit._trust._keys import public_key_pem
from ocikit.errors import SignatureError, UsageError

NAME = "registry.example/acme/sentiment"
REF = Reference.parse(f"{NAME}:1.0.0")
KEY = ec.generate_private_key(ec.SECP256R1())
PROVENANCE = {"buildDefinition": {"buildType": "https://example.com/build/v1", "externalParameters": {}},
              "runDetails": {"builder": {"id": "https://example.com/ci"}}}


@pytest.fixture
def pub(tmp_path: Path) -> Path:
    path = tmp_path / "k.pub"
    path.write_bytes(public_key_pem(KEY.public_key()))
    return path


def test_attest_then_verify_returns_the_predicate(pub: Path) -> None:
    storage = MemoryStorage(NAME)
    desc = push_tiny_kit(storage)
    sign_bundle(storage, desc, KEY)  # a plain signature is not an attestation
    attest_descriptor(storage, desc, KEY, PROVENANCE, "slsaprovenance1")
    result = verify_attestation(storage, REF, desc, pub, predicate_type="slsaprovenance1")
    assert result.predicate == PROVENANCE and result.predicate_type == "https://slsa.dev/provenance/v1"
    assert verify_attestation(storage, REF, desc, pub).predicate == PROVENANCE
    assert result.to_dict()["format"] == "bundle"
    with pytest.raises(SignatureError, match=r"predicate type is \S+, not https://cyclonedx\.org/bom"):
        verify_attestation(storage, REF, desc, pub, predicate_type="cyclonedx")


def test_no_attestation_and_unknown_types_are_refused(pub: Path) -> None:
    storage = MemoryStorage(NAME)
    desc = push_tiny_kit(storage)
    sign_bundle(storage, desc, KEY)
    with pytest.raises(SignatureError, match="has no attestation"):
        verify_attestation(storage, REF, desc, pub)
    with pytest.raises(UsageError, match="unknown predicate type"):
        attest_descriptor(storage, desc, KEY, PROVENANCE, "provenance-ish")


def test_predicate_files_are_bounded_strict_json_objects(tmp_path: Path) -> None:
    for text, message in (('{"a": 1, "a": 2}', "duplicate key"), ("[1]", "JSON object"), ("{", "not valid JSON")):
        path = tmp_path / "p.json"
        path.write_text(text)
        with pytest.raises(UsageError, match=message):
            load_predicate(path)
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(PROVENANCE))
    assert load_predicate(path) == PROVENANCE
