"""BlobWriter starts writeback while a large blob is written, and still fsyncs before the rename."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from ocikit._io._digest import Digest
from ocikit._store import _blobs
from ocikit._store._layout import LocalStore


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate()}


def test_large_blob_is_written_back_during_the_write_and_fsynced_at_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_blobs, "WRITEBACK_STEP", 64 * 1024)
    calls: list[str] = []
    synced = threading.Event()
    real_fdatasync, real_fsync = os.fdatasync, os.fsync

    def fdatasync(fd: int) -> None:
        calls.append("fdatasync")
        real_fdatasync(fd)
        synced.set()

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    store = LocalStore(tmp_path / "store")
    data = os.urandom(1024 * 1024)
    with store.blob_writer() as w:
        calls.clear()  # creating the store fsyncs its layout files
        for i in range(0, len(data), 32 * 1024):
            w.write(data[i : i + 32 * 1024])
        assert synced.wait(10)  # the writeback thread runs on its own: wait for its first sync
        assert calls and calls[0] == "fdatasync"  # writeback ran before commit()
        digest, size = w.commit()
    assert size == len(data)
    assert digest == Digest.parse("sha256:" + hashlib.sha256(data).hexdigest())
    assert store.blob_path(digest).read_bytes() == data
    first_fsync = calls.index("fsync")  # the durable fsync of commit(), after every writeback
    assert all(c == "fsync" for c in calls[first_fsync:])
    assert "ocikit-writeback" not in _threads()


def test_small_blob_starts_no_writeback_thread(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    with store.blob_writer() as w:
        w.write(b"small")
        assert w._writeback is None
        w.commit()


def test_abandoned_blob_stops_writeback_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_blobs, "WRITEBACK_STEP", 64 * 1024)
    store = LocalStore(tmp_path / "store")
    with pytest.raises(RuntimeError), store.blob_writer() as w:
        w.write(os.urandom(256 * 1024))
        assert w._writeback is not None
        raise RuntimeError("pack failed")
    assert "ocikit-writeback" not in _threads()
    assert list((tmp_path / "store" / "ingest").iterdir()) == []
    assert list((tmp_path / "store" / "blobs" / "sha256").iterdir()) == []
