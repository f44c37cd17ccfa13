"""Remote datasets (kit 1.17 remotePath/remoteHash): validated at pack, recorded in the SBOM with their
hash, not packed; fetched only with include_remote, and only when the hash matches."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from compat.peermake import kit_117_tar, store
from ocikit._ops._pack import pack
from ocikit._ops._trust import sbom
from ocikit._ops._unpack import unpack
from ocikit.errors import DigestMismatchError, KitfileError, UsageError

DATA = b"id,label\n1,0\n2,1\n"


def _project(tmp_path: Path, remote: str, remote_hash: str) -> Path:
    ctx = tmp_path / "ctx"
    (ctx / "model").mkdir(parents=True)
    (ctx / "model" / "w.bin").write_bytes(b"w" * 10)
    (ctx / "Kitfile").write_text(
        "manifestVersion: 1.0.0\nmodel: {path: model}\n"
        f"datasets:\n  - {{name: lake, path: data/lake.csv, remotePath: '{remote}', remoteHash: '{remote_hash}'}}\n")
    return ctx


def _remote_file(tmp_path: Path) -> tuple[str, str]:
    src = tmp_path / "remote" / "lake.csv"
    src.parent.mkdir()
    src.write_bytes(DATA)
    return src.as_uri(), "sha256:" + hashlib.sha256(DATA).hexdigest()


def test_remote_dataset_is_not_packed_but_in_the_sbom(tmp_path: Path, home: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    url, digest = _remote_file(tmp_path)
    result = pack(_project(tmp_path, url, digest), tag="acme/remote:1", home=home)
    assert [la.kind for la in result.layers] == ["model"]
    config = json.loads(result.kitfile.to_config_json())
    assert config["datasets"] == [{"name": "lake", "path": "data/lake.csv", "remotePath": url, "remoteHash": digest}]
    doc = json.loads(sbom("acme/remote:1", home=home))
    comp = next(c for c in doc["components"] if c["bom-ref"] == "dataset-remote-0")
    ref = comp["externalReferences"][0]
    assert ref["type"] == "distribution" and ref["url"] == url
    assert ref["hashes"] == [{"alg": "SHA-256", "content": digest.split(":")[1]}]

    with caplog.at_level(logging.WARNING):
        unpack("acme/remote:1", tmp_path / "plain", home=home)
    assert not (tmp_path / "plain/data").exists()
    assert "--include-remote" in caplog.text

    unpack("acme/remote:1", tmp_path / "full", home=home, include_remote=True)
    assert (tmp_path / "full/data/lake.csv").read_bytes() == DATA


def test_remote_dataset_with_the_wrong_hash_never_lands(tmp_path: Path, home: Path) -> None:
    url, _ = _remote_file(tmp_path)
    pack(_project(tmp_path, url, "sha256:" + "0" * 64), tag="acme/remote:bad", home=home)
    with pytest.raises(DigestMismatchError, match="remoteHash"):
        unpack("acme/remote:bad", tmp_path / "out", home=home, include_remote=True)
    assert not (tmp_path / "out").exists()


def test_s3_remote_dataset_of_a_kit_modelkit_is_refused_clearly(tmp_path: Path, home: Path) -> None:
    store(home, kit_117_tar(), "kit/remote", "v1")
    unpack("localhost/kit/remote:v1", tmp_path / "plain", home=home)  # without the option: layers only
    assert not (tmp_path / "plain/lake").exists()
    with pytest.raises(UsageError, match="cannot fetch s3://"):
        unpack("localhost/kit/remote:v1", tmp_path / "out", home=home, include_remote=True)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("remote", "remote_hash", "match"), [
    ("s3://bucket/key", "", "remoteHash is required"),
    ("s3://bucket/key", "not-a-hash", "neither an S3 ETag"),
    ("ftp://host/x", "sha256:" + "a" * 64, "must be an s3://"),
    ("https://host/x", "9b2cf535f27731c974343645a3985328", "must be sha256"),
])
def test_remote_datasets_are_validated(remote: str, remote_hash: str, match: str, tmp_path: Path,
                                       home: Path) -> None:
    ctx = _project(tmp_path, remote, remote_hash)
    if not remote_hash:
        text = (ctx / "Kitfile").read_text().replace(", remoteHash: ''", "")
        (ctx / "Kitfile").write_text(text)
    with pytest.raises(KitfileError, match=match):
        pack(ctx, tag="acme/remote:x", home=home)


def test_remote_hash_needs_a_remote_path(tmp_path: Path, home: Path) -> None:
    ctx = _project(tmp_path, "s3://b/k", "9b2cf535f27731c974343645a3985328")
    (ctx / "data").mkdir()
    (ctx / "data" / "lake.csv").write_bytes(DATA)
    (ctx / "Kitfile").write_text((ctx / "Kitfile").read_text().replace("remotePath: 's3://b/k', ", ""))
    with pytest.raises(KitfileError, match="only applicable when remotePath"):
        pack(ctx, tag="acme/remote:y", home=home)
