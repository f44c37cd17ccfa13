"""Blobs written with O_DIRECT (pack's layer writer): same bytes, same crash safety, and a
fallback to buffered writes when the file system refuses direct I/O."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import threading
from pathlib import Path

import pytest

from ocikit._io import _direct
from ocikit._io._digest import Digest
from ocikit._io._direct import DIRECT_BUFFER
from ocikit._store._layout import LocalStore


def _pieces(total: int) -> list[bytes]:
    data = os.urandom(total)
    sizes = [512, 1 << 20, 3, 700_001]  # headers, chunks and odd sizes, as a tar writer emits
    out, pos, i = [], 0, 0
    while pos < total:
        n = sizes[i % len(sizes)]
        out.append(data[pos:pos + n])
        pos += n
        i += 1
    return out


@pytest.mark.parametrize("total", [0, 1, DIRECT_BUFFER - 1, DIRECT_BUFFER, DIRECT_BUFFER + 1, 2 * DIRECT_BUFFER + 4097])
def test_direct_blob_has_the_bytes_written(tmp_path: Path, total: int) -> None:
    store = LocalStore(tmp_path / "store")
    pieces = _pieces(total)
    with store.blob_writer(hashing=True, direct=True) as w:
        for p in pieces:
            w.write(p)
        digest, size = w.commit()
    data = b"".join(pieces)
    assert size == total
    assert digest == Digest("sha256", hashlib.sha256(data).hexdigest())
    assert store.blob_path(digest).read_bytes() == data
    assert os.listdir(tmp_path / "store" / "ingest") == []


def test_direct_write_refused_falls_back_to_buffered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    refused = []

    def picky_write(fd: int, data: bytes | memoryview) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            refused.append(len(data))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(_direct.os, "write", picky_write)
    store = LocalStore(tmp_path / "store")
    data = os.urandom(3 * DIRECT_BUFFER + 10)
    with store.blob_writer(hashing=False, direct=True) as w:
        for i in range(0, len(data), 1 << 20):
            w.write(data[i:i + (1 << 20)])
        w.commit(Digest.of_bytes(data))
    assert refused  # direct I/O was tried, refused once, then the rest went buffered
    assert store.blob_path(Digest.of_bytes(data)).read_bytes() == data


def test_direct_writer_dropped_without_commit_leaves_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    before = threading.active_count()
    with pytest.raises(RuntimeError), store.blob_writer(hashing=False, direct=True) as w:
        w.write(os.urandom(DIRECT_BUFFER + 5))
        raise RuntimeError("pack failed half-way")
    assert os.listdir(tmp_path / "store" / "ingest") == []
    assert not list((tmp_path / "store" / "blobs" / "sha256").iterdir())
    assert threading.active_count() == before  # the helper thread has ended
