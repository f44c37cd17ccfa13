"""Layer tars: deterministic writer (hash while writing) and safe extractor.

(Value types below are the shared contract; see docs/architecture.md.)

Writer
    Entries are written the way ``kit pack`` writes them (kitops-format.md §3.1-3.2): names relative
    to the context, forward slashes, no ``./`` and no trailing ``/``; only regular files and
    directories; mtime 0, uid 1000, gid 0, empty uname/gname; USTAR with Go's prefix/name split,
    a per-file PAX header only when USTAR cannot hold the name or the size; no global header;
    exactly two zero blocks at the end (no 10240-byte record padding). The header bytes follow
    Go's ``archive/tar`` writer so the tar is byte-identical to kit's for the same entries.

    One deliberate difference: modes are normalised (files 0644, or 0755 when the owner may
    execute; directories 0755), so the same project gives the same digest whatever the umask of
    the machine that checked it out. kit copies the on-disk permission bits.

    One pass over each input file yields its SHA-256 (:class:`FileRecord`), the diffId (SHA-256 of
    the tar) and the blob digest (of the compressed bytes). The per-file hash runs on a helper
    thread while the main thread hashes the tar stream and writes it (``hashlib`` releases the GIL
    on large buffers), so the two hashes overlap on two cores. Uncompressed layers written with
    direct I/O go further (:func:`_write_tar_direct`): files are read straight into the output's
    aligned buffers and both hashes run on helper threads, the main thread only reads.

Extractor
    :func:`extract_layer` reads a tar stream with its own strict parser (not ``tarfile``: see
    reliability.md §1.1 for the bypasses of its ``data`` filter) and writes only regular files and
    directories below a directory file descriptor, opening every component with ``O_NOFOLLOW``
    and every file with ``O_EXCL``. Anything else is an :class:`~ocikit.errors.UnsafeArchiveError`.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import hashlib
import os
import re
import stat
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from ocikit._io._digest import CHUNK, Digest
from ocikit._io._progress import SILENT, Progress
from ocikit._oci._model import Descriptor
from ocikit.errors import DigestMismatchError, PackError, UnsafeArchiveError, UsageError

#: Kitfile section → layer kind (the ``<base>`` of the KitOps media type).
KINDS = ("model", "modelpart", "code", "dataset", "docs")


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One regular file inside a layer, as packed (``path`` is the tar entry name)."""

    path: str
    size: int
    sha256: str  # lowercase hex of the file content
    mode: int


@dataclass(frozen=True)
class PackedLayer:
    """One layer as written: which Kitfile element it came from and what it holds."""

    kind: str  # one of KINDS
    section: str  # Kitfile section: "model", "parts", "code", "datasets", "docs"
    index: int  # position within the section (0 for model)
    path: str  # the Kitfile path, verbatim
    descriptor: Descriptor
    diff_id: Digest  # sha256 of the uncompressed tar
    files: tuple[FileRecord, ...]


# ------------------------------------------------------------------------------------------------
# media types and compression

MEDIA_PREFIX = "application/vnd.kitops.modelkit."
COMPRESSIONS = ("none", "gzip", "gzip-fastest", "zstd")
_SUFFIX = {"none": "", "gzip": "+gzip", "gzip-fastest": "+gzip", "zstd": "+zstd"}
_MEDIA_RE = re.compile(r"^application/vnd\.kitops\.modelkit\.(\w+)\.v1\.tar(?:\+(\w+))?$")

#: Kitfile section → layer kind.
SECTION_KIND = {"model": "model", "parts": "modelpart", "code": "code", "datasets": "dataset", "docs": "docs"}


def layer_media_type(kind: str, compression: str = "none") -> str:
    """``application/vnd.kitops.modelkit.<kind>.v1.tar[+gzip|+zstd]`` (kitops-format.md §1.1)."""
    if kind not in KINDS:
        raise ValueError(f"unknown layer kind {kind!r}")
    if compression not in _SUFFIX:
        raise UsageError(
            f"invalid compression {compression!r}: must be one of {', '.join(COMPRESSIONS)}"
        )
    return f"{MEDIA_PREFIX}{kind}.v1.tar{_SUFFIX[compression]}"


def parse_layer_media_type(media_type: str) -> tuple[str, str]:
    """``(kind, codec)`` with codec ``none``, ``gzip`` or ``zstd``; refuses anything else."""
    m = _MEDIA_RE.match(media_type)
    if m is None or m.group(1) not in KINDS:
        raise UnsafeArchiveError(
            f"layer media type {media_type!r} is not a ModelKit tar layer",
            hint="only application/vnd.kitops.modelkit.<kind>.v1.tar[+gzip|+zstd] layers are read",
        )
    codec = m.group(2) or "none"
    if codec not in ("none", "gzip", "zstd"):
        raise UnsafeArchiveError(f"layer media type {media_type!r}: unknown compression {codec!r}")
    return m.group(1), codec


# ------------------------------------------------------------------------------------------------
# Go-compatible tar headers (golang/go src/archive/tar/writer.go, format.go)

BLOCK = 512
_NAME_SIZE = 100
_PREFIX_SIZE = 155
_MAX_OCTAL_SIZE = 8**11  # 8 GiB: the largest size USTAR's 12-byte octal field holds
TAR_UID = 1000
TAR_GID = 0
_ZERO_BLOCK = bytes(BLOCK)
_TAR_END = bytes(2 * BLOCK)


def _octal(value: int, width: int) -> bytes:
    """Go's formatOctal: zero-padded octal leaving room for a NUL (0 if it does not fit)."""
    if value < 0 or value >= 8 ** (width - 1):
        value = 0
    return b"%0*o\0" % (width - 1, value)


def _field(value: bytes, width: int) -> bytes:
    """Go's formatString: copy, NUL-terminate when shorter, truncate (dropping a trailing '/')."""
    if len(value) < width:
        return value + b"\0" * (width - len(value))
    out = value[:width]
    if len(value) > width and out.endswith(b"/"):
        out = out.rstrip(b"/")
        out = out + b"\0" * (width - len(out))
    return out


def _split_ustar(name: str) -> tuple[str, str] | None:
    """Go's splitUSTARPath: split at the last '/' within the first 156 bytes."""
    if len(name) <= _NAME_SIZE or not name.isascii():
        return None
    length = len(name)
    if length > _PREFIX_SIZE + 1:
        length = _PREFIX_SIZE + 1
    elif name[length - 1] == "/":
        length -= 1
    i = name.rfind("/", 0, length)
    nlen = len(name) - i - 1
    if i <= 0 or nlen > _NAME_SIZE or nlen == 0 or i > _PREFIX_SIZE:
        return None
    return name[:i], name[i + 1 :]


def _finish(block: bytearray) -> bytes:
    """Set the USTAR magic and the checksum (``%06o\\0 ``), as Go's block.setFormat does."""
    block[257:263] = b"ustar\0"
    block[263:265] = b"00"
    block[148:156] = b"        "
    checksum = sum(block)
    block[148:156] = b"%06o\0 " % checksum
    return bytes(block)


def _v7plus_template() -> bytes:
    block = bytearray(BLOCK)
    block[108:116] = _octal(TAR_UID, 8)
    block[116:124] = _octal(TAR_GID, 8)
    block[136:148] = _octal(0, 12)
    # uname, gname empty (NUL); devmajor/devminor formatted as octal 0 like Go does
    block[329:337] = _octal(0, 8)
    block[337:345] = _octal(0, 8)
    block[257:263] = b"ustar\0"
    block[263:265] = b"00"
    block[148:156] = b"        "  # the checksum is computed with its own field as spaces
    return bytes(block)


#: The fields every entry shares, filled once (a header per file adds up at 100,000 files),
#: and their share of the checksum.
_V7PLUS = _v7plus_template()
_V7PLUS_SUM = sum(_V7PLUS)


def _v7plus(name: bytes, mode: int, size: int, typeflag: bytes, prefix: bytes = b"") -> bytes:
    """Go's templateV7Plus + USTAR fields for one of our entries (uid 1000, gid 0, mtime 0)."""
    block = bytearray(_V7PLUS)
    name_f, mode_f, size_f = _field(name, 100), _octal(mode, 8), _octal(size, 12)
    block[0:100] = name_f
    block[100:108] = mode_f
    block[124:136] = size_f
    block[156:157] = typeflag
    checksum = _V7PLUS_SUM + sum(name_f) + sum(mode_f) + sum(size_f) + typeflag[0]
    if prefix:
        prefix_f = _field(prefix, 155)
        block[345:500] = prefix_f
        checksum += sum(prefix_f)
    block[148:156] = b"%06o\0 " % checksum  # Go's block.setFormat: the same sum, written last
    return bytes(block)


def _pax_record(key: str, value: str) -> bytes:
    """Go's formatPAXRecord: ``"<len> key=value\\n"`` where len counts itself."""
    body = f" {key}={value}\n".encode()
    size = len(body) + len(str(len(body)))
    if len(str(size)) + len(body) != size:
        size = len(str(size)) + len(body)
    return str(size).encode() + body


def _to_ascii(text: str) -> str:
    return "".join(c for c in text if ord(c) < 0x80 and c != "\0")


def tar_header(name: str, mode: int, size: int, *, is_dir: bool) -> bytes:
    """The header block(s) Go's tar writer emits for one entry, padding of PAX data included."""
    typeflag = b"5" if is_dir else b"0"
    pax: dict[str, str] = {}
    prefix, short = "", name
    if len(name.encode()) > _NAME_SIZE or not name.isascii():
        split = _split_ustar(name)
        if split is None:
            pax["path"] = name
        else:
            prefix, short = split
    if size >= _MAX_OCTAL_SIZE:
        pax["size"] = str(size)
    if not pax:
        return _v7plus(short.encode(), mode, size, typeflag, prefix.encode())
    # PAX: an extended header "<dir>/PaxHeaders.0/<base>" (Go's writePAXHeader, writeRawFile)
    records = b"".join(_pax_record(k, pax[k]) for k in sorted(pax))
    directory, _, base = name.rpartition("/")
    pax_name = f"{directory}/PaxHeaders.0/{base}" if directory else f"PaxHeaders.0/{base}"
    pax_name = _to_ascii(pax_name)[:_NAME_SIZE].rstrip("/")
    block = bytearray(BLOCK)
    block[0:100] = _field(pax_name.encode(), 100)
    block[100:108] = _octal(0, 8)
    block[108:116] = _octal(0, 8)
    block[116:124] = _octal(0, 8)
    block[124:136] = _octal(len(records), 12)
    block[136:148] = _octal(0, 12)
    block[156:157] = b"x"
    out = _finish(block) + records + _padding(len(records))
    return out + _v7plus(_to_ascii(name).encode(), mode, size, typeflag)


def _padding(size: int) -> bytes:
    return _ZERO_BLOCK[: (-size) % BLOCK]


def normalized_mode(st_mode: int, *, is_dir: bool) -> int:
    """0755 for directories and owner-executable files, 0644 otherwise (umask-independent)."""
    if is_dir or st_mode & stat.S_IXUSR:
        return 0o755
    return 0o644


# ------------------------------------------------------------------------------------------------
# writer


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


class _Writable(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> int | None: ...


class _Emitter:
    """The file-like object zstd's stream writer writes its output to."""

    def __init__(self, emit: Callable[[bytes], None]) -> None:
        self._emit = emit

    def write(self, data: bytes) -> int:
        self._emit(data)
        return len(data)


class _Sink:
    """Tar bytes in; diffId hash, optional compression, blob hash and counting, bytes out."""

    def __init__(self, out: _Writable, compression: str) -> None:
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


class _Hasher(threading.Thread):
    """A helper thread that hashes buffers handed to it, so two hashes run on two cores."""

    def __init__(self) -> None:
        super().__init__(name="ocikit-hash", daemon=True)
        self._work = threading.Semaphore(0)
        self._done = threading.Semaphore(0)
        self._job: tuple[Any, memoryview] | None = None
        self._quit = False

    def run(self) -> None:
        while True:
            self._work.acquire()
            if self._quit:
                return
            job = self._job
            assert job is not None
            job[0].update(job[1])
            self._done.release()

    def submit(self, h: Any, view: memoryview) -> None:
        self._job = (h, view)
        self._work.release()

    def wait(self) -> None:
        self._done.acquire()

    def stop(self) -> None:
        self._quit = True
        self._work.release()


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
            raise PackError(f"{source} shrank while it was being packed; pack again")
        data += more
    if len(data) > size:
        raise PackError(f"{source} grew while it was being packed; pack again")
    return data


class _Buffers(Protocol):
    """An output's page-aligned buffers, filled in place (``_layout._DirectSink``)."""

    total: int
    on_full: Callable[[memoryview], Callable[[], None]] | None

    def space(self) -> memoryview: ...
    def filled(self, n: int, /) -> None: ...
    def fence(self, wait: Callable[[], None], /) -> None: ...
    def pending(self) -> memoryview: ...
    def write(self, data: bytes | bytearray | memoryview, /) -> int: ...


class _HashLine:
    """A helper thread that runs ``h.update(view)`` for the pieces queued to it, in order.

    ``submit`` returns a ticket; the function ``fence(ticket)`` returns waits until that piece
    (and every earlier one) has been hashed, after which its buffer may be reused.
    """

    def __init__(self, name: str) -> None:
        self._items: collections.deque[tuple[Any, memoryview | bytes] | None] = collections.deque()
        self._cond = threading.Condition()
        self.submitted = 0
        self.done = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items:
                    self._cond.wait()
                item = self._items.popleft()
            if item is None:
                return
            item[0].update(item[1])  # releases the GIL
            del item
            with self._cond:
                self.done += 1
                self._cond.notify_all()

    def submit(self, h: Any, view: memoryview | bytes) -> int:
        with self._cond:
            self._items.append((h, view))
            self.submitted += 1
            self._cond.notify_all()
            return self.submitted

    def wait(self, ticket: int) -> None:
        if self.done >= ticket:
            return
        with self._cond:
            while self.done < ticket:
                self._cond.wait()

    def fence(self, ticket: int) -> Callable[[], None]:
        return lambda: self.wait(ticket)

    @property
    def idle(self) -> bool:
        return self.done == self.submitted

    def stop(self) -> None:
        with self._cond:
            self._items.append(None)
            self._cond.notify_all()
        self._thread.join()


def _open_source(source: str | os.PathLike[str]) -> int:
    """Open a file to pack (both writer paths); an unreadable file is a PackError naming it."""
    try:
        return os.open(source, _READ_FLAGS)
    except OSError as e:
        raise PackError(f"cannot read {source}: {e.strerror}") from e


def _write_tar_direct(
    entries: Sequence[_Entry], buffers: _Buffers, progress: Progress, progress_key: str
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
    tar_line = _HashLine("ocikit-tar-hash")
    file_line = _HashLine("ocikit-file-hash")
    done: list[tuple[_Entry, Any]] = []  # (entry, hex digest or a hash still being fed)
    buffers.on_full = lambda view: tar_line.fence(tar_line.submit(tar_hash, view))
    try:
        for entry in entries:
            header = tar_header(entry.name, entry.mode, entry.size, is_dir=entry.is_dir)
            source = entry.source
            if source is None:
                buffers.write(header)
                continue
            fd = _open_source(source)
            try:
                if entry.size < _SMALL_FILE:
                    data = _read_small(fd, entry.size, source)
                    done.append((entry, hashlib.sha256(data).hexdigest()))
                    buffers.write(header + data + _padding(entry.size))
                    progress.advance(progress_key, entry.size)
                    continue
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
                        raise PackError(f"{source} grew while it was being packed; pack again")
                    remaining -= n
                    buffers.fence(file_line.fence(file_line.submit(file_hash, room[:n])))
                    buffers.filled(n)
                    progress.advance(progress_key, n)
            finally:
                os.close(fd)
            if remaining:
                raise PackError(f"{source} shrank while it was being packed; pack again")
            buffers.write(_padding(entry.size))
            done.append((entry, file_hash))
        buffers.write(_TAR_END)
        tar_line.wait(tar_line.submitted)
        tar_hash.update(buffers.pending())  # the last partial buffer, after every full one
        file_line.wait(file_line.submitted)
    finally:
        buffers.on_full = None
        tar_line.stop()
        file_line.stop()
    files = tuple(
        FileRecord(e.name, e.size, h if isinstance(h, str) else h.hexdigest(), e.mode) for e, h in done
    )
    digest = Digest.from_hash(tar_hash)
    return WrittenLayer(digest, buffers.total, digest, files)


def write_tar(
    entries: Sequence[_Entry],
    out: _Writable,
    *,
    compression: str = "none",
    progress: Progress = SILENT,
    progress_key: str = "layer",
) -> WrittenLayer:
    """Write ``entries`` as one layer to ``out``; return digests, size and per-file records.

    The entries must already be sorted and validated (see ``_pack``). A file whose size changes
    while it is read raises :class:`PackError`: the tar header already promised its size.
    """
    get_buffers = getattr(out, "buffers", None) if compression == "none" else None
    buffers: _Buffers | None = get_buffers() if get_buffers is not None else None
    if buffers is not None and buffers.total == 0:
        return _write_tar_direct(entries, buffers, progress, progress_key)
    sink = _Sink(out, compression)
    files: list[FileRecord] = []
    bufs = (bytearray(CHUNK), bytearray(CHUNK))
    views = (memoryview(bufs[0]), memoryview(bufs[1]))
    hasher: _Hasher | None = None
    try:
        for entry in entries:
            header = tar_header(entry.name, entry.mode, entry.size, is_dir=entry.is_dir)
            source = entry.source
            if source is None:
                sink.write(header)
                continue
            fd = _open_source(source)
            try:
                if entry.size < _SMALL_FILE:
                    # One read, hash inline, one write: a hand-off to the hash thread costs more
                    # than hashing a small file (many-small-files datasets, docs/performance.md).
                    data = _read_small(fd, entry.size, source)
                    digest = hashlib.sha256(data).hexdigest()
                    sink.write(header + data + _padding(entry.size))
                    progress.advance(progress_key, entry.size)
                    files.append(FileRecord(entry.name, entry.size, digest, entry.mode))
                    continue
                if hasher is None:
                    hasher = _Hasher()
                    hasher.start()
                sink.write(header)
                file_hash = hashlib.sha256()
                remaining = entry.size
                which = 0
                pending = False
                while True:
                    view = views[which]
                    n = os.readv(fd, (view,))  # into the buffer the hasher is not using
                    if pending:
                        hasher.wait()
                        pending = False
                    if not n:
                        break
                    if n > remaining:
                        raise PackError(f"{source} grew while it was being packed; pack again")
                    remaining -= n
                    chunk = view[:n]
                    hasher.submit(file_hash, chunk)
                    pending = True
                    sink.write(chunk)
                    progress.advance(progress_key, n)
                    which ^= 1
            finally:
                os.close(fd)
            if remaining:
                raise PackError(f"{source} shrank while it was being packed; pack again")
            sink.write(_padding(entry.size))
            files.append(FileRecord(entry.name, entry.size, file_hash.hexdigest(), entry.mode))
        sink.write(_TAR_END)
        sink.close()
    finally:
        if hasher is not None:
            hasher.stop()
            hasher.join()
    return WrittenLayer(sink.digest, sink.size, sink.diff_id, tuple(files))


# ------------------------------------------------------------------------------------------------
# reading: decompression with a bomb guard, and a strict tar parser


@dataclass(frozen=True)
class Limits:
    """Caps applied while reading a layer (reliability.md §1.4). Override with env variables."""

    #: decompressed bytes may exceed ``max(min_allowance, max_ratio × compressed size)``
    max_ratio: int = 1000
    min_allowance: int = 64 * 1024 * 1024
    max_entries: int = 1_000_000
    max_name_bytes: int = 4096
    max_pax_bytes: int = 1024 * 1024

    @classmethod
    def from_env(cls) -> Limits:
        def get(name: str, default: int) -> int:
            raw = os.environ.get(name)
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError as e:
                raise UsageError(f"{name}={raw!r} is not a whole number") from e
            if value <= 0:
                raise UsageError(f"{name} must be positive, got {value}")
            return value

        d = cls()
        return cls(
            max_ratio=get("OCIKIT_UNPACK_MAX_RATIO", d.max_ratio),
            min_allowance=d.min_allowance,
            max_entries=get("OCIKIT_UNPACK_MAX_ENTRIES", d.max_entries),
        )


class _RawReader(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class _Inflater:
    """A readable over a gzip (multi-member, like Go's reader) or zstd stream, with a cap.

    Each step produces at most about one ``CHUNK`` of output, so memory stays flat however well
    the input compresses; the running total is checked against the allowance at every step.
    """

    def __init__(self, raw: _RawReader, codec: str, compressed_size: int, limits: Limits, what: str) -> None:
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


def open_decompressed(raw: _RawReader, codec: str, compressed_size: int, limits: Limits, what: str) -> _RawReader:
    """The tar stream inside a layer blob (``raw`` is already hashed/verified by the caller)."""
    if codec == "none":
        return raw
    return _Inflater(raw, codec, compressed_size, limits, what)


_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def check_member_name(name: str, what: str) -> str:
    """Validate a tar member name under POSIX and Windows rules; return it without ``./``/``/``.

    Refused: empty names, absolute paths, ``..`` components, backslashes, drive letters, NUL and
    other control characters, over-long names. ``weights..bin`` is fine: only whole ``..``
    components are refused (kit's substring test refuses it, reliability.md §1.1).
    """
    if not name:
        raise UnsafeArchiveError(f"{what}: entry with an empty name")
    if "\\" in name:
        raise UnsafeArchiveError(f"{what}: entry {name!r} contains a backslash")
    if name.startswith("/"):
        raise UnsafeArchiveError(f"{what}: entry {name!r} has an absolute path")
    if _WINDOWS_DRIVE.match(name):
        raise UnsafeArchiveError(f"{what}: entry {name!r} starts with a drive letter")
    if any(ord(c) < 0x20 or c == "\x7f" for c in name):
        raise UnsafeArchiveError(f"{what}: entry {name!r} contains control characters")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeArchiveError(f"{what}: entry {name!r} has a '..' component")
    if any(":" in p for p in parts) and os.name == "nt":  # pragma: no cover - Windows ADS
        raise UnsafeArchiveError(f"{what}: entry {name!r} contains ':'")
    if not parts:
        raise UnsafeArchiveError(f"{what}: entry {name!r} names the target directory itself")
    if any(len(p.encode()) > 255 for p in parts):
        raise UnsafeArchiveError(f"{what}: entry {name[:80]!r}… has a component longer than 255 bytes")
    return "/".join(parts)


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

    def __init__(self, stream: _RawReader, what: str, limits: Limits) -> None:
        self._stream = stream
        self._what = what
        self._limits = limits
        self._left = 0  # body bytes (incl. padding) of the current member not yet consumed
        self._body = 0
        self.count = 0

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
        readinto = getattr(self._stream, "readinto", None)
        if readinto is not None:
            got = readinto(view[:n])
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
        fence = getattr(self._stream, "fence", None)
        return fence() if fence is not None else _no_fence

    def __iter__(self) -> Iterator[Member]:
        pax: dict[str, str] = {}
        long_name: str | None = None
        while True:
            self._body = 0
            self._skip_body()
            block = self._read_header_block()
            if block is None:
                return
            what = self._what
            expected = _parse_octal(block[148:156], what, "checksum")
            actual = sum(block[:148]) + 8 * 32 + sum(block[156:])
            if expected != actual:
                raise UnsafeArchiveError(f"{what}: tar header checksum mismatch (corrupt or not a tar)")
            typeflag = block[156:157]
            size = _parse_octal(block[124:136], what, "size")
            padded = size + (-size) % BLOCK
            self.count += 1
            if self.count > self._limits.max_entries:
                raise UnsafeArchiveError(
                    f"{what}: more than {self._limits.max_entries} tar entries",
                    hint="if the layer is genuine, raise OCIKIT_UNPACK_MAX_ENTRIES",
                )
            if typeflag in (b"x", b"L"):
                if size > self._limits.max_pax_bytes:
                    raise UnsafeArchiveError(f"{what}: extended header of {size} bytes is too large")
                data = self._read_exact(padded)[:size]
                if typeflag == b"x":
                    pax.update(_parse_pax(data, what))
                else:
                    long_name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                continue
            if typeflag == b"g":
                raise UnsafeArchiveError(f"{what}: global PAX header is not accepted in a ModelKit layer")
            if typeflag not in (b"0", b"\0", b"5", b"7"):
                kinds = {b"1": "hard link", b"2": "symbolic link", b"3": "character device",
                         b"4": "block device", b"6": "FIFO", b"S": "sparse file", b"K": "GNU long link"}
                kind = kinds.get(typeflag, f"type {typeflag!r}")
                raw_name = block[0:100].split(b"\0", 1)[0].decode("utf-8", "replace")
                raise UnsafeArchiveError(
                    f"{what}: entry {raw_name!r} is a {kind}; ModelKit layers hold only regular "
                    "files and directories"
                )
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
                padded = size + (-size) % BLOCK
            if pax.get("linkpath"):
                raise UnsafeArchiveError(f"{what}: entry {name!r} carries a link target")
            pax, long_name = {}, None
            if len(name.encode("utf-8", "surrogateescape")) > self._limits.max_name_bytes:
                raise UnsafeArchiveError(f"{what}: entry name longer than {self._limits.max_name_bytes} bytes")
            is_dir = typeflag == b"5" or (typeflag in (b"0", b"\0") and name.endswith("/"))
            mode = _parse_octal(block[100:108], what, "mode")
            if is_dir:
                size, padded = 0, padded  # a directory's body (if any) is skipped
            self._left = padded
            self._body = 0 if is_dir else size
            yield Member(name, is_dir, size, mode)
            if self._body:
                raise UnsafeArchiveError(f"{what}: entry {name!r} was not read to its end")

    def _read_header_block(self) -> bytes | None:
        block = self._stream.read(BLOCK)
        if len(block) < BLOCK:
            block += self._read_exact(BLOCK - len(block)) if block else b""
        if not block:
            raise UnsafeArchiveError(f"{self._what}: tar ends without its end-of-archive marker")
        if block == _ZERO_BLOCK:
            # end of archive; read the rest so the caller can verify the digest of everything
            while self._stream.read(CHUNK):
                pass
            return None
        return block


# ------------------------------------------------------------------------------------------------
# extraction below a directory fd, never following links


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@dataclass
class ExtractState:
    """What earlier layers of the same unpack put into the staging directory."""

    files: dict[str, str] = field(default_factory=dict)  # path → layer label
    dirs: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ExtractedFile:
    path: str
    size: int


class _DirCache:
    """Open directory fds below the root, created on demand with O_NOFOLLOW at every step."""

    def __init__(self, root_fd: int) -> None:
        self._fds: dict[str, int] = {"": root_fd}
        self._root = root_fd

    def get(self, path: str, what: str) -> int:
        fd = self._fds.get(path)
        if fd is not None:
            return fd
        parent, _, base = path.rpartition("/")
        parent_fd = self.get(parent, what)
        with contextlib.suppress(FileExistsError):
            os.mkdir(base, 0o755, dir_fd=parent_fd)
        try:
            fd = os.open(base, _DIR_FLAGS, dir_fd=parent_fd)
        except OSError as e:
            raise UnsafeArchiveError(f"{what}: {path!r} is not a directory where one is needed") from e
        self._fds[path] = fd
        return fd

    def close(self) -> None:
        for p, fd in self._fds.items():
            if p:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fds = {"": self._root}


def extract_layer(
    reader: TarReader,
    root_fd: int,
    state: ExtractState,
    *,
    what: str,
    on_bytes: Callable[[int], None] | None = None,
) -> list[ExtractedFile]:
    """Extract every member of ``reader`` below the directory ``root_fd`` (a fresh staging dir).

    Refuses duplicate files (within the layer or across layers of the same unpack), a file where a
    directory was or vice versa, setuid/setgid bits. Files get 0644, or 0755 when the owner could
    execute; directories 0755; no ownership, times or xattrs are applied.
    """
    dirs = _DirCache(root_fd)
    out: list[ExtractedFile] = []
    seen_in_layer: set[str] = set()
    body_writer: _BodyWriter | None = None
    try:
        for member in reader:
            name = check_member_name(member.name, what)
            if member.mode & (stat.S_ISUID | stat.S_ISGID):
                raise UnsafeArchiveError(f"{what}: entry {name!r} has the setuid/setgid bit set")
            if name in seen_in_layer:
                raise UnsafeArchiveError(f"{what}: entry {name!r} appears twice")
            seen_in_layer.add(name)
            parent = name.rpartition("/")[0]
            if parent in state.files or any(p in state.files for p in _ancestors(parent)):
                raise UnsafeArchiveError(f"{what}: entry {name!r} is below a file of the same layer set")
            if member.is_dir:
                if name in state.files:
                    raise UnsafeArchiveError(f"{what}: directory {name!r} is already a file")
                dirs.get(name, what)
                state.dirs.add(name)
                continue
            if name in state.files:
                raise UnsafeArchiveError(
                    f"{what}: file {name!r} is also in {state.files[name]}; refusing duplicate files"
                )
            if name in state.dirs:
                raise UnsafeArchiveError(f"{what}: file {name!r} is already a directory")
            parent_fd = dirs.get(parent, what)
            mode = 0o755 if member.mode & stat.S_IXUSR else 0o644
            base = name.rpartition("/")[2]
            try:
                fd = os.open(base, _FILE_FLAGS, mode, dir_fd=parent_fd)
            except FileExistsError as e:
                raise UnsafeArchiveError(f"{what}: entry {name!r} appears twice") from e
            try:
                if member.size >= DIRECT_MIN:
                    if body_writer is None:
                        body_writer = _BodyWriter()
                    body_writer.copy(reader, fd, member.size, on_bytes)
                else:
                    _copy_body(reader, fd, on_bytes)
            finally:
                os.close(fd)
            state.files[name] = what
            out.append(ExtractedFile(name, member.size))
    finally:
        dirs.close()
        if body_writer is not None:
            body_writer.close()
    return out


#: Files at least this large are written by :class:`_BodyWriter` (direct I/O, a writer thread);
#: smaller ones with plain writes (a thread hand-off per file would cost more than it saves).
DIRECT_MIN = 8 * 1024 * 1024
#: Size and number of the page-aligned buffers of :class:`_BodyWriter`.
DIRECT_BUFFER = 4 * 1024 * 1024
DIRECT_BUFFERS = 4
#: Direct I/O needs file offsets, lengths and memory aligned to the logical block size; 4 KiB
#: covers every common disk (512e and 4Kn).
_DIRECT_ALIGN = 4096


class _BodyWriter:
    """Writes large file bodies with ``O_DIRECT`` from page-aligned buffers, on a helper thread.

    Why: a buffered write of 2 GiB costs 2-5 CPU-s on two cores (the copy into the page cache and
    the kernel's writeback), which competes with the SHA-256 of the blob; with ``O_DIRECT`` the
    disk DMAs straight from the buffer (docs/performance.md). The main thread reads the tar body
    into buffer *i* (``readinto``: no allocation, the blob hashed as it is read) while the helper
    writes buffers *i-1*, *i-2*, … with ``pwrite``. A buffer is refilled only after its write
    is done. The tail that does not fill a whole aligned block is written with ``O_DIRECT``
    cleared. A file system that refuses direct I/O (at ``fcntl`` or with ``EINVAL`` on a write)
    gets the same bytes buffered, still through the helper thread.

    Nothing else changes: the file is opened by the extractor (``O_EXCL``/``O_NOFOLLOW`` below a
    staging directory), and the blob's digest is still verified before anything leaves staging.
    """

    def __init__(self) -> None:
        import mmap

        self._bufs = [mmap.mmap(-1, DIRECT_BUFFER) for _ in range(DIRECT_BUFFERS)]  # page-aligned
        self._views = [memoryview(b) for b in self._bufs]
        self._free = [threading.Event() for _ in self._bufs]
        self._fences: list[Callable[[], None]] = [_no_fence] * DIRECT_BUFFERS
        for ev in self._free:
            ev.set()
        self._jobs: list[tuple[int, int, int, int] | None] = []  # (fd, buffer, length, offset)
        self._ready = threading.Condition()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ocikit-extract-write", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._jobs:
                    self._ready.wait()
                job = self._jobs.pop(0)
            if job is None:
                return
            fd, i, length, offset = job
            try:
                if self._error is None:
                    self._pwrite_all(fd, self._views[i][:length], offset)
            except BaseException as e:  # reported on the main thread at its next wait
                self._error = e
            finally:
                self._free[i].set()

    @staticmethod
    def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
        while view:
            try:
                n = os.pwrite(fd, view, offset)
            except OSError as e:
                if e.errno != errno.EINVAL or not _clear_direct(fd):
                    raise
                continue  # the file system refused direct I/O: the same bytes, buffered
            view = view[n:]
            offset += n

    def _submit(self, fd: int, i: int, length: int, offset: int) -> None:
        self._free[i].clear()
        with self._ready:
            self._jobs.append((fd, i, length, offset))
            self._ready.notify()

    def _wait(self, i: int) -> None:
        self._free[i].wait()
        self._fences[i]()
        self._raise()

    def _wait_all(self) -> None:
        for i, ev in enumerate(self._free):
            ev.wait()
            self._fences[i]()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def copy(self, reader: TarReader, fd: int, size: int, on_bytes: Callable[[int], None] | None) -> None:
        """Write the current member's ``size`` body bytes from ``reader`` into ``fd`` (empty)."""
        direct = _set_direct(fd)
        offset = 0
        i = 0
        try:
            while offset < size:
                self._wait(i)
                view = self._views[i]
                want = min(DIRECT_BUFFER, size - offset)
                got = 0
                while got < want:
                    got += reader.readinto_body(view[got:want])
                self._fences[i] = reader.fence()  # the blob's hash of this buffer may still run
                aligned = want - want % _DIRECT_ALIGN if direct else want
                if aligned:
                    self._submit(fd, i, aligned, offset)
                if aligned < want:  # the unaligned tail: the file's last bytes
                    self._wait_all()
                    self._raise()
                    _clear_direct(fd)
                    self._pwrite_all(fd, view[aligned:want], offset + aligned)
                offset += want
                i = (i + 1) % DIRECT_BUFFERS
                if on_bytes is not None:
                    on_bytes(want)
        finally:
            self._wait_all()  # never close the fd (or fail) while a write to it is in flight
        self._raise()

    def close(self) -> None:
        with self._ready:
            self._jobs.append(None)
            self._ready.notify()
        self._thread.join()
        for view, buf in zip(self._views, self._bufs, strict=True):
            # After an error, slices of a buffer may live on in the traceback's frames; the
            # mapping is then freed with the last of them instead.
            with contextlib.suppress(BufferError):
                view.release()
                buf.close()


def _set_direct(fd: int) -> bool:
    """Turn on ``O_DIRECT`` for ``fd`` where the platform and file system allow it."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:  # pragma: no cover - macOS, Windows
        return False
    import fcntl

    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | flag)
    except OSError:  # e.g. a file system without direct I/O
        return False
    return True


def _clear_direct(fd: int) -> bool:
    """Turn ``O_DIRECT`` off; False when it was not on (so an ``EINVAL`` is a real error)."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:  # pragma: no cover - macOS, Windows
        return False
    import fcntl

    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    if not flags & flag:
        return False
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~flag)
    return True


def _ancestors(path: str) -> Iterator[str]:
    while path:
        path = path.rpartition("/")[0]
        if path:
            yield path


def _copy_body(reader: TarReader, fd: int, on_bytes: Callable[[int], None] | None) -> None:
    while True:
        data = reader.read_body(CHUNK)
        if not data:
            return
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if on_bytes is not None:
            on_bytes(len(data))


# ------------------------------------------------------------------------------------------------
# hashing a raw stream on a helper thread while it is consumed


class ThreadedHashingReader:
    """Like ``HashingReader`` but hashing on a helper thread: reading and hashing overlap.

    ``read`` returns bytes (so callers may keep them) and queues them for hashing, at most
    :data:`_HASH_AHEAD` pieces ahead. ``readinto`` queues the caller's buffer itself (no copy):
    the caller must call the function that :meth:`fence` returns before it reuses that buffer
    (:class:`_BodyWriter` does). At EOF size and digest are checked.
    """

    def __init__(self, raw: BinaryIO, expected: Digest, size: int, what: str) -> None:
        self._raw = raw
        self._expected = expected
        self._size = size
        self._what = what
        self._hash = hashlib.sha256()
        self.count = 0
        self._queue = _HashLine("ocikit-hash")
        self._verified = False
        self._readinto = True

    def _hash_piece(self, data: memoryview | bytes) -> None:
        if len(data) < 64 * 1024 and self._queue.idle:
            self._hash.update(data)  # a tar header: a thread hand-off would cost more
        else:
            ticket = self._queue.submit(self._hash, data)
            self._queue.wait(ticket - _HASH_AHEAD)  # bounded memory: at most a few pieces queued

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > CHUNK:
            n = CHUNK
        remaining = self._size - self.count
        data = self._raw.read(min(n, remaining) if remaining > 0 else 1)
        if not data:
            self.verify()
            return b""
        self.count += len(data)
        if self.count > self._size:
            raise DigestMismatchError(f"{self._what} {self._expected} is longer than its declared size {self._size}")
        self._hash_piece(data)
        return data

    def readinto(self, b: memoryview) -> int:
        """Read into ``b`` and queue ``b`` itself for hashing; see :meth:`fence`."""
        remaining = self._size - self.count
        view = b[:remaining] if remaining > 0 else b[:1]
        got = 0
        readinto = getattr(self._raw, "readinto", None) if self._readinto else None
        try:
            if readinto is not None:
                got = readinto(view) or 0
        except NotImplementedError:  # an io.RawIOBase that defines only read()
            readinto = None
            self._readinto = False
        if readinto is None:
            data = self._raw.read(len(view))
            got = len(data)
            view[:got] = data
        if not got:
            self.verify()
            return 0
        self.count += got
        if self.count > self._size:
            raise DigestMismatchError(f"{self._what} {self._expected} is longer than its declared size {self._size}")
        self._hash_piece(view[:got])
        return int(got)

    def fence(self) -> Callable[[], None]:
        """A function that returns once everything read so far has been hashed."""
        ticket = self._queue.submitted
        return lambda: self._queue.wait(ticket)

    def verify(self) -> None:
        self._queue.wait(self._queue.submitted)
        if self._verified:
            return
        if self.count != self._size:
            raise DigestMismatchError(
                f"{self._what} {self._expected} ended after {self.count} bytes, expected {self._size}"
            )
        actual = Digest.from_hash(self._hash)
        if actual != self._expected:
            raise DigestMismatchError(f"{self._what} content does not match its digest {self._expected} (got {actual})")
        self._verified = True

    def drain(self) -> None:
        while self.read(CHUNK):
            pass
        self.verify()

    def close(self) -> None:
        self._queue.stop()
        self._raw.close()


#: How many pieces ``ThreadedHashingReader`` may queue before ``read`` waits for the hash thread.
_HASH_AHEAD = 4

