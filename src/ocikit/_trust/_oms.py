"""OpenSSF Model Signing (OMS) signatures: the in-toto statement over a file tree, signing it, reading one.

Format, as the ``model-signing`` package writes and reads it
(https://github.com/sigstore/model-transparency, ``src/model_signing/_signing/signing.py`` ``Payload`` and
``dsse_payload_to_manifest``, ``_signing/sign_ec_key.py``): a Sigstore bundle v0.3 whose DSSE envelope
(payloadType ``application/vnd.in-toto+json``) carries an in-toto statement v1 with predicateType
``https://model_signing/signature/v1.0``. Its one subject is the model name with ``sha256`` = SHA-256 of
the concatenated raw file digests in resource order; the predicate lists every file (``name``,
``algorithm``, ``digest`` hex) and the ``serialization`` used (``method: files``, ``hash_type: sha256``,
``allow_symlinks``, ``ignore_paths``). Key-based bundles carry ``verificationMaterial.publicKey.hint``
= hex SHA-256 of the PEM SubjectPublicKeyInfo (model_signing refuses any other hint).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from ocikit._io._json import max_depth, refuse_duplicate_keys
from ocikit._oci._gojson import go_json
from ocikit._trust._bundle import BUNDLE_MEDIA_TYPE, MAX_BUNDLE, parse_bundle
from ocikit._trust._dsse import INTOTO_PAYLOAD_TYPE, Envelope, sign_envelope, signature_valid
from ocikit.errors import SignatureError, VerificationError

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey, EllipticCurvePublicKey

__all__ = ["GIT_IGNORE_PATHS", "OMS_PREDICATE_TYPE", "OmsStatement", "oms_bundle", "read_oms_bundle"]

OMS_PREDICATE_TYPE = "https://model_signing/signature/v1.0"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
#: What ``model_signing`` leaves out by default (``hashing.Config`` ``ignore_git_paths``).
GIT_IGNORE_PATHS = (".git", ".gitattributes", ".github", ".gitignore")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_DEPTH = 32


@dataclass(frozen=True)
class OmsStatement:
    """A model's files by relative POSIX path with their SHA-256 (hex), and the paths left unsigned."""

    model_name: str
    files: tuple[tuple[str, str], ...]  # in resource order (sorted by name when ocikit writes it)
    ignore_paths: tuple[str, ...] = ()

    @classmethod
    def of(cls, model_name: str, files: Iterable[tuple[str, str]], ignore_paths: Iterable[str] = ()) -> OmsStatement:
        return cls(model_name, tuple(sorted(files)), tuple(ignore_paths))

    @property
    def root_digest(self) -> str:
        h = hashlib.sha256()
        for _, digest in self.files:
            h.update(bytes.fromhex(digest))
        return h.hexdigest()

    def digests(self) -> dict[str, str]:
        return dict(self.files)

    def to_json(self) -> bytes:
        serialization: dict[str, Any] = {"method": "files", "hash_type": "sha256", "allow_symlinks": False}
        if self.ignore_paths:
            serialization["ignore_paths"] = list(self.ignore_paths)
        return go_json({
            "_type": STATEMENT_TYPE,
            "subject": [{"name": self.model_name, "digest": {"sha256": self.root_digest}}],
            "predicateType": OMS_PREDICATE_TYPE,
            "predicate": {
                "serialization": serialization,
                "resources": [{"name": n, "algorithm": "sha256", "digest": d} for n, d in self.files],
            },
        })


def pem_hint(key: EllipticCurvePublicKey) -> str:
    """model_signing's key hint: hex SHA-256 of the PEM SubjectPublicKeyInfo."""
    from cryptography.hazmat.primitives import serialization

    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def oms_bundle(statement: OmsStatement, key: EllipticCurvePrivateKey) -> bytes:
    """The OMS signature (Sigstore bundle v0.3 JSON) of ``statement`` signed by ``key``."""
    import base64

    envelope = sign_envelope(key, INTOTO_PAYLOAD_TYPE, statement.to_json())
    return go_json({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": pem_hint(key.public_key())}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(envelope.payload).decode("ascii"),
            "payloadType": envelope.payload_type,
            "signatures": [{"sig": base64.b64encode(s).decode("ascii"), "keyid": ""} for s in envelope.signatures],
        },
    })


def read_oms_bundle(data: bytes, key: EllipticCurvePublicKey, where: str) -> OmsStatement:
    """Check an OMS bundle's signature with ``key`` and return its statement.

    Raises :class:`SignatureError` for a bundle this key did not sign and :class:`VerificationError`
    for one that is not an OMS signature (bounded size and depth, duplicate keys, unsafe or repeated
    file names, a subject digest that does not match the files: all refused).
    """
    if len(data) > MAX_BUNDLE:
        raise VerificationError(f"{where} is {len(data)} bytes, more than the {MAX_BUNDLE}-byte limit")
    try:
        parsed = parse_bundle(data)
    except ValueError as e:
        raise VerificationError(f"{where}: {e}") from e
    envelope = parsed.envelope
    if envelope is None:
        raise VerificationError(f"{where} holds no DSSE envelope; an OMS signature does")
    if envelope.payload_type != INTOTO_PAYLOAD_TYPE:
        raise VerificationError(f"{where}: payloadType is {envelope.payload_type!r}, not {INTOTO_PAYLOAD_TYPE}")
    if not signature_valid(key, Envelope(envelope.payload, envelope.payload_type, envelope.signatures)):
        raise SignatureError(f"{where} was not signed by this key",
                             hint="pass the public key that belongs to the signing key")
    return parse_statement(envelope.payload, where)


def _load(payload: bytes, where: str) -> dict[str, Any]:
    depth = max_depth(payload)
    if depth > _MAX_DEPTH:
        raise VerificationError(f"{where}: the statement nests deeper than {_MAX_DEPTH} levels")
    try:
        obj = json.loads(payload, object_pairs_hook=refuse_duplicate_keys(VerificationError))
    except VerificationError as e:
        raise VerificationError(f"{where}: the statement has a {e}") from e
    except (ValueError, RecursionError) as e:
        raise VerificationError(f"{where}: the statement is not JSON: {e}") from e
    if not isinstance(obj, dict):
        raise VerificationError(f"{where}: the statement is not a JSON object")
    return obj


def parse_statement(payload: bytes, where: str) -> OmsStatement:
    """The OMS statement in ``payload`` (already signature-checked); strict about every field used."""
    obj = _load(payload, where)
    if obj.get("_type") != STATEMENT_TYPE or obj.get("predicateType") != OMS_PREDICATE_TYPE:
        raise VerificationError(f"{where}: not an OMS statement (predicateType {obj.get('predicateType')!r}, "
                                f"expected {OMS_PREDICATE_TYPE})")
    subjects = obj.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise VerificationError(f"{where}: an OMS statement has exactly one subject")
    name, digest = subjects[0].get("name"), subjects[0].get("digest")
    root = digest.get("sha256") if isinstance(digest, dict) else None
    if not isinstance(name, str) or not isinstance(root, str):
        raise VerificationError(f"{where}: the subject needs a name and a sha256 digest")
    predicate = obj.get("predicate")
    if not isinstance(predicate, dict):
        raise VerificationError(f"{where}: the statement has no predicate")
    ignore = _serialization(predicate.get("serialization"), where)
    files = _resources(predicate.get("resources"), where)
    statement = OmsStatement(name, tuple(files), ignore)
    if statement.root_digest != root:
        raise VerificationError(f"{where}: the subject digest {root[:12]}… does not match its files' "
                                f"digests ({statement.root_digest[:12]}…)")
    return statement


def _serialization(ser: Any, where: str) -> tuple[str, ...]:
    if not isinstance(ser, dict):
        raise VerificationError(f"{where}: the predicate has no serialization")
    if ser.get("method") != "files" or ser.get("hash_type") != "sha256":
        raise VerificationError(
            f"{where}: serialization {ser.get('method')!r}/{ser.get('hash_type')!r} is not supported; "
            "ocikit checks 'files' with sha256 (model_signing's default)",
            hint="sign with model_signing's defaults, or verify with 'model_signing verify'")
    ignore = ser.get("ignore_paths", [])
    if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
        raise VerificationError(f"{where}: serialization.ignore_paths is not a list of paths")
    return tuple(ignore)


def safe_name(name: Any) -> bool:
    """A relative POSIX path inside the model: no ``..``, no leading ``/``, no ``\\``, normalised."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        return False
    pure = PurePosixPath(name)
    return not pure.is_absolute() and ".." not in pure.parts and pure.as_posix() == name


def _resources(resources: Any, where: str) -> list[tuple[str, str]]:
    if not isinstance(resources, list):
        raise VerificationError(f"{where}: the predicate has no resources list")
    files: list[tuple[str, str]] = []
    seen: set[str] = set()
    for r in resources:
        name = r.get("name") if isinstance(r, dict) else None
        digest = r.get("digest") if isinstance(r, dict) else None
        if not safe_name(name):
            raise VerificationError(f"{where} lists an unsafe file name {name!r}",
                                    hint="an OMS signature names files relative to the model directory")
        assert isinstance(name, str)
        if r.get("algorithm") != "sha256" or not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise VerificationError(f"{where}: {name}: expected a sha256 hex digest")
        if name in seen:
            raise VerificationError(f"{where} lists {name!r} twice")
        seen.add(name)
        files.append((name, digest))
    return files
