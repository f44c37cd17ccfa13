"""Checking the local store: ``fsck`` verifies it (and with ``repair``, ``_repair`` fixes what it can).

Invariants of the local OCI layout (see ``_layout.py`` and docs/reliability.md):

1. a file under ``blobs/sha256/<hex>`` hashes to ``<hex>``;
2. ``index.json`` parses, and each of its entries names a manifest that is present, has the size
   the entry says, and parses as an image manifest or index;
3. every manifest reachable from ``index.json`` has its config and layers present with the sizes
   its descriptors give (indexes: their manifests, recursively);
4. a referrers fallback index (tag ``sha256-<hex>``, OCI 1.1 "referrers tag schema",
   https://github.com/opencontainers/distribution-spec/blob/main/spec.md#referrers-tag-schema)
   lists only present manifests whose ``subject`` is ``sha256:<hex>``.

Files left by a process killed mid-write (``ingest/blob-*``, ``ingest/*.partial``, temporary
``.index.json.*``) are not inconsistencies: they are never visible under a digest name. ``fsck``
lists them and ``repair`` removes the ones older than a threshold whose owner is gone.

Garbage collection is ``_gc.gc``; ``gc`` and ``GcReport`` are importable from here too, next to
``fsck``, as the public API names them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocikit._io._digest import Digest
from ocikit._oci._model import Descriptor, Index, Manifest
from ocikit._store._gc import DEFAULT_GRACE_SECONDS, GcReport, gc
from ocikit._store._layout import LocalStore
from ocikit._store._repair import Repaired, repair
from ocikit._store._scan import (
    HEX,
    blob_files,
    children,
    entry_name,
    hash_file,
    load_manifest,
    read_index_strict,
    stale_candidates,
)
from ocikit.errors import StoreError, VerificationError

__all__ = ["DEFAULT_GRACE_SECONDS", "DEFAULT_STALE_SECONDS", "FsckReport", "GcReport", "Problem", "fsck", "gc"]

#: ``fsck --repair`` removes leftover ingest/temp files older than this.
DEFAULT_STALE_SECONDS = 3600

_FALLBACK_TAG = re.compile(r"^sha256-([0-9a-f]{64})$")

# Problem kinds. ``repairable`` ones are fixed by ``fsck(repair=True)``.
CORRUPT_BLOB = "corrupt-blob"  # bytes do not hash to the file name
BAD_LAYOUT = "bad-layout"  # oci-layout missing or not version 1.0.0
BAD_INDEX = "bad-index"  # index.json missing (with blobs present) or unparseable
DANGLING_ENTRY = "dangling-entry"  # index.json entry whose manifest is missing, wrong size or invalid
MISSING_BLOB = "missing-blob"  # a reachable manifest references an absent blob
SIZE_MISMATCH = "size-mismatch"  # a descriptor's size differs from the stored blob
INVALID_MANIFEST = "invalid-manifest"  # a referenced manifest does not parse
BAD_REFERRER = "bad-referrer"  # fallback index lists a missing manifest or one with another subject


@dataclass(frozen=True)
class Problem:
    """One inconsistency: what kind, about what (digest, reference or path), and a sentence."""

    kind: str
    subject: str
    message: str
    repaired: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "subject": self.subject, "message": self.message, "repaired": self.repaired}


@dataclass(frozen=True)
class FsckReport:
    """What ``fsck`` checked and found. ``ok`` means no unrepaired problem remains."""

    store: str
    blobs: int
    bytes: int
    manifests: int
    entries: int
    problems: tuple[Problem, ...] = ()
    stale_files: tuple[str, ...] = ()  # leftovers of interrupted writes, relative to the store
    removed_files: tuple[str, ...] = ()  # stale files that repair removed

    @property
    def ok(self) -> bool:
        return all(p.repaired for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "ok": self.ok,
            "blobs": self.blobs,
            "bytes": self.bytes,
            "manifests": self.manifests,
            "entries": self.entries,
            "problems": [p.to_dict() for p in self.problems],
            "staleFiles": list(self.stale_files),
            "removedFiles": list(self.removed_files),
        }


@dataclass
class _Check:
    """One fsck run: what it has read so far and the problems it found."""

    store: LocalStore
    problems: list[Problem] = field(default_factory=list)
    sizes: dict[Digest, int] = field(default_factory=dict)  # blobs that hash to their name
    corrupt: list[Digest] = field(default_factory=list)
    stale: list[Path] = field(default_factory=list)
    total_bytes: int = 0
    entries: list[Descriptor] = field(default_factory=list)
    manifests_checked: set[Digest] = field(default_factory=set)
    bad_manifests: set[Digest] = field(default_factory=set)
    dangling: set[Descriptor] = field(default_factory=set)
    referrer_fixes: list[tuple[str, Digest, Digest]] = field(default_factory=list)  # (repo, subject, drop)

    def layout_marker(self) -> None:
        """Invariant 0: ``oci-layout`` declares version 1.0.0."""
        try:
            layout = json.loads((self.store.root / "oci-layout").read_bytes())
            if not isinstance(layout, dict) or layout.get("imageLayoutVersion") != "1.0.0":
                self._found(BAD_LAYOUT, "oci-layout", "oci-layout does not declare imageLayoutVersion 1.0.0")
        except FileNotFoundError:
            self._found(BAD_LAYOUT, "oci-layout", "oci-layout is missing")
        except (ValueError, UnicodeDecodeError):
            self._found(BAD_LAYOUT, "oci-layout", "oci-layout is not valid JSON")

    def blobs(self) -> None:
        """Invariant 1: every blob hashes to its name."""
        for name, path in blob_files(self.store):
            if not HEX.match(name):
                self.stale.append(path)  # a temp file of another tool, or junk: never resolvable
                continue
            digest = Digest("sha256", name)
            actual, size = hash_file(path)
            self.total_bytes += size
            if actual != name:
                self.corrupt.append(digest)
                self._found(CORRUPT_BLOB, str(digest), f"blob {digest} holds {size} bytes hashing to sha256:{actual}")
            else:
                self.sizes[digest] = size

    def index(self) -> None:
        """Invariants 2-4: ``index.json`` and everything reachable from it."""
        try:
            self.entries = read_index_strict(self.store, have_blobs=bool(self.sizes or self.corrupt))
        except StoreError as e:
            self._found(BAD_INDEX, "index.json", str(e))
        for desc in self.entries:
            self._entry(desc)

    def _found(self, kind: str, subject: str, message: str) -> None:
        self.problems.append(Problem(kind, subject, message))

    def _blob(self, desc: Descriptor, owner: str) -> bool:
        """Present with the right size? Records a problem if not."""
        if desc.data is not None and desc.digest not in self.sizes:
            return True  # embedded in the descriptor (the ``data`` field, docs/compatibility.md §1.5)
        if desc.digest not in self.sizes:
            self._found(MISSING_BLOB, str(desc.digest), f"{owner} references missing blob {desc.digest}")
            return False
        if self.sizes[desc.digest] != desc.size:
            self._found(SIZE_MISMATCH, str(desc.digest), f"{owner} says blob {desc.digest} has {desc.size} bytes; "
                        f"it has {self.sizes[desc.digest]}")
            return False
        return True

    def _walk(self, desc: Descriptor, owner: str) -> Manifest | Index | None:
        if desc.digest in self.bad_manifests:
            return None
        try:
            node = load_manifest(self.store, desc) if desc.digest in self.sizes else None
        except VerificationError as e:
            self.bad_manifests.add(desc.digest)
            self._found(INVALID_MANIFEST, str(desc.digest), f"{owner}: {e}")
            return None
        if node is None or desc.digest in self.manifests_checked:
            return node
        self.manifests_checked.add(desc.digest)
        where = f"manifest {desc.digest}"
        for child in children(node):
            if isinstance(node, Index):
                if self._blob(child, where):
                    self._walk(child, where)
            else:
                self._blob(child, where)
        return node

    def _entry(self, desc: Descriptor) -> None:
        name = entry_name(desc)
        before = len(self.problems)
        present = self._blob(desc, f"index.json entry {name}")
        node = self._walk(desc, f"index.json entry {name}") if present else None
        if node is None:
            # the manifest itself is unusable: the entry is dangling; report it as one problem
            del self.problems[before:]
            reason = "is missing" if desc.digest not in self.sizes else (
                "has another size" if self.sizes[desc.digest] != desc.size else "is not a valid manifest")
            self._found(DANGLING_ENTRY, name, f"index.json entry {name}: manifest {desc.digest} {reason}")
            self.dangling.add(desc)
            return
        match = _FALLBACK_TAG.match(name.rpartition(":")[2]) if ":" in name else None
        if match is not None and isinstance(node, Index):
            self._referrers_index(name, Digest("sha256", match.group(1)), node)

    def _referrers_index(self, name: str, subject: Digest, node: Index) -> None:
        repo = name.rpartition(":")[0]
        for child in node.manifests:
            try:
                ref_node = load_manifest(self.store, child) if child.digest in self.sizes else None
            except VerificationError:
                ref_node = None
            if not isinstance(ref_node, Manifest) or ref_node.subject is None or ref_node.subject.digest != subject:
                self._found(BAD_REFERRER, name, f"referrers index {name} lists {child.digest}, which is missing or "
                            f"not a manifest whose subject is {subject}")
                self.referrer_fixes.append((repo, subject, child.digest))


def fsck(
    home: str | os.PathLike[str] | None = None,
    repair: bool = False,
    *,
    stale_seconds: float = DEFAULT_STALE_SECONDS,
) -> FsckReport:
    """Verify the local store (every blob's digest, every index entry and manifest reference).

    With ``repair``: delete blobs whose bytes do not match their name, drop ``index.json`` entries
    whose manifest is missing or invalid, drop missing/foreign entries from referrers fallback
    indexes, and remove leftover ingest/temp files older than ``stale_seconds`` whose download is
    not in progress. Problems that need the content again (a manifest whose layer is missing)
    are reported, not repaired: pull the ModelKit again, or ``remove`` it and run ``gc``.
    """
    store = LocalStore.at_home(home)
    root = store.root
    if not root.exists():
        return FsckReport(str(root), 0, 0, 0, 0)
    check = _Check(store)
    check.layout_marker()
    check.blobs()
    check.index()
    candidates = check.stale + stale_candidates(store)
    problems = check.problems
    removed: tuple[str, ...] = ()
    if repair:
        done = _repair(check, candidates, stale_seconds)
        problems, removed = _mark_repaired(problems, done), done.files
    rel = [str(p.relative_to(root)) for p in candidates]
    return FsckReport(
        str(root),
        blobs=len(check.sizes) + len(check.corrupt),
        bytes=check.total_bytes,
        manifests=len(check.manifests_checked),
        entries=len(check.entries),
        problems=tuple(problems),
        stale_files=tuple(r for r in rel if r not in removed),
        removed_files=tuple(removed),
    )


def _repair(check: _Check, candidates: list[Path], stale_seconds: float) -> Repaired:
    return repair(check.store, corrupt=check.corrupt, dangling=check.dangling, referrer_fixes=check.referrer_fixes,
                  candidates=candidates, stale_seconds=stale_seconds)


def _mark_repaired(problems: list[Problem], done: Repaired) -> list[Problem]:
    fixed = {(CORRUPT_BLOB, str(d)) for d in done.blobs}
    fixed |= {(DANGLING_ENTRY, name) for name in done.entries}
    fixed |= {(BAD_REFERRER, name) for name in done.referrer_indexes}
    return [Problem(p.kind, p.subject, p.message, repaired=(p.kind, p.subject) in fixed) for p in problems]
