"""Garbage collection of the local store: ``gc`` removes blobs no ``index.json`` entry reaches.

It marks every blob reachable from ``index.json`` (manifests → config and layers, indexes →
manifests; referrers and cosign ``.sig`` manifests are reachable because their fallback index
and signature tags are ``index.json`` entries) and removes the rest — but never a blob modified
less than ``grace_seconds`` ago, because a pull or pack in progress commits its blobs before it
indexes their manifest. Mark and sweep run under the store's exclusive lock, the same lock
``index.json`` updates take, so no entry can be added between deciding and deleting.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocikit._io._digest import Digest
from ocikit._oci._model import Descriptor, Index
from ocikit._store._layout import LocalStore
from ocikit._store._scan import HEX, blob_files, load_manifest, read_index_strict
from ocikit.errors import StoreError, VerificationError

__all__ = ["DEFAULT_GRACE_SECONDS", "GcReport", "gc"]

log = logging.getLogger(__name__)

#: A committed blob younger than this is never collected: its manifest may not be indexed yet.
DEFAULT_GRACE_SECONDS = 600


@dataclass(frozen=True)
class GcReport:
    """What ``gc`` removed (or would remove, with ``dry_run``) and what it kept."""

    store: str
    dry_run: bool
    reachable: int
    removed: tuple[Digest, ...] = ()
    bytes_freed: int = 0
    kept_young: tuple[Digest, ...] = field(default_factory=tuple)  # unreachable but within the grace period
    grace_seconds: int = DEFAULT_GRACE_SECONDS

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "dryRun": self.dry_run,
            "reachable": self.reachable,
            "removed": [str(d) for d in self.removed],
            "bytesFreed": self.bytes_freed,
            "keptYoung": [str(d) for d in self.kept_young],
            "graceSeconds": self.grace_seconds,
        }


def _mark(store: LocalStore, entries: list[Descriptor]) -> set[Digest]:
    """Every digest reachable from ``entries``. An unreadable manifest stops gc (StoreError)."""
    reachable: set[Digest] = set()
    # (descriptor, is it a manifest/index?) — index.json entries and index children are manifests;
    # a manifest's config and layers are plain blobs.
    stack = [(d, True) for d in entries]
    while stack:
        desc, is_manifest = stack.pop()
        if desc.digest in reachable:
            continue
        reachable.add(desc.digest)
        if not is_manifest:
            continue
        try:
            node = load_manifest(store, desc)
        except VerificationError as e:
            # Its children are unknown: deleting anything now could delete them.
            raise StoreError(
                f"cannot collect garbage: manifest {desc.digest} is unreadable ({e})",
                hint="run 'ocikit fsck --repair' first",
            ) from e
        if isinstance(node, Index):
            stack.extend((d, True) for d in node.manifests)
        elif node is not None:
            stack.extend((d, False) for d in (node.config, *node.layers))
    return reachable


def gc(
    home: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    grace_seconds: int = DEFAULT_GRACE_SECONDS,
) -> GcReport:
    """Remove blobs not reachable from any ``index.json`` entry and older than ``grace_seconds``.

    Holds the store lock while deciding and deleting, so no ``index.json`` update interleaves.
    Blobs committed by a pull or pack that has not indexed its manifest yet are younger than the
    grace period and are kept. Refuses to run when ``index.json`` is corrupt or a reachable
    manifest cannot be read (StoreError), because the reachable set would be incomplete.
    """
    store = LocalStore.at_home(home)
    root = store.root
    if not (root / "blobs" / "sha256").is_dir():
        return GcReport(str(root), dry_run, 0, grace_seconds=grace_seconds)
    with store.lock():
        blobs = [(name, path) for name, path in blob_files(store) if HEX.match(name)]
        entries = read_index_strict(store, have_blobs=bool(blobs))
        reachable = _mark(store, entries)
        removed, young, freed = _sweep(blobs, reachable, dry_run=dry_run, grace_seconds=grace_seconds)
    log.info("gc: %d reachable, %d removed (%d bytes), %d kept as young", len(reachable), len(removed), freed,
             len(young))
    return GcReport(str(root), dry_run, len(reachable), tuple(removed), freed, tuple(young), grace_seconds)


def _sweep(blobs: list[tuple[str, Path]], reachable: set[Digest], *, dry_run: bool,
           grace_seconds: int) -> tuple[list[Digest], list[Digest], int]:
    """Delete the unreachable blobs older than the grace period: (removed, kept young, bytes freed)."""
    removed: list[Digest] = []
    young: list[Digest] = []
    freed = 0
    now = time.time()
    for name, path in blobs:
        digest = Digest("sha256", name)
        if digest in reachable:
            continue
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if now - st.st_mtime < grace_seconds:
            young.append(digest)
            continue
        if not dry_run:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as e:
                raise StoreError(f"cannot remove blob {digest}: {e.strerror}") from e
        removed.append(digest)
        freed += st.st_size
    return removed, young, freed
