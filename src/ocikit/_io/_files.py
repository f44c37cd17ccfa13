"""Writing a small file so that nobody ever sees half of it: Kitfiles, keys, credentials, SBOMs.

Blobs of the local store have their own path (``_store._blobs``: ingest files, digest checks); this
is for the few whole files ocikit writes next to the user's own, and the store's ``index.json``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["fsync_dir", "write_atomic"]


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644, overwrite: bool = True,
                 strict: bool = False) -> None:
    """Write ``data`` to ``path`` whole or not at all, with permissions ``mode``.

    The bytes go to a temporary file in the same directory (created 0600, so a secret is never
    readable by others, not even for a moment), are fsynced, get ``mode`` exactly (whatever the
    umask), and then replace ``path`` (``overwrite``) or are hard-linked to it, which raises
    ``FileExistsError`` if ``path`` exists or appeared meanwhile: never overwrite by accident. On a
    filesystem without hard links the fallback is an exclusive create, removed again on failure.
    The directory is fsynced after the rename or link, so the new name survives a power cut as
    the local store's ``index.json`` does. The temporary file never outlives the call.
    ``OSError`` propagates; callers turn it into their own error class. ``strict``: a directory
    that cannot be fsynced is an error too (:func:`fsync_dir`).
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        _write_synced(fd, data)
        os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise
            except OSError:
                _create_exclusive(target, data, mode)
        fsync_dir(target.parent, strict=strict)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def fsync_dir(directory: Path, *, strict: bool = False) -> None:
    """Make a rename or link in ``directory`` durable: best effort where directories cannot be
    opened or fsynced, unless ``strict`` (the local store, whose guarantees rest on it)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        if strict:
            raise
        return
    try:
        if strict:
            os.fsync(fd)
        else:
            with contextlib.suppress(OSError):
                os.fsync(fd)
    finally:
        os.close(fd)


def _create_exclusive(target: Path, data: bytes, mode: int) -> None:
    """No hard links here: create ``target`` exclusively and write it, removing it on failure."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        _write_synced(fd, data)
        os.chmod(target, mode)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
        raise


def _write_synced(fd: int, data: bytes) -> None:
    """Write ``data`` to the open file ``fd``, fsync it and close it."""
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
