"""ocikit keygen / sign / verify through the real CLI entry point, on the local store."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

import cosign_verifier
from conftest import Cli  # type: ignore[import-not-found]
from fakes.modelkit import push_tiny_kit
from ocikit._oci._model import Descriptor
from ocikit._store._layout import LocalStore
from ocikit._store._referrers import signature_tag
from ocikit._trust._keys import is_encrypted, load_private_key

NAME = "localhost/acme/sentiment"


def _modelkit(home: Path, tag: str = "1.0.0", content: bytes = b"weights", name: str = NAME) -> Descriptor:
    return push_tiny_kit(LocalStore.at_home(home).repository(name), tag, content)


@pytest.fixture
def keypair(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OCIKIT_PASSWORD", "")
    cli("keygen")
    return tmp_path / "cosign.key", tmp_path / "cosign.pub"


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr
    assert lines[0].startswith("error: ")
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), stderr
    return lines[0]


# ------------------------------------------------------------------------------------------ keygen


def test_keygen_without_a_terminal_needs_an_explicit_password_choice(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    refused = cli("keygen", ok=False)
    assert refused.exit_code == 2
    assert "stdin is not a terminal" in _one_error_line(refused.stderr)
    assert "OCIKIT_PASSWORD" in refused.stderr
    assert not (tmp_path / "cosign.key").exists() and not (tmp_path / "cosign.pub").exists()


def test_keygen_defaults_to_cosign_prefix_unencrypted_with_empty_password(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OCIKIT_PASSWORD", "")
    result = cli("keygen")
    assert "Private key written to cosign.key (NOT encrypted" in result.stdout
    assert "Public key written to cosign.pub" in result.stdout
    assert stat.S_IMODE((tmp_path / "cosign.key").stat().st_mode) == 0o600
    assert not is_encrypted(tmp_path / "cosign.key")


def test_keygen_password_stdin_encrypts_and_never_echoes(cli: Cli, tmp_path: Path) -> None:
    prefix = tmp_path / "release"
    result = cli("keygen", "--output-prefix", str(prefix), "--password-stdin", input="correct horse\n")
    assert "(encrypted;" in result.stdout
    assert "correct horse" not in result.stdout + result.stderr
    assert is_encrypted(tmp_path / "release.key")
    load_private_key(tmp_path / "release.key", "correct horse")


def test_keygen_refuses_to_overwrite(cli: Cli, keypair: tuple[Path, Path]) -> None:
    before = keypair[0].read_bytes()
    result = cli("keygen", ok=False)
    assert result.exit_code == 1
    assert "cosign.key already exists" in _one_error_line(result.stderr)
    assert "--force" in result.stderr
    assert keypair[0].read_bytes() == before
    cli("keygen", "--force")
    assert keypair[0].read_bytes() != before


def test_keygen_cosign_format(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIKIT_PASSWORD", "pw")
    cli("keygen", "--output-prefix", str(tmp_path / "c"), "--cosign-format")
    assert (tmp_path / "c.key").read_bytes().startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    load_private_key(tmp_path / "c.key", "pw")


# --------------------------------------------------------------------------------- sign / verify


def test_sign_then_verify_local(cli: Cli, home: Path, keypair: tuple[Path, Path]) -> None:
    desc = _modelkit(home)
    signed = cli("sign", "acme/sentiment:1.0.0", "--key", str(keypair[0]), "--format", "legacy", "-a", "ci=release")
    assert "Signed acme/sentiment:1.0.0@" in signed.stdout
    assert signature_tag(desc.digest) in signed.stdout
    assert "the local store" in signed.stdout

    verified = cli("verify", "acme/sentiment:1.0.0", "--key", str(keypair[1]))
    assert verified.stdout.splitlines()[-1] == str(desc.digest)
    assert "1 valid signature by" in verified.stdout

    as_json = json.loads(cli("verify", "acme/sentiment:1.0.0", "--key", str(keypair[1]), "--json").stdout)
    assert as_json["digest"] == str(desc.digest)
    assert as_json["verified"] is True
    assert as_json["signatures"][0]["optional"] == {"ci": "release"}
    assert as_json["signatures"][0]["dockerReference"] == NAME
    assert as_json["signatures"][0]["dockerManifestDigest"] == str(desc.digest)

    # the independent verifier reads the local layout's index.json directly
    source = cosign_verifier.layout_source(home / "store", NAME)
    cosign_verifier.verify(source, str(desc.digest), NAME, keypair[1].read_bytes(), {"ci": "release"})


def test_sign_again_is_idempotent_and_json(cli: Cli, home: Path, keypair: tuple[Path, Path]) -> None:
    _modelkit(home)
    first = json.loads(cli("sign", "acme/sentiment:1.0.0", "--key", str(keypair[0]), "--format", "legacy", "--json").stdout)
    second = json.loads(cli("sign", "acme/sentiment:1.0.0", "--key", str(keypair[0]), "--format", "legacy", "--json").stdout)
    assert first["added"] is True and second["added"] is False
    assert first["signatureManifest"] == second["signatureManifest"]
    assert first["local"] is True


def test_verify_with_key_from_environment(cli: Cli, home: Path, keypair: tuple[Path, Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _modelkit(home)
    cli("sign", "acme/sentiment:1.0.0", "--key", str(keypair[0]))
    monkeypatch.setenv("OCIKIT_VERIFY_KEY", str(keypair[1]))
    cli("verify", "acme/sentiment:1.0.0")


def test_verify_unsigned_exits_3(cli: Cli, home: Path, keypair: tuple[Path, Path]) -> None:
    desc = _modelkit(home)
    result = cli("verify", "acme/sentiment:1.0.0", "--key", str(keypair[1]), ok=False)
    assert result.exit_code == 3
    assert f"{NAME}@{desc.digest} is not signed" in _one_error_line(result.stderr)
    assert result.stdout == ""


def test_verify_wrong_key_exits_3(cli: Cli, home: Path, keypair: tuple[Path, Path], tmp_path: Path) -> None:
    _modelkit(home)
    cli("sign", "acme/sentiment:1.0.0", "--key", str(keypair[0]))
    cli("keygen", "--output-prefix", str(tmp_path / "other"))
    result = cli("verify", "acme/sentiment:1.0.0", "--key", str(tmp_path / "other.pub"), ok=False)
    assert result.exit_code == 3
    assert "no signature verifies with this key" in _one_error_line(result.stderr)


def test_verify_after_tag_moved_exits_3(cli: Cli, home: Path, keypair: tuple[Path, Path]) -> None:
    _modelkit(home, content=b"good")
    cli("sign", "acme/sentiment:1.0.0", "--key", str(keypair[0]))
    _modelkit(home, content=b"evil")  # 1.0.0 now names an unsigned manifest
    result = cli("verify", "acme/sentiment:1.0.0", "--key", str(keypair[1]), ok=False)
    assert result.exit_code == 3
    assert "is not signed" in _one_error_line(result.stderr)


def test_verify_annotation_requirement(cli: Cli, home: Path, keypair: tuple[Path, Path]) -> None:
    _modelkit(home)
    cli("sign", "acme/sentiment:1.0.0", "--key", str(keypair[0]), "-a", "stage=staging")
    cli("verify", "acme/sentiment:1.0.0", "--key", str(keypair[1]), "-a", "stage=staging")
    result = cli("verify", "acme/sentiment:1.0.0", "--key", str(keypair[1]), "-a", "stage=production", ok=False)
    assert result.exit_code == 3
    assert "annotation stage is 'staging', required 'production'" in _one_error_line(result.stderr)


def test_bad_annotation_syntax_is_a_usage_error(cli: Cli, keypair: tuple[Path, Path]) -> None:
    result = cli("sign", "acme/sentiment:1.0.0", "--key", str(keypair[0]), "-a", "novalue", ok=False)
    assert result.exit_code == 2
    assert "'novalue' is not key=value" in result.stderr


def test_sign_with_encrypted_key(cli: Cli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _modelkit(home)
    key = tmp_path / "enc.key"
    cli("keygen", "--output-prefix", str(tmp_path / "enc"), "--password-stdin", input="pw-123\n")
    result = cli("sign", "acme/sentiment:1.0.0", "--key", str(key), ok=False)
    assert result.exit_code == 1
    assert "is encrypted and no password was given" in _one_error_line(result.stderr)
    assert signature_tag(_modelkit(home).digest) not in LocalStore.at_home(home).repository(NAME).tags()

    wrong = cli("sign", "acme/sentiment:1.0.0", "--key", str(key), "--password-stdin", input="nope-456\n", ok=False)
    assert "wrong password" in _one_error_line(wrong.stderr)
    assert "nope-456" not in wrong.stderr + wrong.stdout

    cli("sign", "acme/sentiment:1.0.0", "--key", str(key), "--password-stdin", input="pw-123\n")
    monkeypatch.setenv("OCIKIT_PASSWORD", "pw-123")
    cli("sign", "acme/sentiment:1.0.0", "--key", str(key))
    cli("verify", "acme/sentiment:1.0.0", "--key", str(tmp_path / "enc.pub"))


def test_keys_swapped_are_explained(cli: Cli, home: Path, keypair: tuple[Path, Path]) -> None:
    _modelkit(home)
    result = cli("verify", "acme/sentiment:1.0.0", "--key", str(keypair[0]), ok=False)
    assert result.exit_code == 1
    assert "verification needs the public key" in _one_error_line(result.stderr)
    result = cli("sign", "acme/sentiment:1.0.0", "--key", str(keypair[1]), ok=False)
    assert "signing needs the private key" in _one_error_line(result.stderr)


def test_sign_missing_reference_exits_6(cli: Cli, keypair: tuple[Path, Path]) -> None:
    result = cli("sign", "acme/nothing:1.0.0", "--key", str(keypair[0]), ok=False)
    assert result.exit_code == 6
    _one_error_line(result.stderr)
