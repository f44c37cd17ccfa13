"""Extracting one layer into the staging directory, checked on the way.

The blob is streamed from its storage (the local store, or straight from a registry) through a
hashing reader into the strict tar reader of ``_layers`` (no links, devices, FIFOs,
setuid/setgid, ``..``, absolute or backslash names, duplicates, lying sizes, bombs). Each blob's
digest and size are checked at its end; for compressed layers the config's diffId is checked too.
A CNCF ModelPack ``.raw`` layer's single file is read as a one-entry tar.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from typing import Any

from ocikit._io._digest import HashingReader, ThreadedHashingReader, mismatch_error
from ocikit._io._progress import Progress
from ocikit._layers._compress import open_decompressed
from ocikit._layers._extract import ExtractState, extract_layer
from ocikit._layers._reader import TarReader
from ocikit._layers._types import Limits
from ocikit._ops._unpack_layers import LayerJob
from ocikit._ops._unpack_staging import DIR_FLAGS
from ocikit.errors import DigestMismatchError, OcikitError, UnsafeArchiveError

__all__ = ["extract_job"]


def extract_job(job: LayerJob, staging_fd: int, state: ExtractState, limits: Limits, progress: Progress) -> int:
    what = f"{job.kind} layer {job.path!r} ({job.desc.digest.short}) of {job.source}"
    key = f"{job.source}:{job.desc.digest}"
    progress.start(key, f"{job.kind} {job.path}", job.desc.size if job.codec == "none" else 0)
    raw = job.storage.open_blob(job.desc)
    hashed = ThreadedHashingReader(raw, job.desc.digest, job.desc.size, f"{job.kind} layer {job.path!r}")
    try:
        stream: Any = open_decompressed(hashed, job.codec, job.desc.size, limits, what)
        # the uncompressed tar (or raw file), hashed for the config's diffId (checked after the blob's digest)
        diff = HashingReader(stream, None, None) if job.codec != "none" and job.diff_id is not None else None
        if diff is not None:
            stream = diff
        if job.raw_name is not None:
            from ocikit._modelkit._raw import RawAsTar

            stream = RawAsTar(stream, job.raw_name, job.raw_mode, _raw_size(job, what))
        reader = TarReader(stream, what, limits)
        root_fd = staging_fd
        prefix_fd = None
        if job.info is None and job.raw_name is None:
            # Layers of kit <= 0.4 (config element without digest): names are relative to the
            # parent of the Kitfile path (docs/compatibility.md §3.4).
            prefix = posixpath.dirname(posixpath.normpath(job.path))
            if prefix and prefix != ".":
                prefix_fd = _open_staging_dirs(staging_fd, prefix, what)
                root_fd = prefix_fd
        try:
            extracted = extract_layer(reader, root_fd, state, what=what,
                                      on_bytes=lambda n: progress.advance(key, n))
        except UnsafeArchiveError as e:
            # A tampered or corrupt blob usually breaks the tar first. Its digest is the better
            # diagnosis ("tampered", not "hostile archive"): read the rest and report a mismatch
            # when there is one -- unless that means fetching much more of a big layer.
            if job.desc.size - hashed.count <= _MAX_DRAIN_FOR_DIAGNOSIS:
                _raise_if_digest_mismatch(hashed, e)
            raise
        finally:
            if prefix_fd is not None:
                os.close(prefix_fd)
        hashed.drain()  # the rest (end-of-archive blocks) and the digest check
        if diff is not None and job.diff_id is not None:
            diff.drain()
            if diff.digest != job.diff_id:
                raise mismatch_error(f"{what}: uncompressed", job.diff_id, diff.digest)
    finally:
        hashed.close()
    progress.finish(key)
    return len(extracted)


def _raw_size(job: LayerJob, what: str) -> int:
    """A raw layer's file size: the blob's, or for a compressed raw layer (kit) its metadata's."""
    if job.codec == "none":
        return job.desc.size
    if job.raw_size is None or job.diff_id is None:
        raise UnsafeArchiveError(f"{what}: a compressed raw layer needs its file size "
                                 "(org.cncf.model.file.metadata+json) and diffId to be checked")
    return job.raw_size


#: How much of a refused layer is still read to tell tampering (digest mismatch) from a hostile
#: but intact archive.
_MAX_DRAIN_FOR_DIAGNOSIS = 64 * 1024 * 1024


def _raise_if_digest_mismatch(hashed: Any, cause: Exception) -> None:
    try:
        hashed.drain()
    except DigestMismatchError as mismatch:
        raise mismatch from cause
    except (OSError, OcikitError):  # anything else: the layer's own error stays the one reported
        pass


def _open_staging_dirs(root_fd: int, rel: str, what: str) -> int:
    fd = os.dup(root_fd)
    for part in rel.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            os.close(fd)
            raise UnsafeArchiveError(f"{what}: legacy layer path leaves the target")
        with contextlib.suppress(FileExistsError):
            os.mkdir(part, 0o755, dir_fd=fd)
        try:
            nfd = os.open(part, DIR_FLAGS, dir_fd=fd)
        finally:
            os.close(fd)
        fd = nfd
    return fd
