"""Signing against the real distribution registry from registry-test/ (plain HTTP, loopback).

Every refusal case of the unit tests is repeated here with the registry as the Storage, and each
signature the registry holds is also checked over raw HTTP by tests/cosign_verifier.py, which does
not use ocikit's signing, registry or key code.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

import cosign_verifier
from _registry_fixtures import TestRegistry, unique_repo
from fakes.modelkit import push_tiny_kit
from ocikit._oci._model import MANIFEST, Descriptor, Manifest
from ocikit._oci._reference import Reference
from ocikit._ops._trust import sign, verify
from ocikit._registry._client import Registry
from ocikit._store._layout import LocalStore
from ocikit._store._referrers import signature_tag
from ocikit._store._storage import Storage
from ocikit._trust._signing import keygen, sign_descriptor, verify_descriptor
from ocikit._trust._simple_signing import SIMPLESIGNING, simple_signing_payload
from ocikit.errors import NotFoundError, SignatureError

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


def _ref(registry: TestRegistry, name: str, tag: str = "1.0.0") -> Reference:
    return Reference.parse(f"{registry.host}/{name}:{tag}")


def _modelkit(storage: Storage, tag: str = "1.0.0", content: bytes = b"weights") -> Descriptor:
    return push_tiny_kit(storage, tag, content)


def _sig_manifest(storage: Storage, desc: Descriptor) -> dict:  # type: ignore[type-arg]
    return json.loads(storage.fetch_manifest(storage.resolve(signature_tag(desc.digest))))  # type: ignore[no-any-return]


def _independent(registry: TestRegistry, name: str) -> cosign_verifier.RawSource:
    return cosign_verifier.http_source(registry.url, name)


def test_sign_verify_on_registry_and_independent_check(registry: TestRegistry, home: Path, keys) -> None:  # type: ignore[no-untyped-def]
    name = unique_repo("sign")
    repo = _repo(registry, home, name)
    desc = _modelkit(repo)
    ref = _ref(registry, name)
    sign_descriptor(repo, ref, desc, keys[0])
    assert signature_tag(desc.digest) in repo.tags()
    result = verify_descriptor(repo, ref, desc, keys[1])
    assert result.digest == desc.digest
    payloads = cosign_verifier.verify(_independent(registry, name), str(desc.digest), ref.name, keys[1].read_bytes())
    assert payloads[0]["critical"]["identity"]["docker-reference"] == f"{registry.host}/{name}"
    assert payloads[0]["optional"] is None

    # a second key appends, the same key again does not
    sign_descriptor(repo, ref, desc, keys[2])
    sign_descriptor(repo, ref, desc, keys[0])
    assert len(_sig_manifest(repo, desc)["layers"]) == 2
    for pub in (keys[1], keys[3]):
        verify_descriptor(repo, ref, desc, pub)
        cosign_verifier.verify(_independent(registry, name), str(desc.digest), ref.name, pub.read_bytes())


def test_public_api_signs_remote_reference_in_the_registry(registry: TestRegistry, home: Path, keys) -> None:  # type: ignore[no-untyped-def]
    name = unique_repo("api")
    desc = _modelkit(_repo(registry, home, name))
    text = f"{registry.host}/{name}:1.0.0"
    signed = sign(text, keys[0], annotations={"ci": "release"}, home=home, options=registry.options)
    assert signed.local is False
    assert signed.digest == desc.digest
    verified = verify(text, keys[1], annotations={"ci": "release"}, home=home, options=registry.options)
    assert verified.digest == desc.digest
    assert str(verified.reference) == f"{text}@{desc.digest}"
    with pytest.raises(SignatureError, match="annotation ci is 'release', required 'nightly'"):
        verify(text, keys[1], annotations={"ci": "nightly"}, home=home, options=registry.options)


def test_cli_sign_and_verify_remote(registry: TestRegistry, home: Path, keys, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    from ocikit.cli import main

    name = unique_repo("cli")
    desc = _modelkit(_repo(registry, home, name))
    text = f"{registry.host}/{name}:1.0.0"
    main(["--home", str(home), "sign", text, "--key", str(keys[0]), "--format", "legacy", "--plain-http"])
    out = capsys.readouterr().out
    assert f"signature: {signature_tag(desc.digest)} in {registry.host}/{name}" in out
    main(["--home", str(home), "verify", text, "--key", str(keys[1]), "--plain-http"])
    assert capsys.readouterr().out.splitlines()[-1] == str(desc.digest)
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(home), "verify", text, "--key", str(keys[3]), "--plain-http"])
    assert exit_info.value.code == 3
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no signature verifies with this key" in err
    assert "Traceback" not in err


# ------------------------------------------------------------------------------ refusal cases


def _unsigned(registry: TestRegistry, repo: Storage, name: str, keys) -> tuple[Descriptor, str]:  # type: ignore[no-untyped-def]
    return _modelkit(repo), "is not signed"


def _wrong_key(registry: TestRegistry, repo: Storage, name: str, keys) -> tuple[Descriptor, str]:  # type: ignore[no-untyped-def]
    desc = _modelkit(repo)
    sign_descriptor(repo, _ref(registry, name), desc, keys[2])
    return desc, "no signature verifies with this key"


def _push_sig(repo: Storage, m: dict, tag: str) -> None:  # type: ignore[type-arg]
    repo.push_manifest(json.dumps(m).encode(), MANIFEST, tag=tag)


def _tampered_payload(registry: TestRegistry, repo: Storage, name: str, keys) -> tuple[Descriptor, str]:  # type: ignore[no-untyped-def]
    desc = _modelkit(repo)
    sign_descriptor(repo, _ref(registry, name), desc, keys[0])
    forged = simple_signing_payload(f"{registry.host}/{name}", desc.digest, {"approved": "yes"})
    fdesc = Descriptor.for_bytes(SIMPLESIGNING, forged)
    repo.push_blob(fdesc, io.BytesIO(forged))
    m = _sig_manifest(repo, desc)
    m["layers"][0].update(digest=str(fdesc.digest), size=fdesc.size)
    _push_sig(repo, m, signature_tag(desc.digest))
    return desc, "no signature verifies with this key"


def _names_another_digest(registry: TestRegistry, repo: Storage, name: str, keys) -> tuple[Descriptor, str]:  # type: ignore[no-untyped-def]
    v1 = _modelkit(repo, "1.0.0", b"v1")
    sign_descriptor(repo, _ref(registry, name), v1, keys[0])
    v2 = _modelkit(repo, "2.0.0", b"v2")
    repo.tag(repo.resolve(signature_tag(v1.digest)), signature_tag(v2.digest))
    return v2, f"signature is for {v1.digest}, not {v2.digest}"


def _modified_after_signing(registry: TestRegistry, repo: Storage, name: str, keys) -> tuple[Descriptor, str]:  # type: ignore[no-untyped-def]
    desc = _modelkit(repo)
    sign_descriptor(repo, _ref(registry, name), desc, keys[0])
    m = Manifest.from_bytes(repo.fetch_manifest(desc))
    extra = Descriptor.for_bytes("application/vnd.kitops.modelkit.code.v1.tar", b"backdoor")
    repo.push_blob(extra, io.BytesIO(b"backdoor"))
    repo.push_manifest(Manifest(m.config, (*m.layers, extra)).to_bytes(), MANIFEST, tag="1.0.0")
    return repo.resolve("1.0.0"), "is not signed"


def _other_repository(registry: TestRegistry, repo: Storage, name: str, keys) -> tuple[Descriptor, str]:  # type: ignore[no-untyped-def]
    # signed as <name>-test, then the same manifest and its .sig are copied into <name>
    test_name = f"{name}-test"
    test_repo = Registry(registry.host, registry.options).repository(test_name)
    desc = _modelkit(test_repo)
    sign_descriptor(test_repo, _ref(registry, test_name), desc, keys[0])
    assert _modelkit(repo).digest == desc.digest
    m = _sig_manifest(test_repo, desc)
    for d in (m["config"], m["layers"][0]):
        blob_desc = Descriptor.from_dict(d)
        with test_repo.open_blob(blob_desc) as f:
            repo.push_blob(blob_desc, io.BytesIO(f.read()))
    _push_sig(repo, m, signature_tag(desc.digest))
    return desc, f"signature is for repository {registry.host}/{test_name}, not {registry.host}/{name}"


CASES: dict[str, Callable[..., tuple[Descriptor, str]]] = {
    "unsigned": _unsigned,
    "wrong-key": _wrong_key,
    "tampered-payload": _tampered_payload,
    "payload-names-another-digest": _names_another_digest,
    "manifest-modified-after-signing": _modified_after_signing,
    "signature-for-another-repository": _other_repository,
}


@pytest.mark.parametrize("case", list(CASES))
def test_refusals_on_registry(registry: TestRegistry, home: Path, keys, case: str) -> None:  # type: ignore[no-untyped-def]
    name = unique_repo("refuse")
    repo = _repo(registry, home, name)
    desc, message = CASES[case](registry, repo, name, keys)
    with pytest.raises(SignatureError) as err:
        verify_descriptor(repo, _ref(registry, name), desc, keys[1])
    assert message in str(err.value)
    assert err.value.exit_code == 3
    with pytest.raises(cosign_verifier.CosignVerifyError):
        cosign_verifier.verify(_independent(registry, name), str(desc.digest), f"{registry.host}/{name}",
                               keys[1].read_bytes())


def test_tag_moved_to_unsigned_manifest_after_signing_is_refused(registry: TestRegistry, home: Path, keys) -> None:  # type: ignore[no-untyped-def]
    """The check pull/unpack --verify-key make (pull and unpack are not built yet, so this drives
    verify(), which resolves the tag once, exactly as they will)."""
    name = unique_repo("moved")
    repo = _repo(registry, home, name)
    signed = _modelkit(repo, content=b"good")
    text = f"{registry.host}/{name}:1.0.0"
    sign(text, keys[0], home=home, options=registry.options)
    assert verify(text, keys[1], home=home, options=registry.options).digest == signed.digest
    moved = _modelkit(repo, content=b"evil")
    with pytest.raises(SignatureError, match=rf"{name}@{moved.digest} is not signed"):
        verify(text, keys[1], home=home, options=registry.options)
    # pinned to the signed digest it still verifies
    assert verify(f"{registry.host}/{name}@{signed.digest}", keys[1], home=home, options=registry.options).digest \
        == signed.digest


# ------------------------------------------------------ pack --sign-key → push → pull/unpack --verify-key


def _pack(tmp_path: Path, home: Path, tag: str, content: bytes, sign_key: Path | None) -> Descriptor:
    from ocikit._ops._pack import pack

    project = tmp_path / f"project-{content.decode()}"
    project.mkdir()
    (project / "Kitfile").write_text('manifestVersion: "1.0"\npackage:\n  name: sentiment\nmodel:\n  path: model.bin\n')
    (project / "model.bin").write_bytes(content)
    return pack(project, tag=tag, home=home, sign_key=sign_key).descriptor


def test_pull_and_unpack_verify_key_refuse_a_tag_moved_to_an_unsigned_manifest(  # type: ignore[no-untyped-def]
    registry: TestRegistry, tmp_path: Path, keys
) -> None:
    from ocikit._ops._transfer import pull, push
    from ocikit._ops._unpack import unpack

    name = unique_repo("e2e")
    text = f"{registry.host}/{name}:1.0.0"
    release_home, serving_home = tmp_path / "release", tmp_path / "serving"

    signed = _pack(tmp_path, release_home, text, b"good", keys[0])  # pack --sign-key
    push(text, home=release_home, options=registry.options)  # carries the .sig tag
    cosign_verifier.verify(_independent(registry, name), str(signed.digest), f"{registry.host}/{name}",
                           keys[1].read_bytes())

    pull(text, home=serving_home, options=registry.options, verify_key=keys[1])
    unpack(text, tmp_path / "serve-ok", home=serving_home, options=registry.options, verify_key=keys[1])
    assert (tmp_path / "serve-ok" / "model.bin").read_bytes() == b"good"

    # After signing, someone moves 1.0.0 on the registry to an unsigned manifest.
    moved = _pack(tmp_path, tmp_path / "attacker", text, b"evil", None)
    push(text, home=tmp_path / "attacker", options=registry.options)
    assert _repo(registry, tmp_path, name).resolve("1.0.0").digest == moved.digest

    fresh = tmp_path / "fresh"
    with pytest.raises(SignatureError, match=rf"@{moved.digest} is not signed"):
        pull(text, home=fresh, options=registry.options, verify_key=keys[1])
    with pytest.raises(NotFoundError):  # nothing was stored by the refused pull
        LocalStore.at_home(fresh).repository(f"{registry.host}/{name}").resolve("1.0.0")
    with pytest.raises(SignatureError, match="is not signed"):
        unpack(text, tmp_path / "serve-bad", home=fresh, options=registry.options, verify_key=keys[1])
    assert not (tmp_path / "serve-bad" / "model.bin").exists()
