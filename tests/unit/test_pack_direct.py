"""The direct-I/O pack path (page-aligned buffers, three threads) writes exactly the buffered bytes."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import pytest

from ocikit._layers._writer import TarEntry, write_tar
from ocikit._store._layout import LocalStore
from ocikit.errors import PackError

MiB = 1 << 20


def _entries(root: Path) -> list[TarEntry]:
    """Sizes around and across the 4 MiB buffer and 512-byte block edges, plus a directory."""
    (root / "m").mkdir(parents=True)
    sizes = {"a.bin": 1, "b.bin": 511, "c.bin": 512, "d.bin": 4 * MiB - 512, "e.bin": 4 * MiB,
             "f.bin": 4 * MiB + 1, "g.bin": 9 * MiB + 123, "h.bin": 0, "i.bin": 300_000}
    out: list[TarEntry] = [TarEntry("m", None)]
    for i, (name, size) in enumerate(sorted(sizes.items())):
        path = root / "m" / name
        path.write_bytes(hashlib.shake_256(name.encode()).digest(size) if size else b"")
        out.append(TarEntry(f"m/{name}", path, size, 0o644 if i % 2 else 0o755))
    return out


def _direct_io_works(directory: Path) -> bool:
    """Whether this file system takes O_DIRECT (ext4 does; tmpfs does not)."""
    if not hasattr(os, "O_DIRECT"):
        return False
    try:
        fd = os.open(directory / "probe", os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o600)
    except OSError:
        return False
    os.close(fd)
    (directory / "probe").unlink()
    return True


def test_direct_path_is_byte_identical_to_the_buffered_path(tmp_path: Path) -> None:
    entries = _entries(tmp_path / "src")
    buffered = io.BytesIO()
    expected = write_tar(entries, buffered)

    store = LocalStore(tmp_path / "store")
    with store.blob_writer(hashing=False, direct=True) as writer:  # as pack writes layers
        assert (writer.buffers() is not None) == _direct_io_works(tmp_path)
        result = write_tar(entries, writer)
        digest, size = writer.commit(result.digest)
    assert (digest, size) == (expected.digest, len(buffered.getvalue()))
    assert store.blob_path(digest).read_bytes() == buffered.getvalue()
    assert result.diff_id == expected.diff_id
    assert result.files == expected.files
    assert {r.path: r.sha256 for r in result.files} == {
        e.name: hashlib.sha256(Path(e.source).read_bytes()).hexdigest() for e in entries if e.source
    }


@pytest.mark.parametrize("change", ["grow", "shrink"])
def test_a_file_that_changes_size_while_packed_is_refused_and_leaves_nothing(tmp_path: Path, change: str) -> None:
    entries = _entries(tmp_path / "src")
    victim = next(e for e in entries if e.name == "m/g.bin")
    assert victim.source is not None
    path = Path(victim.source)
    if change == "grow":
        path.write_bytes(path.read_bytes() + b"late bytes")
    else:
        path.write_bytes(path.read_bytes()[: victim.size // 2])
    store = LocalStore(tmp_path / "store")
    before = set(threading.enumerate())
    with pytest.raises(PackError, match=r"m/g\.bin"), store.blob_writer(hashing=False, direct=True) as writer:
        write_tar(entries, writer)
    assert list((tmp_path / "store" / "ingest").glob("blob-*")) == []
    assert not list((tmp_path / "store" / "blobs" / "sha256").iterdir())
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert leftover == [], leftover
