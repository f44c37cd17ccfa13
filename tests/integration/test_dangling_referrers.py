"""A referrer manifest deleted from the real registry must not block later referrer pushes.

distribution 2.8 has no referrers API, so ocikit keeps the OCI 1.1 fallback index under the tag
``sha256-<hex>``. It rejects an index naming a manifest it no longer has (MANIFEST_BLOB_UNKNOWN),
so a rewrite must drop entries whose manifests were deleted (retention policy, manual delete).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from _registry_fixtures import TestRegistry, unique_repo
from ocikit._oci._model import EMPTY_CONFIG, EMPTY_JSON, KITOPS_CONFIG, MANIFEST, Descriptor, Manifest
from ocikit._registry._client import Registry
from ocikit._store._referrers import fallback_tag, list_referrers, push_referrer
from ocikit._store._storage import Storage
from ocikit.errors import NotFoundError

pytestmark = pytest.mark.registry


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("OCIKIT_PASSWORD", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    return tmp_path / "home"


def _subject(storage: Storage) -> Descriptor:
    cfg = b'{"package":{"name":"sentiment"}}'
    cfg_desc = Descriptor.for_bytes(KITOPS_CONFIG, cfg)
    layer = Descriptor.for_bytes("application/vnd.kitops.modelkit.model.v1.tar", b"weights")
    storage.push_blob(cfg_desc, io.BytesIO(cfg))
    storage.push_blob(layer, io.BytesIO(b"weights"))
    return storage.push_manifest(Manifest(cfg_desc, (layer,)).to_bytes(), MANIFEST, tag="1.0.0")


def _referrer(storage: Storage, subject: Descriptor, payload: bytes) -> Manifest:
    storage.push_blob(Descriptor.for_bytes(EMPTY_CONFIG, EMPTY_JSON), io.BytesIO(EMPTY_JSON))
    storage.push_blob(Descriptor.for_bytes("application/x-test", payload), io.BytesIO(payload))
    return Manifest(
        Descriptor.for_bytes(EMPTY_CONFIG, EMPTY_JSON, data=EMPTY_JSON),
        (Descriptor.for_bytes("application/x-test", payload),),
        artifact_type="application/x-test",
        subject=subject,
    )


def test_deleted_referrer_does_not_block_the_next_push(
    registry: TestRegistry, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    name = unique_repo("dangling")
    repo = Registry(registry.host, registry.options, home=home).repository(name)
    subject = _subject(repo)
    gone = push_referrer(repo, _referrer(repo, subject, b"old"))
    kept = push_referrer(repo, _referrer(repo, subject, b"kept"))
    assert fallback_tag(subject.digest) in repo.tags()

    admin = Registry(registry.host, registry.options, home=home / "admin").repository(name)
    admin.delete_manifest(gone.digest)  # a retention policy, behind ocikit's back

    writer = Registry(registry.host, registry.options, home=home / "writer").repository(name)
    assert not writer.has_manifest(gone.digest)
    with caplog.at_level(logging.WARNING, logger="ocikit._store._referrers"):
        new = push_referrer(writer, _referrer(writer, subject, b"new"))
    assert any(str(gone.digest) in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)

    reader = Registry(registry.host, registry.options, home=home / "reader").repository(name)
    listed = [d.digest for d in list_referrers(reader, subject.digest)]
    assert listed == [kept.digest, new.digest]
    for digest in listed:
        assert reader.has_manifest(digest)
    with pytest.raises(NotFoundError):
        reader.fetch_manifest(Descriptor(MANIFEST, gone.digest, gone.size))
