"""Digests: a validated value, and streaming hash-while-read / hash-while-write.

A :class:`Digest` is always ``sha256:<64 lowercase hex>`` (the only algorithm OCI registries must
support, https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests). Parsing is
strict so a digest string can be used as a path component safely (``sha256:../../x`` is refused).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import BinaryIO, Protocol, runtime_checkable

from ocikit._io._worker import Worker
from ocikit.errors import DigestMismatchError, VerificationError

__all__ = [
    "CHUNK", "Digest", "FencedReader", "HashingReader", "HashingWriter", "ReadStream", "ReadsInto",
    "ThreadedHashingReader", "copy_stream", "mismatch_error", "too_long_error", "truncated_error",
]

#: Read/write buffer size. 1 MiB: 4 KiB reads cost +32 % on a 2 GiB hash (docs/performance.md, "Buffer size (1 MiB)").
CHUNK = 1 << 20

_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}\Z")  # \Z, not $: "$" also matches before a final "\n"


@dataclass(frozen=True, order=True)
class Digest:
    """``algorithm:hex``. ``str(Digest.parse(s)) == s`` for every valid ``s``."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        if not _SHA256.match(text):
            shown = text if len(text) < 100 else text[:100] + ".."
            raise VerificationError(
                f"invalid digest {shown!r}: expected sha256:<64 lowercase hex>",
                hint="the manifest or reference is malformed or hostile",
            )
        algorithm, _, hexpart = text.partition(":")
        return cls(algorithm, hexpart)

    @classmethod
    def is_valid(cls, text: str) -> bool:
        return bool(_SHA256.match(text))

    @classmethod
    def of_bytes(cls, data: bytes) -> Digest:
        return cls("sha256", hashlib.sha256(data).hexdigest())

    @classmethod
    def from_hash(cls, h: hashlib._Hash) -> Digest:
        return cls("sha256", h.hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def short(self) -> str:
        """``sha256:`` plus 12 hex digits, for tables."""
        return f"{self.algorithm}:{self.hex[:12]}"

    def verify_bytes(self, data: bytes, *, size: int | None = None, what: str = "blob") -> None:
        if size is not None and len(data) != size:
            raise DigestMismatchError(f"{what} {self} has {len(data)} bytes, expected {size}")
        actual = Digest.of_bytes(data)
        if actual != self:
            raise mismatch_error(what, self, actual)


def mismatch_error(what: str, expected: Digest | None, actual: Digest) -> DigestMismatchError:
    """The one message for content whose hash is not its digest (every verifying reader's)."""
    return DigestMismatchError(f"{what} content does not match its digest {expected} (got {actual})")


def too_long_error(what: str, expected: Digest | None, size: int) -> DigestMismatchError:
    """The one message for a stream that goes on past the size its descriptor declared."""
    return DigestMismatchError(f"{what} {expected} is longer than its declared size {size}")


def truncated_error(what: str, expected: Digest | None, count: int, size: int) -> DigestMismatchError:
    """The one message for a stream that ends before the size its descriptor declared."""
    return DigestMismatchError(f"{what} {expected} ended after {count} bytes, expected {size}")


@runtime_checkable
class ReadsInto(Protocol):
    """A stream that can fill a caller's buffer (files, sockets): no allocation per read."""

    def readinto(self, b: memoryview, /) -> int | None: ...


@runtime_checkable
class FencedReader(Protocol):
    """A stream that may still read the buffers it filled after ``readinto`` returned (it hashes
    them on another thread): call what :meth:`fence` returns before reusing one."""

    def readinto(self, b: memoryview, /) -> int: ...
    def fence(self) -> Callable[[], None]: ...


class HashingReader:
    """Wraps a binary stream; hashes what is read and refuses to read past ``size``.

    At EOF (or on :meth:`verify`) the digest and size are checked against ``expected``; a
    mismatch raises :class:`DigestMismatchError` before the caller sees the final bytes as good.
    """

    def __init__(self, raw: BinaryIO, expected: Digest | None, size: int | None, *, what: str = "blob"):
        self._raw = raw
        self._hash = hashlib.sha256()
        self._expected = expected
        self._size = size
        self._what = what
        self.count = 0
        self._verified = False

    def _ask(self, n: int) -> int:
        """How much to ask ``raw`` for when the caller asks for ``n`` (-1: all)."""
        if self._size is not None:
            remaining = self._size - self.count
            if n < 0 or n > remaining:
                n = remaining + 1  # read one byte more to detect a body longer than declared
            if n <= 0:
                n = 1
        return n

    def _take(self, data: bytes | memoryview) -> None:
        """Count, bound and hash ``data``, just read."""
        self.count += len(data)
        if self._size is not None and self.count > self._size:
            raise too_long_error(self._what, self._expected, self._size)
        self._hash.update(data)

    def read(self, n: int = -1) -> bytes:
        n = self._ask(n)
        data = self._raw.read(n) if n >= 0 else self._raw.read()
        if data:
            self._take(data)
        else:
            self.verify()
        return data

    def readinto(self, b: bytearray | memoryview) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    @property
    def digest(self) -> Digest:
        return Digest.from_hash(self._hash)

    def verify(self) -> None:
        """Check size and digest. Call after the stream is exhausted."""
        if self._verified:
            return
        if self._size is not None and self.count != self._size:
            raise truncated_error(self._what, self._expected, self.count, self._size)
        if self._expected is not None and self.digest != self._expected:
            raise mismatch_error(self._what, self._expected, self.digest)
        self._verified = True

    def drain(self) -> None:
        """Read to EOF (hashing) and verify."""
        while self.read(CHUNK):
            pass
        self.verify()

    def close(self) -> None:
        self._raw.close()


class ThreadedHashingReader(HashingReader):
    """A :class:`HashingReader` that hashes on a helper thread: reading and hashing overlap.

    ``read`` returns bytes (so callers may keep them) and queues them for hashing, at most
    :data:`_HASH_AHEAD` pieces ahead. ``readinto`` queues the caller's buffer itself (no copy):
    the caller must call the function that :meth:`fence` returns before it reuses that buffer
    (the direct-I/O writer does). At EOF size and digest are checked, as by ``HashingReader``.
    """

    def __init__(self, raw: BinaryIO, expected: Digest, size: int, what: str) -> None:
        super().__init__(raw, expected, size, what=what)
        self._line = Worker("ocikit-hash")
        self._into: ReadsInto | None = raw if isinstance(raw, ReadsInto) else None

    def _ask(self, n: int) -> int:
        remaining = (self._size or 0) - self.count
        if n < 0 or n > CHUNK:
            n = CHUNK
        return min(n, remaining) if remaining > 0 else 1

    def _take(self, data: bytes | memoryview) -> None:
        self.count += len(data)
        if self._size is not None and self.count > self._size:
            raise too_long_error(self._what, self._expected, self._size)
        if len(data) < 64 * 1024 and self._line.idle:
            self._hash.update(data)  # a tar header: a thread hand-off would cost more
        else:
            ticket = self._line.submit(partial(self._hash.update, data))
            self._line.wait(ticket - _HASH_AHEAD)  # bounded memory: at most a few pieces queued

    def readinto(self, b: bytearray | memoryview) -> int:
        """Read into ``b`` and queue ``b`` itself for hashing; see :meth:`fence`."""
        remaining = (self._size or 0) - self.count
        view = memoryview(b)[:remaining] if remaining > 0 else memoryview(b)[:1]
        got = 0
        if self._into is not None:
            try:
                got = self._into.readinto(view) or 0
            except NotImplementedError:  # an io.RawIOBase that defines only read()
                self._into = None
        if self._into is None:
            data = self._raw.read(len(view))
            got = len(data)
            view[:got] = data
        if not got:
            self.verify()
            return 0
        self._take(view[:got])
        return int(got)

    def fence(self) -> Callable[[], None]:
        """A function that returns once everything read so far has been hashed."""
        return self._line.fence(self._line.submitted)

    @property
    def digest(self) -> Digest:
        self._line.wait_all()
        return Digest.from_hash(self._hash)

    def verify(self) -> None:
        self._line.wait_all()
        super().verify()

    def close(self) -> None:
        self._line.stop()
        super().close()


#: How many pieces ``ThreadedHashingReader`` may queue before ``read`` waits for the hash thread.
_HASH_AHEAD = 4


class HashingWriter:
    """A write-only file object that hashes and counts what passes through to ``raw``."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self.count = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._hash.update(data)
        self._raw.write(data)
        n = len(data)
        self.count += n
        return n

    def flush(self) -> None:
        self._raw.flush()

    @property
    def digest(self) -> Digest:
        return Digest.from_hash(self._hash)


class ReadStream(io.RawIOBase):
    """Base of a read-only stream whose subclass defines only ``read(n)``.

    ``readinto`` (what ``io.BufferedReader`` and HTTP clients call) is derived from ``read``, so a
    subclass keeps its checks (hashing, size limits, resuming) in one method.
    """

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def copy_stream(src: BinaryIO | HashingReader, dst: BinaryIO | HashingWriter, *, chunk: int = CHUNK) -> int:
    """Copy ``src`` to ``dst`` in ``chunk``-sized pieces; returns bytes copied."""
    total = 0
    while True:
        data = src.read(chunk)
        if not data:
            return total
        dst.write(data)
        total += len(data)
