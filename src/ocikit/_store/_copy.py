"""Copying a ModelKit from one storage to another: ``copy``, which ``push`` and ``pull`` are built on.

Order (so a reader never sees a manifest whose blobs are missing, ``docs/compatibility.md`` §7.2):
manifest fetched and checked to be a ModelKit → config and layers in parallel (each streamed and
verified against digest and size; blobs the destination has are skipped; a blob seen in another
repository of the same registry is mounted) → the manifest, under every tag → the referrers
(signatures, SBOMs, stage events: each referrer manifest with its blobs, re-registered in the
destination's referrers API or fallback tag) and the cosign signature tag ``sha256-<hex>.sig``.

Downloads into the local store go through its resumable ingest files: an interrupted pull keeps
the bytes it had, and the next pull asks the registry only for the rest (``Range``). The blob
transfer itself is ``_copy_blobs``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ocikit._io._digest import Digest
from ocikit._io._progress import SILENT, Progress
from ocikit._oci._model import (
    DOCKER_MODEL_CONFIGS,
    KITOPS_CONFIG,
    KITOPS_MANIFEST_ARTIFACT,
    LEGACY_MODELPACK_CONFIG,
    MANIFEST,
    MODELPACK_CONFIG,
    MODELPACK_MANIFEST_ARTIFACT,
    Descriptor,
    Index,
    Manifest,
    parse_manifest_or_index,
)
from ocikit._store._copy_blobs import Tally, copy_blobs
from ocikit._store._referrers import add_to_fallback, list_referrers, signature_tag
from ocikit._store._storage import Storage
from ocikit.errors import DigestMismatchError, NotAModelKitError, NotFoundError

__all__ = ["TransferResult", "check_modelkit", "copy"]

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
    model_configs = (KITOPS_CONFIG, MODELPACK_CONFIG, LEGACY_MODELPACK_CONFIG, *DOCKER_MODEL_CONFIGS)
    if manifest.config.media_type in model_configs or manifest.artifact_type in (
        KITOPS_MANIFEST_ARTIFACT,
        MODELPACK_MANIFEST_ARTIFACT,
    ):
        return manifest
    raise NotAModelKitError(
        f"{where} is not a ModelKit (config media type {manifest.config.media_type!r})"
    )


@dataclass(frozen=True)
class _Job:
    """What every step of one copy shares."""

    src: Storage
    dst: Storage
    concurrency: int
    progress: Progress
    tally: Tally

    def blobs(self, manifest: Manifest) -> None:
        copy_blobs(self.src, self.dst, [manifest.config, *manifest.layers], concurrency=self.concurrency,
                   progress=self.progress, tally=self.tally)


def copy(
    src: Storage,
    identifier: str,
    dst: Storage,
    tags: Sequence[str] = (),
    *,
    concurrency: int = 4,
    referrers: bool = True,
    progress: Progress = SILENT,
) -> TransferResult:
    """Copy the ModelKit ``identifier`` of ``src`` to ``dst`` under ``tags``, with its referrers.

    Any two :class:`~ocikit._store._storage.Storage` implementations work (the local store, a
    registry repository, :class:`~ocikit._store._storage.MemoryStorage`).

    :param src: the storage holding the ModelKit.
    :param identifier: a tag of ``src``, or a manifest digest ``sha256:<hex>``.
    :param dst: the storage to copy into.
    :param tags: tags to give the manifest in ``dst`` (empty strings are ignored); with none it is
        stored by digest only.
    :param concurrency: how many blobs move at once.
    :param referrers: also copy the manifests whose subject is the ModelKit (signatures, SBOMs,
        stage events; up to three levels deep) and cosign's ``sha256-<hex>.sig`` signature tag.
    :param progress: told about every blob (``start``, ``advance``, ``finish``).
    :returns: the destination reference and digest, and the bytes and blobs moved and skipped.
    :raises NotAModelKitError: ``identifier`` names an image index or a manifest that is not a
        ModelKit; nothing was copied.
    :raises DigestMismatchError: a blob or the manifest does not match its digest or size; the
        manifest is never stored before all its blobs are.
    :raises NotFoundError: ``identifier`` or a blob the manifest names is not in ``src``.
    """
    desc = src.resolve(identifier)
    data = src.fetch_manifest(desc)
    where = f"{src.name}:{identifier}" if not identifier.startswith("sha256:") else f"{src.name}@{identifier}"
    manifest = check_modelkit(parse_manifest_or_index(data, desc.media_type, f"manifest of {where}"), where)
    job = _Job(src, dst, concurrency, progress, Tally())
    job.blobs(manifest)
    tag_list = [t for t in tags if t]
    pushed = dst.push_manifest(data, desc.media_type, tag=tag_list[0] if tag_list else None)
    if pushed.digest != desc.digest:
        raise DigestMismatchError(f"the destination stored the manifest as {pushed.digest}, expected {desc.digest}")
    for extra in tag_list[1:]:
        dst.tag(pushed, extra)
    if referrers:
        _copy_referrers(job, desc.digest, depth=0, seen=set())
        _copy_signature_tag(job, desc.digest)
    shown = f"{dst.name}:{tag_list[0]}" if tag_list else dst.name
    tally = job.tally
    return TransferResult(f"{shown}@{desc.digest}", desc.digest, tally.bytes_transferred, tally.bytes_skipped,
                          tally.blobs_transferred, tally.blobs_skipped)


def _copy_referrers(job: _Job, subject: Digest, *, depth: int, seen: set[Digest]) -> None:
    if depth >= _MAX_REFERRER_DEPTH:
        return
    src, dst = job.src, job.dst
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
        job.blobs(referrer)
        # push the exact bytes (re-serialising could change a digest made by another tool)
        pushed = dst.push_manifest(data, MANIFEST)
        if referrer.subject is not None and dst.referrers(referrer.subject.digest) is None:
            add_to_fallback(dst, referrer.subject.digest, Descriptor(
                MANIFEST, pushed.digest, pushed.size, dict(referrer.annotations),
                referrer.artifact_type or referrer.config.media_type))
        _copy_referrers(job, entry.digest, depth=depth + 1, seen=seen)


def _copy_signature_tag(job: _Job, subject: Digest) -> None:
    """cosign's legacy signature tag ``sha256-<hex>.sig`` (``docs/compatibility.md`` §6.3)."""
    tag = signature_tag(subject)
    try:
        desc = job.src.resolve(tag)
    except NotFoundError:
        return
    data = job.src.fetch_manifest(desc)
    sig = parse_manifest_or_index(data, desc.media_type, f"signature {tag}")
    if isinstance(sig, Index):
        log.warning("%s in %s is an index, not a signature manifest; not copied", tag, job.src.name)
        return
    job.blobs(sig)
    job.dst.push_manifest(data, desc.media_type, tag=tag)
