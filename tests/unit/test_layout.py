"""Unit tests of the local store (_layout.py): atomic writes, cleanup, resume, tag semantics."""

from __future__ import annotations

import fcntl
import io
import json
import os
import threading
from pathlib import Path

import pytest

from fakes.kits import put_kit
from ocikit._io._digest import Digest
from ocikit._oci._model import ANNOTATION_REF_NAME, INDEX, MANIFEST, Descriptor, Index
from ocikit._store._index import ANNOTATION_REPOSITORY
from ocikit._store._layout import LocalStore
from ocikit.errors import DigestMismatchError, NotFoundError, StoreError, VerificationError


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def _ingest_files(store: LocalStore) -> list[str]:
    return sorted(os.listdir(store.root / "ingest"))


def _index(store: LocalStore) -> list[dict[str, object]]:
    return json.loads((store.root / "index.json").read_bytes())["manifests"]  # type: ignore[no-any-return]


# -- blob writer -------------------------------------------------------------------------------


def test_blob_writer_commits_under_digest_and_leaves_no_temp(store: LocalStore) -> None:
    with store.blob_writer() as w:
        w.write(b"hello ")
        w.write(b"world")
        digest, size = w.commit()
    assert digest == Digest.of_bytes(b"hello world")
    assert size == 11
    assert store.blob_path(digest).read_bytes() == b"hello world"
    assert _ingest_files(store) == []
    layout = json.loads((store.root / "oci-layout").read_bytes())
    assert layout == {"imageLayoutVersion": "1.0.0"}


def test_blob_writer_error_removes_temp_and_installs_nothing(store: LocalStore) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.blob_writer() as w:
        w.write(b"partial data")
        assert w.tmp.exists()
        raise RuntimeError("boom")
    assert _ingest_files(store) == []
    assert not store.has_blob(Digest.of_bytes(b"partial data"))


def test_blob_writer_without_commit_removes_temp(store: LocalStore) -> None:
    with store.blob_writer() as w:
        w.write(b"abandoned")
    assert _ingest_files(store) == []
    assert list((store.root / "blobs" / "sha256").iterdir()) == []


def test_blob_writer_commit_with_wrong_digest_refused(store: LocalStore) -> None:
    wrong = Digest.of_bytes(b"something else")
    with pytest.raises(DigestMismatchError), store.blob_writer() as w:
        w.write(b"actual bytes")
        w.commit(wrong)
    assert not store.has_blob(wrong)
    assert not store.has_blob(Digest.of_bytes(b"actual bytes"))
    assert _ingest_files(store) == []


def test_commit_of_existing_digest_keeps_the_existing_file(store: LocalStore) -> None:
    digest = store.put_bytes(b"same")
    inode = store.blob_path(digest).stat().st_ino
    assert store.put_bytes(b"same") == digest
    assert store.blob_path(digest).stat().st_ino == inode
    assert _ingest_files(store) == []


def test_index_write_is_atomic_when_replace_fails(store: LocalStore, monkeypatch: pytest.MonkeyPatch) -> None:
    kit = put_kit(store, "localhost/acme/a", "1", "a", [b"layer"])
    before = (store.root / "index.json").read_bytes()

    def failing_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        store.repository("localhost/acme/a").tag(kit.manifest, "2")
    monkeypatch.undo()
    assert (store.root / "index.json").read_bytes() == before
    assert not [n for n in os.listdir(store.root) if n.startswith(".index.json.")]


# -- ingest (resumable downloads) ---------------------------------------------------------------


def test_ingest_resumes_from_partial_and_commits(store: LocalStore) -> None:
    body = os.urandom(3000)
    desc = Descriptor.for_bytes("application/octet-stream", body)
    with store.ingest(desc) as part:
        assert part.offset == 0
        with part.open() as f:
            f.write(body[:1000])
    # a later process picks up where the first stopped
    with store.ingest(desc) as part:
        assert part.offset == 1000
        with part.open() as f:
            f.write(body[part.offset :])
        part.commit()
    assert store.blob_path(desc.digest).read_bytes() == body
    assert not (store.root / "ingest" / f"{desc.digest.hex}.partial").exists()


def test_ingest_partial_longer_than_blob_starts_over(store: LocalStore) -> None:
    desc = Descriptor.for_bytes("application/octet-stream", b"short")
    store.root.joinpath("ingest").mkdir(parents=True)
    (store.root / "ingest" / f"{desc.digest.hex}.partial").write_bytes(b"much too long for the blob")
    store._ensure()
    with store.ingest(desc) as part:
        assert part.offset == 0
        assert not part.path.exists()


def test_ingest_commit_of_wrong_bytes_refused_and_discarded(store: LocalStore) -> None:
    desc = Descriptor.for_bytes("application/octet-stream", b"expected content")
    with store.ingest(desc) as part:
        with part.open() as f:
            f.write(b"tampered content")
        with pytest.raises(DigestMismatchError):
            part.commit()
    assert not store.has_blob(desc.digest)
    # the bad prefix must not poison the next resume (KitOps keeps it and fails forever)
    with store.ingest(desc) as part:
        assert part.offset == 0


def test_ingest_is_exclusive_per_digest(store: LocalStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second ingest of the same digest waits for the first: its lock attempt, probed without
    blocking while the first is inside, finds the lock held, and it enters only after the first."""
    desc = Descriptor.for_bytes("application/octet-stream", b"x")
    events: list[str] = []
    tried = threading.Event()
    real_flock = fcntl.flock

    def second() -> None:
        with store.ingest(desc):
            events.append("second")

    other = threading.Thread(target=second)

    def probing_flock(fd: int, op: int) -> None:
        if threading.current_thread() is other and op == fcntl.LOCK_EX and not tried.is_set():
            try:
                real_flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                events.append("blocked")
            else:
                events.append("not blocked")  # exclusivity is broken
            tried.set()
        real_flock(fd, op)

    monkeypatch.setattr(fcntl, "flock", probing_flock)
    with store.ingest(desc):
        other.start()
        assert tried.wait(10), "the second ingest never tried to take the lock"
        events.append("first done")
    other.join(10)
    assert events == ["blocked", "first done", "second"]


# -- verified pushes ---------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"wrong bytes!", b"right bytes\x00", b"right byte"])
def test_push_blob_refuses_bytes_not_matching_descriptor(store: LocalStore, body: bytes) -> None:
    desc = Descriptor.for_bytes("application/octet-stream", b"right bytes")
    with pytest.raises(DigestMismatchError):
        store.repository("localhost/a").push_blob(desc, io.BytesIO(body))
    assert not store.has_blob(desc.digest)
    assert _ingest_files(store) == []


def test_push_manifest_refuses_invalid_manifest(store: LocalStore) -> None:
    repo = store.repository("localhost/a")
    with pytest.raises(VerificationError):
        repo.push_manifest(b'{"schemaVersion":2,"config":{},"layers":[]}', MANIFEST, tag="x")
    assert repo.tags() == []


# -- tags, untag, delete -----------------------------------------------------------------------


def test_tag_entries_carry_full_reference_and_repository(store: LocalStore) -> None:
    kit = put_kit(store, "localhost/acme/sentiment", "1.0.0", "s", [b"weights"])
    [entry] = _index(store)
    annotations = entry["annotations"]
    assert isinstance(annotations, dict)
    assert annotations[ANNOTATION_REF_NAME] == "localhost/acme/sentiment:1.0.0"
    assert annotations[ANNOTATION_REPOSITORY] == "localhost/acme/sentiment"
    repo = store.repository("localhost/acme/sentiment")
    assert repo.resolve("1.0.0").digest == kit.manifest.digest
    assert repo.resolve(str(kit.manifest.digest)).digest == kit.manifest.digest
    assert repo.fetch_manifest(kit.manifest)


def test_tag_moves_to_new_manifest(store: LocalStore) -> None:
    a = put_kit(store, "localhost/r", "latest", "a", [b"a"])
    b = put_kit(store, "localhost/r", "latest", "b", [b"b"])
    repo = store.repository("localhost/r")
    assert repo.resolve("latest").digest == b.manifest.digest
    assert repo.tags() == ["latest"]
    assert [e.descriptor.digest for e in store.entries() if e.tag == "latest"] == [b.manifest.digest]
    # the old manifest's blobs stay until gc
    assert all(store.has_blob(d.digest) for d in (a.manifest, *a.blobs))


def test_untag_keeps_manifest_untagged_unless_other_tag_holds_it(store: LocalStore) -> None:
    kit = put_kit(store, "localhost/r", "1", "a", [b"a"])
    repo = store.repository("localhost/r")
    repo.tag(kit.manifest, "2")
    repo.untag("1")
    assert repo.tags() == ["2"]
    assert [e.tag for e in store.entries()] == ["2"]
    repo.untag("2")
    assert repo.tags() == []
    [entry] = store.entries()
    assert entry.tag is None and entry.descriptor.digest == kit.manifest.digest
    with pytest.raises(NotFoundError):
        repo.untag("2")


def test_tags_are_per_repository(store: LocalStore) -> None:
    kit = put_kit(store, "localhost/one", "1", "a", [b"a"])
    store.repository("localhost/two").tag(kit.manifest, "1")
    store.repository("localhost/one").untag("1")
    assert store.repository("localhost/two").tags() == ["1"]
    assert store.repositories() == ["localhost/one", "localhost/two"]


def test_delete_manifest_removes_all_tags_but_keeps_blobs(store: LocalStore) -> None:
    kit = put_kit(store, "localhost/r", "1", "a", [b"layer-a"])
    repo = store.repository("localhost/r")
    repo.tag(kit.manifest, "2")
    repo.delete_manifest(kit.manifest.digest)
    assert repo.tags() == []
    assert store.entries() == []
    assert all(store.has_blob(d.digest) for d in kit.blobs)
    with pytest.raises(NotFoundError):
        repo.delete_manifest(kit.manifest.digest)


def test_tag_of_absent_manifest_refused(store: LocalStore) -> None:
    desc = Descriptor.for_bytes(MANIFEST, b"{}")
    with pytest.raises(NotFoundError):
        store.repository("localhost/r").tag(desc, "x")
    assert store.entries() == []


# -- entries written by other tools, corrupt index ----------------------------------------------


def _foreign_layout(root: Path, entries: list[dict[str, object]]) -> None:
    """A layout as skopeo/oras write it: no ingest/ dir, no ocikit annotations."""
    (root / "blobs" / "sha256").mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}))


def test_entries_written_by_other_tools_are_read_and_preserved(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    digest = "sha256:" + "a" * 64
    _foreign_layout(root, [
        {"mediaType": MANIFEST, "digest": digest, "size": 10,
         "annotations": {ANNOTATION_REF_NAME: "quay.io/org/model:v2"}},
        {"mediaType": MANIFEST, "digest": digest, "size": 10,
         "annotations": {ANNOTATION_REF_NAME: "justatag"}},
        {"mediaType": MANIFEST, "digest": digest, "size": 10},
    ])
    store = LocalStore(root)
    got = {(e.repository, e.tag) for e in store.entries()}
    assert ("quay.io/org/model", "v2") in got
    assert len(store.entries()) == 3
    # writing through ocikit keeps the foreign entries and works without an ingest/ dir
    put_kit(store, "localhost/mine", "1", "m", [b"m"])
    refs = [e.get("annotations", {}).get(ANNOTATION_REF_NAME) for e in _index(store)]  # type: ignore[union-attr]
    assert refs[:3] == ["quay.io/org/model:v2", "justatag", None]
    assert "localhost/mine:1" in refs


@pytest.mark.parametrize("content", [b"", b"{", b"\xff\xfe", b'{"schemaVersion":2,"manifests":[{"digest":"sha256:../../x"}]}',
                                     b'{"schemaVersion":1}', b"[]"])
def test_corrupt_index_json_raises_store_error_and_is_not_overwritten(store: LocalStore, content: bytes) -> None:
    kit = put_kit(store, "localhost/r", "1", "a", [b"a"])
    (store.root / "index.json").write_bytes(content)
    with pytest.raises(StoreError, match="index"):
        store.entries()
    with pytest.raises(StoreError):
        store.repository("localhost/r").tags()
    with pytest.raises(StoreError):
        store.repository("localhost/r").tag(kit.manifest, "2")
    assert (store.root / "index.json").read_bytes() == content


def test_index_round_trips_through_index_type(store: LocalStore) -> None:
    put_kit(store, "localhost/r", "1", "a", [b"a"])
    data = (store.root / "index.json").read_bytes()
    assert Index.from_bytes(data).to_bytes() == data
    assert json.loads(data)["mediaType"] == INDEX


def test_manifest_with_missing_blob_is_not_indexed(store: LocalStore) -> None:
    from fakes.kits import kit_manifest

    data, config, _layers = kit_manifest("m", [b"never stored"])
    repo = store.repository("localhost/r")
    repo.push_blob(config, io.BytesIO(b'{"manifestVersion":"1.0.0","package":{"name":"m"}}'))
    with pytest.raises(StoreError, match="missing from the local store"):
        repo.push_manifest(data, MANIFEST, tag="1")
    assert store.entries() == []
