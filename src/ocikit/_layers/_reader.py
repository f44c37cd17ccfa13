"""The strict tar reader: a streaming parser of a layer's tar that yields only files and directories.

Not ``tarfile``: see docs/reliability.md §H1 for the bypasses of its ``data`` filter. Every header is
checked (checksum, type, name, size, the entry limit) before a byte of its body is handed on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ocikit._io._digest import CHUNK, FencedReader, ReadsInto
from ocikit._layers._compress import RawReader
from ocikit._layers._format import BLOCK, ZERO_BLOCK
from ocikit._layers._types import Limits
from ocikit.errors import UnsafeArchiveError

__all__ = ["Member", "TarReader"]


@dataclass
class Member:
    name: str
    is_dir: bool
    size: int
    mode: int


def _parse_octal(raw: bytes, what: str, field_name: str) -> int:
    if raw and raw[0] & 0x80:
        raise UnsafeArchiveError(f"{what}: base-256 {field_name} field is not accepted")
    text = raw.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError as e:
        raise UnsafeArchiveError(f"{what}: corrupt tar header ({field_name} {raw!r})") from e


def _parse_pax(data: bytes, what: str) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            raise UnsafeArchiveError(f"{what}: malformed PAX header")
        try:
            length = int(data[pos:space])
        except ValueError as e:
            raise UnsafeArchiveError(f"{what}: malformed PAX record length") from e
        if length <= space - pos + 1 or pos + length > len(data) or data[pos + length - 1 : pos + length] != b"\n":
            raise UnsafeArchiveError(f"{what}: malformed PAX record")
        record = data[space + 1 : pos + length - 1]
        key, eq, value = record.partition(b"=")
        if not eq:
            raise UnsafeArchiveError(f"{what}: malformed PAX record")
        try:
            records[key.decode()] = value.decode()
        except UnicodeDecodeError as e:
            raise UnsafeArchiveError(f"{what}: PAX record is not UTF-8") from e
        pos += length
    return records


def _no_fence() -> None:
    return None


class TarReader:
    """A strict, streaming tar parser: yields :class:`Member`\\ s; read bodies with ``read_body``.

    Accepts what Go writes and reads transparently: USTAR/V7/GNU headers, per-file PAX (``x``) and
    GNU long names (``L``). Refuses links, devices, FIFOs, global PAX headers, sparse files,
    non-UTF-8 names, bad checksums, more than ``limits.max_entries`` entries.
    """

    def __init__(self, stream: RawReader, what: str, limits: Limits) -> None:
        self._stream = stream
        self._what = what
        self._limits = limits
        self._left = 0  # body bytes (incl. padding) of the current member not yet consumed
        self._body = 0
        self.count = 0
        self._into: ReadsInto | None = stream if isinstance(stream, ReadsInto) else None
        self._fenced: FencedReader | None = stream if isinstance(stream, FencedReader) else None

    def _read_exact(self, n: int) -> bytes:
        parts = []
        got = 0
        while got < n:
            data = self._stream.read(n - got)
            if not data:
                raise UnsafeArchiveError(
                    f"{self._what}: tar ends in the middle of an entry (a declared size is a lie "
                    "or the layer is truncated)"
                )
            parts.append(data)
            got += len(data)
        return b"".join(parts)

    def _skip_body(self) -> None:
        while self._left:
            data = self._stream.read(min(self._left, CHUNK))
            if not data:
                raise UnsafeArchiveError(f"{self._what}: tar ends in the middle of an entry")
            self._left -= len(data)

    def read_body(self, n: int = CHUNK) -> bytes:
        """Up to ``n`` bytes of the current member's content (``b""`` at its end)."""
        n = min(n, self._body)
        if n <= 0:
            return b""
        data = self._stream.read(n)
        if not data:
            raise UnsafeArchiveError(
                f"{self._what}: tar ends in the middle of an entry (a declared size is a lie)"
            )
        self._body -= len(data)
        self._left -= len(data)
        return data

    def readinto_body(self, view: memoryview) -> int:
        """Like :meth:`read_body`, into ``view`` (no allocation when the stream has ``readinto``)."""
        n = min(len(view), self._body)
        if n <= 0:
            return 0
        if self._into is not None:
            got = self._into.readinto(view[:n])
        else:  # decompressors and the raw-layer adapter hand out bytes
            data = self._stream.read(n)
            got = len(data)
            view[:got] = data
        if not got:
            raise UnsafeArchiveError(
                f"{self._what}: tar ends in the middle of an entry (a declared size is a lie)"
            )
        self._body -= got
        self._left -= got
        return int(got)

    def fence(self) -> Callable[[], None]:
        """A function that returns once the stream no longer uses the buffers passed to
        :meth:`readinto_body` so far (a hashing reader may still be hashing them)."""
        return self._fenced.fence() if self._fenced is not None else _no_fence

    def __iter__(self) -> Iterator[Member]:
        pax: dict[str, str] = {}
        long_name: str | None = None
        while True:
            self._body = 0
            self._skip_body()
            block = self._read_header_block()
            if block is None:
                return
            typeflag, size = self._checked_header(block)
            if typeflag in (b"x", b"L"):
                if size > self._limits.max_pax_bytes:
                    raise UnsafeArchiveError(f"{self._what}: extended header of {size} bytes is too large")
                data = self._read_exact(size + (-size) % BLOCK)[:size]
                if typeflag == b"x":
                    pax.update(_parse_pax(data, self._what))
                else:
                    long_name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                continue
            _refuse_type(block, typeflag, self._what)
            member = self._member(block, typeflag, size, pax, long_name)
            pax, long_name = {}, None
            yield member
            if self._body:
                raise UnsafeArchiveError(f"{self._what}: entry {member.name!r} was not read to its end")

    def _checked_header(self, block: bytes) -> tuple[bytes, int]:
        """``(typeflag, size)`` of a header block whose checksum holds, counted against the limit."""
        what = self._what
        expected = _parse_octal(block[148:156], what, "checksum")
        actual = sum(block[:148]) + 8 * 32 + sum(block[156:])
        if expected != actual:
            raise UnsafeArchiveError(f"{what}: tar header checksum mismatch (corrupt or not a tar)")
        size = _parse_octal(block[124:136], what, "size")
        self.count += 1
        if self.count > self._limits.max_entries:
            raise UnsafeArchiveError(
                f"{what}: more than {self._limits.max_entries} tar entries",
                hint="if the layer is genuine, raise OCIKIT_UNPACK_MAX_ENTRIES",
            )
        return block[156:157], size

    def _member(self, block: bytes, typeflag: bytes, size: int, pax: dict[str, str],
                long_name: str | None) -> Member:
        """The file or directory ``block`` describes (after its PAX records and long name)."""
        what = self._what
        prefix = block[345:500].split(b"\0", 1)[0] if block[257:262] == b"ustar" else b""
        raw = block[0:100].split(b"\0", 1)[0]
        if prefix:
            raw = prefix + b"/" + raw
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UnsafeArchiveError(f"{what}: entry name {raw!r} is not UTF-8") from e
        if long_name is not None:
            name = long_name
        if "path" in pax:
            name = pax["path"]
        if "size" in pax:
            try:
                size = int(pax["size"])
            except ValueError as e:
                raise UnsafeArchiveError(f"{what}: bad PAX size {pax['size']!r}") from e
            if size < 0:
                raise UnsafeArchiveError(f"{what}: negative PAX size")
        if pax.get("linkpath"):
            raise UnsafeArchiveError(f"{what}: entry {name!r} carries a link target")
        if len(name.encode("utf-8", "surrogateescape")) > self._limits.max_name_bytes:
            raise UnsafeArchiveError(f"{what}: entry name longer than {self._limits.max_name_bytes} bytes")
        is_dir = typeflag == b"5" or (typeflag in (b"0", b"\0") and name.endswith("/"))
        mode = _parse_octal(block[100:108], what, "mode")
        self._left = size + (-size) % BLOCK  # a directory's body (if any) is skipped
        if is_dir:
            size = 0
        self._body = size
        return Member(name, is_dir, size, mode)

    def _read_header_block(self) -> bytes | None:
        block = self._stream.read(BLOCK)
        if len(block) < BLOCK:
            block += self._read_exact(BLOCK - len(block)) if block else b""
        if not block:
            raise UnsafeArchiveError(f"{self._what}: tar ends without its end-of-archive marker")
        if block == ZERO_BLOCK:
            # end of archive; read the rest so the caller can verify the digest of everything
            while self._stream.read(CHUNK):
                pass
            return None
        return block



_KINDS = {b"1": "hard link", b"2": "symbolic link", b"3": "character device",
          b"4": "block device", b"6": "FIFO", b"S": "sparse file", b"K": "GNU long link"}


def _refuse_type(block: bytes, typeflag: bytes, what: str) -> None:
    """Only files and directories: no links, devices, FIFOs, sparse files, global PAX headers."""
    if typeflag == b"g":
        raise UnsafeArchiveError(f"{what}: global PAX header is not accepted in a ModelKit layer")
    if typeflag not in (b"0", b"\0", b"5", b"7"):
        kind = _KINDS.get(typeflag, f"type {typeflag!r}")
        raw_name = block[0:100].split(b"\0", 1)[0].decode("utf-8", "replace")
        raise UnsafeArchiveError(
            f"{what}: entry {raw_name!r} is a {kind}; ModelKit layers hold only regular "
            "files and directories"
        )
