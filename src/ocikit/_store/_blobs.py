"""Getting a blob into the local store: the blob writer, and the resumable download (ingest) of one blob.

Crash safety: a blob is written to ``ingest/``, fsynced, checked against its digest and only then
installed under its digest name (by the ``install`` function the store passes in) -- a
half-written blob never appears under its digest name. A resumable download keeps its bytes in
``ingest/<hex>.partial``, one process at a time (``ingest/<hex>.lock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from ocikit._io._digest import Digest, HashingReader, HashingWriter
from ocikit._io._direct import DirectWriter, set_direct
from ocikit._io._worker import Worker
from ocikit._oci._model import Descriptor
from ocikit.errors import DigestMismatchError

__all__ = ["WRITEBACK_STEP", "BlobWriter", "IngestFile", "Install", "exclusive_ingest", "new_blob"]

#: Moves a complete temp file under its digest (``LocalStore._install``).
Install = Callable[[Path, Digest], None]

#: Start writing a blob back to disk after this many bytes, and again after each as many more,
#: so the fsync in ``commit()`` has only the tail left to wait for (docs/performance.md).
WRITEBACK_STEP = 16 * 1024 * 1024


class BlobWriter:
    """Writes one blob into ``ingest/``; ``commit()`` moves it under its digest.

    Writeback: past every :data:`WRITEBACK_STEP` bytes a helper thread (a :class:`Worker`) calls
    ``fdatasync`` on the file, blocking only itself while the writer keeps filling the page cache;
    at most one sync waits behind the running one. This changes when the data reaches the disk,
    not what is durable when: ``commit()`` still fsyncs before the rename. With ``direct`` (a
    :class:`DirectWriter`) the bytes bypass the page cache instead.
    """

    def __init__(self, file: BinaryIO, tmp: Path, hashing: bool, install: Install,
                 direct: DirectWriter | None = None) -> None:
        self._file = file
        self._install = install
        self._direct = direct
        target: Any = direct if direct is not None else file
        self._target = target
        self._hashing = HashingWriter(target) if hashing else None
        self.tmp = tmp
        self.count = 0
        self.committed: Digest | None = None
        self._next_writeback = WRITEBACK_STEP if direct is None else 1 << 62
        self._writeback: Worker | None = None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        n = self._hashing.write(data) if self._hashing is not None else self._target.write(data)
        self.count += n
        if self.count >= self._next_writeback:
            self._next_writeback = self.count + WRITEBACK_STEP
            self._kick_writeback()
        return n

    def _kick_writeback(self) -> None:
        if self._writeback is None:
            self._writeback = Worker("ocikit-writeback")
        self._file.flush()
        if self._writeback.backlog < 2:  # a sync runs and one waits: that one will see these bytes too
            fd = self._file.fileno()
            self._writeback.submit(lambda: os.fdatasync(fd))

    def buffers(self) -> DirectWriter | None:
        """The direct-I/O buffers to fill in place (an :class:`~ocikit._io._direct.BufferSink`),
        when this writer writes directly and does not hash itself; bytes put there count as written."""
        return self._direct if self._hashing is None else None

    def flush(self) -> None:
        self._file.flush()

    def _stop_writeback(self) -> None:
        if self._writeback is not None:
            self._writeback.stop()

    def commit(self, digest: Digest | None = None) -> tuple[Digest, int]:
        """Finish the blob. ``digest`` is required when hashing was off and checked when on."""
        if self._direct is not None:
            self._direct.finish()
            self._direct.close()
            self.count = self._direct.total  # also what was put into its buffers in place
        self._file.flush()
        self._stop_writeback()
        if self._writeback is not None:
            self._writeback.check()  # a failed writeback is this blob's failure (fsync may not see it)
        os.fsync(self._file.fileno())
        self._file.close()
        actual = self._hashing.digest if self._hashing is not None else digest
        if actual is None:
            raise ValueError("commit() needs the digest when the writer does not hash")
        if digest is not None and actual != digest:
            raise DigestMismatchError(f"blob written as {digest} hashes to {actual}")
        self._install(self.tmp, actual)
        self.committed = actual
        return actual, self.count

    def _drop(self) -> None:
        """Abandon an uncommitted blob: helper threads ended, temp file closed and removed."""
        if self._direct is not None:
            self._direct.close()
        self._stop_writeback()
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)


@contextlib.contextmanager
def new_blob(ingest_dir: Path, install: Install, *, hashing: bool, direct: bool) -> Iterator[BlobWriter]:
    """A :class:`BlobWriter` on a fresh temp file in ``ingest_dir``, dropped unless committed."""
    fd, tmp = tempfile.mkstemp(dir=ingest_dir, prefix="blob-")
    sink = None
    if direct and set_direct(fd):
        sink = DirectWriter()
        sink.attach(fd)
    writer = BlobWriter(os.fdopen(fd, "wb"), Path(tmp), hashing, install, sink)
    try:
        yield writer
    finally:
        if writer.committed is None:
            writer._drop()


class IngestFile:
    """A resumable download of one blob: ``path`` holds ``offset`` bytes from an earlier try."""

    def __init__(self, ingest_dir: Path, desc: Descriptor, install: Install) -> None:
        self._install = install
        self.desc = desc
        self.path = ingest_dir / f"{desc.digest.hex}.partial"
        self.offset = self.path.stat().st_size if self.path.exists() else 0
        if self.offset > desc.size:  # longer than the blob can be: start over
            self.path.unlink()
            self.offset = 0

    def open(self) -> BinaryIO:
        """The partial file opened for appending."""
        return open(self.path, "ab")

    def commit(self, *, verified: bool = False) -> None:
        """Move the complete file under its digest; re-hash it unless the caller already did."""
        if not verified:
            try:
                with open(self.path, "rb") as f:
                    HashingReader(f, self.desc.digest, self.desc.size, what="downloaded blob").drain()
            except DigestMismatchError:
                self.discard()  # a bad prefix kept would fail every later resume the same way
                raise
        with open(self.path, "rb") as f:
            os.fsync(f.fileno())
        self._install(self.path, self.desc.digest)

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@contextlib.contextmanager
def exclusive_ingest(ingest_dir: Path, desc: Descriptor, install: Install) -> Iterator[IngestFile]:
    """Exclusive access to the resumable download of ``desc`` (one process at a time)."""
    lock_path = ingest_dir / f"{desc.digest.hex}.lock"
    while True:
        f = open(lock_path, "a+b")  # noqa: SIM115 - closed below
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        # The previous holder unlinks the lock file when done; if we locked that unlinked
        # inode, a third process may hold a fresh file under the same name: lock again.
        try:
            same = os.fstat(f.fileno()).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        f.close()
    try:
        yield IngestFile(ingest_dir, desc, install)
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock_path.unlink()  # while still holding the lock, so no one else can be inside
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        f.close()
