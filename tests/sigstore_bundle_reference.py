"""An independent writer and checker of cosign v3 bundle signatures, written from the specs for the tests.

It deliberately does NOT import ocikit: every constant and rule is re-derived from
the Sigstore bundle spec (https://github.com/sigstore/protobuf-specs/blob/main/protos/sigstore_bundle.proto),
DSSE (https://github.com/secure-systems-lab/dsse/blob/master/protocol.md), the in-toto Statement v1
(https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md), sigstore/cosign
``pkg/oci/remote/write.go`` ``WriteReferrer`` and the OCI referrers tag schema
(https://github.com/opencontainers/distribution-spec/blob/main/spec.md#referrers-tag-schema), with
``cryptography`` for the keys and raw ``urllib`` HTTP for the registry. Its JSON is written
differently from ocikit's on purpose (pretty-printed, ``tlogEntries`` omitted as Go's protojson
omits an empty list), so nothing relies on one encoder's bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.request
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
INTOTO = "application/vnd.in-toto+json"
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"


class BundleVerifyError(Exception):
    pass


def pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode()
    return b"DSSEv1 " + str(len(t)).encode() + b" " + t + b" " + str(len(payload)).encode() + b" " + payload


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_bundle(key: ec.EllipticCurvePrivateKey, manifest_digest: str, predicate_type: str = SIGN_PREDICATE,
                annotations: dict[str, str] | None = None) -> bytes:
    """A key-based v0.3 bundle over a statement about ``manifest_digest`` (``sha256:<hex>``)."""
    alg, _, hexpart = manifest_digest.partition(":")
    statement = {"_type": "https://in-toto.io/Statement/v1",
                 "subject": [{"digest": {alg: hexpart}, "annotations": annotations or {}}],
                 "predicateType": predicate_type, "predicate": {}}
    payload = json.dumps(statement).encode()  # with spaces: not ocikit's compact form
    sig = key.sign(pae(INTOTO, payload), ec.ECDSA(hashes.SHA256()))
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    bundle = {
        "mediaType": BUNDLE_TYPE,
        "verificationMaterial": {"publicKey": {"hint": base64.b64encode(hashlib.sha256(der).digest()).decode()}},
        "dsseEnvelope": {"payload": base64.b64encode(payload).decode(), "payloadType": INTOTO,
                         "signatures": [{"sig": base64.b64encode(sig).decode()}]},
    }
    return json.dumps(bundle, indent=2).encode()


def make_referrer(bundle: bytes, subject: dict[str, Any], predicate_type: str = SIGN_PREDICATE,
                  layer_type: str = BUNDLE_TYPE) -> bytes:
    """The referrer manifest cosign's ``WriteReferrer`` pushes (``subject``: mediaType, digest, size)."""
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": EMPTY, "size": 2, "digest": _sha(b"{}"), "artifactType": BUNDLE_TYPE},
        "layers": [{"mediaType": layer_type, "size": len(bundle), "digest": _sha(bundle)}],
        "annotations": {"dev.sigstore.bundle.content": "dsse-envelope",
                        "dev.sigstore.bundle.predicateType": predicate_type,
                        "org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
        "subject": subject, "artifactType": BUNDLE_TYPE,
    }).encode()


# ------------------------------------------------------------------------------------ raw registry


def _get(url: str, accept: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": accept})) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def push_blob(base: str, repo: str, data: bytes) -> str:
    req = urllib.request.Request(f"{base}/v2/{repo}/blobs/uploads/", method="POST", data=b"")
    with urllib.request.urlopen(req) as r:
        location = r.headers["Location"]
    if location.startswith("/"):
        location = base + location
    sep = "&" if "?" in location else "?"
    put = urllib.request.Request(f"{location}{sep}digest={_sha(data)}", method="PUT", data=data,
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(put):
        pass
    return _sha(data)


def push_manifest(base: str, repo: str, ref: str, data: bytes, media_type: str) -> None:
    req = urllib.request.Request(f"{base}/v2/{repo}/manifests/{ref}", method="PUT", data=data,
                                 headers={"Content-Type": media_type})
    with urllib.request.urlopen(req):
        pass


def attach(base: str, repo: str, subject: dict[str, Any], bundle: bytes, layer_type: str = BUNDLE_TYPE) -> str:
    """Push ``bundle`` as a referrer of ``subject`` and add it to the fallback index; its digest."""
    push_blob(base, repo, b"{}")
    push_blob(base, repo, bundle)
    manifest = make_referrer(bundle, subject, layer_type=layer_type)
    push_manifest(base, repo, _sha(manifest), manifest, OCI_MANIFEST)
    tag = subject["digest"].replace(":", "-")
    status, body = _get(f"{base}/v2/{repo}/manifests/{tag}", OCI_INDEX)
    index = json.loads(body) if status == 200 else {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    index["manifests"].append({"mediaType": OCI_MANIFEST, "digest": _sha(manifest), "size": len(manifest),
                               "artifactType": BUNDLE_TYPE})
    push_manifest(base, repo, tag, json.dumps(index).encode(), OCI_INDEX)
    return _sha(manifest)


def verify(base: str, repo: str, manifest_digest: str, public_pem: bytes,
           predicate_type: str = SIGN_PREDICATE) -> dict[str, Any]:
    """The verified statement of a bundle referrer of ``manifest_digest``; BundleVerifyError if none."""
    key = serialization.load_pem_public_key(public_pem)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    status, body = _get(f"{base}/v2/{repo}/referrers/{manifest_digest}", OCI_INDEX)
    if status != 200:
        status, body = _get(f"{base}/v2/{repo}/manifests/{manifest_digest.replace(':', '-')}", OCI_INDEX)
    entries = json.loads(body)["manifests"] if status == 200 else []
    for entry in entries:
        if entry.get("artifactType") != BUNDLE_TYPE:
            continue
        _, raw = _get(f"{base}/v2/{repo}/manifests/{entry['digest']}", OCI_MANIFEST)
        if _sha(raw) != entry["digest"]:
            raise BundleVerifyError("referrer manifest digest mismatch")
        manifest = json.loads(raw)
        if manifest["subject"]["digest"] != manifest_digest or len(manifest["layers"]) != 1:
            continue
        layer = manifest["layers"][0]
        if not layer["mediaType"].startswith("application/vnd.dev.sigstore.bundle"):
            continue
        with urllib.request.urlopen(f"{base}/v2/{repo}/blobs/{layer['digest']}") as r:
            data = r.read()
        if _sha(data) != layer["digest"]:
            raise BundleVerifyError("bundle blob digest mismatch")
        bundle = json.loads(data)
        env = bundle["dsseEnvelope"]
        payload = base64.b64decode(env["payload"])
        for s in env["signatures"]:
            try:
                key.verify(base64.b64decode(s["sig"]), pae(env["payloadType"], payload), ec.ECDSA(hashes.SHA256()))
            except Exception:  # any failure means "not this signature"
                continue
            statement = json.loads(payload)
            alg, _, hexpart = manifest_digest.partition(":")
            if statement["predicateType"] == predicate_type and any(
                    sub["digest"].get(alg) == hexpart for sub in statement["subject"]):
                return dict(statement)
    raise BundleVerifyError(f"no bundle of {manifest_digest} verifies")
