from __future__ import annotations

import io
import logging
import threading

import pytest

from ocikit._oci._model import EMPTY_CONFIG, EMPTY_JSON, KITOPS_CONFIG, MANIFEST, Descriptor, Manifest
from ocikit._store._referrers import fallback_tag, list_referrers, push_referrer, remove_from_fallback
from ocikit._store._storage import MemoryStorage, Storage


def _subject(storage: Storage) -> Descriptor:
    cfg = b'{"package":{}}'
    storage.push_blob(Descriptor.for_bytes(KITOPS_CONFIG, cfg), io.BytesIO(cfg))
    m = Manifest(Descriptor.for_bytes(KITOPS_CONFIG, cfg), ())
    return storage.push_manifest(m.to_bytes(), MANIFEST, tag="v1")


def _referrer(storage: Storage, subject: Descriptor, payload: bytes, artifact_type: str) -> Manifest:
    storage.push_blob(Descriptor.for_bytes(EMPTY_CONFIG, EMPTY_JSON), io.BytesIO(EMPTY_JSON))
    storage.push_blob(Descriptor.for_bytes(artifact_type, payload), io.BytesIO(payload))
    return Manifest(
        Descriptor.for_bytes(EMPTY_CONFIG, EMPTY_JSON, data=EMPTY_JSON),
        (Descriptor.for_bytes(artifact_type, payload),),
        artifact_type=artifact_type,
        subject=subject,
    )


def test_fallback_tag_index_collects_referrers() -> None:
    s = MemoryStorage()
    subject = _subject(s)
    a = push_referrer(s, _referrer(s, subject, b"sbom", "application/vnd.cyclonedx+json"))
    b = push_referrer(s, _referrer(s, subject, b"event", "application/vnd.ocikit.stage.event.v1+json"))
    push_referrer(s, _referrer(s, subject, b"sbom", "application/vnd.cyclonedx+json"))  # idempotent
    assert fallback_tag(subject.digest) in s.tags()
    assert [d.digest for d in list_referrers(s, subject.digest)] == [a.digest, b.digest]
    only = list_referrers(s, subject.digest, "application/vnd.cyclonedx+json")
    assert [d.digest for d in only] == [a.digest]


def test_native_api_is_used_when_present() -> None:
    s = MemoryStorage(referrers_api=True)
    subject = _subject(s)
    a = push_referrer(s, _referrer(s, subject, b"sbom", "application/vnd.cyclonedx+json"))
    assert fallback_tag(subject.digest) not in s.tags()
    assert [d.digest for d in list_referrers(s, subject.digest)] == [a.digest]


def test_concurrent_referrers_are_not_lost() -> None:
    s = MemoryStorage()
    subject = _subject(s)
    manifests = [_referrer(s, subject, f"doc {i}".encode(), "application/x-test") for i in range(8)]
    threads = [threading.Thread(target=push_referrer, args=(s, m)) for m in manifests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(list_referrers(s, subject.digest)) == 8


def test_dangling_fallback_entry_is_dropped_on_rewrite(caplog: pytest.LogCaptureFixture) -> None:
    s = MemoryStorage()
    subject = _subject(s)
    gone = push_referrer(s, _referrer(s, subject, b"old sbom", "application/vnd.cyclonedx+json"))
    kept = push_referrer(s, _referrer(s, subject, b"event", "application/x-test"))
    s.delete_manifest(gone.digest)  # retention policy or a manual delete
    with caplog.at_level(logging.WARNING, logger="ocikit._store._referrers"):
        new = push_referrer(s, _referrer(s, subject, b"new sbom", "application/vnd.cyclonedx+json"))
    assert [d.digest for d in list_referrers(s, subject.digest)] == [kept.digest, new.digest]
    assert any(str(gone.digest) in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_remove_from_fallback_drops_dangling_entries_too() -> None:
    s = MemoryStorage()
    subject = _subject(s)
    gone = push_referrer(s, _referrer(s, subject, b"a", "application/x-test"))
    bad = push_referrer(s, _referrer(s, subject, b"b", "application/x-test"))
    live = push_referrer(s, _referrer(s, subject, b"c", "application/x-test"))
    s.delete_manifest(gone.digest)
    remove_from_fallback(s, subject.digest, bad.digest)
    assert [d.digest for d in list_referrers(s, subject.digest)] == [live.digest]
