"""Moving the staged tree into the target, without following a link or clobbering a file.

Files are moved through directory file descriptors opened with ``O_NOFOLLOW``: a pre-existing
symlink where a file or directory goes is refused, existing files are an error unless
``overwrite`` (replace) or ``ignore_existing`` (keep); an existing Kitfile identical to the
ModelKit's is kept. Every conflict is found (:func:`plan_moves`) before anything is moved
(:func:`apply_moves`), so a refused unpack leaves the target as it was.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ocikit._io._digest import CHUNK
from ocikit._ops._unpack_staging import DIR_FLAGS
from ocikit.errors import TargetExistsError, UnsafeArchiveError

__all__ = ["KITFILE_NAME", "Moves", "apply_moves", "files_below", "plan_moves"]

KITFILE_NAME = "Kitfile"


@dataclass
class Moves:
    renames: list[str] = field(default_factory=list)  # staged paths to move (new or replacing)
    kept: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def _same_content(a_fd: int, b_fd: int, name: str) -> bool:
    try:
        fa = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=a_fd)
    except OSError:
        return False
    try:
        fb = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=b_fd)
    except OSError:
        os.close(fa)
        return False
    with open(fa, "rb") as x, open(fb, "rb") as y:
        while True:
            ca, cb = x.read(CHUNK), y.read(CHUNK)
            if ca != cb:
                return False
            if not ca:
                return True


def plan_moves(s_fd: int, t_fd: int, target: Path, overwrite: bool, ignore_existing: bool) -> Moves:
    """What to move from the staged tree ``s_fd`` into ``t_fd`` (the directory ``target``);
    refuses (:class:`TargetExistsError`) when existing files are in the way."""
    moves = Moves()
    _plan_dir(s_fd, t_fd, "", moves, overwrite, ignore_existing)
    if moves.conflicts:
        shown = ", ".join(moves.conflicts[:3]) + (f" and {len(moves.conflicts) - 3} more"
                                                  if len(moves.conflicts) > 3 else "")
        if len(moves.conflicts) == 1:
            raise TargetExistsError(f"{shown} already exists in {target}")
        raise TargetExistsError(f"{len(moves.conflicts)} paths already exist in {target}: {shown}")
    return moves


def _plan_dir(s_fd: int, t_fd: int, rel: str, moves: Moves, overwrite: bool, ignore_existing: bool) -> None:
    for name in sorted(os.listdir(s_fd)):
        path = f"{rel}/{name}" if rel else name
        s_st = os.lstat(name, dir_fd=s_fd)
        try:
            t_st = os.lstat(name, dir_fd=t_fd)
        except FileNotFoundError:
            moves.renames.append(path)
            continue
        if stat.S_ISLNK(t_st.st_mode):
            raise UnsafeArchiveError(
                f"{path} already exists in the target as a symbolic link; refusing to write through it",
                hint="remove the link, or unpack into an empty directory",
            )
        if stat.S_ISDIR(s_st.st_mode):
            if not stat.S_ISDIR(t_st.st_mode):
                raise TargetExistsError(f"{path} exists in the target and is not a directory",
                                        hint="remove it or unpack into another directory")
            cs = os.open(name, DIR_FLAGS, dir_fd=s_fd)
            try:
                ct = os.open(name, DIR_FLAGS, dir_fd=t_fd)
            except OSError as e:
                os.close(cs)
                raise UnsafeArchiveError(f"{path}: cannot open the existing directory safely ({e.strerror})") from e
            try:
                _plan_dir(cs, ct, path, moves, overwrite, ignore_existing)
            finally:
                os.close(cs)
                os.close(ct)
            continue
        if not stat.S_ISREG(t_st.st_mode):
            raise TargetExistsError(f"{path} exists in the target and is not a regular file",
                                    hint="remove it or unpack into another directory")
        if path == KITFILE_NAME and _same_content(s_fd, t_fd, name):
            moves.kept.append(path)
        elif overwrite:
            moves.renames.append(path)
        elif ignore_existing:
            moves.kept.append(path)
        elif path == KITFILE_NAME:
            moves.conflicts.append(f"{path} (exists and does not match the ModelKit's Kitfile)")
        else:
            moves.conflicts.append(path)


def apply_moves(s_root: int, t_root: int, renames: list[str]) -> None:
    cache_s: dict[str, int] = {"": s_root}
    cache_t: dict[str, int] = {"": t_root}

    def dir_fd(cache: dict[str, int], rel: str) -> int:
        if rel in cache:
            return cache[rel]
        parent, _, base = rel.rpartition("/")
        fd = os.open(base, DIR_FLAGS, dir_fd=dir_fd(cache, parent))
        cache[rel] = fd
        return fd

    try:
        for path in renames:
            parent, _, base = path.rpartition("/")
            os.rename(base, base, src_dir_fd=dir_fd(cache_s, parent), dst_dir_fd=dir_fd(cache_t, parent))
    finally:
        for cache in (cache_s, cache_t):
            for rel, fd in cache.items():
                if rel:
                    os.close(fd)


def files_below(root_fd: int, rel: str) -> list[str]:
    """Regular files in the staged subtree ``rel`` (for the list of written paths)."""
    st = os.lstat(rel, dir_fd=root_fd)
    if not stat.S_ISDIR(st.st_mode):
        return [rel]
    out: list[str] = []
    fd = os.open(rel, DIR_FLAGS, dir_fd=root_fd)
    try:
        for name in sorted(os.listdir(fd)):
            out.extend(f"{rel}/{p}" for p in files_below(fd, name))
    finally:
        os.close(fd)
    return out
