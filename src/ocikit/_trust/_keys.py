"""Signing keys: generate, write, load. ECDSA P-256 only, PEM on disk, cosign-compatible.

Formats (``docs/compatibility.md`` §6.6, sigstore/cosign ``pkg/cosign/keys.go``):

* public key: PEM ``PUBLIC KEY`` (X.509 SubjectPublicKeyInfo), the same bytes cosign writes to
  ``cosign.pub``; this is all ``ocikit verify`` and ``cosign verify --key`` need;
* private key, ours: PKCS#8 PEM, ``PRIVATE KEY`` or (with a password) ``ENCRYPTED PRIVATE KEY``;
  SEC1 ``EC PRIVATE KEY`` is read too;
* private key, cosign's: ``ENCRYPTED SIGSTORE PRIVATE KEY`` (or the older ``ENCRYPTED COSIGN
  PRIVATE KEY``) whose PEM body is go-securesystemslib's ``encrypted`` JSON envelope: scrypt
  (only the three parameter sets cosign accepts) + NaCl secretbox around PKCS#8 DER. Reading and
  writing it needs PyNaCl (``pip install 'ocikit[cosign-keys]'``).

Why only P-256: the legacy simple-signing payload carries no algorithm identifier and cosign's
signature spec pins ECDSA P-256 / SHA-256 (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md).

``cryptography`` is imported inside functions so ``ocikit --help`` stays fast. Passwords are never
logged or put in messages.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocikit._io._files import write_atomic
from ocikit.errors import KeyFileError, TargetExistsError

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.ec import (
        EllipticCurvePrivateKey,
        EllipticCurvePublicKey,
    )

__all__ = [
    "COSIGN_LABELS",
    "ENV_PASSWORD",
    "ENV_VERIFY_KEY",
    "export_cosign_private_key",
    "generate_private_key",
    "is_encrypted",
    "load_private_key",
    "load_public_key",
    "private_key_pem",
    "public_key_pem",
    "resolve_password",
    "write_keypair",
]

#: Like ``COSIGN_PASSWORD``: set (even to "") means "this is the password"; unset means "ask".
ENV_PASSWORD = "OCIKIT_PASSWORD"  # noqa: S105 - the name of a variable, not a secret
#: The public key pull, unpack and verify check signatures with when no --verify-key/--key is given.
ENV_VERIFY_KEY = "OCIKIT_VERIFY_KEY"

SIGSTORE_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_LABEL = "ENCRYPTED COSIGN PRIVATE KEY"
COSIGN_LABELS = (SIGSTORE_LABEL, COSIGN_LABEL)
_PLAIN_PRIVATE_LABELS = ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PRIVATE KEY")

#: scrypt parameter sets go-securesystemslib ``encrypted.Decrypt`` accepts (legacy, standard, OWASP).
_SCRYPT_PARAMS = {(32768, 8, 1), (65536, 8, 1), (131072, 8, 1)}
_SCRYPT_DEFAULT = (65536, 8, 1)

#: A PEM key file is a few hundred bytes; refuse to read anything absurd.
_MAX_KEY_FILE = 64 * 1024

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL
)


def resolve_password(password: str | bytes | None) -> bytes | None:
    """The explicit password, else ``$OCIKIT_PASSWORD`` if set (an empty value means "none")."""
    if password is None:
        env = os.environ.get(ENV_PASSWORD)
        if env is None:
            return None
        password = env
    return password.encode("utf-8") if isinstance(password, str) else password


def _read_key_file(path: str | os.PathLike[str]) -> bytes:
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(_MAX_KEY_FILE + 1)
    except FileNotFoundError as e:
        raise KeyFileError(f"key file {p} does not exist", hint="create one with 'ocikit keygen'") from e
    except IsADirectoryError as e:
        raise KeyFileError(f"key file {p} is a directory") from e
    except OSError as e:
        raise KeyFileError(f"cannot read key file {p}: {e.strerror}") from e
    if len(data) > _MAX_KEY_FILE:
        raise KeyFileError(f"key file {p} is larger than {_MAX_KEY_FILE} bytes; it is not a PEM key")
    return data


def _pem_label(data: bytes, path: Path) -> tuple[str, bytes]:
    match = _PEM_BLOCK.search(data)
    if match is None:
        raise KeyFileError(f"key file {path} is not PEM (no -----BEGIN ...----- block)")
    return match.group(1).decode("ascii"), match.group(2)


def is_encrypted(path: str | os.PathLike[str]) -> bool:
    """True when the private key at ``path`` needs a password (CLI: decide whether to prompt)."""
    data = _read_key_file(path)
    label, body = _pem_label(data, Path(path))
    return label in COSIGN_LABELS or label == "ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in body


# --------------------------------------------------------------------------------------- generate


def generate_private_key() -> EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: EllipticCurvePrivateKey, password: bytes | None) -> bytes:
    """PKCS#8 PEM; encrypted (``ENCRYPTED PRIVATE KEY``) when ``password`` is non-empty."""
    from cryptography.hazmat.primitives import serialization

    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def public_key_pem(key: EllipticCurvePublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _nacl_secretbox() -> Any:
    try:
        from nacl import secret
    except ImportError as e:
        raise KeyFileError(
            "cosign's encrypted key format needs PyNaCl, which is not installed",
            hint="pip install 'ocikit[cosign-keys]', or convert the key to PKCS#8 PEM",
        ) from e
    return secret.SecretBox


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password)


def export_cosign_private_key(key: EllipticCurvePrivateKey, password: bytes) -> bytes:
    """``ENCRYPTED SIGSTORE PRIVATE KEY`` PEM, as ``cosign generate-key-pair`` writes it.

    go-securesystemslib ``encrypted.Encrypt``: scrypt(N=65536, r=8, p=1, 32-byte salt) → NaCl
    secretbox (24-byte nonce) over PKCS#8 DER; ``[]byte`` fields as standard base64.
    """
    from cryptography.hazmat.primitives import serialization

    secret_box = _nacl_secretbox()
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt, nonce = secrets.token_bytes(32), secrets.token_bytes(24)
    n, r, p = _SCRYPT_DEFAULT
    sealed = secret_box(_scrypt(password, salt, n, r, p)).encrypt(der, nonce).ciphertext
    envelope = {
        "kdf": {"name": "scrypt", "params": {"N": n, "r": r, "p": p},
                "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    body = base64.b64encode(json.dumps(envelope, separators=(",", ":")).encode()).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (f"-----BEGIN {SIGSTORE_LABEL}-----\n" + "\n".join(lines) + f"\n-----END {SIGSTORE_LABEL}-----\n").encode()


def write_keypair(
    prefix: str | os.PathLike[str],
    password: bytes | None,
    *,
    force: bool = False,
    cosign_format: bool = False,
) -> tuple[Path, Path]:
    """Generate a P-256 key pair; write ``<prefix>.key`` (0600) and ``<prefix>.pub`` (0644)."""
    base = Path(prefix)
    key_path, pub_path = Path(f"{base}.key"), Path(f"{base}.pub")
    if not key_path.parent.is_dir():
        raise KeyFileError(f"directory {key_path.parent} does not exist", hint="create it first")
    if not force:
        for p in (key_path, pub_path):
            if p.exists() or p.is_symlink():
                raise TargetExistsError(f"{p} already exists", hint="pass --force to replace the key pair")
    key = generate_private_key()
    private = export_cosign_private_key(key, password or b"") if cosign_format else private_key_pem(key, password)
    public = public_key_pem(key.public_key())
    try:
        write_atomic(key_path, private, mode=0o600, overwrite=force)
        write_atomic(pub_path, public, mode=0o644, overwrite=force)
    except FileExistsError as e:
        raise TargetExistsError(f"{e.filename} already exists", hint="pass --force to replace the key pair") from e
    except OSError as e:
        raise KeyFileError(f"cannot write the key pair {key_path}, {pub_path}: {e.strerror}") from e
    return key_path, pub_path


# ------------------------------------------------------------------------------------------- load


def _b64field(obj: Any, *keys: str) -> bytes:
    for k in keys[:-1]:
        obj = obj.get(k) if isinstance(obj, dict) else None
    value = obj.get(keys[-1]) if isinstance(obj, dict) else None
    if not isinstance(value, str):
        raise ValueError(f"missing {'.'.join(keys)}")
    return base64.b64decode(value, validate=True)


def _decrypt_cosign(body: bytes, password: bytes, path: Path) -> bytes:
    secret_box = _nacl_secretbox()
    try:
        envelope = json.loads(base64.b64decode(b"".join(body.split()), validate=True))
        if not isinstance(envelope, dict):
            raise ValueError("not an object")
        kdf, cipher = envelope.get("kdf"), envelope.get("cipher")
        if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
            raise ValueError("kdf must be scrypt")
        if not isinstance(cipher, dict) or cipher.get("name") != "nacl/secretbox":
            raise ValueError("cipher must be nacl/secretbox")
        params = kdf.get("params")
        if not isinstance(params, dict):
            raise ValueError("missing kdf.params")
        triple = (params.get("N"), params.get("r"), params.get("p"))
        salt = _b64field(envelope, "kdf", "salt")
        nonce = _b64field(envelope, "cipher", "nonce")
        sealed = _b64field(envelope, "ciphertext")
    except (ValueError, binascii.Error, UnicodeDecodeError) as e:
        raise KeyFileError(f"key file {path}: malformed cosign key envelope ({e})") from e
    if triple not in _SCRYPT_PARAMS or not all(type(v) is int for v in triple):
        raise KeyFileError(f"key file {path}: unsupported scrypt parameters N={triple[0]} r={triple[1]} p={triple[2]}")
    if len(nonce) != 24:
        raise KeyFileError(f"key file {path}: the secretbox nonce must be 24 bytes")
    n, r, p = (int(v) for v in triple)
    from nacl.exceptions import CryptoError

    try:
        return bytes(secret_box(_scrypt(password, salt, n, r, p)).decrypt(sealed, nonce))
    except CryptoError as e:
        raise KeyFileError(
            f"cannot decrypt {path}: wrong password",
            hint=f"give the key's password (prompt, --password-stdin or ${ENV_PASSWORD})",
        ) from e


def _is_pkcs8(der: bytes) -> bool:
    """PrivateKeyInfo starts SEQUENCE { INTEGER 0, SEQUENCE {...} }; SEC1 has INTEGER 1, OCTET STRING."""
    if len(der) < 8 or der[0] != 0x30:
        return False
    i = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)
    return der[i : i + 3] == b"\x02\x01\x00" and der[i + 3] == 0x30


def _require_p256_private(key: object, path: Path) -> EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFileError(f"key file {path} holds a {type(key).__name__.lstrip('_')}, not an ECDSA P-256 key")
    if not isinstance(key.curve, ec.SECP256R1):
        raise KeyFileError(f"key file {path} uses curve {key.curve.name}; only ECDSA P-256 is supported")
    return key


def load_private_key(path: str | os.PathLike[str], password: str | bytes | None = None) -> EllipticCurvePrivateKey:
    """Load a P-256 private key from PEM (PKCS#8, SEC1 or cosign's encrypted format).

    ``password`` None falls back to ``$OCIKIT_PASSWORD``; an encrypted key without any password is
    refused with a message saying how to give one.
    """
    from cryptography.hazmat.primitives import serialization

    p = Path(path)
    data = _read_key_file(p)
    label, body = _pem_label(data, p)
    pw = resolve_password(password)
    if label in COSIGN_LABELS:
        # cosign treats "no password" as the empty password (COSIGN_PASSWORD="").
        der = _decrypt_cosign(body, pw or b"", p)
        if not _is_pkcs8(der):
            raise KeyFileError(
                f"key file {p}: the decrypted key is not PKCS#8 (cosign rejects it too)",
                hint="re-import it with 'cosign import-key-pair' or create one with 'ocikit keygen'",
            )
        try:
            key: object = serialization.load_der_private_key(der, None)
        except ValueError as e:
            raise KeyFileError(f"key file {p}: cannot parse the decrypted key ({e})") from e
        return _require_p256_private(key, p)
    if label == "PUBLIC KEY":
        raise KeyFileError(f"key file {p} is a public key; signing needs the private key (.key)")
    if label not in _PLAIN_PRIVATE_LABELS:
        raise KeyFileError(f"key file {p} holds a PEM {label!r} block, not a private key")
    try:
        key = serialization.load_pem_private_key(data, pw or None)
    except TypeError as e:
        if pw and "not encrypted" in str(e):  # a password was given but the key is plain: fine
            key = serialization.load_pem_private_key(data, None)
        else:
            raise KeyFileError(
                f"key file {p} is encrypted and no password was given",
                hint=f"give the password with --password-stdin, the prompt or ${ENV_PASSWORD}",
            ) from e
    except ValueError as e:
        raise KeyFileError(
            f"cannot load key file {p}: wrong password or corrupt key",
            hint=f"check the password (--password-stdin, the prompt or ${ENV_PASSWORD})",
        ) from e
    except Exception as e:  # cryptography raises UnsupportedAlgorithm for exotic curves
        raise KeyFileError(f"cannot load key file {p}: {e}") from e
    return _require_p256_private(key, p)


def load_public_key(path: str | os.PathLike[str]) -> EllipticCurvePublicKey:
    """Load a P-256 public key from a PEM ``PUBLIC KEY`` file (``cosign.pub``)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p = Path(path)
    data = _read_key_file(p)
    label, _ = _pem_label(data, p)
    if label != "PUBLIC KEY":
        private = label in COSIGN_LABELS or label in _PLAIN_PRIVATE_LABELS
        raise KeyFileError(
            f"key file {p} holds a PEM {label!r} block, not a public key"
            + ("; verification needs the public key (.pub)" if private else ""),
        )
    try:
        key = serialization.load_pem_public_key(data)
    except Exception as e:  # ValueError or UnsupportedAlgorithm
        raise KeyFileError(f"cannot load public key {p}: {e}") from e
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise KeyFileError(f"public key {p} is not an ECDSA key; only ECDSA P-256 is supported")
    if not isinstance(key.curve, ec.SECP256R1):
        raise KeyFileError(f"public key {p} is not an ECDSA P-256 key; only P-256 is supported")
    return key
