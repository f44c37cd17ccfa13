"""Before the first layer byte of an unpack is fetched: does something in the target block it?

What an unpack will write is partly known from metadata alone: a raw layer's file (its
``org.cncf.model.filepath``), every file of a layer that has a table of contents (``_layers._toc``),
each Kitfile element's path (a file, or a directory holding the layer's files), the Kitfile and
``SBOM.json``. Each of those paths is looked up in the target, one component at a time through
directory descriptors opened with ``O_NOFOLLOW`` (the rules ``_unpack_moves`` applies after
extraction): a symbolic link on the way is refused; a file where a directory must go, or a
directory where a file goes, is refused; an existing file is a conflict unless ``overwrite`` or
``ignore_existing`` (an existing Kitfile identical to the ModelKit's is fine). ``_unpack_moves``
still checks the whole staged tree afterwards: this check only moves the refusals it can foresee
ahead of the download. An empty or missing target is never looked at.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ocikit._ops._unpack_moves import KITFILE_NAME
from ocikit._ops._unpack_staging import DIR_FLAGS
from ocikit.errors import OcikitError, TargetExistsError, UnsafeArchiveError

if TYPE_CHECKING:
    from ocikit._io._digest import Digest
    from ocikit._layers._toc import Toc
    from ocikit._ops._unpack_layers import LayerJob

__all__ = ["Expected", "check_target", "expected_paths"]

log = logging.getLogger(__name__)

_HINT = "pass --overwrite to replace or --ignore-existing to keep existing files; nothing was downloaded"


@dataclass(frozen=True)
class Expected:
    """A target-relative path the unpack will create: a regular file (``is_file``), or a path the
    layer holds as a file or a directory (an element path of a layer without a table of contents)."""

    path: str
    is_file: bool
    content: bytes | None = None  # known bytes (the Kitfile): an identical existing file is kept


def expected_paths(jobs: Sequence[LayerJob], tocs: Callable[[], dict[Digest, Toc]], *,
                   kitfile: bytes | None, sbom_name: str | None) -> list[Expected]:
    """What ``jobs`` (and the Kitfile and SBOM, when they are written) will create, from metadata.

    ``tocs`` is called once, only when a layer could have a table of contents; a table that cannot
    be read is ignored here (the element path is checked instead).
    """
    from ocikit._ops._unpack_file import TOC_MIN_LAYER

    loaded: dict[Digest, Toc] | None = None
    out: list[Expected] = []
    for job in jobs:
        if job.raw_name is not None:
            out.append(Expected(job.raw_name, True))
            continue
        if job.codec == "none" and job.desc.size >= TOC_MIN_LAYER:
            if loaded is None:
                try:
                    loaded = tocs()
                except OcikitError as e:
                    log.info("tables of contents not used to check the target: %s", e)
                    loaded = {}
            toc = loaded.get(job.desc.digest)
            if toc is not None:
                out.extend(Expected(entry.path, True) for entry in toc.entries)
                continue
        out.append(Expected(job.path, False))
    if kitfile is not None:
        out.append(Expected(KITFILE_NAME, True, kitfile))
    if sbom_name is not None:
        out.append(Expected(sbom_name, True))
    return out


def _parts(path: str) -> list[str] | None:
    """The components of a relative path, or None for one the extractor refuses anyway (absolute,
    ``..``) or the context itself (``.``)."""
    if path.startswith("/") or "\\" in path:
        return None
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return parts if parts and ".." not in parts else None


def check_target(target: Path, expected: Iterable[Expected], *, overwrite: bool, ignore_existing: bool) -> None:
    """Refuse, before any download, what the move into ``target`` would refuse after it."""
    try:
        t_fd = os.open(target, DIR_FLAGS)
    except FileNotFoundError:
        return
    except OSError as e:
        if e.errno in (errno.ENOTDIR, errno.ELOOP):
            raise TargetExistsError(f"{target} exists and is not a directory") from e
        raise
    conflicts: list[str] = []
    try:
        if not os.listdir(t_fd):
            return
        for item in expected:
            parts = _parts(item.path)
            if parts is not None and _blocked(t_fd, parts, item, overwrite or ignore_existing):
                conflicts.append("/".join(parts) + (" (exists and does not match the ModelKit's Kitfile)"
                                                    if item.content is not None else ""))
    finally:
        os.close(t_fd)
    if conflicts:
        shown = ", ".join(conflicts[:3]) + (f" and {len(conflicts) - 3} more" if len(conflicts) > 3 else "")
        if len(conflicts) == 1:
            raise TargetExistsError(f"{shown} already exists in {target}", hint=_HINT)
        raise TargetExistsError(f"{len(conflicts)} paths already exist in {target}: {shown}", hint=_HINT)


def _blocked(t_fd: int, parts: list[str], item: Expected, replace_ok: bool) -> bool:
    """Whether the existing ``parts`` path is a conflict; raises for what no flag allows."""
    shown = "/".join(parts)
    fd = t_fd
    try:
        for depth, name in enumerate(parts):
            where = "/".join(parts[:depth + 1])
            try:
                st = os.lstat(name, dir_fd=fd)
            except FileNotFoundError:
                return False
            if stat.S_ISLNK(st.st_mode):
                raise UnsafeArchiveError(
                    f"{where} already exists in the target as a symbolic link; refusing to write through it",
                    hint="remove the link, or unpack into an empty directory; nothing was downloaded")
            last = depth == len(parts) - 1
            if not last:
                if not stat.S_ISDIR(st.st_mode):
                    raise TargetExistsError(f"{where} exists in the target and is not a directory",
                                            hint="remove it or unpack into another directory; nothing was downloaded")
                child = os.open(name, DIR_FLAGS, dir_fd=fd)
                if fd != t_fd:
                    os.close(fd)
                fd = child
                continue
            if stat.S_ISDIR(st.st_mode):
                if item.is_file:
                    raise TargetExistsError(f"{shown} exists in the target and is not a regular file",
                                            hint="remove it or unpack into another directory; nothing was downloaded")
                return False  # the files below it are checked after extraction
            if not stat.S_ISREG(st.st_mode):
                raise TargetExistsError(f"{shown} exists in the target and is not a regular file",
                                        hint="remove it or unpack into another directory; nothing was downloaded")
            if replace_ok:
                return False
            return not (item.content is not None and _same(fd, name, item.content))
        return False
    finally:
        if fd != t_fd:
            os.close(fd)


def _same(dir_fd: int, name: str, content: bytes) -> bool:
    try:
        f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError:
        return False
    with open(f, "rb") as fh:
        return fh.read(len(content) + 1) == content
