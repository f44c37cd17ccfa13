"""Moving a ModelKit between two storages: ``copy``, and ``push`` / ``pull`` built on it.

Order (so a reader never sees a manifest whose blobs are missing, ``registry-behaviour.md``):
manifest fetched and checked to be a ModelKit → config and layers in parallel (each streamed and
verified against digest and size; blobs the destination has are skipped; a blob seen in another
repository of the same registry is mounted) → the manifest, under every tag → the referrers
(signatures, SBOMs, stage events: each referrer manifest with its blobs, re-registered in the
destination's referrers API or fallback tag) and the cosign signature tag ``sha256-<hex>.sig``.

Downloads into the local store go through its resumable ingest files: an interrupted pull keeps
the bytes it had, and the next pull asks the registry only for the rest (``Range``).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from ocikit._config import RegistryOptions, home_dir
from ocikit._io._digest import CHUNK, Digest, ReadStream
from ocikit._io._progress import SILENT, Progress
from ocikit._oci._model import (
    KITOPS_CONFIG,
    KITOPS_MANIFEST_ARTIFACT,
    MANIFEST,
    MODELPACK_CONFIG,
    MODELPACK_MANIFEST_ARTIFACT,
    Descriptor,
    Index,
    Manifest,
    parse_manifest_or_index,
)
from ocikit._oci._reference import Reference
from ocikit._registry._blob_sources import known_sources, remember
from ocikit._store._storage import Storage
from ocikit.errors import DigestMismatchError, NotAModelKitError, NotFoundError, StoreError, UsageError

__all__ = ["TransferResult", "check_modelkit", "copy", "pull", "push"]

log = logging.getLogger(__name__)

_MAX_REFERRER_DEPTH = 3


@dataclass(frozen=True)
class TransferResult:
    """What a copy did. ``bytes_transferred`` counts bytes actually moved (a mount moves none)."""

    reference: str
    digest: Digest
    bytes_transferred: int
    bytes_skipped: int
    blobs_transferred: int
    blobs_skipped: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "digest": str(self.digest),
            "bytesTransferred": self.bytes_transferred,
            "bytesSkipped": self.bytes_skipped,
            "blobsTransferred": self.blobs_transferred,
            "blobsSkipped": self.blobs_skipped,
        }


def check_modelkit(manifest: Manifest | Index, where: str) -> Manifest:
    """The manifest if it is a KitOps ModelKit (or a CNCF ModelPack model); NotAModelKitError if not."""
    if isinstance(manifest, Index):
        raise NotAModelKitError(f"{where} is an image index, not a ModelKit")
    if manifest.config.media_type in (KITOPS_CONFIG, MODELPACK_CONFIG) or manifest.artifact_type in (
        KITOPS_MANIFEST_ARTIFACT,
        MODELPACK_MANIFEST_ARTIFACT,
    ):
        return manifest
    raise NotAModelKitError(
        f"{where} is not a ModelKit (config media type {manifest.config.media_type!r})"
    )


class _Tally:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes_transferred = self.bytes_skipped = 0
        self.blobs_transferred = self.blobs_skipped = 0

    def moved(self, nbytes: int) -> None:
        with self._lock:
            self.bytes_transferred += nbytes
            self.blobs_transferred += 1

    def skipped(self, nbytes: int) -> None:
        with self._lock:
            self.bytes_skipped += nbytes
            self.blobs_skipped += 1


class _Counting(ReadStream):
    """Counts the bytes read through it (once per position, so a rewind is not counted twice)
    and reports them to the progress; keeps seek/tell so uploads can resume."""

    def __init__(self, raw: BinaryIO, key: str, progress: Progress, offset: int = 0) -> None:
        self._raw, self._key, self._progress = raw, key, progress
        self._pos = self._high = offset
        self.moved = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._pos += len(data)
        if self._pos > self._high:
            new = self._pos - self._high
            self._high = self._pos
            self.moved += new
            self._progress.advance(self._key, new)
        return data

    def seekable(self) -> bool:
        try:
            return bool(self._raw.seekable())
        except (AttributeError, OSError, ValueError):
            return False

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, pos: int, whence: int = 0) -> int:
        result = self._raw.seek(pos, whence)
        self._pos = result
        return result

    def close(self) -> None:
        self._raw.close()
        super().close()


def _store_of(dst: Storage) -> Any:
    """The LocalStore behind ``dst`` when it is the local layout (for resumable ingest)."""
    store = getattr(dst, "store", None)
    return store if store is not None and hasattr(store, "ingest") else None


def _disk_full(what: str) -> StoreError:
    return StoreError(f"no space left on the device while writing {what} to the local store",
                      hint="free some disk space and run the command again; the download resumes")


def _copy_blob(src: Storage, dst: Storage, desc: Descriptor, progress: Progress, tally: _Tally) -> None:
    key = str(desc.digest)
    label = desc.annotations.get("org.opencontainers.image.title") or desc.digest.short
    progress.start(key, label, desc.size)
    if dst.has_blob(desc):
        tally.skipped(desc.size)
        progress.finish(key, skipped=True)
        return
    _same_registry_hint(src, dst, desc)
    store = _store_of(dst)
    try:
        if store is not None:
            moved = _ingest_blob(src, store, desc, key, progress)
        else:
            stream = _Counting(src.open_blob(desc), key, progress)
            try:
                dst.push_blob(desc, cast(BinaryIO, stream))
            finally:
                stream.close()
            moved = stream.moved
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise _disk_full(f"blob {desc.digest}") from e
        raise
    tally.moved(moved)
    progress.finish(key)


def _ingest_blob(src: Storage, store: Any, desc: Descriptor, key: str, progress: Progress) -> int:
    """Download into the store's resumable ingest file; verify; install. Returns bytes fetched."""
    with store.ingest(desc) as ingest:
        offset = int(ingest.offset)
        h = hashlib.sha256()
        if offset:
            log.info("resuming %s at byte %d of %d", desc.digest.short, offset, desc.size)
            with open(ingest.path, "rb") as f:
                left = offset
                while left:
                    data = f.read(min(CHUNK, left))
                    if not data:
                        break
                    h.update(data)
                    left -= len(data)
            progress.advance(key, offset)
        fetched = 0
        if offset < desc.size:
            stream = src.open_blob(desc, offset)
            try:
                with ingest.open() as out, _BackgroundWriter(out) as writer:
                    limit = desc.size - offset
                    while True:
                        data = stream.read(CHUNK)
                        if not data:
                            break
                        fetched += len(data)
                        if fetched > limit:
                            writer.abandon()
                            ingest.discard()
                            raise DigestMismatchError(
                                f"blob {desc.digest} is longer than its declared size {desc.size}")
                        writer.write(data)  # written by another thread while we hash and receive
                        h.update(data)
                        progress.advance(key, len(data))
            finally:
                stream.close()
        total = offset + fetched
        actual = Digest.from_hash(h)
        if total != desc.size or actual != desc.digest:
            ingest.discard()
            if total != desc.size:
                raise DigestMismatchError(f"blob {desc.digest} ended after {total} bytes, expected {desc.size}")
            raise DigestMismatchError(f"blob content does not match its digest {desc.digest} (got {actual})")
        ingest.commit(verified=True)
        return fetched


class _BackgroundWriter:
    """Writes chunks on a helper thread so disk writes overlap with receiving and hashing.

    hashlib, socket reads and file writes all release the GIL for large buffers, so on two cores
    the download runs at the speed of its slowest stage instead of the sum of all three. At most
    ``depth`` chunks wait in the queue (flat memory); a write error surfaces on the next call.
    """

    def __init__(self, out: BinaryIO, depth: int = 8) -> None:
        import queue

        self._out = out
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ocikit-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            data = self._queue.get()
            if data is None:
                return
            if self._error is None:
                try:
                    self._out.write(data)
                except BaseException as e:  # re-raised in the caller's thread
                    self._error = e

    def write(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def abandon(self) -> None:
        self._error = self._error or StoreError("write abandoned")

    def __enter__(self) -> _BackgroundWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc[0] is None:
            raise self._error
        self._out.flush()


def _same_registry_hint(src: Storage, dst: Storage, desc: Descriptor) -> None:
    """When both ends are repositories of one registry, tell it where the blob is (mount)."""
    src_reg, dst_reg = getattr(src, "registry", None), getattr(dst, "registry", None)
    if src_reg is None or dst_reg is None or getattr(src_reg, "host", 1) != getattr(dst_reg, "host", 2):
        return
    dst_reg.remember_blob(desc.digest, src.repository)  # type: ignore[attr-defined]


def _run_parallel(jobs: list[Any], concurrency: int) -> None:
    if not jobs:
        return
    if concurrency <= 1 or len(jobs) == 1:
        for job in jobs:
            job()
        return
    with ThreadPoolExecutor(max_workers=min(concurrency, len(jobs)), thread_name_prefix="ocikit-copy") as pool:
        futures: list[Future[None]] = [pool.submit(job) for job in jobs]
        wait(futures, return_when=FIRST_EXCEPTION)
        for f in futures:
            f.cancel()
        for f in futures:
            if f.done() and not f.cancelled() and f.exception() is not None:
                raise cast(BaseException, f.exception())


def _copy_blobs(src: Storage, dst: Storage, blobs: Sequence[Descriptor], *, concurrency: int,
                progress: Progress, tally: _Tally) -> None:
    unique: dict[Digest, Descriptor] = {}
    for d in blobs:
        unique.setdefault(d.digest, d)
    # largest first: the long transfer starts early and the small ones fill the other workers
    ordered = sorted(unique.values(), key=lambda d: -d.size)
    _run_parallel([lambda d=d: _copy_blob(src, dst, d, progress, tally) for d in ordered], concurrency)


def copy(
    src: Storage,
    identifier: str,
    dst: Storage,
    tags: Sequence[str],
    *,
    concurrency: int = 4,
    referrers: bool = True,
    progress: Progress = SILENT,
) -> TransferResult:
    """Copy the ModelKit ``identifier`` (tag or digest) of ``src`` to ``dst`` under ``tags``."""
    desc = src.resolve(identifier)
    data = src.fetch_manifest(desc)
    where = f"{src.name}:{identifier}" if not identifier.startswith("sha256:") else f"{src.name}@{identifier}"
    manifest = check_modelkit(parse_manifest_or_index(data, desc.media_type, f"manifest of {where}"), where)
    tally = _Tally()
    _copy_blobs(src, dst, [manifest.config, *manifest.layers], concurrency=concurrency,
                progress=progress, tally=tally)
    tag_list = [t for t in tags if t]
    pushed = dst.push_manifest(data, desc.media_type, tag=tag_list[0] if tag_list else None)
    if pushed.digest != desc.digest:
        raise DigestMismatchError(f"the destination stored the manifest as {pushed.digest}, expected {desc.digest}")
    for extra in tag_list[1:]:
        dst.tag(pushed, extra)
    if referrers:
        _copy_referrers(src, dst, desc.digest, concurrency=concurrency, progress=progress, tally=tally,
                        depth=0, seen=set())
        _copy_signature_tag(src, dst, desc.digest, concurrency=concurrency, progress=progress, tally=tally)
    shown = f"{dst.name}:{tag_list[0]}" if tag_list else dst.name
    return TransferResult(f"{shown}@{desc.digest}", desc.digest, tally.bytes_transferred, tally.bytes_skipped,
                          tally.blobs_transferred, tally.blobs_skipped)


def _copy_referrers(src: Storage, dst: Storage, subject: Digest, *, concurrency: int, progress: Progress,
                    tally: _Tally, depth: int, seen: set[Digest]) -> None:
    from ocikit._store._referrers import add_to_fallback, list_referrers

    if depth >= _MAX_REFERRER_DEPTH:
        return
    for entry in list_referrers(src, subject):
        if entry.digest in seen:
            continue
        seen.add(entry.digest)
        if entry.media_type != MANIFEST:
            log.info("skipping referrer %s of type %s", entry.digest.short, entry.media_type)
            continue
        try:
            data = src.fetch_manifest(Descriptor(MANIFEST, entry.digest, entry.size))
        except NotFoundError:
            log.warning("referrer %s of %s is listed but missing; skipped", entry.digest.short, subject.short)
            continue
        referrer = Manifest.from_bytes(data, f"referrer {entry.digest}")
        _copy_blobs(src, dst, [referrer.config, *referrer.layers], concurrency=concurrency,
                    progress=progress, tally=tally)
        # push the exact bytes (re-serialising could change a digest made by another tool)
        pushed = dst.push_manifest(data, MANIFEST)
        if referrer.subject is not None and dst.referrers(referrer.subject.digest) is None:
            add_to_fallback(dst, referrer.subject.digest, Descriptor(
                MANIFEST, pushed.digest, pushed.size, dict(referrer.annotations),
                referrer.artifact_type or referrer.config.media_type))
        _copy_referrers(src, dst, entry.digest, concurrency=concurrency, progress=progress, tally=tally,
                        depth=depth + 1, seen=seen)


def _copy_signature_tag(src: Storage, dst: Storage, subject: Digest, *, concurrency: int,
                        progress: Progress, tally: _Tally) -> None:
    """cosign's legacy signature tag ``sha256-<hex>.sig`` (``signing-sbom.md`` §1.4)."""
    tag = f"{subject.algorithm}-{subject.hex}.sig"
    try:
        desc = src.resolve(tag)
    except NotFoundError:
        return
    data = src.fetch_manifest(desc)
    sig = parse_manifest_or_index(data, desc.media_type, f"signature {tag}")
    if isinstance(sig, Index):
        log.warning("%s in %s is an index, not a signature manifest; not copied", tag, src.name)
        return
    _copy_blobs(src, dst, [sig.config, *sig.layers], concurrency=concurrency, progress=progress, tally=tally)
    dst.push_manifest(data, desc.media_type, tag=tag)


# -- push / pull ------------------------------------------------------------------------------


def push(
    source: str,
    destination: str | None = None,
    *,
    tags: Sequence[str] = (),
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
    progress: Progress = SILENT,
) -> TransferResult:
    """Push the ModelKit ``source`` from the local store to a registry.

    ``destination`` (``registry/repository[:tag]``) defaults to ``source`` itself, which must
    then name a registry. ``tags`` adds more tags in the destination repository.
    """
    from ocikit._ops import _repos as _repos

    options = options or RegistryOptions()
    src_ref = Reference.parse(source)
    dst_ref = Reference.parse(destination, default_tag=None) if destination else src_ref
    if dst_ref.is_local:
        raise UsageError(
            f"{dst_ref.display} names no registry; push needs one",
            hint="give a destination such as registry.example/acme/sentiment:1.0.0",
        )
    if dst_ref.tag is None and dst_ref.digest is None:
        dst_ref = dst_ref.with_tag(src_ref.tag)
    all_tags = [t for t in [dst_ref.tag, *tags] if t]
    for t in all_tags:
        dst_ref.with_tag(t)  # validates
    src = _repos.local_repository(src_ref, home=home)
    try:
        src.resolve(src_ref.identifier)
    except NotFoundError as e:
        raise NotFoundError(f"{src_ref.display} is not in the local store",
                            hint="pack it first, or check the name with 'ocikit list'") from e
    dst = _repos.open_registry_repository(dst_ref, home=home, options=options)
    blobs = _blobs_of(src, src_ref.identifier)
    registry = getattr(dst, "registry", None)
    if registry is not None:  # mount what another repository of this registry already holds
        for digest, repository in known_sources(home_dir(home), dst_ref.registry, blobs).items():
            registry.remember_blob(digest, repository)
    result = copy(src, src_ref.identifier, dst, list(dict.fromkeys(all_tags)),
                  concurrency=options.concurrency, progress=progress)
    remember(home_dir(home), dst_ref.registry, dst_ref.repository, blobs)
    return result


def _blobs_of(storage: Storage, identifier: str) -> list[Digest]:
    """The config and layer digests of a ModelKit (for the blob-source memory)."""
    desc = storage.resolve(identifier)
    manifest = parse_manifest_or_index(storage.fetch_manifest(desc), desc.media_type, str(desc.digest))
    if not isinstance(manifest, Manifest):
        return []
    return [d.digest for d in (manifest.config, *manifest.layers)]


def pull(
    reference: str,
    *,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
    progress: Progress = SILENT,
    verify_key: str | os.PathLike[str] | None = None,
) -> TransferResult:
    """Pull the ModelKit ``reference`` from its registry into the local store.

    With ``verify_key`` the signature is checked (``_signing.verify_descriptor``) before anything
    is stored.
    """
    from ocikit._ops import _repos as _repos

    options = options or RegistryOptions()
    ref = Reference.parse(reference)
    if ref.is_local:
        raise UsageError(f"{ref.display} names no registry; pull needs one",
                         hint="use registry.example/acme/sentiment:1.0.0")
    src = _repos.open_registry_repository(ref, home=home, options=options)
    identifier = ref.identifier
    if verify_key is not None:
        from ocikit._trust._signing import verify_descriptor

        desc = src.resolve(identifier)
        verify_descriptor(src, ref, desc, verify_key)
        identifier = str(desc.digest)  # pull exactly what was verified
    dst = _repos.local_repository(ref, home=home)
    result = copy(src, identifier, dst, [ref.tag] if ref.tag else [], concurrency=options.concurrency,
                  progress=progress)
    remember(home_dir(home), ref.registry, ref.repository, _blobs_of(dst, str(result.digest)))
    return result

