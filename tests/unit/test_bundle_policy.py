"""The stage policy's trust requirements: ``require: provenance`` / ``require: oms`` with ``signed_by``."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from fakes.modelkit import push_tiny_kit
from ocikit._oci._reference import Reference
from ocikit._stages._gates import load_policy
from ocikit._stages._trust_gates import trust_gates
from ocikit._store._storage import MemoryStorage
from ocikit._trust._attest import attest_descriptor
from ocikit._trust._bundle_oci import sign_bundle
from ocikit._trust._keys import public_key_pem
from ocikit.errors import UsageError

KEY = ec.generate_private_key(ec.SECP256R1())
NAME = "registry.example/acme/sentiment"


def _policy(tmp_path: Path, text: str) -> Path:
    (tmp_path / "release.pub").write_bytes(public_key_pem(KEY.public_key()))
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_trust_words_are_parsed_apart_from_expressions(tmp_path: Path) -> None:
    policy = load_policy(_policy(tmp_path, "stages:\n  production:\n    require: [provenance, oms, "
                                           "'model.parameters.f1 >= 0.9']\n    signed_by: release.pub\n"))
    rules = policy.stages["production"]
    assert rules.trust == ("provenance", "oms")
    assert [str(e) for e in rules.require] == ["model.parameters.f1 >= 0.9"]


def test_a_trust_requirement_needs_keys(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="require: provenance needs signed_by"):
        load_policy(_policy(tmp_path, "stages:\n  production:\n    require: provenance\n"))


def test_provenance_gate_passes_only_with_a_signed_provenance(tmp_path: Path) -> None:
    rules = load_policy(_policy(tmp_path, "stages:\n  production:\n    require: [provenance, oms]\n"
                                          "    signed_by: release.pub\n")).stages["production"]
    storage = MemoryStorage(NAME)
    desc = push_tiny_kit(storage)
    ref = Reference.parse(f"{NAME}:1.0.0")
    sign_bundle(storage, desc, KEY)
    provenance, oms = trust_gates(storage, ref, desc, rules)
    assert not provenance.passed and "not https://slsa.dev/provenance/v1" in provenance.detail
    assert not oms.passed and "pending" in oms.detail  # fails closed, never silently ok
    attest_descriptor(storage, desc, KEY, {"buildDefinition": {}, "runDetails": {}}, "slsaprovenance1")
    provenance, _ = trust_gates(storage, ref, desc, rules)
    assert provenance.passed and provenance.gate == "require provenance"
