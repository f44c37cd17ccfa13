"""Check and clean the local store: ``fsck`` (verify, optionally repair) and ``gc`` (collect).

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

``gc`` marks every blob reachable from ``index.json`` (manifests → config and layers, indexes →
manifests; referrers and cosign ``.sig`` manifests are reachable because their fallback index
and signature tags are ``index.json`` entries) and removes the rest — but never a blob modified
less than ``grace_seconds`` ago, because a pull or pack in progress commits its blobs before it
indexes their manifest. Mark and sweep run under the store's exclusive lock, the same lock
``index.json`` updates take, so no entry can be added between deciding and deleting.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocikit._io._digest import CHUNK, Digest
from ocikit._oci._model import INDEX, MANIFEST, MAX_MANIFEST_BYTES, Descriptor, Index, Manifest, parse_manifest_or_index
from ocikit._store._layout import LocalStore
from ocikit.errors import StoreError, VerificationError

__all__ = ["DEFAULT_GRACE_SECONDS", "FsckReport", "GcReport", "Problem", "fsck", "gc"]

log = logging.getLogger(__name__)

#: A committed blob younger than this is never collected: its manifest may not be indexed yet.
DEFAULT_GRACE_SECONDS = 600
#: ``fsck --repair`` removes leftover ingest/temp files older than this.
DEFAULT_STALE_SECONDS = 3600

_HEX = re.compile(r"^[0-9a-f]{64}$")
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


# -- helpers ---------------------------------------------------------------------------------


def _store(home: str | os.PathLike[str] | None) -> LocalStore:
    return LocalStore.at_home(home)


def _blob_files(store: LocalStore) -> Iterator[tuple[str, Path]]:
    """``(hex, path)`` of every regular file under ``blobs/sha256`` (other names yielded as-is)."""
    directory = store.root / "blobs" / "sha256"
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return
    for name in names:
        path = directory / name
        if path.is_file() and not path.is_symlink():
            yield name, path


def _hash_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                return h.hexdigest(), size
            h.update(chunk)
            size += len(chunk)


def _read_index_strict(store: LocalStore, *, have_blobs: bool) -> list[Descriptor]:
    """``index.json``'s entries; a missing index with blobs present, or a corrupt one, raises."""
    try:
        return store._read_index(missing_ok=not have_blobs)
    except FileNotFoundError:
        raise StoreError(
            f"the local store index {store.root / 'index.json'} is missing but blobs are present",
            hint="restore index.json from a backup; gc refuses to run without it",
        ) from None


def _load_manifest(store: LocalStore, desc: Descriptor) -> Manifest | Index | None:
    """The parsed manifest/index ``desc`` names, ``None`` if absent. Raises VerificationError."""
    path = store.blob_path(desc.digest)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size > MAX_MANIFEST_BYTES:
        raise VerificationError(f"manifest {desc.digest} is {size} bytes, over the {MAX_MANIFEST_BYTES} limit")
    data = path.read_bytes()
    desc.digest.verify_bytes(data, what="manifest")
    media_type = desc.media_type if desc.media_type in (MANIFEST, INDEX) else None
    return parse_manifest_or_index(data, media_type, f"manifest {desc.digest}")


def _children(node: Manifest | Index) -> list[Descriptor]:
    if isinstance(node, Manifest):
        return [node.config, *node.layers]
    return list(node.manifests)


def _entry_name(desc: Descriptor) -> str:
    from ocikit._oci._model import ANNOTATION_REF_NAME
    from ocikit._store._layout import ANNOTATION_REPOSITORY

    ref = desc.annotations.get(ANNOTATION_REF_NAME)
    if ref:
        return ref
    repo = desc.annotations.get(ANNOTATION_REPOSITORY, "<untagged>")
    return f"{repo}@{desc.digest}"


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


def _stale_candidates(store: LocalStore) -> list[Path]:
    """Leftovers of interrupted writes: ingest temp/partial files and temp copies of layout files."""
    out: list[Path] = []
    ingest = store.root / "ingest"
    with contextlib.suppress(FileNotFoundError):
        for name in sorted(os.listdir(ingest)):
            if name.endswith(".lock"):
                continue  # zero-byte lock files; removing one another process opened would break its lock
            out.append(ingest / name)
    with contextlib.suppress(FileNotFoundError):
        for name in sorted(os.listdir(store.root)):
            if name.startswith((".index.json.", ".oci-layout.")):  # _write_atomic temp files
                out.append(store.root / name)
    return out


# -- fsck ------------------------------------------------------------------------------------


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
    store = _store(home)
    root = store.root
    if not root.exists():
        return FsckReport(str(root), 0, 0, 0, 0)
    problems: list[Problem] = []

    # 1. layout marker
    try:
        layout = json.loads((root / "oci-layout").read_bytes())
        if not isinstance(layout, dict) or layout.get("imageLayoutVersion") != "1.0.0":
            problems.append(Problem(BAD_LAYOUT, "oci-layout", "oci-layout does not declare imageLayoutVersion 1.0.0"))
    except FileNotFoundError:
        problems.append(Problem(BAD_LAYOUT, "oci-layout", "oci-layout is missing"))
    except (ValueError, UnicodeDecodeError):
        problems.append(Problem(BAD_LAYOUT, "oci-layout", "oci-layout is not valid JSON"))

    # 2. every blob hashes to its name
    sizes: dict[Digest, int] = {}
    corrupt: list[Digest] = []
    stale: list[Path] = []
    total_bytes = 0
    for name, path in _blob_files(store):
        if not _HEX.match(name):
            stale.append(path)  # a temp file of another tool, or junk: never resolvable
            continue
        digest = Digest("sha256", name)
        actual, size = _hash_file(path)
        total_bytes += size
        if actual != name:
            corrupt.append(digest)
            problems.append(Problem(CORRUPT_BLOB, str(digest),
                                    f"blob {digest} holds {size} bytes hashing to sha256:{actual}"))
        else:
            sizes[digest] = size

    # 3. index.json and everything reachable from it
    entries: list[Descriptor] = []
    try:
        entries = _read_index_strict(store, have_blobs=bool(sizes or corrupt))
    except StoreError as e:
        problems.append(Problem(BAD_INDEX, "index.json", str(e)))

    manifests_checked: set[Digest] = set()
    bad_manifests: set[Digest] = set()
    referrer_fixes: list[tuple[str, Digest, Digest]] = []  # (repository, subject, referrer to drop)

    def check_blob(desc: Descriptor, owner: str) -> bool:
        """Present with the right size? Records a problem if not."""
        if desc.data is not None and desc.digest not in sizes:
            return True  # embedded in the descriptor (image-spec descriptor.md "data")
        if desc.digest not in sizes:
            problems.append(Problem(MISSING_BLOB, str(desc.digest), f"{owner} references missing blob {desc.digest}"))
            return False
        if sizes[desc.digest] != desc.size:
            problems.append(Problem(SIZE_MISMATCH, str(desc.digest),
                                    f"{owner} says blob {desc.digest} has {desc.size} bytes; it has "
                                    f"{sizes[desc.digest]}"))
            return False
        return True

    def walk(desc: Descriptor, owner: str) -> Manifest | Index | None:
        if desc.digest in bad_manifests:
            return None
        try:
            node = _load_manifest(store, desc) if desc.digest in sizes else None
        except VerificationError as e:
            bad_manifests.add(desc.digest)
            problems.append(Problem(INVALID_MANIFEST, str(desc.digest), f"{owner}: {e}"))
            return None
        if node is None or desc.digest in manifests_checked:
            return node
        manifests_checked.add(desc.digest)
        where = f"manifest {desc.digest}"
        for child in _children(node):
            if isinstance(node, Index):
                if check_blob(child, where):
                    walk(child, where)
            else:
                check_blob(child, where)
        return node

    dangling: set[Descriptor] = set()
    for desc in entries:
        name = _entry_name(desc)
        before = len(problems)
        present = check_blob(desc, f"index.json entry {name}")
        node = walk(desc, f"index.json entry {name}") if present else None
        if node is None:
            # the manifest itself is unusable: the entry is dangling; report it as one problem
            del problems[before:]
            reason = "is missing" if desc.digest not in sizes else (
                "has another size" if sizes[desc.digest] != desc.size else "is not a valid manifest")
            problems.append(Problem(DANGLING_ENTRY, name, f"index.json entry {name}: manifest {desc.digest} {reason}"))
            dangling.add(desc)
            continue
        match = _FALLBACK_TAG.match(name.rpartition(":")[2]) if ":" in name else None
        if match is not None and isinstance(node, Index):
            subject = Digest("sha256", match.group(1))
            repo = name.rpartition(":")[0]
            for child in node.manifests:
                try:
                    ref_node = _load_manifest(store, child) if child.digest in sizes else None
                except VerificationError:
                    ref_node = None
                if not isinstance(ref_node, Manifest) or ref_node.subject is None \
                        or ref_node.subject.digest != subject:
                    problems.append(Problem(BAD_REFERRER, name,
                                            f"referrers index {name} lists {child.digest}, which is missing or "
                                            f"not a manifest whose subject is {subject}"))
                    referrer_fixes.append((repo, subject, child.digest))

    candidates = stale + _stale_candidates(store)
    removed: list[str] = []
    if repair:
        problems, removed = _repair(store, problems, corrupt, dangling, referrer_fixes, candidates, stale_seconds)
    rel = [str(p.relative_to(root)) for p in candidates]
    return FsckReport(
        str(root),
        blobs=len(sizes) + len(corrupt),
        bytes=total_bytes,
        manifests=len(manifests_checked),
        entries=len(entries),
        problems=tuple(problems),
        stale_files=tuple(r for r in rel if r not in removed),
        removed_files=tuple(removed),
    )


def _repair(
    store: LocalStore,
    problems: list[Problem],
    corrupt: list[Digest],
    dangling: set[Descriptor],
    referrer_fixes: list[tuple[str, Digest, Digest]],
    candidates: list[Path],
    stale_seconds: float,
) -> tuple[list[Problem], list[str]]:
    fixed: set[tuple[str, str]] = set()
    for digest in corrupt:
        with contextlib.suppress(FileNotFoundError):
            store.blob_path(digest).unlink()
        log.info("removed corrupt blob %s", digest)
        fixed.add((CORRUPT_BLOB, str(digest)))

    if dangling:
        dropped: list[str] = []

        def change(current: list[Descriptor]) -> list[Descriptor]:
            # Re-decide under the lock: a concurrent pull may have completed an entry meanwhile.
            kept = []
            for d in current:
                if d in dangling and not _usable(store, d):
                    dropped.append(_entry_name(d))
                    continue
                kept.append(d)
            return kept

        store.update_index(change)
        for name in dropped:
            log.info("dropped dangling index.json entry %s", name)
            fixed.add((DANGLING_ENTRY, name))

    if referrer_fixes:
        from ocikit._store._referrers import fallback_tag, remove_from_fallback

        for repo, subject, digest in referrer_fixes:
            remove_from_fallback(store.repository(repo), subject, digest)
            fixed.add((BAD_REFERRER, f"{repo}:{fallback_tag(subject)}"))

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
    out = [Problem(p.kind, p.subject, p.message, repaired=(p.kind, p.subject) in fixed) for p in problems]
    return out, removed


def _usable(store: LocalStore, desc: Descriptor) -> bool:
    """The entry's manifest is present with its size and parses."""
    if not store.has_blob(desc.digest, desc.size):
        return False
    try:
        return _load_manifest(store, desc) is not None
    except VerificationError:
        return False


# -- gc --------------------------------------------------------------------------------------


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
            node = _load_manifest(store, desc)
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
    store = _store(home)
    root = store.root
    if not (root / "blobs" / "sha256").is_dir():
        return GcReport(str(root), dry_run, 0, grace_seconds=grace_seconds)
    removed: list[Digest] = []
    young: list[Digest] = []
    freed = 0
    with store.lock():
        blobs = [(name, path) for name, path in _blob_files(store) if _HEX.match(name)]
        entries = _read_index_strict(store, have_blobs=bool(blobs))
        reachable = _mark(store, entries)
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
    log.info("gc: %d reachable, %d removed (%d bytes), %d kept as young", len(reachable), len(removed), freed,
             len(young))
    return GcReport(str(root), dry_run, len(reachable), tuple(removed), freed, tuple(young), grace_seconds)
