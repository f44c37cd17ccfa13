"""Signing and verification on MemoryStorage and on the local store (an OCI layout).

Every signature made here is also checked by tests/cosign_verifier.py, which is written from the
cosign spec and does not share code with ocikit._trust._signing or _simple_signing.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

import cosign_verifier
from ocikit._io._digest import Digest
from ocikit._oci._model import INDEX, KITOPS_CONFIG, MANIFEST, Descriptor, Index, Manifest
from ocikit._oci._reference import Reference
from ocikit._store._layout import LocalStore
from ocikit._store._referrers import signature_tag
from ocikit._store._storage import MemoryStorage, Storage
from ocikit._trust._keys import load_private_key
from ocikit._trust._signing import keygen, sign_descriptor, verify_descriptor
from ocikit._trust._simple_signing import (
    MAX_SIGNATURES,
    SIGNATURE_ANNOTATION,
    SIMPLESIGNING,
    signature_config,
    simple_signing_payload,
)
from ocikit.errors import KeyFileError, NotFoundError, SignatureError

REPO = "registry.example/acme/sentiment"


@dataclass
class Keys:
    key: Path
    pub: Path
    other_key: Path
    other_pub: Path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    d = tmp_path_factory.mktemp("keys")
    k1, p1 = keygen(d / "release")
    k2, p2 = keygen(d / "attacker")
    return Keys(k1, p1, k2, p2)


@dataclass
class Backend:
    storage: Storage
    source: Callable[[], cosign_verifier.RawSource]
    corrupt_blob: Callable[[Digest, bytes], None]


def _memory(name: str) -> Backend:
    s = MemoryStorage(name)

    def corrupt(digest: Digest, data: bytes) -> None:
        s.blobs[digest] = data

    return Backend(s, lambda: cosign_verifier.memory_source(s), corrupt)


def _layout(root: Path, name: str) -> Backend:
    store = LocalStore(root)
    repo = store.repository(name)

    def corrupt(digest: Digest, data: bytes) -> None:
        path = store.blob_path(digest)
        os.chmod(path, 0o644)
        path.write_bytes(data)

    return Backend(repo, lambda: cosign_verifier.layout_source(root, name), corrupt)


@pytest.fixture(params=["memory", "local-store"])
def make_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], Backend]]:
    root = tmp_path / "store"

    def make(name: str = REPO) -> Backend:
        return _memory(name) if request.param == "memory" else _layout(root, name)

    yield make


def _modelkit(storage: Storage, tag: str = "1.0.0", content: bytes = b"weights") -> Descriptor:
    cfg = json.dumps({"package": {"name": "sentiment"}, "model": {"path": "m.bin"}}).encode()
    cfg_desc = Descriptor.for_bytes(KITOPS_CONFIG, cfg)
    layer_desc = Descriptor.for_bytes("application/vnd.kitops.modelkit.model.v1.tar", content)
    storage.push_blob(cfg_desc, io.BytesIO(cfg))
    storage.push_blob(layer_desc, io.BytesIO(content))
    return storage.push_manifest(Manifest(cfg_desc, (layer_desc,)).to_bytes(), MANIFEST, tag=tag)


def _ref(tag: str = "1.0.0", name: str = REPO) -> Reference:
    return Reference.parse(f"{name}:{tag}")


def _sig_manifest(storage: Storage, digest: Digest) -> dict:  # type: ignore[type-arg]
    d = storage.resolve(signature_tag(digest))
    return json.loads(storage.fetch_manifest(d))  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------- goldens


def test_payload_golden_bytes_match_cosign() -> None:
    """The exact 249-byte example of docs/compatibility.md §6.1 (sha256 a76269b2…f238)."""
    digest = Digest.parse("sha256:26051867c70de2a6db880563801575a6a95ddc96b11b4f4a39120d4704432c87")
    payload = simple_signing_payload("localhost:5000/acme/sentiment-kit", digest)
    assert payload == (
        b'{"critical":{"identity":{"docker-reference":"localhost:5000/acme/sentiment-kit"},'
        b'"image":{"docker-manifest-digest":"sha256:26051867c70de2a6db880563801575a6a95ddc96b11b4f4a39120d4704432c87"},'
        b'"type":"cosign container image signature"},"optional":null}'
    )
    assert len(payload) == 249
    assert hashlib.sha256(payload).hexdigest() == "a76269b2cf9ac9fc32555fc3761a09ccb930f06ee7898165ad4804a9e618f238"


def test_config_golden_bytes_match_cosign() -> None:
    """The exact 233-byte config of docs/compatibility.md §6.3 (sha256 c2aaff3f…04fa)."""
    payload_digest = Digest.parse("sha256:a76269b2cf9ac9fc32555fc3761a09ccb930f06ee7898165ad4804a9e618f238")
    config = signature_config([payload_digest])
    assert config == (
        b'{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],'
        b'"os":"","rootfs":{"type":"layers","diff_ids":["sha256:a76269b2cf9ac9fc32555fc3761a09ccb930f06ee7898165ad4804a9e618f238"]},'
        b'"config":{}}'
    )
    assert hashlib.sha256(config).hexdigest() == "c2aaff3f5680c2fb64ba13514c674791d727df1c07ab87834194dd0ef08804fa"


def test_payload_with_annotations_is_go_ordered_and_escaped() -> None:
    digest = Digest.of_bytes(b"x")
    payload = simple_signing_payload("r.example/a", digest, {"z": "last", "a": "<first&>"})
    assert payload.endswith(b'"optional":{"a":"\\u003cfirst\\u0026\\u003e","z":"last"}}')
    assert json.loads(payload)["optional"] == {"a": "<first&>", "z": "last"}
    cosign_verifier._strict(payload)  # containers/image's strict rules hold


# ----------------------------------------------------------------------------------- sign/verify


def test_sign_writes_cosign_layout_and_both_verifiers_accept(
    make_backend: Callable[[str], Backend], keys: Keys
) -> None:
    b = make_backend(REPO)
    desc = _modelkit(b.storage)
    sig = sign_descriptor(b.storage, _ref(), desc, keys.key)

    tag = f"sha256-{desc.digest.hex}.sig"
    assert tag in b.storage.tags()
    assert b.storage.resolve(tag).digest == sig.digest
    m = _sig_manifest(b.storage, desc.digest)
    assert list(m) == ["schemaVersion", "mediaType", "config", "layers"]
    assert m["mediaType"] == MANIFEST
    assert m["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    (layer,) = m["layers"]
    assert layer["mediaType"] == SIMPLESIGNING
    assert list(layer["annotations"]) == [SIGNATURE_ANNOTATION]
    payload = b.source().blob(layer["digest"])
    assert payload == simple_signing_payload(REPO, desc.digest)
    config = b.source().blob(m["config"]["digest"])
    assert config == signature_config([Digest.parse(layer["digest"])])
    # DER, standard base64, verifiable with cryptography directly
    der = base64.b64decode(layer["annotations"][SIGNATURE_ANNOTATION], validate=True)
    assert der[0] == 0x30
    pub = load_private_key(keys.key).public_key()
    pub.verify(der, payload, ec.ECDSA(hashes.SHA256()))

    result = verify_descriptor(b.storage, _ref(), desc, keys.pub)
    assert result.digest == desc.digest
    assert result.reference.digest == desc.digest
    assert [s.docker_reference for s in result.signatures] == [REPO]
    verified = cosign_verifier.verify(b.source(), str(desc.digest), REPO, keys.pub.read_bytes())
    assert verified[0]["critical"]["image"]["docker-manifest-digest"] == str(desc.digest)


def test_second_key_appends_and_same_key_does_not_duplicate(
    make_backend: Callable[[str], Backend], keys: Keys
) -> None:
    b = make_backend(REPO)
    desc = _modelkit(b.storage)
    first = sign_descriptor(b.storage, _ref(), desc, keys.key)
    again = sign_descriptor(b.storage, _ref(), desc, keys.key)
    assert again.digest == first.digest
    assert len(_sig_manifest(b.storage, desc.digest)["layers"]) == 1

    sign_descriptor(b.storage, _ref(), desc, keys.other_key)
    m = _sig_manifest(b.storage, desc.digest)
    assert len(m["layers"]) == 2
    # same payload bytes, two signatures: two layers with the same blob digest (legal in cosign)
    assert m["layers"][0]["digest"] == m["layers"][1]["digest"]
    config = json.loads(b.source().blob(m["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == [m["layers"][0]["digest"]] * 2
    assert len(config["history"]) == 2
    for pub in (keys.pub, keys.other_pub):
        assert verify_descriptor(b.storage, _ref(), desc, pub).digest == desc.digest
        cosign_verifier.verify(b.source(), str(desc.digest), REPO, pub.read_bytes())


def test_annotations_are_signed_and_required_on_verify(make_backend: Callable[[str], Backend], keys: Keys) -> None:
    b = make_backend(REPO)
    desc = _modelkit(b.storage)
    sign_descriptor(b.storage, _ref(), desc, keys.key, annotations={"stage": "production", "by": "ci"})
    ok = verify_descriptor(b.storage, _ref(), desc, keys.pub, annotations={"stage": "production"})
    assert ok.signatures[0].annotations == {"by": "ci", "stage": "production"}
    with pytest.raises(SignatureError, match="annotation stage is 'production', required 'staging'"):
        verify_descriptor(b.storage, _ref(), desc, keys.pub, annotations={"stage": "staging"})
    with pytest.raises(SignatureError, match="annotation team is missing"):
        verify_descriptor(b.storage, _ref(), desc, keys.pub, annotations={"team": "ml"})
    cosign_verifier.verify(b.source(), str(desc.digest), REPO, keys.pub.read_bytes(), {"stage": "production"})
    with pytest.raises(cosign_verifier.CosignVerifyError):
        cosign_verifier.verify(b.source(), str(desc.digest), REPO, keys.pub.read_bytes(), {"stage": "staging"})
    # a different annotation set is a different payload: it is added, not deduplicated
    sign_descriptor(b.storage, _ref(), desc, keys.key, annotations={"stage": "staging"})
    assert len(_sig_manifest(b.storage, desc.digest)["layers"]) == 2
    verify_descriptor(b.storage, _ref(), desc, keys.pub, annotations={"stage": "staging"})


# -------------------------------------------------------------------------------------- failures


def test_unsigned_is_refused(make_backend: Callable[[str], Backend], keys: Keys) -> None:
    b = make_backend(REPO)
    desc = _modelkit(b.storage)
    with pytest.raises(SignatureError, match=rf"{REPO}@{desc.digest} is not signed") as err:
        verify_descriptor(b.storage, _ref(), desc, keys.pub)
    assert err.value.exit_code == 3
    with pytest.raises(cosign_verifier.CosignVerifyError, match="no signatures found"):
        cosign_verifier.verify(b.source(), str(desc.digest), REPO, keys.pub.read_bytes())


def test_wrong_key_is_refused(make_backend: Callable[[str], Backend], keys: Keys) -> None:
    b = make_backend(REPO)
    desc = _modelkit(b.storage)
    sign_descriptor(b.storage, _ref(), desc, keys.other_key)
    with pytest.raises(SignatureError, match="no signature verifies with this key"):
        verify_descriptor(b.storage, _ref(), desc, keys.pub)
    with pytest.raises(cosign_verifier.CosignVerifyError):
        cosign_verifier.verify(b.source(), str(desc.digest), REPO, keys.pub.read_bytes())


def _rewrite_sig(storage: Storage, digest: Digest, change: Callable[[dict], None], tag: str | None = None) -> None:  # type: ignore[type-arg]
    m = _sig_manifest(storage, digest)
    change(m)
    cfg = b"{}"
    storage.push_blob(Descriptor.for_bytes("application/vnd.oci.image.config.v1+json", cfg), io.BytesIO(cfg))
    storage.push_manifest(json.dumps(m).encode(), MANIFEST, tag=tag or signature_tag(digest))


def test_tampered_payload_is_refused(make_backend: Callable[[str], Backend], keys: Keys) -> None:
    """The attacker edits the payload (to name another repository) and fixes up the digests."""
    b = make_backend(REPO)
    desc = _modelkit(b.storage)
    sign_descriptor(b.storage, _ref(), desc, keys.key)
    forged = simple_signing_payload("evil.example/acme/sentiment", desc.digest)
    forged_desc = Descriptor.for_bytes(SIMPLESIGNING, forged)
    b.storage.push_blob(forged_desc, io.BytesIO(forged))

    def swap(m: dict) -> None:  # type: ignore[type-arg]
        m["layers"][0]["digest"] = str(forged_desc.digest)
        m["layers"][0]["size"] = forged_desc.size

    _rewrite_sig(b.storage, desc.digest, swap)
    with pytest.raises(SignatureError, match="no signature verifies with this key"):
        verify_descriptor(b.storage, _ref(), desc, keys.pub)
    with pytest.raises(cosign_verifier.CosignVerifyError):
        cosign_verifier.verify(b.source(), str(desc.digest), REPO, keys.pub.read_bytes())


def test_payload_bytes_swapped_under_their_digest_are_refused(
    make_backend: Callable[[str], Backend], keys: Keys
) -> None:
    """A storage that serves other bytes under the payload's digest (corrupt or hostile)."""
    b = make_backend(REPO)
    desc = _modelkit(b.storage)
    sign_descriptor(b.storage, _ref(), desc, keys.key)
    layer = _sig_manifest(b.storage, desc.digest)["layers"][0]
    original = b.source().blob(layer["digest"])
    b.corrupt_blob(Digest.parse(layer["digest"]), original.replace(b"sentiment", b"sentimenu"))
    with pytest.raises(SignatureError, match="signature payload is corrupt"):
        verify_descriptor(b.storage, _ref(), desc, keys.pub)
    with pytest.raises(cosign_verifier.CosignVerifyError, match="does not match its digest"):
        cosign_verifier.verify(b.source(), str(desc.digest), REPO, keys.pub.read_bytes())


def test_signature_naming_another_digest_is_refused(make_backend: Callable[[str], Backend], keys: Keys) -> None:
    """A valid signature of v1 copied to the .sig tag of v2."""
    b = make_backend(REPO)
    v1 = _modelkit(b.storage, "1.0.0", b"v1")
    v2 = _modelkit(b.storage, "2.0.0", b"v2")
    sign_descriptor(b.storage, _ref("1.0.0"), v1, keys.key)
    sig = b.storage.resolve(signature_tag(v1.digest))
    b.storage.tag(sig, signature_tag(v2.digest))
    with pytest.raises(SignatureError, match=rf"signature is for {v1.digest}, not {v2.digest}"):
        verify_descriptor(b.storage, _ref("2.0.0"), v2, keys.pub)
    with pytest.raises(cosign_verifier.CosignVerifyError):
        cosign_verifier.verify(b.source(), str(v2.digest), REPO, keys.pub.read_bytes())


def test_manifest_modified_after_signing_is_refused(make_backend: Callable[[str], Backend], keys: Keys) -> None:
    """The tag is moved to an edited manifest (one more layer) after signing: the edited one is unsigned."""
    b = make_backend(REPO)
    desc = _modelkit(b.storage)
    sign_descriptor(b.storage, _ref(), desc, keys.key)
    m = Manifest.from_bytes(b.storage.fetch_manifest(desc))
    extra = Descriptor.for_bytes("application/vnd.kitops.modelkit.code.v1.tar", b"backdoor")
    b.storage.push_blob(extra, io.BytesIO(b"backdoor"))
    edited = b.storage.push_manifest(Manifest(m.config, (*m.layers, extra)).to_bytes(), MANIFEST, tag="1.0.0")
    resolved = b.storage.resolve("1.0.0")
    assert resolved.digest == edited.digest != desc.digest
    with pytest.raises(SignatureError, match="is not signed"):
        verify_descriptor(b.storage, _ref(), resolved, keys.pub)
    # pinning the signed digest still verifies, and the result names that digest, not the tag's
    assert verify_descriptor(b.storage, _ref(), desc, keys.pub).digest == desc.digest


def test_signature_for_another_repository_is_refused(make_backend: Callable[[str], Backend], keys: Keys) -> None:
    """Same digest, signature copied from a repository that was signed under another name."""
    test_repo = make_backend("registry.example/acme/sentiment-test")
    desc = _modelkit(test_repo.storage)
    sign_descriptor(test_repo.storage, _ref(name="registry.example/acme/sentiment-test"), desc, keys.key)
    prod = make_backend(REPO)
    assert _modelkit(prod.storage).digest == desc.digest
    payload_layer = _sig_manifest(test_repo.storage, desc.digest)["layers"][0]
    payload = test_repo.source().blob(payload_layer["digest"])
    prod.storage.push_blob(Descriptor.for_bytes(SIMPLESIGNING, payload), io.BytesIO(payload))
    _rewrite_sig_from(test_repo.storage, prod.storage, desc.digest)
    with pytest.raises(SignatureError, match=r"signature is for repository registry\.example/acme/sentiment-test, not"):
        verify_descriptor(prod.storage, _ref(), desc, keys.pub)
    with pytest.raises(cosign_verifier.CosignVerifyError):
        cosign_verifier.verify(prod.source(), str(desc.digest), REPO, keys.pub.read_bytes())


def _rewrite_sig_from(src: Storage, dst: Storage, digest: Digest) -> None:
    m = _sig_manifest(src, digest)
    cfg_desc = Descriptor.from_dict(m["config"])
    with src.open_blob(cfg_desc) as f:
        dst.push_blob(cfg_desc, io.BytesIO(f.read()))
    dst.push_manifest(json.dumps(m).encode(), MANIFEST, tag=signature_tag(digest))


def test_tag_moved_to_unsigned_manifest_after_signing(make_backend: Callable[[str], Backend], keys: Keys) -> None:
    """What pull/unpack --verify-key rely on: resolve once, verify that digest, use that digest."""
    b = make_backend(REPO)
    signed = _modelkit(b.storage, "1.0.0", b"good")
    sign_descriptor(b.storage, _ref(), signed, keys.key)
    unsigned = _modelkit(b.storage, "1.0.0", b"evil")  # the tag moves
    with pytest.raises(SignatureError, match="is not signed"):
        verify_descriptor(b.storage, _ref(), b.storage.resolve("1.0.0"), keys.pub)
    assert b.storage.resolve("1.0.0").digest == unsigned.digest


# --------------------------------------------------------------------------------- hostile .sig


def test_signature_manifest_that_is_an_index_is_refused(keys: Keys) -> None:
    s = MemoryStorage(REPO)
    desc = _modelkit(s)
    s.push_manifest(Index((desc,)).to_bytes(), INDEX, tag=signature_tag(desc.digest))
    with pytest.raises(SignatureError, match="not an OCI image manifest"):
        verify_descriptor(s, _ref(), desc, keys.pub)


def test_too_many_signature_layers_are_refused(keys: Keys) -> None:
    s = MemoryStorage(REPO)
    desc = _modelkit(s)
    sign_descriptor(s, _ref(), desc, keys.key)
    _rewrite_sig(s, desc.digest, lambda m: m.__setitem__("layers", m["layers"] * (MAX_SIGNATURES + 1)))
    with pytest.raises(SignatureError, match="more than 1000"):
        verify_descriptor(s, _ref(), desc, keys.pub)
    with pytest.raises(SignatureError, match="more than 1000"):
        sign_descriptor(s, _ref(), desc, keys.other_key)


@pytest.mark.parametrize(
    "payload",
    [
        # extra top-level field: containers/image's strict parser refuses it
        b'{"critical":{"identity":{"docker-reference":"%(r)s"},"image":{"docker-manifest-digest":"%(d)s"},'
        b'"type":"cosign container image signature"},"optional":null,"extra":1}',
        # duplicate key (a parser-differential trick)
        b'{"critical":{"identity":{"docker-reference":"%(r)s"},"image":{"docker-manifest-digest":"%(d)s"},'
        b'"type":"cosign container image signature"},"optional":null,"optional":null}',
        # wrong type
        b'{"critical":{"identity":{"docker-reference":"%(r)s"},"image":{"docker-manifest-digest":"%(d)s"},'
        b'"type":"cosign container image attestation"},"optional":null}',
        # optional.timestamp must be an integer
        b'{"critical":{"identity":{"docker-reference":"%(r)s"},"image":{"docker-manifest-digest":"%(d)s"},'
        b'"type":"cosign container image signature"},"optional":{"timestamp":"now"}}',
        b"not json",
    ],
)
def test_validly_signed_but_malformed_payloads_are_refused(keys: Keys, payload: bytes) -> None:
    s = MemoryStorage(REPO)
    desc = _modelkit(s)
    payload = payload % {b"r": REPO.encode(), b"d": str(desc.digest).encode()}
    key = load_private_key(keys.key)
    signature = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    pdesc = Descriptor.for_bytes(SIMPLESIGNING, payload)
    s.push_blob(pdesc, io.BytesIO(payload))
    sign_descriptor(s, _ref(), desc, keys.other_key)  # a well-formed .sig to start from

    def replace(m: dict) -> None:  # type: ignore[type-arg]
        m["layers"] = [{"mediaType": SIMPLESIGNING, "size": pdesc.size, "digest": str(pdesc.digest),
                        "annotations": {SIGNATURE_ANNOTATION: signature}}]

    _rewrite_sig(s, desc.digest, replace)
    with pytest.raises(SignatureError, match="signed payload is malformed"):
        verify_descriptor(s, _ref(), desc, keys.pub)


def test_garbage_signature_annotation_is_refused(keys: Keys) -> None:
    s = MemoryStorage(REPO)
    desc = _modelkit(s)
    sign_descriptor(s, _ref(), desc, keys.key)
    _rewrite_sig(s, desc.digest, lambda m: m["layers"][0]["annotations"].__setitem__(SIGNATURE_ANNOTATION, "!!"))
    with pytest.raises(SignatureError, match="no signature verifies"):
        verify_descriptor(s, _ref(), desc, keys.pub)


def test_one_good_layer_among_bad_ones_verifies(keys: Keys) -> None:
    s = MemoryStorage(REPO)
    desc = _modelkit(s)
    sign_descriptor(s, _ref(), desc, keys.other_key)
    sign_descriptor(s, _ref(), desc, keys.key)
    result = verify_descriptor(s, _ref(), desc, keys.pub)
    assert len(result.signatures) == 1


# ---------------------------------------------------------------------------- other manifests


def test_any_manifest_can_be_signed_eg_a_stage_event(keys: Keys) -> None:
    s = MemoryStorage(REPO)
    subject = _modelkit(s)
    body = b'{"stage":"production"}'
    bdesc = Descriptor.for_bytes("application/vnd.ocikit.stage.event.v1+json", body)
    s.push_blob(bdesc, io.BytesIO(body))
    s.push_blob(Descriptor.for_bytes("application/vnd.oci.empty.v1+json", b"{}"), io.BytesIO(b"{}"))
    event = Manifest(Descriptor.for_bytes("application/vnd.oci.empty.v1+json", b"{}"), (bdesc,),
                     artifact_type="application/vnd.ocikit.stage.event.v1+json", subject=subject)
    edesc = s.push_manifest(event.to_bytes(), MANIFEST)
    sign_descriptor(s, _ref(), edesc, keys.key)
    assert verify_descriptor(s, _ref(), edesc, keys.pub).digest == edesc.digest
    with pytest.raises(SignatureError):  # signing the event does not sign its subject
        verify_descriptor(s, _ref(), subject, keys.pub)


def test_signing_a_manifest_that_is_not_there_fails(keys: Keys) -> None:
    s = MemoryStorage(REPO)
    ghost = Descriptor.for_bytes(MANIFEST, b"{}")
    with pytest.raises(NotFoundError, match="nothing to sign"):
        sign_descriptor(s, _ref(), ghost, keys.key)
    assert s.tags() == []


def test_encrypted_key_needs_its_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCIKIT_PASSWORD", raising=False)
    key, pub = keygen(tmp_path / "enc", password="pw")
    s = MemoryStorage(REPO)
    desc = _modelkit(s)
    with pytest.raises(KeyFileError, match="encrypted and no password"):
        sign_descriptor(s, _ref(), desc, key)
    assert signature_tag(desc.digest) not in s.tags()
    sign_descriptor(s, _ref(), desc, key, password="pw")
    verify_descriptor(s, _ref(), desc, pub)


def test_docker_hub_spellings_are_the_same_identity(keys: Keys) -> None:
    s = MemoryStorage("docker.io/library/ubuntu")
    desc = _modelkit(s)
    sign_descriptor(s, Reference.parse("index.docker.io/library/ubuntu:1.0.0"), desc, keys.key)
    verify_descriptor(s, Reference.parse("docker.io/ubuntu:1.0.0"), desc, keys.pub)


# -------------------------------------------------------------------------------- concurrency


class _RacingStorage(MemoryStorage):
    """Simulates another signer whose read-modify-write lands right after ours (lost update)."""

    def __init__(self, name: str, rival: Callable[[], None]) -> None:
        super().__init__(name)
        self.rival = rival
        self.raced = False

    def push_manifest(self, data: bytes, media_type: str, tag: str | None = None) -> Descriptor:
        before = self.tag_map.get(tag) if tag else None
        desc = super().push_manifest(data, media_type, tag)
        if tag and tag.endswith(".sig") and not self.raced:
            self.raced = True
            saved = dict(self.tag_map)
            if before is None:
                self.tag_map.pop(tag)
            else:
                self.tag_map[tag] = before  # the rival read the state before our write
            self.rival()
            assert self.tag_map != saved
        return desc


def test_concurrent_signer_overwrite_is_detected_and_retried(keys: Keys) -> None:
    holder: dict[str, _RacingStorage] = {}

    def rival() -> None:
        s = holder["s"]
        s.raced = True
        sign_descriptor(s, _ref(), s.resolve("1.0.0"), keys.other_key)

    s = _RacingStorage(REPO, rival)
    holder["s"] = s
    desc = _modelkit(s)
    sign_descriptor(s, _ref(), desc, keys.key)
    assert len(_sig_manifest(s, desc.digest)["layers"]) == 2
    verify_descriptor(s, _ref(), desc, keys.pub)
    verify_descriptor(s, _ref(), desc, keys.other_pub)
