"""Walking a pack's context directory for one layer: which entries it holds, in which order.

* A layer holds its path, everything below it, and its ancestor directories; names are relative to
  the context, in ``filepath.Walk`` order (depth-first, each directory's entries sorted by bytes).
* ``.kitignore`` (dockerignore rules, ``_kitfile._ignore``) drops entries; the Kitfile and
  ``.kitignore`` at the context root are never packed.
* Paths claimed by another layer (``excluded``) are left out, comparing whole path components
  (:func:`is_under`), so every file lands in exactly one layer (docs/compatibility.md §3.3).
* Symbolic links are followed when their target (fully resolved) stays inside the context: the
  link's name is packed as a regular file or directory with the target's content. A link that leads
  outside the context, or a loop, is a :class:`PackError` naming the link (kit drops links silently,
  kitops issue #1237; we neither drop nor leak). Sockets, FIFOs and devices are skipped (and listed
  in the plan). Hard links become separate regular files.
* Names must be UTF-8 without backslashes or control characters, so they unpack the same anywhere.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocikit._kitfile._ignore import IgnoreMatcher, load_kitignore
from ocikit._layers._format import normalized_mode
from ocikit.errors import PackError

__all__ = ["PlannedEntry", "Walker", "clean_layer_path", "is_under"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PlannedEntry:
    """One tar entry of the plan; also what ``write_tar`` reads (no second copy of the plan).

    Slots and a string ``source``: a plan may hold a hundred thousand of these, and a ``Path``
    per entry cost more than the rest of the entry (docs/performance.md).
    """

    name: str  # tar name
    is_dir: bool
    size: int
    source: str | None  # the file read (a symlink's resolved target), None for directories
    mode: int = 0o755  # normalised (see _layers.normalized_mode)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.name, "type": "dir" if self.is_dir else "file", "size": self.size}


def clean_layer_path(path: str) -> str:
    """Go's filepath.Clean of a Kitfile path, as a context-relative POSIX path ("." for the root)."""
    cleaned = posixpath.normpath(path.replace("\\", "/")) if path else "."
    if cleaned.startswith("/") or cleaned == ".." or cleaned.startswith("../"):
        raise PackError(f"Kitfile path {path!r} points outside the context directory")
    return cleaned


def is_under(path: str, base: str) -> bool:
    """``path`` is ``base`` or below it, comparing whole components ("." contains everything)."""
    return base == "." or path == base or path.startswith(base + "/")


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\\]")  # control characters and backslashes


def _check_name(name: str, context: Path) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as e:
        raise PackError(f"{context / name!r}: file name is not valid UTF-8", hint="rename the file") from e
    if _UNSAFE_NAME.search(name):
        raise PackError(
            f"{name!r}: file names with backslashes or control characters cannot be unpacked safely",
            hint="rename the file or exclude it in .kitignore",
        )


class Walker:
    """Walks the context for one layer at a time, applying ignores, claims and the symlink policy.

    What the ignore rules dropped and the special files skipped, over all layers walked, collect
    in :attr:`ignored` and :attr:`skipped`.
    """

    def __init__(self, context: Path, matcher: IgnoreMatcher | None = None) -> None:
        self.context = context
        self.root = str(context)
        self.real = os.path.realpath(context)
        self.matcher = matcher if matcher is not None else load_kitignore(context)
        self.ignored: set[str] = set()
        self.skipped: set[str] = set()

    def _resolve(self, rel: str) -> tuple[os.stat_result, str]:
        """lstat ``rel``; for a symlink, check it stays inside and return the target's stat."""
        full = self.root if rel == "." else os.path.join(self.root, rel)
        try:
            st = os.lstat(full)
        except FileNotFoundError as e:
            raise PackError(f"path {rel} does not exist in {self.context}") from e
        if not stat.S_ISLNK(st.st_mode):
            return st, full
        target = os.path.realpath(full)
        if os.path.commonpath([self.real, target]) != self.real:
            raise PackError(
                f"{rel} is a symbolic link to {target}, which is outside the context directory",
                hint="copy the file into the context, or exclude the link in .kitignore",
            )
        try:
            st = os.stat(target)
        except FileNotFoundError as e:
            raise PackError(f"{rel} is a broken symbolic link (target {target} does not exist)",
                            hint="fix or remove the link, or exclude it in .kitignore") from e
        return st, target

    def entries(self, layer_path: str, excluded: Sequence[str]) -> list[PlannedEntry]:
        """The entries of the layer whose cleaned path is ``layer_path``, without ``excluded`` subtrees."""
        out: list[PlannedEntry] = []
        if layer_path != ".":
            parts = layer_path.split("/")
            # ancestors of the layer path, then the layer path itself
            for i in range(1, len(parts)):
                rel = "/".join(parts[:i])
                st, _ = self._resolve(rel)
                if not stat.S_ISDIR(st.st_mode):
                    raise PackError(f"path {layer_path}: {rel} is not a directory")
                if self.matcher.ignored(rel):
                    self.ignored.add(rel)
                    if not self.matcher.has_exclusions:
                        log.warning("layer path %s is ignored by .kitignore", layer_path)
                        return out
                    continue
                out.append(PlannedEntry(rel, True, 0, None))
            self._visit(layer_path, excluded, out, set(), top=True)
        else:
            st, _ = self._resolve(".")
            self._children(".", self.context, excluded, out, {(st.st_dev, st.st_ino)})
        return out

    def _visit(self, rel: str, excluded: Sequence[str], out: list[PlannedEntry],
               stack: set[tuple[int, int]], *, top: bool = False) -> None:
        if any(is_under(rel, p) for p in excluded):
            return
        ignored = self.matcher.ignored(rel)
        if ignored:
            self.ignored.add(rel)
            if top:
                log.warning("layer path %s is ignored by .kitignore", rel)
            if not self.matcher.has_exclusions:
                return  # pruned before looking at it: an ignored link may point anywhere
        st, source = self._resolve(rel)
        if ignored and not stat.S_ISDIR(st.st_mode):
            return
        _check_name(rel, self.context)
        if stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key in stack:
                raise PackError(f"{rel} is a symbolic link that loops back to one of its parent directories",
                                hint="remove the link or exclude it in .kitignore")
            if not ignored:
                out.append(PlannedEntry(rel, True, 0, None))
            self._children(rel, source, excluded, out, stack | {key})
        elif stat.S_ISREG(st.st_mode):
            out.append(PlannedEntry(rel, False, st.st_size, source, normalized_mode(st.st_mode, is_dir=False)))
        else:
            self.skipped.add(rel)
            log.info("skipping %s: not a regular file or directory", rel)

    def _children(self, rel: str, directory: str | Path, excluded: Sequence[str], out: list[PlannedEntry],
                  stack: set[tuple[int, int]]) -> None:
        try:
            names = os.listdir(directory)
        except OSError as e:
            raise PackError(f"cannot list {directory}: {e.strerror}") from e
        for name in sorted(names, key=lambda n: os.fsencode(n)):
            child = name if rel == "." else f"{rel}/{name}"
            self._visit(child, excluded, out, stack)
