"""What ``fsck --repair`` does to the local store once ``fsck`` has found the problems.

Only what can be fixed without the content: corrupt blobs are deleted (a pull or pack writes them
again), ``index.json`` entries whose manifest is unusable are dropped (re-decided under the index
lock), foreign or missing entries leave the referrers fallback indexes, and leftovers of
interrupted writes older than a threshold are removed unless a download still holds them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ocikit._io._digest import Digest
from ocikit._oci._model import Descriptor
from ocikit._store._layout import LocalStore
from ocikit._store._referrers import fallback_tag, remove_from_fallback
from ocikit._store._scan import entry_name, load_manifest
from ocikit.errors import VerificationError

__all__ = ["Repaired", "repair"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Repaired:
    """What ``repair`` changed, named as ``fsck`` names the problems."""

    blobs: tuple[Digest, ...]  # corrupt blobs deleted
    entries: tuple[str, ...]  # dangling index.json entries dropped (their names)
    referrer_indexes: tuple[str, ...]  # ``repository:sha256-<hex>`` fallback indexes cleaned
    files: tuple[str, ...]  # stale files removed, relative to the store


def repair(
    store: LocalStore,
    *,
    corrupt: list[Digest],
    dangling: set[Descriptor],
    referrer_fixes: list[tuple[str, Digest, Digest]],
    candidates: list[Path],
    stale_seconds: float,
) -> Repaired:
    """Fix what ``fsck`` found: ``referrer_fixes`` are (repository, subject, referrer to drop)."""
    for digest in corrupt:
        with contextlib.suppress(FileNotFoundError):
            store.blob_path(digest).unlink()
        log.info("removed corrupt blob %s", digest)
    dropped = _drop_dangling(store, dangling) if dangling else []
    cleaned = []
    for repo, subject, digest in referrer_fixes:
        remove_from_fallback(store.repository(repo), subject, digest)
        cleaned.append(f"{repo}:{fallback_tag(subject)}")
    removed = _remove_stale(store, candidates, stale_seconds)
    return Repaired(tuple(corrupt), tuple(dropped), tuple(cleaned), tuple(removed))


def _drop_dangling(store: LocalStore, dangling: set[Descriptor]) -> list[str]:
    dropped: list[str] = []

    def change(current: list[Descriptor]) -> list[Descriptor]:
        # Re-decide under the lock: a concurrent pull may have completed an entry meanwhile.
        kept = []
        for d in current:
            if d in dangling and not _usable(store, d):
                dropped.append(entry_name(d))
                continue
            kept.append(d)
        return kept

    store.update_index(change)
    for name in dropped:
        log.info("dropped dangling index.json entry %s", name)
    return dropped


def _remove_stale(store: LocalStore, candidates: list[Path], stale_seconds: float) -> list[str]:
    removed: list[str] = []
    now = time.time()
    for path in candidates:
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if age < stale_seconds:
            continue
        if path.suffix == ".partial" and _is_locked(path.with_suffix(".lock")):
            continue  # a download is writing it right now
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(str(path.relative_to(store.root)))
            log.info("removed stale file %s", path)
    return removed


def _usable(store: LocalStore, desc: Descriptor) -> bool:
    """The entry's manifest is present with its size and parses."""
    if not store.has_blob(desc.digest, desc.size):
        return False
    try:
        return load_manifest(store, desc) is not None
    except VerificationError:
        return False


def _is_locked(lock_path: Path) -> bool:
    """True when another process holds ``lock_path`` (an ingest in progress)."""
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return True
            raise
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
