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


def test_pack_provenance_records_git_commit_kitfile_version_and_builder(
        tmp_path: Path, pub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from fakes.modelkit import write_project
    from ocikit._ops._pack import pack
    from ocikit._store._layout import LocalStore
    from ocikit._trust._keys import private_key_pem
    from ocikit._version import __version__

    project = write_project(tmp_path / "project", {"model.bin": b"weights"},
                            "manifestVersion: 1.0.0\npackage:\n  name: sentiment\nmodel:\n  path: model.bin\n")
    git = ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    key = tmp_path / "k.key"
    key.write_bytes(private_key_pem(KEY, None))
    monkeypatch.setenv("OCIKIT_BUILDER_ID", "https://ci.example.com/job/7")
    monkeypatch.delenv("OCIKIT_PASSWORD", raising=False)
    home = tmp_path / "home"
    result = pack(project, tag="acme/sentiment:1.0.0", home=home, sign_key=key, provenance=True)
    storage = LocalStore.at_home(home).repository("localhost/acme/sentiment")
    ref = Reference.parse("acme/sentiment:1.0.0")
    found = verify_attestation(storage, ref, result.descriptor, pub, predicate_type="slsaprovenance1").predicate
    deps = found["buildDefinition"]["resolvedDependencies"]
    assert deps[0]["digest"] == {"gitCommit": commit}
    assert deps[1]["name"] == "Kitfile" and deps[1]["digest"] == {"sha256": result.manifest.config.digest.hex}
    assert found["buildDefinition"]["internalParameters"] == {"ocikitVersion": __version__}
    assert found["runDetails"]["builder"]["id"] == "https://ci.example.com/job/7"
    with pytest.raises(UsageError, match="--provenance needs"):
        pack(project, tag="acme/sentiment:1.0.1", home=home, provenance=True)
