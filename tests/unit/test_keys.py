"""Key generation and loading: PKCS#8 PEM, SEC1, cosign's encrypted format, passwords, files."""

from __future__ import annotations

import base64
import json
import stat
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ocikit._trust import _keys as _keys
from ocikit._trust._keys import (
    export_cosign_private_key,
    is_encrypted,
    load_private_key,
    load_public_key,
    write_keypair,
)
from ocikit._trust._signing import keygen
from ocikit.errors import KeyFileError, TargetExistsError

# Test vectors from sigstore/cosign pkg/cosign/keys_test.go (Apache-2.0), password "hello".
# pemsigstorekey: scrypt N=32768, PKCS#8 P-256 inside: must decrypt.
PEM_SIGSTORE_KEY = """-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjozMjc2OCwiciI6
OCwicCI6MX0sInNhbHQiOiI3T3VGd2VsbWZZNXVId2NoaURSc210anNwZ2ZlZjFG
Mk5lOGFDTjVLYVpZPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJQNHk4OGhCb3ZTa09MbXN0bFVBaGJwdDJ0K2xTNUxQSCJ9LCJj
aXBoZXJ0ZXh0IjoiMnB1QzdyZldJOWh3bnJlQ2s4aUZDRlVwQlRrSzRJNlIvbFBF
cnBDekpXUGpJWXl4eGVIL1A2VW52cFJHdVhla1NNb3JMdGhLamdoQ1JlNy82NDVH
QWtoVm1LRC92eEF0S2EvbE1abENSQ3FlekJGUFd1dzNpeFRtZ2xhb2J1ZFVSbUVs
bmNGOGlZbzBTMVl6Y1ZOMVFwY2J2c0dNcUlYRzVlbmdteGp5dCtBcXlyZTF0Q0Y0
V01tU1BlaEljNlBqd2h1Q2xHaVpJUWRvTGc9PSJ9
-----END ENCRYPTED SIGSTORE PRIVATE KEY-----
"""
PEM_SIGSTORE_PUBLIC_DER_B64 = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7z9gA/tqa9iHt/f9F3ulyVi4lwqULfHWfhG2mK4eyJ8LDcLstb+VVhxj3pkMjc3f"
    "No+sSfiIY2NLR7c+DG1V4w=="
)
# pemcosigneckey: ENCRYPTED COSIGN PRIVATE KEY, N=65536, decrypts to SEC1 DER, which cosign rejects.
PEM_COSIGN_SEC1_KEY = """-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjo2NTUzNiwiciI6
OCwicCI6MX0sInNhbHQiOiJHK3F5WTYrNzhNS0JzMXNGTGs1ajYwcS9kS3Z1czBW
VkhlSHZybC9POTF3PSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJRc2JGdG13WDRDK2ttV3ZCcVRaMEFGOUFYdk1jRmg1SCJ9LCJj
aXBoZXJ0ZXh0IjoiREM5T28zeldiYVQzSXYwdFVnWEdycjUxYW1samwwNlQ5MTNP
VkxPbWpuMWhnK2o2WXRUbWg3SGhZSlY1N2J5eGE0Q281bE9YYmRqbTJ3aklubEd1
Um5aZCt5OExnekpSNzFSeEhKVzgrWmRlcFJmYWJMTjdHbDgrSFZEcERVQ3NxQnRh
VngyblpGbFEwWUl1anZwbFphblNGaUVvdERLVGkxZ3VhUXIwUHNzYU01NXZxbTRY
WS9rPSJ9
-----END ENCRYPTED COSIGN PRIVATE KEY-----
"""
# validecp256 (SEC1 "EC PRIVATE KEY") and validecp384 from the same file.
SEC1_P256 = """-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIIGhcmCI5F7BPMH4r3pWCpQdAsveErdU5DjvVQerErJuoAoGCCqGSM49
AwEHoUQDQgAE+9E3Qe+h25ofmz3Uo2T004Dfy49iX06MMbxf9rsGmLkOPrS0KYDl
1QMfFuSbrtf8wTWNT9HNxrW/Foz39mDhHw==
-----END EC PRIVATE KEY-----
"""
SEC1_P384 = """-----BEGIN EC PRIVATE KEY-----
MIGkAgEBBDDWIebxSdyJVber6J/l5MKnD0+VU0b7fcjY/RbIxuIsHLVIvwJrSohY
r3gJ/iJmIKGgBwYFK4EEACKhZANiAAQeoKZkkc1GafmIgp1tbNbMBjr2EdvX2dtT
lGhzHJgE0YB6TavazcYH1iOBNmX7/pInCopiyWbjF/5olrRKJMG6DQz80td++fYf
O4tr+Z3nyUgRGmf/fqYA4PSN30CuOMU=
-----END EC PRIVATE KEY-----
"""


@pytest.fixture(autouse=True)
def _no_env_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCIKIT_PASSWORD", raising=False)


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def _sign_verify_roundtrip(priv: ec.EllipticCurvePrivateKey, pub: ec.EllipticCurvePublicKey) -> None:
    sig = priv.sign(b"payload", ec.ECDSA(hashes.SHA256()))
    pub.verify(sig, b"payload", ec.ECDSA(hashes.SHA256()))  # raises if the pair does not match


# ------------------------------------------------------------------------------------------ keygen


def test_keygen_writes_pkcs8_pair_with_private_key_0600(tmp_path: Path) -> None:
    key_path, pub_path = keygen(tmp_path / "cosign")
    assert (key_path.name, pub_path.name) == ("cosign.key", "cosign.pub")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert pub_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert not is_encrypted(key_path)
    _sign_verify_roundtrip(load_private_key(key_path), load_public_key(pub_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cosign.key", "cosign.pub"]  # no temp files


def test_keygen_with_password_encrypts_and_needs_it(tmp_path: Path) -> None:
    key_path, pub_path = keygen(tmp_path / "release", password="s3cret pass")
    assert key_path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert b"s3cret" not in key_path.read_bytes()
    assert is_encrypted(key_path)
    with pytest.raises(KeyFileError, match="encrypted and no password"):
        load_private_key(key_path)
    with pytest.raises(KeyFileError, match="wrong password") as err:
        load_private_key(key_path, "hunter2-guess")
    assert "hunter2" not in f"{err.value} {err.value.hint}"  # never echo the password
    _sign_verify_roundtrip(load_private_key(key_path, "s3cret pass"), load_public_key(pub_path))


def test_password_from_environment_and_empty_means_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIKIT_PASSWORD", "from-env")
    key_path, _ = keygen(tmp_path / "a")
    assert is_encrypted(key_path)
    load_private_key(key_path)  # the env password decrypts it
    monkeypatch.setenv("OCIKIT_PASSWORD", "")
    plain, _ = keygen(tmp_path / "b")
    assert not is_encrypted(plain)
    load_private_key(plain)


def test_keygen_never_overwrites_without_force(tmp_path: Path) -> None:
    key_path, pub_path = keygen(tmp_path / "cosign")
    before = key_path.read_bytes()
    with pytest.raises(TargetExistsError, match=r"cosign\.key already exists"):
        keygen(tmp_path / "cosign")
    assert key_path.read_bytes() == before
    pub_path.unlink()
    with pytest.raises(TargetExistsError):  # the private key alone is enough to refuse
        keygen(tmp_path / "cosign")
    assert not pub_path.exists()
    keygen(tmp_path / "cosign", force=True)
    assert key_path.read_bytes() != before
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


def test_keygen_refuses_symlink_in_place_of_key(tmp_path: Path) -> None:
    target = _write(tmp_path, "elsewhere", "keep me")
    (tmp_path / "cosign.key").symlink_to(target)
    with pytest.raises(TargetExistsError):
        keygen(tmp_path / "cosign")
    assert target.read_text() == "keep me"


def test_keygen_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        keygen(tmp_path / "no" / "such" / "cosign")


def test_private_key_is_0600_even_with_permissive_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0)
    try:
        key_path, pub_path = write_keypair(tmp_path / "k", None)
    finally:
        os.umask(old)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(pub_path.stat().st_mode) == 0o644


# ------------------------------------------------------------------------------- cosign's format


def test_cosign_test_vector_decrypts_to_the_published_public_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "cosign.key", PEM_SIGSTORE_KEY)
    assert is_encrypted(path)
    key = load_private_key(path, "hello")
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert base64.b64encode(der).decode() == PEM_SIGSTORE_PUBLIC_DER_B64
    with pytest.raises(KeyFileError, match="wrong password"):
        load_private_key(path, "nope")


def test_cosign_key_with_sec1_plaintext_is_refused_like_cosign(tmp_path: Path) -> None:
    path = _write(tmp_path, "ec.key", PEM_COSIGN_SEC1_KEY)
    with pytest.raises(KeyFileError, match="not PKCS#8"):
        load_private_key(path, "hello")


def test_cosign_export_roundtrip_and_envelope_shape(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = export_cosign_private_key(key, b"pw")
    assert pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    body = b"".join(pem.splitlines()[1:-1])
    envelope = json.loads(base64.b64decode(body))
    assert envelope["kdf"]["name"] == "scrypt"
    assert envelope["kdf"]["params"] == {"N": 65536, "r": 8, "p": 1}
    assert len(base64.b64decode(envelope["kdf"]["salt"])) == 32
    assert envelope["cipher"] == {"name": "nacl/secretbox", "nonce": envelope["cipher"]["nonce"]}
    assert len(base64.b64decode(envelope["cipher"]["nonce"])) == 24
    path = _write(tmp_path, "x.key", pem)
    loaded = load_private_key(path, "pw")
    assert loaded.private_numbers() == key.private_numbers()


def test_keygen_cosign_format_with_empty_password(tmp_path: Path) -> None:
    key_path, pub_path = keygen(tmp_path / "cosign", cosign_format=True)
    assert key_path.read_bytes().startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    # like COSIGN_PASSWORD="": no password means the empty password
    _sign_verify_roundtrip(load_private_key(key_path), load_public_key(pub_path))


def test_unsupported_scrypt_parameters_are_refused(tmp_path: Path) -> None:
    pem = export_cosign_private_key(ec.generate_private_key(ec.SECP256R1()), b"pw")
    lines = pem.decode().splitlines()
    envelope = json.loads(base64.b64decode("".join(lines[1:-1])))
    envelope["kdf"]["params"]["N"] = 1024  # cheap to brute-force: go-securesystemslib refuses it
    body = base64.b64encode(json.dumps(envelope).encode()).decode()
    path = _write(tmp_path, "weak.key", f"{lines[0]}\n{body}\n{lines[-1]}\n")
    with pytest.raises(KeyFileError, match="unsupported scrypt parameters N=1024"):
        load_private_key(path, "pw")


def test_cosign_key_without_pynacl_gives_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "cosign.key", PEM_SIGSTORE_KEY)
    monkeypatch.setitem(sys.modules, "nacl", None)
    monkeypatch.setitem(sys.modules, "nacl.secret", None)
    with pytest.raises(KeyFileError, match="needs PyNaCl") as err:
        load_private_key(path, "hello")
    assert "cosign-keys" in err.value.hint


# ---------------------------------------------------------------------------------- other inputs


def test_sec1_p256_is_accepted(tmp_path: Path) -> None:
    key = load_private_key(_write(tmp_path, "ec.key", SEC1_P256))
    assert isinstance(key.curve, ec.SECP256R1)


def test_p384_and_ed25519_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="curve secp384r1; only ECDSA P-256"):
        load_private_key(_write(tmp_path, "p384.key", SEC1_P384))
    ed = ed25519.Ed25519PrivateKey.generate()
    pem = ed.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(KeyFileError, match="not an ECDSA P-256 key"):
        load_private_key(_write(tmp_path, "ed.key", pem))
    pub = ed.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(KeyFileError, match="not an ECDSA key"):
        load_public_key(_write(tmp_path, "ed.pub", pub))


def test_swapped_key_files_are_explained(tmp_path: Path) -> None:
    key_path, pub_path = keygen(tmp_path / "cosign")
    with pytest.raises(KeyFileError, match="is a public key; signing needs the private key"):
        load_private_key(pub_path)
    with pytest.raises(KeyFileError, match="verification needs the public key"):
        load_public_key(key_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a key at all", "is not PEM"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "'CERTIFICATE' block, not a private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "cannot load key file"),
        (b"x" * (70 * 1024), "larger than"),
    ],
)
def test_garbage_key_files(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(KeyFileError, match=message):
        load_private_key(_write(tmp_path, "bad.key", content))


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist") as err:
        load_public_key(tmp_path / "nope.pub")
    assert "keygen" in err.value.hint


def test_password_given_for_plain_key_is_ignored(tmp_path: Path) -> None:
    key_path, _ = keygen(tmp_path / "plain")
    assert isinstance(load_private_key(key_path, "unused"), ec.EllipticCurvePrivateKey)


def test_resolve_password_prefers_explicit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIKIT_PASSWORD", "env")
    assert _keys.resolve_password("explicit") == b"explicit"
    assert _keys.resolve_password(None) == b"env"
    monkeypatch.delenv("OCIKIT_PASSWORD")
    assert _keys.resolve_password(None) is None
