"""The blob half of ``copy``: each config, layer and referrer blob streamed from one storage to another.

Blobs the destination has are skipped; the rest move in parallel, largest first, each verified
against its digest and size. A destination that can ingest resumably (the local store,
:class:`ResumableIngest`) downloads into its ingest file, so an interrupted pull keeps the bytes
it had and the next one asks only for the rest (``Range``). A destination that can mount
(:class:`MountingRepository`, a registry repository) is told where the blob already is when the
source is another repository of the same registry.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path
from typing import BinaryIO, Protocol, cast, runtime_checkable

from ocikit._io._digest import CHUNK, Digest, ReadStream
from ocikit._io._progress import Progress
from ocikit._io._worker import Worker
from ocikit._oci._model import Descriptor
from ocikit._store._storage import Storage
from ocikit.errors import DigestMismatchError, StoreError

__all__ = ["BlobIngester", "IngestTarget", "MountingRepository", "ResumableIngest", "Tally", "copy_blobs"]

log = logging.getLogger(__name__)


# -- optional capabilities of a storage ------------------------------------------------------------


class IngestTarget(Protocol):
    """One resumable download: ``path`` already holds ``offset`` bytes from an earlier try."""

    @property
    def path(self) -> Path: ...

    @property
    def offset(self) -> int: ...

    def open(self) -> BinaryIO:
        """The partial file, opened for appending."""
        ...

    def commit(self, *, verified: bool = False) -> None:
        """Install the complete file under its digest (re-hashing it unless ``verified``)."""
        ...

    def discard(self) -> None:
        """Drop the partial file (its bytes cannot be the blob's)."""
        ...


@runtime_checkable
class BlobIngester(Protocol):
    """A store that downloads blobs into resumable ingest files (``_layout.LocalStore``)."""

    def ingest(self, desc: Descriptor) -> AbstractContextManager[IngestTarget]:
        """Exclusive access to the resumable download of ``desc``."""
        ...


@runtime_checkable
class ResumableIngest(Protocol):
    """A storage whose ``store`` can ingest a blob resumably (the local layout's repositories)."""

    @property
    def store(self) -> BlobIngester: ...


def _ingester(dst: Storage) -> BlobIngester | None:
    """The resumable ingest behind ``dst``, if it has one."""
    if isinstance(dst, ResumableIngest) and isinstance(dst.store, BlobIngester):
        return dst.store
    return None


class _MountMemory(Protocol):
    """A registry host's memory of which of its repositories hold which blobs."""

    @property
    def host(self) -> str: ...

    def remember_blob(self, digest: Digest, repository: str) -> None:
        """Note that ``repository`` of this host holds ``digest``: a later push of it mounts."""
        ...


@runtime_checkable
class MountingRepository(Protocol):
    """A repository of a registry host, which mounts a blob from another repository of that host
    when its ``registry`` was told where the blob is (``_registry.RegistryRepository``)."""

    @property
    def registry(self) -> _MountMemory: ...

    @property
    def repository(self) -> str: ...


# -- counting ------------------------------------------------------------------------------------


class Tally:
    """Bytes and blobs moved and skipped by one copy; shared by its worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes_transferred = self.bytes_skipped = 0
        self.blobs_transferred = self.blobs_skipped = 0

    def moved(self, nbytes: int) -> None:
        with self._lock:
            self.bytes_transferred += nbytes
            self.blobs_transferred += 1

    def skipped(self, nbytes: int) -> None:
        with self._lock:
            self.bytes_skipped += nbytes
            self.blobs_skipped += 1


class _Counting(ReadStream):
    """Counts the bytes read through it (once per position, so a rewind is not counted twice)
    and reports them to the progress; keeps seek/tell so uploads can resume."""

    def __init__(self, raw: BinaryIO, key: str, progress: Progress, offset: int = 0) -> None:
        self._raw, self._key, self._progress = raw, key, progress
        self._pos = self._high = offset
        self.moved = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._pos += len(data)
        if self._pos > self._high:
            new = self._pos - self._high
            self._high = self._pos
            self.moved += new
            self._progress.advance(self._key, new)
        return data

    def seekable(self) -> bool:
        try:
            return bool(self._raw.seekable())
        except (AttributeError, OSError, ValueError):
            return False

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, pos: int, whence: int = 0) -> int:
        result = self._raw.seek(pos, whence)
        self._pos = result
        return result

    def close(self) -> None:
        self._raw.close()
        super().close()


# -- one blob ------------------------------------------------------------------------------------


def _disk_full(what: str) -> StoreError:
    return StoreError(f"no space left on the device while writing {what} to the local store",
                      hint="free some disk space and run the command again; the download resumes")


def _copy_blob(src: Storage, dst: Storage, desc: Descriptor, progress: Progress, tally: Tally) -> None:
    key = str(desc.digest)
    label = desc.annotations.get("org.opencontainers.image.title") or desc.digest.short
    progress.start(key, label, desc.size)
    if dst.has_blob(desc):
        tally.skipped(desc.size)
        progress.finish(key, skipped=True)
        return
    _same_registry_hint(src, dst, desc)
    store = _ingester(dst)
    try:
        if store is not None:
            moved = _ingest_blob(src, store, desc, key, progress)
        else:
            stream = _Counting(src.open_blob(desc), key, progress)
            try:
                dst.push_blob(desc, cast(BinaryIO, stream))
            finally:
                stream.close()
            moved = stream.moved
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise _disk_full(f"blob {desc.digest}") from e
        raise
    tally.moved(moved)
    progress.finish(key)


def _hash_prefix(ingest: IngestTarget, update: Callable[[bytes], None]) -> None:
    """Feed the ``ingest.offset`` bytes an earlier try left to ``update`` (a hash's)."""
    with open(ingest.path, "rb") as f:
        left = ingest.offset
        while left:
            data = f.read(min(CHUNK, left))
            if not data:
                break
            update(data)
            left -= len(data)


def _ingest_blob(src: Storage, store: BlobIngester, desc: Descriptor, key: str, progress: Progress) -> int:
    """Download into the store's resumable ingest file; verify; install. Returns bytes fetched."""
    with store.ingest(desc) as ingest:
        offset = int(ingest.offset)
        h = hashlib.sha256()
        if offset:
            log.info("resuming %s at byte %d of %d", desc.digest.short, offset, desc.size)
            _hash_prefix(ingest, h.update)
            progress.advance(key, offset)
        fetched = 0
        if offset < desc.size:
            stream = src.open_blob(desc, offset)
            try:
                with ingest.open() as out, _BackgroundWriter(out) as writer:
                    limit = desc.size - offset
                    while True:
                        data = stream.read(CHUNK)
                        if not data:
                            break
                        fetched += len(data)
                        if fetched > limit:
                            writer.abandon()
                            ingest.discard()
                            raise DigestMismatchError(
                                f"blob {desc.digest} is longer than its declared size {desc.size}")
                        writer.write(data)  # written by another thread while we hash and receive
                        h.update(data)
                        progress.advance(key, len(data))
            finally:
                stream.close()
        total = offset + fetched
        actual = Digest.from_hash(h)
        if total != desc.size or actual != desc.digest:
            ingest.discard()
            if total != desc.size:
                raise DigestMismatchError(f"blob {desc.digest} ended after {total} bytes, expected {desc.size}")
            raise DigestMismatchError(f"blob content does not match its digest {desc.digest} (got {actual})")
        ingest.commit(verified=True)
        return fetched


class _BackgroundWriter:
    """Writes chunks on a helper thread (a :class:`~ocikit._io._worker.Worker`) so disk writes
    overlap with receiving and hashing.

    hashlib, socket reads and file writes all release the GIL for large buffers, so on two cores
    the download runs at the speed of its slowest stage instead of the sum of all three. At most
    ``depth`` chunks wait in the queue (flat memory); a write error surfaces on the next call.
    """

    def __init__(self, out: BinaryIO, depth: int = 8) -> None:
        self._out = out
        self._depth = depth
        self._worker = Worker("ocikit-writer")

    def write(self, data: bytes) -> None:
        ticket = self._worker.submit(partial(self._out.write, data))
        self._worker.wait(ticket - self._depth)  # raises an earlier write's error

    def abandon(self) -> None:
        self._worker.fail(StoreError("write abandoned"))

    def __enter__(self) -> _BackgroundWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._worker.stop()
        if exc[0] is None:
            self._worker.check()
        self._out.flush()


def _same_registry_hint(src: Storage, dst: Storage, desc: Descriptor) -> None:
    """When both ends are repositories of one registry, tell it where the blob is (mount)."""
    if not isinstance(src, MountingRepository) or not isinstance(dst, MountingRepository):
        return
    if src.registry.host != dst.registry.host:
        return
    dst.registry.remember_blob(desc.digest, src.repository)


# -- many blobs ----------------------------------------------------------------------------------


def _run_parallel(jobs: list[Callable[[], None]], concurrency: int) -> None:
    if not jobs:
        return
    if concurrency <= 1 or len(jobs) == 1:
        for job in jobs:
            job()
        return
    with ThreadPoolExecutor(max_workers=min(concurrency, len(jobs)), thread_name_prefix="ocikit-copy") as pool:
        futures: list[Future[None]] = [pool.submit(job) for job in jobs]
        wait(futures, return_when=FIRST_EXCEPTION)
        for f in futures:
            f.cancel()
        for f in futures:
            if f.done() and not f.cancelled() and f.exception() is not None:
                raise cast(BaseException, f.exception())


def copy_blobs(src: Storage, dst: Storage, blobs: Sequence[Descriptor], *, concurrency: int,
               progress: Progress, tally: Tally) -> None:
    """Copy ``blobs`` (duplicates once) from ``src`` to ``dst``, ``concurrency`` at a time."""
    unique: dict[Digest, Descriptor] = {}
    for d in blobs:
        unique.setdefault(d.digest, d)
    # largest first: the long transfer starts early and the small ones fill the other workers
    ordered = sorted(unique.values(), key=lambda d: -d.size)
    _run_parallel([partial(_copy_blob, src, dst, d, progress, tally) for d in ordered], concurrency)
