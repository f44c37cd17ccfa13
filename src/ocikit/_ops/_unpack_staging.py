"""The staging directory of an unpack: where layers are extracted before anything reaches the target.

Every unpack extracts into its own ``<target>/.ocikit-unpack-XXXX``: the tree goes into ``tree``,
and the lock file ``lock`` stays ``flock``-ed for as long as the unpack runs. Staging directories
whose lock can be taken were left by a killed unpack and are removed first; the staging directory
is removed at the end whatever happens, so the target keeps only what was moved into it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["DIR_FLAGS", "STAGING_LOCK", "STAGING_PREFIX", "STAGING_TREE", "remove_stale_staging", "staging_tree"]

log = logging.getLogger(__name__)

STAGING_PREFIX = ".ocikit-unpack-"
#: Inside a staging directory: the lock file its unpack keeps ``flock``-ed, and the extracted tree.
STAGING_LOCK = "lock"
STAGING_TREE = "tree"
#: A staging directory without a lock file (made by an older ocikit) older than this is stale.
_STALE_UNLOCKED_AGE = 3600.0

#: How the staged and the target directories are opened: never through a symbolic link.
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@contextlib.contextmanager
def staging_tree(target: Path) -> Iterator[int]:
    """A new staging directory in ``target`` with its lock held; yields a descriptor of its (empty)
    tree directory. The whole staging directory is removed when the block ends."""
    remove_stale_staging(target)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=target))
    lock_fd = -1
    try:
        # Held until the staging directory is gone: tells later unpacks this one is alive.
        lock_fd = os.open(staging / STAGING_LOCK, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                          | getattr(os, "O_CLOEXEC", 0), 0o600)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        os.mkdir(staging / STAGING_TREE, 0o700)
        s_fd = os.open(staging / STAGING_TREE, DIR_FLAGS)
        try:
            yield s_fd
        finally:
            os.close(s_fd)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if lock_fd >= 0:
            os.close(lock_fd)


def remove_stale_staging(target: Path) -> None:
    """Remove staging directories left by unpacks that died (``kill -9``) in ``target``.

    A live unpack keeps its staging directory's lock file ``flock``-ed; a directory whose lock can
    be taken belongs to a dead process. One without a lock file (an older ocikit, or an unpack that
    has only just created it) is removed only when it is old.
    """
    try:
        entries = list(os.scandir(target))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(STAGING_PREFIX):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            lock_path = os.path.join(entry.path, STAGING_LOCK)
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
            except FileNotFoundError:
                if time.time() - entry.stat(follow_symlinks=False).st_mtime > _STALE_UNLOCKED_AGE:
                    shutil.rmtree(entry.path, ignore_errors=True)
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a concurrent unpack is using it
                log.info("removing %s, left by an interrupted unpack", entry.path)
                shutil.rmtree(entry.path, ignore_errors=True)
            finally:
                os.close(fd)
        except OSError as e:
            log.debug("cannot check staging directory %s: %s", entry.path, e)
