"""The layer tar writer: entries in, the deterministic tar out, hashed in the same pass.

Entries are written the way ``kit pack`` writes them (docs/compatibility.md §3.1-3.2): names relative
to the context, forward slashes, no ``./`` and no trailing ``/``; only regular files and
directories; exactly two zero blocks at the end (no 10240-byte record padding); the headers come
from :mod:`ocikit._layers._format`.

One deliberate difference: modes are normalised (files 0644, or 0755 when the owner may
execute; directories 0755), so the same project gives the same digest whatever the umask of
the machine that checked it out. kit copies the on-disk permission bits.

One pass over each input file yields its SHA-256 (:class:`FileRecord`), the diffId (SHA-256 of
the tar) and the blob digest (of the compressed bytes). The per-file hash runs on a helper
thread while the main thread hashes the tar stream and writes it (``hashlib`` releases the GIL
on large buffers), so the two hashes overlap on two cores. Uncompressed layers written into an
output's direct-I/O buffers go further (:func:`_write_tar_direct`): files are read straight
into the aligned buffers and both hashes run on helper threads, the main thread only reads.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from ocikit._io._digest import CHUNK, Digest
from ocikit._io._direct import Buffers, BufferSink
from ocikit._io._progress import SILENT, Progress
from ocikit._io._worker import Worker
from ocikit._layers._compress import Sink, Writable
from ocikit._layers._format import TAR_END, padding, tar_header
from ocikit._layers._types import FileRecord
from ocikit.errors import PackError

__all__ = ["TarEntry", "WrittenLayer", "write_tar"]


@dataclass(frozen=True, slots=True)
class TarEntry:
    """One entry to write: ``source`` is the file to read (None for a directory)."""

    name: str
    source: str | os.PathLike[str] | None
    size: int = 0
    mode: int = 0o755

    @property
    def is_dir(self) -> bool:
        return self.source is None


class _Entry(Protocol):
    """What ``write_tar`` reads of an entry (a :class:`TarEntry` or ``_pack``'s planned entry)."""

    @property
    def name(self) -> str: ...
    @property
    def source(self) -> str | os.PathLike[str] | None: ...
    @property
    def size(self) -> int: ...
    @property
    def mode(self) -> int: ...
    @property
    def is_dir(self) -> bool: ...


@dataclass(frozen=True)
class WrittenLayer:
    digest: Digest  # of the bytes written (compressed if compressing)
    size: int
    diff_id: Digest  # of the uncompressed tar
    files: tuple[FileRecord, ...]

_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
#: Files below this size are read in one call and hashed on the calling thread.
_SMALL_FILE = 256 * 1024


def _read_small(fd: int, size: int, source: object) -> bytes:
    """All of a small file, refusing one whose size differs from what its header promised."""
    # Asking for one byte more than promised: a regular file returns fewer only at its end, so
    # exactly ``size`` bytes means the file still has its size, without a second read.
    data = os.read(fd, size + 1)
    while len(data) < size:
        more = os.read(fd, size + 1 - len(data))
        if not more:
            raise _shrank(source)
        data += more
    if len(data) > size:
        raise _grew(source)
    return data


def _open_source(source: str | os.PathLike[str]) -> int:
    """Open a file to pack (both writer paths); an unreadable file is a PackError naming it."""
    try:
        return os.open(source, _READ_FLAGS)
    except OSError as e:
        raise PackError(f"cannot read {source}: {e.strerror}") from e



def _grew(source: object) -> PackError:
    return PackError(f"{source} grew while it was being packed; pack again")


def _shrank(source: object) -> PackError:
    return PackError(f"{source} shrank while it was being packed; pack again")


def _small_file(fd: int, entry: _Entry, header: bytes, write: Callable[[bytes], object],
                progress: Progress, progress_key: str) -> str:
    """A small file in one read and one ``write`` (header, data, padding); its hex digest."""
    data = _read_small(fd, entry.size, entry.source)
    write(header + data + padding(entry.size))
    progress.advance(progress_key, entry.size)
    return hashlib.sha256(data).hexdigest()


def _direct_file(entry: _Entry, header: bytes, buffers: Buffers, line: Worker,
                 progress: Progress, progress_key: str) -> Any:
    """One file into the buffers: its hex digest, or (large files) the hash ``line`` still feeds."""
    source = entry.source
    assert source is not None
    fd = _open_source(source)
    try:
        if entry.size < _SMALL_FILE:
            return _small_file(fd, entry, header, buffers.write, progress, progress_key)
        buffers.write(header)
        file_hash = hashlib.sha256()
        remaining = entry.size
        while True:
            room = buffers.space()
            # One byte more than promised where it fits: growth is caught by the read.
            n = os.readv(fd, (room[:remaining + 1],))
            if not n:
                break
            if n > remaining:
                raise _grew(source)
            remaining -= n
            buffers.fence(line.fence(line.submit(partial(file_hash.update, room[:n]))))
            buffers.filled(n)
            progress.advance(progress_key, n)
    finally:
        os.close(fd)
    if remaining:
        raise _shrank(source)
    buffers.write(padding(entry.size))
    return file_hash


def _write_tar_direct(
    entries: Sequence[_Entry], buffers: Buffers, progress: Progress, progress_key: str
) -> WrittenLayer:
    """``write_tar`` for an uncompressed layer into direct-I/O buffers (pack's common case).

    Large files are read straight into the output's page-aligned buffers (no copy). The tar
    stream hash (= layer digest = diffId) runs on one helper thread over each full buffer, the
    per-file hashes on another over the file's pieces, and the output's own thread writes the
    buffer; a buffer is refilled only when all three are done with it. The main thread only
    reads. Headers and small files are copied in. The bytes are the same as
    :func:`write_tar`'s buffered path.
    """
    tar_hash = hashlib.sha256()
    tar_line = Worker("ocikit-tar-hash")
    file_line = Worker("ocikit-file-hash")
    done: list[tuple[_Entry, Any]] = []  # (entry, hex digest or a hash still being fed)
    buffers.on_full = lambda view: tar_line.fence(tar_line.submit(partial(tar_hash.update, view)))
    try:
        for entry in entries:
            header = tar_header(entry.name, entry.mode, entry.size, is_dir=entry.is_dir)
            if entry.source is None:
                buffers.write(header)
                continue
            done.append((entry, _direct_file(entry, header, buffers, file_line, progress, progress_key)))
        buffers.write(TAR_END)
        tar_line.wait_all()
        tar_hash.update(buffers.pending())  # the last partial buffer, after every full one
        file_line.wait_all()
    finally:
        buffers.on_full = None
        tar_line.stop()
        file_line.stop()
    files = tuple(
        FileRecord(e.name, e.size, h if isinstance(h, str) else h.hexdigest(), e.mode) for e, h in done
    )
    digest = Digest.from_hash(tar_hash)
    return WrittenLayer(digest, buffers.total, digest, files)


class _FileCopier:
    """Large files into a :class:`Sink` through two buffers: the hash thread hashes one while the
    next piece is read into the other."""

    def __init__(self) -> None:
        self._views = (memoryview(bytearray(CHUNK)), memoryview(bytearray(CHUNK)))
        self._hasher: Worker | None = None

    def copy(self, fd: int, entry: _Entry, sink: Sink, progress: Progress, progress_key: str) -> str:
        """The rest of the file ``fd`` into ``sink``; its hex SHA-256."""
        if self._hasher is None:
            self._hasher = Worker("ocikit-hash")
        hasher = self._hasher
        file_hash = hashlib.sha256()
        remaining = entry.size
        which = 0
        pending = 0  # the ticket of the hash of the other buffer
        while True:
            view = self._views[which]
            n = os.readv(fd, (view,))  # into the buffer the hasher is not using
            if pending:
                hasher.wait(pending)
                pending = 0
            if not n:
                break
            if n > remaining:
                raise _grew(entry.source)
            remaining -= n
            chunk = view[:n]
            pending = hasher.submit(partial(file_hash.update, chunk))
            sink.write(chunk)
            progress.advance(progress_key, n)
            which ^= 1
        if remaining:
            raise _shrank(entry.source)
        return file_hash.hexdigest()

    def close(self) -> None:
        if self._hasher is not None:
            self._hasher.stop()


def _buffered_file(entry: _Entry, header: bytes, sink: Sink, copier: _FileCopier,
                   progress: Progress, progress_key: str) -> FileRecord:
    source = entry.source
    assert source is not None
    fd = _open_source(source)
    try:
        if entry.size < _SMALL_FILE:
            # One read, hash inline, one write: a hand-off to the hash thread costs more
            # than hashing a small file (many-small-files datasets, docs/performance.md).
            digest = _small_file(fd, entry, header, sink.write, progress, progress_key)
            return FileRecord(entry.name, entry.size, digest, entry.mode)
        sink.write(header)
        digest = copier.copy(fd, entry, sink, progress, progress_key)
    finally:
        os.close(fd)
    sink.write(padding(entry.size))
    return FileRecord(entry.name, entry.size, digest, entry.mode)


def write_tar(
    entries: Sequence[_Entry],
    out: Writable,
    *,
    compression: str = "none",
    progress: Progress = SILENT,
    progress_key: str = "layer",
) -> WrittenLayer:
    """Write ``entries`` as one layer to ``out``; return digests, size and per-file records.

    The entries must already be sorted and validated (see ``_pack``). A file whose size changes
    while it is read raises :class:`PackError`: the tar header already promised its size. An
    uncompressed layer into an output that offers its direct-I/O buffers (a
    :class:`~ocikit._io._direct.BufferSink`) is read straight into them.
    """
    buffers = out.buffers() if compression == "none" and isinstance(out, BufferSink) else None
    if buffers is not None and buffers.total == 0:
        return _write_tar_direct(entries, buffers, progress, progress_key)
    sink = Sink(out, compression)
    files: list[FileRecord] = []
    copier = _FileCopier()
    try:
        for entry in entries:
            header = tar_header(entry.name, entry.mode, entry.size, is_dir=entry.is_dir)
            if entry.source is None:
                sink.write(header)
                continue
            files.append(_buffered_file(entry, header, sink, copier, progress, progress_key))
        sink.write(TAR_END)
        sink.close()
    finally:
        sink.abort()
        copier.close()
    return WrittenLayer(sink.digest, sink.size, sink.diff_id, tuple(files))
