"""Compression of a layer as it is written (with its two hashes) and decompression as it is read, with the
decompression-bomb guard (docs/reliability.md §H2).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from ocikit._io._digest import CHUNK, Digest
from ocikit._layers._types import COMPRESSIONS, Limits
from ocikit.errors import UnsafeArchiveError, UsageError


class Writable(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> int | None: ...


class _Emitter:
    """The file-like object zstd's stream writer writes its output to."""

    def __init__(self, emit: Callable[[bytes], None]) -> None:
        self._emit = emit

    def write(self, data: bytes) -> int:
        self._emit(data)
        return len(data)


class Sink:
    """Tar bytes in; diffId hash, optional compression, blob hash and counting, bytes out."""

    def __init__(self, out: Writable, compression: str) -> None:
        self._out = out
        self._diff = hashlib.sha256()
        self._blob = self._diff if compression == "none" else hashlib.sha256()
        self.tar_size = 0
        self.size = 0
        self._zstd: Any = None
        self._gzip: Any = None
        if compression in ("gzip", "gzip-fastest"):
            # wbits 31 = gzip container: mtime 0, no file name, so the bytes do not depend on
            # when or where we pack (the deflate stream does depend on the zlib version).
            self._gzip = zlib.compressobj(6 if compression == "gzip" else 1, zlib.DEFLATED, 31)
        elif compression == "zstd":
            import zstandard

            # Multi-threaded zstd output is identical for any worker count >= 1. A stream writer,
            # not compressobj(): compressobj held finished output until flush (peak RSS grew with
            # the layer: 145 MiB at 256 MiB, 220 MiB at 1 GiB); the writer hands each block on
            # as it is done (80 MiB flat, and faster; docs/performance.md).
            params = zstandard.ZstdCompressionParameters.from_level(3, threads=-1)
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
            self._emit(self._gzip.compress(data))
        elif self._zstd is not None:
            self._zstd.write(data)
        else:
            self._emit(data)

    def close(self) -> None:
        if self._gzip is not None:
            self._emit(self._gzip.flush())
        elif self._zstd is not None:
            import zstandard

            self._zstd.flush(zstandard.FLUSH_FRAME)

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
