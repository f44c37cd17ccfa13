"""fsck and gc of the local store (_store/_fsck.py, _repair.py, _gc.py)."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from fakes.kits import Kit, put_kit
from ocikit._io._digest import Digest
from ocikit._oci._model import EMPTY_CONFIG, EMPTY_JSON, INDEX, MANIFEST, Descriptor, Index, Manifest
from ocikit._store._fsck import fsck
from ocikit._store._gc import gc
from ocikit._store._layout import LocalStore
from ocikit._store._referrers import fallback_tag, push_referrer
from ocikit.errors import StoreError

OLD = 3600  # seconds: older than the default 600 s grace period


@pytest.fixture
def store(home: Path) -> LocalStore:
    return LocalStore.at_home(home)


def _age(store: LocalStore, seconds: float = OLD) -> None:
    """Make every blob look ``seconds`` old."""
    past = time.time() - seconds
    for path in (store.root / "blobs" / "sha256").iterdir():
        os.utime(path, (past, past))


def _kinds(report: object) -> list[str]:
    return sorted(p.kind for p in report.problems)  # type: ignore[attr-defined]


def _signature(store: LocalStore, kit: Kit) -> Descriptor:
    repo = store.repository(kit.repository)
    repo.push_blob(Descriptor.for_bytes(EMPTY_CONFIG, EMPTY_JSON), io.BytesIO(EMPTY_JSON))
    payload = b'{"critical":{}}'
    repo.push_blob(Descriptor.for_bytes("application/x-sig", payload), io.BytesIO(payload))
    m = Manifest(Descriptor.for_bytes(EMPTY_CONFIG, EMPTY_JSON), (Descriptor.for_bytes("application/x-sig", payload),),
                 artifact_type="application/x-sig", subject=kit.manifest)
    return push_referrer(repo, m)


# -- fsck --------------------------------------------------------------------------------------


def test_fsck_of_missing_store_is_ok(home: Path) -> None:
    report = fsck(home)
    assert report.ok and report.blobs == 0


def test_fsck_of_healthy_store(store: LocalStore, home: Path) -> None:
    kit = put_kit(store, "localhost/a", "1", "a", [b"l1", b"l2"])
    _signature(store, kit)
    report = fsck(home)
    assert report.ok, report.problems
    assert report.entries == 3  # tag, untagged referrer, referrers fallback index
    assert report.manifests == 3
    assert report.blobs == 8
    assert report.stale_files == ()


def test_fsck_detects_corrupt_blob_and_repair_removes_it(store: LocalStore, home: Path) -> None:
    kit = put_kit(store, "localhost/a", "1", "a", [b"layer bytes"])
    path = store.blob_path(kit.layers[0].digest)
    path.write_bytes(b"layer bytez")  # same size, other content
    report = fsck(home)
    assert not report.ok
    assert _kinds(report) == ["corrupt-blob", "missing-blob"]
    repaired = fsck(home, repair=True)
    assert not path.exists()
    # the corrupt blob is gone; the manifest still lacks that layer, which only a re-pull fixes
    assert [p.kind for p in repaired.problems if not p.repaired] == ["missing-blob"]
    assert _kinds(fsck(home)) == ["missing-blob"]


def test_fsck_detects_trailing_byte(store: LocalStore, home: Path) -> None:
    kit = put_kit(store, "localhost/a", "1", "a", [b"layer"])
    with open(store.blob_path(kit.config.digest), "ab") as f:
        f.write(b"\n")
    assert "corrupt-blob" in _kinds(fsck(home))


def test_fsck_detects_missing_layer_and_size_mismatch(store: LocalStore, home: Path) -> None:
    kit = put_kit(store, "localhost/a", "1", "a", [b"one", b"two"])
    store.blob_path(kit.layers[0].digest).unlink()
    report = fsck(home)
    assert _kinds(report) == ["missing-blob"]
    assert str(kit.layers[0].digest) in report.problems[0].message


def test_fsck_dangling_entry_repaired_by_dropping_it(store: LocalStore, home: Path) -> None:
    kit = put_kit(store, "localhost/a", "1", "a", [b"one"])
    keep = put_kit(store, "localhost/b", "1", "b", [b"two"])
    store.blob_path(kit.manifest.digest).unlink()
    report = fsck(home)
    assert _kinds(report) == ["dangling-entry"]
    assert report.problems[0].subject == "localhost/a:1"
    repaired = fsck(home, repair=True)
    assert repaired.ok
    assert [(e.repository, e.tag) for e in store.entries()] == [("localhost/b", "1")]
    assert store.repository("localhost/b").resolve("1").digest == keep.manifest.digest
    assert fsck(home).ok


def test_fsck_invalid_manifest_is_dangling(store: LocalStore, home: Path) -> None:
    repo = store.repository("localhost/a")
    junk = b'{"schemaVersion":2,"layers":[],"manifests":[]}'
    digest = store.put_bytes(junk)
    store.update_index(lambda entries: [*entries, Descriptor(MANIFEST, digest, len(junk),
                                                              {"dev.ocikit.repository": "localhost/a"})])
    assert _kinds(fsck(home)) == ["dangling-entry"]
    assert fsck(home, repair=True).ok
    assert repo.tags() == [] and store.entries() == []


def test_fsck_corrupt_index_is_a_problem(store: LocalStore, home: Path) -> None:
    put_kit(store, "localhost/a", "1", "a", [b"one"])
    (store.root / "index.json").write_bytes(b'{"schemaVersion":2,"manifests":[')
    report = fsck(home, repair=True)
    assert _kinds(report) == ["bad-index"]
    assert not report.ok
    assert (store.root / "index.json").read_bytes() == b'{"schemaVersion":2,"manifests":['


def test_fsck_referrers_index_listing_foreign_subject(store: LocalStore, home: Path) -> None:
    a = put_kit(store, "localhost/a", "1", "a", [b"one"])
    b = put_kit(store, "localhost/a", "2", "b", [b"two"])
    sig_of_b = _signature(store, b)
    repo = store.repository("localhost/a")
    # a fallback index for a's digest that lists b's signature: inconsistent
    bogus = Index((sig_of_b,))
    repo.push_manifest(bogus.to_bytes(), INDEX, tag=fallback_tag(a.manifest.digest))
    report = fsck(home)
    assert _kinds(report) == ["bad-referrer"]
    assert fsck(home, repair=True).ok
    assert fsck(home).ok


def test_fsck_reports_and_repairs_stale_ingest_files(store: LocalStore, home: Path) -> None:
    put_kit(store, "localhost/a", "1", "a", [b"one"])
    ingest = store.root / "ingest"
    old_tmp = ingest / "blob-abandoned"
    old_tmp.write_bytes(b"half a blob")
    new_tmp = ingest / "blob-in-progress"
    new_tmp.write_bytes(b"being written")
    partial = ingest / (("b" * 64) + ".partial")
    partial.write_bytes(b"partial")
    index_tmp = store.root / ".index.json.x1y2"
    index_tmp.write_bytes(b"{")
    past = time.time() - 2 * 3600
    for p in (old_tmp, partial, index_tmp):
        os.utime(p, (past, past))
    report = fsck(home)
    assert report.ok  # leftovers of interrupted writes are not inconsistencies
    assert len(report.stale_files) == 4
    repaired = fsck(home, repair=True)
    assert sorted(repaired.removed_files) == sorted(
        ["ingest/blob-abandoned", f"ingest/{'b' * 64}.partial", ".index.json.x1y2"])
    assert new_tmp.exists() and not old_tmp.exists() and not partial.exists() and not index_tmp.exists()


def test_repair_keeps_partial_of_download_in_progress(store: LocalStore, home: Path) -> None:
    body = b"x" * 100
    desc = Descriptor.for_bytes("application/octet-stream", body)
    with store.ingest(desc) as part:
        with part.open() as f:
            f.write(body[:10])
        past = time.time() - 2 * 3600
        os.utime(part.path, (past, past))
        fsck(home, repair=True)
        assert part.path.exists()  # its lock is held: a download is writing it
    fsck(home, repair=True)
    assert not part.path.exists()


# -- gc ----------------------------------------------------------------------------------------


def test_gc_keeps_everything_reachable(store: LocalStore, home: Path) -> None:
    kit = put_kit(store, "localhost/a", "1", "a", [b"one", b"two"])
    sig = _signature(store, kit)
    _age(store)
    report = gc(home)
    assert report.removed == ()
    assert report.reachable == 8
    for d in (kit.manifest, *kit.blobs, sig):
        assert store.has_blob(d.digest)
    assert fsck(home).ok


def test_gc_removes_unreachable_after_remove(store: LocalStore, home: Path) -> None:
    shared = b"shared layer"
    a = put_kit(store, "localhost/a", "1", "a", [shared, b"only in a"])
    b = put_kit(store, "localhost/b", "1", "b", [shared])
    store.repository("localhost/a").delete_manifest(a.manifest.digest)
    _age(store)
    dry = gc(home, dry_run=True)
    assert set(dry.removed) == {a.manifest.digest, a.config.digest, a.layers[1].digest}
    assert store.has_blob(a.manifest.digest)  # dry run removes nothing
    report = gc(home)
    assert set(report.removed) == set(dry.removed)
    assert report.bytes_freed == a.manifest.size + a.config.size + a.layers[1].size
    assert not store.has_blob(a.layers[1].digest)
    assert store.has_blob(Digest.of_bytes(shared))
    for d in (b.manifest, *b.blobs):
        assert store.has_blob(d.digest)
    assert fsck(home).ok


def test_gc_follows_indexes_and_referrers(store: LocalStore, home: Path) -> None:
    kit = put_kit(store, "localhost/a", "1", "a", [b"one"])
    sig = _signature(store, kit)
    # drop the untagged referrer entry: the referrer is still reachable through the fallback index
    store.update_index(lambda es: [e for e in es if e.digest != sig.digest])
    _age(store)
    assert gc(home).removed == ()
    assert store.has_blob(sig.digest)
    # remove the fallback index tag too: now the signature and its payload go
    store.repository("localhost/a").untag(fallback_tag(kit.manifest.digest))
    store.update_index(lambda es: [e for e in es if e.annotations.get("org.opencontainers.image.ref.name")])
    removed = set(gc(home).removed)
    assert sig.digest in removed
    assert kit.manifest.digest not in removed


def test_gc_grace_period_keeps_young_unreferenced_blobs(store: LocalStore, home: Path) -> None:
    put_kit(store, "localhost/a", "1", "a", [b"one"])
    _age(store)
    # a pull in progress: a committed layer whose manifest is not indexed yet
    fresh = store.put_bytes(b"layer of a pull in progress")
    report = gc(home)
    assert report.removed == ()
    assert report.kept_young == (fresh,)
    assert store.has_blob(fresh)
    assert gc(home, grace_seconds=0).removed == (fresh,)


def test_gc_refuses_corrupt_or_missing_index(store: LocalStore, home: Path) -> None:
    kit = put_kit(store, "localhost/a", "1", "a", [b"one"])
    _age(store)
    (store.root / "index.json").write_bytes(b"not json")
    with pytest.raises(StoreError, match="corrupt"):
        gc(home)
    (store.root / "index.json").unlink()
    with pytest.raises(StoreError, match="missing"):
        gc(home)
    assert all(store.has_blob(d.digest) for d in (kit.manifest, *kit.blobs))


def test_gc_refuses_when_a_reachable_manifest_is_unreadable(store: LocalStore, home: Path) -> None:
    kit = put_kit(store, "localhost/a", "1", "a", [b"one"])
    store.blob_path(kit.manifest.digest).write_bytes(b"garbage")
    _age(store)
    with pytest.raises(StoreError, match="unreadable") as info:
        gc(home)
    assert "fsck --repair" in info.value.hint
    assert all(store.has_blob(d.digest) for d in kit.blobs)


def test_gc_then_pull_of_collected_blob_cannot_index_incomplete_kit(store: LocalStore, home: Path) -> None:
    """The race gc must not lose: a pull saw a blob present, gc collected it, the pull indexes."""
    a = put_kit(store, "localhost/a", "1", "a", [b"old layer"])
    store.repository("localhost/a").delete_manifest(a.manifest.digest)
    _age(store)
    assert store.has_blob(a.layers[0].digest)  # the pull checks: present, skip
    gc(home)  # ... and gc collects it before the pull indexes its manifest
    repo = store.repository("localhost/a")
    with pytest.raises(StoreError, match="missing"):
        repo.push_manifest(_manifest_bytes(a), MANIFEST, tag="1")
    assert repo.tags() == []
    assert fsck(home).ok


def _manifest_bytes(kit: Kit) -> bytes:
    return Manifest(kit.config, kit.layers, artifact_type="application/vnd.kitops.modelkit.manifest.v1+json").to_bytes()
