"""The one direct-I/O writer: a ring of page-aligned buffers written with ``O_DIRECT`` by a helper thread.

Why: a buffered write of 2 GiB costs 2-5 CPU-s on two cores (the copy into the page cache and
the kernel's writeback), which competes with the SHA-256 of the data; with ``O_DIRECT`` the
disk DMAs straight from the buffer (docs/performance.md). Pack writes its layer blobs this way
(through the local store's ``BlobWriter``), unpack the bodies of large files.

:class:`DirectWriter` owns four buffers in rotation: one fills while its :class:`~ocikit._io.
_worker.Worker` writes the others, in order (the write blocks for the transfer; the GIL is
released). Since every full buffer is written whole at a multiple of its size, its contents need
no alignment of their own (a 512-byte tar header may start it). At :meth:`DirectWriter.finish`
the tail is written: its aligned part still direct, the last partial block with ``O_DIRECT``
cleared. A file system that refuses direct I/O (at ``fcntl``, or with ``EINVAL`` on a write)
gets the same bytes buffered. ``O_DIRECT`` is probed and toggled here only
(:func:`set_direct`, :func:`clear_direct`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ocikit._io._worker import Worker

__all__ = [
    "DIRECT_ALIGN", "DIRECT_BUFFER", "DIRECT_BUFFERS", "BufferSink", "Buffers", "DirectWriter",
    "clear_direct", "set_direct", "write_all",
]

log = logging.getLogger(__name__)

#: Size and number of the aligned buffers (a multiple of any block size; four so that a slow
#: write or hash does not stall the one filling).
DIRECT_BUFFER = 4 * 1024 * 1024
DIRECT_BUFFERS = 4
#: Direct I/O needs file offsets, lengths and memory aligned to the logical block size; 4 KiB
#: covers every common disk (512e and 4Kn).
DIRECT_ALIGN = 4096

_O_DIRECT = getattr(os, "O_DIRECT", 0)


def set_direct(fd: int) -> bool:
    """Turn on ``O_DIRECT`` for ``fd`` where the platform and file system allow it."""
    if not _O_DIRECT:  # pragma: no cover - macOS, Windows
        return False
    import fcntl

    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | _O_DIRECT)
    except OSError as e:  # tmpfs and others refuse O_DIRECT: write through the cache
        log.debug("no direct I/O for fd %d: %s", fd, e)
        return False
    return True


def clear_direct(fd: int) -> bool:
    """Turn ``O_DIRECT`` off; False when it was not on (so an ``EINVAL`` is a real error)."""
    if not _O_DIRECT:  # pragma: no cover - macOS, Windows
        return False
    import fcntl

    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    if not flags & _O_DIRECT:
        return False
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~_O_DIRECT)
    return True


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """``os.write`` until all of ``data`` is written; an ``EINVAL`` of direct I/O turns it off."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except OSError as e:
            if e.errno != errno.EINVAL or not clear_direct(fd):
                raise
            continue  # the file system refused direct I/O: the same bytes, buffered
        view = view[n:]


class Buffers(Protocol):
    """Page-aligned buffers an output lets a producer fill in place (a :class:`DirectWriter`)."""

    total: int
    on_full: Callable[[memoryview], Callable[[], None]] | None

    def space(self) -> memoryview: ...
    def filled(self, n: int, /) -> None: ...
    def fence(self, wait: Callable[[], None], /) -> None: ...
    def pending(self) -> memoryview: ...
    def write(self, data: bytes | bytearray | memoryview, /) -> int: ...


@runtime_checkable
class BufferSink(Protocol):
    """An output that may offer its direct-I/O :class:`Buffers` (the local store's ``BlobWriter``)."""

    def buffers(self) -> Buffers | None:
        """The buffers to fill in place, or None when bytes must go through ``write``."""
        ...


class DirectWriter:
    """Writes one file at a time from a ring of aligned buffers; see the module docstring.

    :meth:`attach` starts a file (empty, at offset 0), :meth:`finish` completes it; the ring and
    its thread serve any number of files in turn. Two ways in: :meth:`write` copies bytes into the
    current buffer; :meth:`space` and :meth:`filled` let a caller read straight into it. Whoever
    reads a buffer on another thread (a hash) registers a :meth:`fence`, and :attr:`on_full` sees
    each full buffer before its write; a buffer is refilled only after its write and its fences
    are done.
    """

    def __init__(self) -> None:
        import mmap

        self._size, count = DIRECT_BUFFER, DIRECT_BUFFERS
        self._bufs = [mmap.mmap(-1, self._size) for _ in range(count)]  # page-aligned
        self._views = [memoryview(b) for b in self._bufs]
        self._tickets = [0] * count  # the write job of each buffer
        self._fences: list[list[Callable[[], None]]] = [[] for _ in self._bufs]
        self._which = 0
        self._used = 0
        self.fd = -1
        self.total = 0  # bytes accepted for the current file
        self.direct = False
        #: Called with each full buffer before its write; may return a fence for it.
        self.on_full: Callable[[memoryview], Callable[[], None]] | None = None
        self._worker = Worker("ocikit-direct-write")

    def attach(self, fd: int) -> bool:
        """Write the next file to ``fd``; True when direct I/O is on for it."""
        self.fd = fd
        self.total = 0
        self._which = self._used = 0
        self.direct = set_direct(fd)
        return self.direct

    def _settle(self, i: int) -> None:
        """Wait until buffer ``i`` is written and nobody reads it any more."""
        try:
            self._worker.wait(self._tickets[i])
        finally:
            fences, self._fences[i] = self._fences[i], []
            for fence in fences:
                fence()

    def space(self) -> memoryview:
        """The free room of the current buffer (never empty); fill it, then call :meth:`filled`."""
        if self._used == 0:
            self._settle(self._which)
        return self._views[self._which][self._used:]

    def filled(self, n: int) -> None:
        """``n`` more bytes of the current buffer hold data; a full buffer goes to the disk."""
        self._used += n
        self.total += n
        if self._used == self._size:
            i = self._which
            view = self._views[i]
            if self.on_full is not None:
                self._fences[i].append(self.on_full(view))
            fd = self.fd
            self._tickets[i] = self._worker.submit(lambda: write_all(fd, view))
            self._which = (i + 1) % len(self._views)
            self._used = 0

    def fence(self, wait: Callable[[], None]) -> None:
        """The current buffer is not refilled before ``wait()`` has returned."""
        self._fences[self._which].append(wait)

    def pending(self) -> memoryview:
        """The bytes accepted but not yet handed on (less than a buffer; written by ``finish``)."""
        return self._views[self._which][:self._used]

    def write(self, data: bytes | bytearray | memoryview) -> int:
        src = memoryview(data).cast("B")
        n = len(src)
        pos = 0
        while pos < n:
            room = self.space()
            take = min(n - pos, len(room))
            room[:take] = src[pos:pos + take]
            pos += take
            self.filled(take)
        return n

    def _settle_all(self) -> None:
        count = len(self._views)
        for k in range(count):
            self._settle((self._which + 1 + k) % count)  # oldest first

    def finish(self) -> None:
        """Wait for the full buffers, then write the partial one: its aligned part direct, the
        rest buffered. The file is left without ``O_DIRECT``; the ring is free for another."""
        self._settle_all()
        tail = self._views[self._which][:self._used]
        aligned = len(tail) - len(tail) % DIRECT_ALIGN if self.direct else 0
        if aligned:
            write_all(self.fd, tail[:aligned])
        if self.direct:
            clear_direct(self.fd)
            self.direct = False
        if aligned < len(tail):
            write_all(self.fd, tail[aligned:])
        self._which = self._used = 0

    def abandon(self) -> None:
        """Give up the current file after an error: wait for what is in flight, write nothing more."""
        with contextlib.suppress(BaseException):
            self._settle_all()  # no write or hash may still read a buffer being reused or unmapped
        self._which = self._used = 0

    def close(self) -> None:
        self.abandon()
        self._worker.stop()
        for view, buf in zip(self._views, self._bufs, strict=True):
            # After an error, slices of a buffer may live on in a traceback's frames; the
            # mapping is then freed with the last of them instead.
            with contextlib.suppress(BufferError):
                view.release()
                buf.close()
