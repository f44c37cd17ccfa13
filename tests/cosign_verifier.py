"""An independent checker of cosign legacy signatures, written from the cosign spec for the tests.

It deliberately does NOT import ocikit's signing or key code: it re-derives every constant and
rule from sigstore/cosign (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md,
``pkg/cosign/verify.go``; the
``cosign verify --key k.pub --insecure-ignore-tlog=true`` path) and containers/image
``signature/internal/sigstore_payload.go`` (strict payload parsing), so a misunderstanding in
``ocikit._trust._signing`` is not silently shared by its tests. It reads raw bytes through a tiny
interface (``resolve_tag``, ``manifest``, ``blob``) so it works on a MemoryStorage, the local
OCI layout, or raw HTTP against a registry.

Checklist (``docs/compatibility.md`` §6.5):
1. ``sha256-<hex>.sig`` exists and is an OCI image manifest; every layer blob matches its digest.
2. at least one layer of media type ``application/vnd.dev.cosign.simplesigning.v1+json`` whose
   ``dev.cosignproject.cosign/signature`` annotation base64-decodes to a DER ECDSA signature that
   verifies (SHA-256) over the exact blob bytes with the PEM public key;
3. that payload parses strictly and names the manifest digest and ``registry/repository``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIG_KEY = "dev.cosignproject.cosign/signature"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
COSIGN_TYPE = "cosign container image signature"


class CosignVerifyError(Exception):
    pass


@dataclass
class RawSource:
    """Raw access to one repository: tag → (media type, manifest bytes) or None; digest → bytes."""

    resolve_tag: Callable[[str], tuple[str, bytes] | None]
    blob: Callable[[str], bytes]


def _strict(data: bytes) -> dict[str, Any]:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if len(keys) != len(set(keys)):
            raise CosignVerifyError("duplicate key in payload")
        return dict(items)

    obj = json.loads(data, object_pairs_hook=pairs)

    def exactly(o: Any, keys: set[str]) -> dict[str, Any]:
        if not isinstance(o, dict) or set(o) != keys:
            raise CosignVerifyError(f"payload object {o!r} must have exactly {keys}")
        return o

    exactly(obj, {"critical", "optional"})
    crit = exactly(obj["critical"], {"type", "image", "identity"})
    exactly(crit["image"], {"docker-manifest-digest"})
    exactly(crit["identity"], {"docker-reference"})
    if crit["type"] != COSIGN_TYPE:
        raise CosignVerifyError(f"critical.type {crit['type']!r}")
    if obj["optional"] is not None and not isinstance(obj["optional"], dict):
        raise CosignVerifyError("optional must be null or an object")
    return obj


def verify(
    source: RawSource,
    manifest_digest: str,
    repository: str,
    public_key_pem: bytes,
    annotations: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Return the verified payloads (like ``cosign verify`` prints them); raise on failure."""
    key = serialization.load_pem_public_key(public_key_pem)
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    alg, _, hexpart = manifest_digest.partition(":")
    got = source.resolve_tag(f"{alg}-{hexpart}.sig")
    if got is None:
        raise CosignVerifyError("no signatures found")
    media_type, raw = got
    manifest = json.loads(raw)
    if media_type != OCI_MANIFEST or manifest.get("mediaType") != OCI_MANIFEST:
        raise CosignVerifyError(f".sig manifest has media type {media_type}")
    if manifest["config"]["mediaType"] != OCI_CONFIG:
        raise CosignVerifyError("config media type")
    good = []
    for layer in manifest["layers"]:
        if layer["mediaType"] != SIMPLE_SIGNING:
            continue
        payload = source.blob(layer["digest"])
        if "sha256:" + hashlib.sha256(payload).hexdigest() != layer["digest"] or len(payload) != layer["size"]:
            raise CosignVerifyError("payload blob does not match its digest")
        try:
            signature = base64.b64decode(layer["annotations"][SIG_KEY], validate=True)
            key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        except (KeyError, InvalidSignature, ValueError):
            continue
        obj = _strict(payload)
        if obj["critical"]["image"]["docker-manifest-digest"] != manifest_digest:
            continue
        if obj["critical"]["identity"]["docker-reference"] != repository:
            continue
        if any((obj["optional"] or {}).get(k) != v for k, v in (annotations or {}).items()):
            continue
        good.append(obj)
    if not good:
        raise CosignVerifyError("no matching signatures")
    return good


# ---------------------------------------------------------------------------------------- sources


def memory_source(storage: Any) -> RawSource:
    """A source over ``MemoryStorage``'s plain dicts (its attributes, not ocikit code paths)."""

    def resolve_tag(tag: str) -> tuple[str, bytes] | None:
        digest = storage.tag_map.get(tag)
        return None if digest is None else storage.manifests[digest]

    return RawSource(resolve_tag, lambda d: next(v for k, v in storage.blobs.items() if str(k) == d))


def layout_source(store_root: Path, repository: str) -> RawSource:
    """A source over an OCI image layout's ``index.json`` (tags as ``org.opencontainers.image.ref.name``)."""

    def blob(digest: str) -> bytes:
        alg, _, hexpart = digest.partition(":")
        return (store_root / "blobs" / alg / hexpart).read_bytes()

    def resolve_tag(tag: str) -> tuple[str, bytes] | None:
        index = json.loads((store_root / "index.json").read_text())
        for m in index["manifests"]:
            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == f"{repository}:{tag}":
                return m["mediaType"], blob(m["digest"])
        return None

    return RawSource(resolve_tag, blob)


def http_source(base_url: str, repository: str) -> RawSource:
    """A source over the distribution HTTP API (plain HTTP, no auth: the test registry)."""

    def resolve_tag(tag: str) -> tuple[str, bytes] | None:
        req = urllib.request.Request(
            f"{base_url}/v2/{repository}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}
        )
        try:
            with urllib.request.urlopen(req) as r:
                return r.headers["Content-Type"], r.read()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def blob(digest: str) -> bytes:
        with urllib.request.urlopen(f"{base_url}/v2/{repository}/blobs/{digest}") as r:
            return bytes(r.read())

    return RawSource(resolve_tag, blob)
