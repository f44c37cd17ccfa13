"""Compression of a layer as it is written (with its two hashes) and decompression as it is read, with the
decompression-bomb guard (docs/reliability.md §H2).
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from ocikit._io._digest import CHUNK, Digest
from ocikit._layers._types import COMPRESSIONS, Limits
from ocikit.errors import UnsafeArchiveError, UsageError

# gzip layers are deflated in blocks of this many input bytes (fixed: the bytes must not depend on
# the machine); 32 KiB is deflate's window, the dictionary each block inherits from the one before.
GZIP_BLOCK = 1 << 20
_WINDOW = 32 * 1024
# The gzip header zlib writes with wbits 31 (RFC 1952 §2.3, https://www.rfc-editor.org/rfc/rfc1952):
# no name, mtime 0, XFL 4 at level 1 ("fastest") else 0, OS 3 (Unix) — the bytes of a
# single-stream ocikit gzip layer, kept.
_GZIP_HEADER = {False: bytes.fromhex("1f8b0800000000000003"), True: bytes.fromhex("1f8b0800000000000403")}


class Writable(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> int | None: ...


class _Emitter:
    """The file-like object zstd's stream writer writes its output to."""

    def __init__(self, emit: Callable[[bytes], None]) -> None:
        self._emit = emit

    def write(self, data: bytes) -> int:
        self._emit(data)
        return len(data)


class ParallelGzip:
    """One gzip member from independently deflated fixed-size blocks, on a thread pool (pigz's way).

    Block *i* is the input bytes ``[i*BLOCK, (i+1)*BLOCK)``, deflated raw with the previous block's
    last 32 KiB as its dictionary and ended with ``Z_SYNC_FLUSH`` (byte-aligned, not final), so
    the blocks join into one deflate stream (RFC 1951 §3.2.3: only the last block sets BFINAL;
    https://www.rfc-editor.org/rfc/rfc1951). The last (possibly empty) block ends with
    ``Z_FINISH``. The bytes depend on the level, the block size and the zlib build, never on the
    worker count. zlib releases the GIL while it deflates, so the workers use every core. At most
    ``2 × workers`` blocks are in flight; a worker's exception is raised on the next write/close.
    """

    def __init__(self, emit: Callable[[bytes], None], level: int, workers: int | None = None,
                 block: int = GZIP_BLOCK, deflate: Callable[[bytes, bytes, int, bool], bytes] | None = None) -> None:
        self._emit = emit
        self._level = level
        self._block = block
        self._deflate = deflate or _deflate_block
        self._workers = max(1, workers if workers is not None else _cpus())
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="ocikit-gzip")
        self._pending: deque[Future[bytes]] = deque()
        self._buf = bytearray()
        self._dict = b""
        self._crc = 0
        self._size = 0
        emit(_GZIP_HEADER[level == 1])

    def _submit(self, data: bytes, last: bool) -> None:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        self._pending.append(self._pool.submit(self._deflate, data, self._dict, self._level, last))
        self._dict = data[-_WINDOW:] if len(data) >= _WINDOW else (self._dict + data)[-_WINDOW:]
        while len(self._pending) > 2 * self._workers:
            self._emit(self._pending.popleft().result())

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data
        if len(self._buf) < self._block:
            return
        view = memoryview(self._buf)
        start = 0
        try:
            while len(self._buf) - start >= self._block:
                self._submit(bytes(view[start:start + self._block]), False)
                start += self._block
        finally:
            view.release()
            del self._buf[:start]

    def close(self) -> None:
        try:
            self._submit(bytes(self._buf), True)
            self._buf = bytearray()
            while self._pending:
                self._emit(self._pending.popleft().result())
            self._emit(struct.pack("<II", self._crc & 0xFFFFFFFF, self._size & 0xFFFFFFFF))
        finally:
            self.abort()

    def abort(self) -> None:
        """Stop the workers (after an error: the queued blocks are dropped)."""
        for f in self._pending:
            f.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)


def _deflate_block(data: bytes, zdict: bytes, level: int, last: bool) -> bytes:
    """One block as raw deflate, primed with ``zdict``; a sync flush unless it is the last."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, zdict) if zdict else \
        zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY)
    return c.compress(data) + c.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


class Sink:
    """Tar bytes in; diffId hash, optional compression, blob hash and counting, bytes out."""

    def __init__(self, out: Writable, compression: str, *, workers: int | None = None) -> None:
        self._out = out
        self._diff = hashlib.sha256()
        self._blob = self._diff if compression == "none" else hashlib.sha256()
        self.tar_size = 0
        self.size = 0
        self._zstd: Any = None
        self._gzip: ParallelGzip | None = None
        if compression in ("gzip", "gzip-fastest"):
            # mtime 0, no file name, fixed blocks: the bytes do not depend on when or where we
            # pack, nor on the number of cores (the deflate stream does depend on the zlib build).
            self._gzip = ParallelGzip(self._emit, 6 if compression == "gzip" else 1, workers)
        elif compression == "zstd":
            import zstandard

            # Multi-threaded zstd output is identical for any worker count >= 1 (jobs are cut by
            # size, not by worker), but differs from threads=0 (single-threaded): never pass 0
            # (tests/unit/test_compress_parallel.py pins the bytes). A stream writer,
            # not compressobj(): compressobj held finished output until flush (peak RSS grew with
            # the layer: 145 MiB at 256 MiB, 220 MiB at 1 GiB); the writer hands each block on
            # as it is done (80 MiB flat, and faster; docs/performance.md).
            params = zstandard.ZstdCompressionParameters.from_level(3, threads=max(1, workers or _cpus()))
            self._zstd = zstandard.ZstdCompressor(compression_params=params).stream_writer(
                _Emitter(self._emit), write_size=CHUNK, closefd=False)  # type: ignore[arg-type]
        elif compression != "none":
            raise UsageError(f"invalid compression {compression!r}: must be one of {', '.join(COMPRESSIONS)}")

    def _emit(self, data: bytes | bytearray | memoryview) -> None:
        if data:
            if self._blob is not self._diff:
                self._blob.update(data)
            self._out.write(data)
            self.size += len(data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._diff.update(data)
        self.tar_size += len(data)
        if self._gzip is not None:
            self._gzip.write(data)
        elif self._zstd is not None:
            self._zstd.write(data)
        else:
            self._emit(data)

    def close(self) -> None:
        if self._gzip is not None:
            self._gzip.close()
        elif self._zstd is not None:
            import zstandard

            self._zstd.flush(zstandard.FLUSH_FRAME)

    def abort(self) -> None:
        """Release the compression workers after a failed write (idempotent; no-op without them)."""
        if self._gzip is not None:
            self._gzip.abort()

    @property
    def diff_id(self) -> Digest:
        return Digest.from_hash(self._diff)

    @property
    def digest(self) -> Digest:
        return Digest.from_hash(self._blob)



class RawReader(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class _Inflater:
    """A readable over a gzip (multi-member, like Go's reader) or zstd stream, with a cap.

    Each step produces at most about one ``CHUNK`` of output, so memory stays flat however well
    the input compresses; the running total is checked against the allowance at every step.
    """

    def __init__(self, raw: RawReader, codec: str, compressed_size: int, limits: Limits, what: str) -> None:
        self._raw = raw
        self._codec = codec
        self._what = what
        self._cap = max(limits.min_allowance, limits.max_ratio * compressed_size)
        self._ratio = limits.max_ratio
        self._pending = b""
        self._started = False
        self.total = 0
        self._gz: Any = None
        self._zst: Any = None
        if codec == "gzip":
            self._gz = zlib.decompressobj(31)
        else:
            import zstandard

            self._zst = zstandard.ZstdDecompressor().stream_reader(
                raw,  # type: ignore[arg-type]
                read_size=CHUNK, read_across_frames=True, closefd=False
            )

    def _gzip_step(self, n: int) -> bytes:
        while True:
            data = self._pending
            if not data:
                data = self._raw.read(CHUNK)
                if not data:
                    if not self._started or not self._gz.eof:
                        raise UnsafeArchiveError(f"{self._what}: gzip stream is truncated")
                    return b""
            self._started = True
            if self._gz.eof:
                self._gz = zlib.decompressobj(31)  # the next gzip member
            out = self._gz.decompress(data, n)
            self._pending = self._gz.unused_data if self._gz.eof else self._gz.unconsumed_tail
            if out:
                return bytes(out)

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > CHUNK:
            n = CHUNK
        try:
            out = self._gzip_step(n) if self._gz is not None else bytes(self._zst.read(n))
        except zlib.error as e:
            raise UnsafeArchiveError(f"{self._what}: corrupt gzip stream ({e})") from e
        except UnsafeArchiveError:
            raise
        except Exception as e:  # zstandard.ZstdError derives from Exception only
            if type(e).__name__ == "ZstdError":
                raise UnsafeArchiveError(f"{self._what}: corrupt zstd stream ({e})") from e
            raise
        self.total += len(out)
        if self.total > self._cap:
            raise UnsafeArchiveError(
                f"{self._what} inflates to more than {self._cap} bytes "
                f"(over {self._ratio}x its compressed size): refusing a decompression bomb",
                hint="if the layer is genuine, raise OCIKIT_UNPACK_MAX_RATIO",
            )
        return out


def open_decompressed(raw: RawReader, codec: str, compressed_size: int, limits: Limits, what: str) -> RawReader:
    """The tar stream inside a layer blob (``raw`` is already hashed/verified by the caller)."""
    if codec == "none":
        return raw
    return _Inflater(raw, codec, compressed_size, limits, what)
