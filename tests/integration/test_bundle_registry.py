"""Sigstore bundle signatures against the real distribution registry (plain HTTP, loopback).

Both directions are checked with tests/sigstore_bundle_reference.py, which shares no code with
ocikit: ocikit's bundle referrer is verified by it over raw HTTP, and a bundle it writes and attaches
over raw HTTP is accepted by ``ocikit verify``. Every refusal of ``unpack --verify-key`` exits 3 and
leaves the target directory absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

import cosign_verifier
import sigstore_bundle_reference as reference
from _registry_fixtures import TestRegistry, unique_repo
from fakes.modelkit import build_layers, push_modelkit, push_tiny_kit
from ocikit._oci._model import Descriptor
from ocikit._registry._client import Registry
from ocikit._store._storage import Storage
from ocikit._trust._keys import load_private_key
from ocikit._trust._signing import keygen

pytestmark = pytest.mark.registry


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    d = tmp_path_factory.mktemp("keys")
    k1, p1 = keygen(d / "release")
    k2, p2 = keygen(d / "other")
    return k1, p1, k2, p2


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("OCIKIT_HOME", str(h))
    monkeypatch.delenv("OCIKIT_PASSWORD", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    return h


def _repo(registry: TestRegistry, home: Path, name: str) -> Storage:
    return Registry(registry.host, registry.options, home=home).repository(name)


def _run(home: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from ocikit.cli import main

    capsys.readouterr()
    try:
        main(["--home", str(home), *args, "--plain-http"])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def _subject(desc: Descriptor) -> dict[str, object]:
    return {"mediaType": desc.media_type, "digest": str(desc.digest), "size": desc.size}


def test_sign_writes_a_bundle_the_independent_verifier_accepts(
        registry: TestRegistry, home: Path, keys: tuple[Path, ...], capsys: pytest.CaptureFixture[str]) -> None:
    name = unique_repo("bundle")
    desc = push_tiny_kit(_repo(registry, home, name))
    text = f"{registry.host}/{name}:1.0.0"
    code, out, err = _run(home, "sign", text, "--key", str(keys[0]), "-a", "ci=release", "--json", capsys=capsys)
    assert code == 0, err
    signed = json.loads(out)
    assert signed["format"] == "bundle" and signed["added"] is True
    statement = reference.verify(registry.url, name, str(desc.digest), keys[1].read_bytes())
    assert statement["subject"][0]["annotations"] == {"ci": "release"}
    code, out, err = _run(home, "verify", text, "--key", str(keys[1]), "-a", "ci=release", "--json", capsys=capsys)
    assert code == 0, err
    result = json.loads(out)
    assert (result["format"], result["digest"], result["bundles"][0]["referrer"]) == (
        "bundle", str(desc.digest), signed["referrer"])
    # no legacy tag was written
    with pytest.raises(cosign_verifier.CosignVerifyError):
        cosign_verifier.verify(cosign_verifier.http_source(registry.url, name), str(desc.digest),
                               f"{registry.host}/{name}", keys[1].read_bytes())


def test_legacy_format_still_writes_the_sig_tag(
        registry: TestRegistry, home: Path, keys: tuple[Path, ...], capsys: pytest.CaptureFixture[str]) -> None:
    name = unique_repo("legacy")
    desc = push_tiny_kit(_repo(registry, home, name))
    text = f"{registry.host}/{name}:1.0.0"
    assert _run(home, "sign", text, "--key", str(keys[0]), "--format", "legacy", capsys=capsys)[0] == 0
    cosign_verifier.verify(cosign_verifier.http_source(registry.url, name), str(desc.digest),
                           f"{registry.host}/{name}", keys[1].read_bytes())
    with pytest.raises(reference.BundleVerifyError):
        reference.verify(registry.url, name, str(desc.digest), keys[1].read_bytes())
    code, out, _ = _run(home, "verify", text, "--key", str(keys[1]), "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["format"] == "legacy"


def test_a_bundle_written_by_the_independent_side_is_accepted(
        registry: TestRegistry, home: Path, keys: tuple[Path, ...], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    name = unique_repo("foreign")
    desc = push_modelkit(_repo(registry, home, name), "1.0.0", build_layers([1000])).desc
    key = load_private_key(keys[0], b"")
    reference.attach(registry.url, name, _subject(desc), reference.make_bundle(key, str(desc.digest)))
    text = f"{registry.host}/{name}:1.0.0"
    code, out, err = _run(home, "verify", text, "--key", str(keys[1]), "--json", capsys=capsys)
    assert code == 0, err
    assert json.loads(out)["format"] == "bundle"
    code, _, err = _run(home, "unpack", text, "-d", str(tmp_path / "out"), "--verify-key", str(keys[1]),
                        capsys=capsys)
    assert code == 0, err
    assert (tmp_path / "out" / "file0.bin").stat().st_size > 0


def _tamper(case: str, registry: TestRegistry, home: Path, name: str, keys: tuple[Path, ...]) -> None:
    storage = _repo(registry, home, name)
    desc = push_tiny_kit(storage)
    key = load_private_key(keys[0], b"")
    if case == "wrong key":
        reference.attach(registry.url, name, _subject(desc),
                         reference.make_bundle(ec.generate_private_key(ec.SECP256R1()), str(desc.digest)))
    elif case == "retagged manifest":
        reference.attach(registry.url, name, _subject(desc), reference.make_bundle(key, str(desc.digest)))
        push_tiny_kit(storage, "1.0.0", b"other weights")  # 1.0.0 now names an unsigned manifest
    elif case == "bundle for another digest":
        other = push_tiny_kit(storage, None, b"another kit")
        reference.attach(registry.url, name, _subject(desc), reference.make_bundle(key, str(other.digest)))
    elif case == "truncated bundle":
        reference.attach(registry.url, name, _subject(desc), reference.make_bundle(key, str(desc.digest))[:-40])
    elif case == "unknown media type":
        reference.attach(registry.url, name, _subject(desc), reference.make_bundle(key, str(desc.digest)),
                         layer_type="application/vnd.example.unknown+json")


@pytest.mark.parametrize(("case", "message"), [
    ("wrong key", "no signature verifies with this key"),
    ("retagged manifest", "is not signed"),
    ("bundle for another digest", "the bundle is for sha256:"),
    ("truncated bundle", "unusable"),
    ("unknown media type", "exactly one bundle layer"),
])
def test_unpack_verify_key_refuses_and_writes_nothing(
        registry: TestRegistry, home: Path, keys: tuple[Path, ...], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], case: str, message: str) -> None:
    name = unique_repo("refuse")
    _tamper(case, registry, home, name, keys)
    text = f"{registry.host}/{name}:1.0.0"
    target = tmp_path / "serve"
    code, _, err = _run(home, "unpack", text, "-d", str(target), "--verify-key", str(keys[1]), capsys=capsys)
    assert code == 3, err
    assert message in err and "Traceback" not in err
    assert not target.exists()
    assert _run(home, "verify", text, "--key", str(keys[1]), capsys=capsys)[0] == 3


def test_attest_and_verify_attestation_through_the_cli(
        registry: TestRegistry, home: Path, keys: tuple[Path, ...], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    name = unique_repo("attest")
    desc = push_tiny_kit(_repo(registry, home, name))
    text = f"{registry.host}/{name}:1.0.0"
    predicate = {"buildDefinition": {"buildType": "https://example.com/build/v1", "externalParameters": {}},
                 "runDetails": {"builder": {"id": "https://example.com/ci"}}}
    (tmp_path / "prov.json").write_text(json.dumps(predicate))
    code, _, err = _run(home, "attest", text, "--predicate", str(tmp_path / "prov.json"), "--type",
                        "slsaprovenance1", "--key", str(keys[0]), capsys=capsys)
    assert code == 0, err
    statement = reference.verify(registry.url, name, str(desc.digest), keys[1].read_bytes(),
                                 predicate_type="https://slsa.dev/provenance/v1")
    assert statement["predicate"] == predicate
    code, out, err = _run(home, "verify-attestation", text, "--key", str(keys[1]), "--type", "slsaprovenance1",
                          capsys=capsys)
    assert code == 0, err
    assert json.loads(out) == predicate
    assert _run(home, "verify-attestation", text, "--key", str(keys[3]), capsys=capsys)[0] == 3
    assert _run(home, "verify-attestation", text, "--key", str(keys[1]), "--type", "cyclonedx", capsys=capsys)[0] == 3


def test_a_bundle_signed_in_the_local_store_travels_with_push(
        registry: TestRegistry, home: Path, keys: tuple[Path, ...], capsys: pytest.CaptureFixture[str]) -> None:
    from ocikit._store._layout import LocalStore

    name = unique_repo("travel")
    text = f"{registry.host}/{name}:1.0.0"
    desc = push_tiny_kit(LocalStore.at_home(home).repository(f"{registry.host}/{name}"))
    code, out, err = _run(home, "sign", text, "--key", str(keys[0]), "--offline", capsys=capsys)
    assert code == 0, err
    assert "the local store" in out
    assert _run(home, "push", text, capsys=capsys)[0] == 0
    reference.verify(registry.url, name, str(desc.digest), keys[1].read_bytes())
