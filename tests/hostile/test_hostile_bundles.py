"""Hostile Sigstore bundles and bundle referrers: refused with a reason, never read unbounded.

Oversized bundles are refused by their declared size before a byte is read; nesting is bounded
before ``json`` recurses; duplicate keys are refused (``json`` would keep the last one, so a second
``dsseEnvelope`` could replace the signed one); a referrers index that claims a bundle where the
manifest is something else is not believed.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

import sigstore_bundle_reference as reference
from fakes.modelkit import push_tiny_kit
from ocikit._io._digest import Digest
from ocikit._oci._model import EMPTY_CONFIG, EMPTY_JSON, MANIFEST, Descriptor, Manifest
from ocikit._oci._reference import Reference
from ocikit._store._referrers import add_to_fallback
from ocikit._store._storage import MemoryStorage
from ocikit._trust import _bundle_oci
from ocikit._trust._bundle import BUNDLE_MEDIA_TYPE, MAX_BUNDLE, parse_bundle
from ocikit._trust._bundle_oci import attach_bundle
from ocikit._trust._intoto import COSIGN_SIGN_PREDICATE, parse_statement
from ocikit._trust._keys import public_key_pem
from ocikit._trust._trust_check import verify_signed
from ocikit.errors import SignatureError

NAME = "registry.example/acme/sentiment"
KEY = ec.generate_private_key(ec.SECP256R1())


def _verify(storage: MemoryStorage, desc: Descriptor, tmp_path: Path) -> None:
    pub = tmp_path / "k.pub"
    pub.write_bytes(public_key_pem(KEY.public_key()))
    verify_signed(storage, Reference.parse(f"{NAME}:1.0.0"), desc, pub)


def test_an_oversized_bundle_is_refused_by_its_declared_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_bundle_oci, "MAX_BUNDLE", 1024)
    storage = MemoryStorage(NAME)
    desc = push_tiny_kit(storage)
    attach_bundle(storage, desc, b" " * 2048 + reference.make_bundle(KEY, str(desc.digest)), COSIGN_SIGN_PREDICATE)
    with pytest.raises(SignatureError, match="more than the 1024-byte limit"):
        _verify(storage, desc, tmp_path)


def test_parse_bundle_refuses_more_than_its_limit() -> None:
    with pytest.raises(ValueError, match="more than the"):
        parse_bundle(b" " * (MAX_BUNDLE + 1))


@pytest.mark.parametrize("depth", [65, 100_000])
def test_deeply_nested_json_is_refused_before_parsing(depth: int) -> None:
    data = b'{"mediaType":' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(ValueError, match="nests deeper"):
        parse_bundle(data)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    data = reference.make_bundle(KEY, str(Digest.of_bytes(b"x")))
    obj = json.loads(data)
    obj["verificationMaterial"]["publicKey"]["hint"] = "[" * 1000
    assert parse_bundle(json.dumps(obj).encode()).hint == "[" * 1000


def test_duplicate_keys_are_refused_in_the_bundle_and_the_statement(tmp_path: Path) -> None:
    good = reference.make_bundle(KEY, str(Digest.of_bytes(b"x"))).decode()
    twice = good.rstrip().rstrip("}") + ', "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}'
    with pytest.raises(ValueError, match="duplicate key 'mediaType'"):
        parse_bundle(twice.encode())
    with pytest.raises(ValueError, match="duplicate key 'predicateType'"):
        parse_statement(b'{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"00"}}],'
                        b'"predicateType":"a","predicateType":"b"}')
    storage = MemoryStorage(NAME)
    desc = push_tiny_kit(storage)
    attach_bundle(storage, desc, twice.encode(), COSIGN_SIGN_PREDICATE)
    with pytest.raises(SignatureError, match="duplicate key"):
        _verify(storage, desc, tmp_path)


def test_a_referrers_index_lying_about_the_artifact_type_is_not_believed(tmp_path: Path) -> None:
    storage = MemoryStorage(NAME)
    desc = push_tiny_kit(storage)
    bundle = reference.make_bundle(KEY, str(desc.digest))  # a valid bundle, in a manifest that is not a bundle referrer
    config = Descriptor.for_bytes(EMPTY_CONFIG, EMPTY_JSON)
    layer = Descriptor.for_bytes("application/vnd.cyclonedx+json", bundle)
    for d, data in ((config, EMPTY_JSON), (layer, bundle)):
        storage.push_blob(d, io.BytesIO(data))
    manifest = Manifest(config, (layer,), artifact_type="application/vnd.cyclonedx+json",
                        subject=Descriptor(desc.media_type, desc.digest, desc.size))
    pushed = storage.push_manifest(manifest.to_bytes(), MANIFEST)
    add_to_fallback(storage, desc.digest, Descriptor(MANIFEST, pushed.digest, pushed.size, {}, BUNDLE_MEDIA_TYPE))
    with pytest.raises(SignatureError, match=r"the referrers index says .* but its manifest says application/vnd\.cyclonedx"):
        _verify(storage, desc, tmp_path)


def test_a_bundle_that_is_not_json_or_not_a_bundle_is_refused(tmp_path: Path) -> None:
    for data, message in ((b"\xff\xfe", "unusable"), (b"[]", "not a JSON object"),
                          (b'{"mediaType":"application/x"}', "not a Sigstore bundle")):
        storage = MemoryStorage(NAME)
        desc = push_tiny_kit(storage)
        attach_bundle(storage, desc, data, COSIGN_SIGN_PREDICATE)
        with pytest.raises(SignatureError, match=message):
            _verify(storage, desc, tmp_path)
