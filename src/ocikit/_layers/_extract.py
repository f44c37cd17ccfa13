"""The safe extractor: a layer's members written below a directory file descriptor, never following links.

Only regular files and directories are written, below a fresh staging directory, opening every
component with ``O_NOFOLLOW`` and every file with ``O_EXCL``; anything else is an
:class:`~ocikit.errors.UnsafeArchiveError`. Names are checked under POSIX and Windows rules.
Large bodies go through the direct-I/O writer (:class:`~ocikit._io._direct.DirectWriter`).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ocikit._io._digest import CHUNK
from ocikit._io._direct import DirectWriter
from ocikit._layers._reader import Member, TarReader
from ocikit.errors import UnsafeArchiveError

__all__ = ["DIRECT_MIN", "ExtractState", "ExtractedFile", "check_member_name", "extract_layer"]

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def check_member_name(name: str, what: str) -> str:
    """Validate a tar member name under POSIX and Windows rules; return it without ``./``/``/``.

    Refused: empty names, absolute paths, ``..`` components, backslashes, drive letters, NUL and
    other control characters, over-long names. ``weights..bin`` is fine: only whole ``..``
    components are refused (kit's substring test refuses it, docs/reliability.md §H1).
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
    body = _Bodies(reader, on_bytes)
    try:
        for member in reader:
            name = _checked(member, state, seen_in_layer, what)
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
            parent, _, base = name.rpartition("/")
            mode = 0o755 if member.mode & stat.S_IXUSR else 0o644
            try:
                fd = os.open(base, _FILE_FLAGS, mode, dir_fd=dirs.get(parent, what))
            except FileExistsError as e:
                raise UnsafeArchiveError(f"{what}: entry {name!r} appears twice") from e
            try:
                body.write(fd, member.size)
            finally:
                os.close(fd)
            state.files[name] = what
            out.append(ExtractedFile(name, member.size))
    finally:
        dirs.close()
        body.close()
    return out


def _checked(member: Member, state: ExtractState, seen_in_layer: set[str], what: str) -> str:
    """The member's checked name; refuses setuid/setgid, duplicates and entries below a file."""
    name = check_member_name(member.name, what)
    if member.mode & (stat.S_ISUID | stat.S_ISGID):
        raise UnsafeArchiveError(f"{what}: entry {name!r} has the setuid/setgid bit set")
    if name in seen_in_layer:
        raise UnsafeArchiveError(f"{what}: entry {name!r} appears twice")
    seen_in_layer.add(name)
    parent = name.rpartition("/")[0]
    if parent in state.files or any(p in state.files for p in _ancestors(parent)):
        raise UnsafeArchiveError(f"{what}: entry {name!r} is below a file of the same layer set")
    return name


#: Files at least this large are written by the :class:`~ocikit._io._direct.DirectWriter`
#: (direct I/O, a writer thread); smaller ones with plain writes (a thread hand-off per file
#: would cost more than it saves).
DIRECT_MIN = 8 * 1024 * 1024


class _Bodies:
    """Writes the current member's body into a fresh file: large ones through one
    :class:`DirectWriter` (started on the first, shared by the rest), small ones directly.

    Large bodies are read straight into the writer's aligned buffers (``readinto``: no
    allocation, the blob hashed as it is read); a buffer is refilled only after its write and the
    hash of it are done. Nothing else changes: the file is opened by the extractor
    (``O_EXCL``/``O_NOFOLLOW`` below a staging directory), and the blob's digest is still
    verified before anything leaves staging.
    """

    def __init__(self, reader: TarReader, on_bytes: Callable[[int], None] | None) -> None:
        self._reader = reader
        self._on_bytes = on_bytes
        self._direct: DirectWriter | None = None

    def write(self, fd: int, size: int) -> None:
        if size < DIRECT_MIN:
            _copy_body(self._reader, fd, self._on_bytes)
            return
        if self._direct is None:
            self._direct = DirectWriter()
        writer, reader = self._direct, self._reader
        writer.attach(fd)
        try:
            remaining = size
            while remaining:
                room = writer.space()
                got = reader.readinto_body(room[:remaining])
                writer.fence(reader.fence())  # the blob's hash of this piece may still run
                writer.filled(got)
                remaining -= got
                if self._on_bytes is not None:
                    self._on_bytes(got)
        except BaseException:
            writer.abandon()  # never close the fd (or fail) while a write to it is in flight
            raise
        writer.finish()

    def close(self) -> None:
        if self._direct is not None:
            self._direct.close()


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

