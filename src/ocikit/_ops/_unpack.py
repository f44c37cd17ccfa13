"""``unpack``: a ModelKit (local store or registry) → files in a directory, safely.

Order of work, so that nothing is written unless everything checks out:

1. Resolve the reference: the local store if it has it, else the registry directly. From a
   registry only the selected layers are streamed, straight into the extractor while they are
   hashed; nothing is stored locally (use ``pull`` for that).
2. With a verify key (``verify_key=`` or ``$OCIKIT_VERIFY_KEY``) check the signature first.
3. Read the config (the Kitfile) and match layers to Kitfile elements by counting per kind in
   manifest order, as kit does; the config's per-layer digest must equal the manifest's.
4. Parent ModelKits (``model.path`` is a reference) come first, with only the ``model`` part of
   the filters, at most 10 deep, cycles refused (kitops-format.md §4.10, §4.14).
5. Every layer is extracted into one staging directory ``<target>/.ocikit-unpack-XXXX`` by the
   strict reader in ``_layers`` (no links, devices, FIFOs, setuid/setgid, ``..``, absolute or
   backslash names, duplicates, lying sizes, bombs). Each blob's digest and size are checked at
   its end; for compressed layers the config's diffId is checked too. The unpack keeps the lock
   file ``lock`` in the staging directory ``flock``-ed (the tree goes into ``tree``); staging
   directories whose lock can be taken were left by a killed unpack and are removed first.
6. Only then are files moved into the target, through directory file descriptors opened with
   ``O_NOFOLLOW``: a pre-existing symlink where a file or directory goes is refused, existing files
   are an error unless ``overwrite`` (replace) or ``ignore_existing`` (keep). On any failure the
   staging directory is removed and the target is left as it was.

Unpacked files are not fsynced (like ``tar -xf``): the store is the durable copy and the tree can
be re-created from it; large files are written with direct I/O by ``_layers`` anyway
(docs/performance.md, "Durability of unpacked files").

CNCF ModelPacks (``_modelpack``, kitops-format.md §5) are read too: the Kitfile comes from the
manifest annotation ``ml.kitops.modelkit.kitfile`` or, for ModelPacks made by other tools, is
synthesised from the config and the layers' ``org.cncf.model.filepath`` annotations (checked: a
relative path that stays inside the target). Tar layers hold context-relative names as in KitOps
layers; a ``.raw`` layer's single file is placed at its ``org.cncf.model.filepath``.

The Kitfile is written (YAML from the config) when no filter is given or a filter lists
``kitfile``; with it ``SBOM.json`` when the ModelKit has an SBOM attached.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import posixpath
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocikit._config import RegistryOptions
from ocikit._io._digest import CHUNK, Digest
from ocikit._io._progress import SILENT, Progress
from ocikit._kitfile._filters import FilterSet, parse_filters
from ocikit._layers._tar import (
    ExtractState,
    Limits,
    TarReader,
    ThreadedHashingReader,
    extract_layer,
    open_decompressed,
    parse_layer_media_type,
)
from ocikit._oci._model import KITOPS_CONFIG, KITOPS_MANIFEST_ARTIFACT, Descriptor, Manifest
from ocikit._oci._reference import Reference
from ocikit._trust._keys import ENV_VERIFY_KEY
from ocikit.errors import (
    DigestMismatchError,
    NotAModelKitError,
    NotFoundError,
    OcikitError,
    TargetExistsError,
    UnsafeArchiveError,
    UsageError,
    VerificationError,
)

if TYPE_CHECKING:
    from ocikit._kitfile._model import Kitfile, LayerInfo
    from ocikit._modelkit._modelpack import ModelContent
    from ocikit._store._storage import Storage

__all__ = ["MAX_PARENT_DEPTH", "UnpackResult", "UnpackedLayer", "unpack"]

log = logging.getLogger(__name__)

MAX_PARENT_DEPTH = 10
STAGING_PREFIX = ".ocikit-unpack-"
#: Inside a staging directory: the lock file its unpack keeps ``flock``-ed, and the extracted tree.
STAGING_LOCK = "lock"
STAGING_TREE = "tree"
#: A staging directory without a lock file (made by an older ocikit) older than this is stale.
_STALE_UNLOCKED_AGE = 3600.0
KITFILE_NAME = "Kitfile"
SBOM_NAME = "SBOM.json"

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class UnpackedLayer:
    reference: str  # the ModelKit it came from (a parent's for parent layers)
    kind: str
    section: str
    index: int
    path: str
    digest: Digest
    size: int
    files: int


@dataclass(frozen=True)
class UnpackResult:
    reference: Reference
    digest: Digest
    target: Path
    layers: tuple[UnpackedLayer, ...]
    written: tuple[str, ...]  # target-relative paths of files written (or replaced)
    kept: tuple[str, ...]  # existing files left alone (--ignore-existing, identical Kitfile)
    kitfile_written: bool
    sbom_written: bool
    parents: tuple[str, ...] = ()
    verified_signature: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference.display,
            "digest": str(self.digest),
            "target": str(self.target),
            "layers": [
                {"reference": la.reference, "kind": la.kind, "section": la.section, "path": la.path,
                 "digest": str(la.digest), "size": la.size, "files": la.files}
                for la in self.layers
            ],
            "written": list(self.written),
            "kept": list(self.kept),
            "kitfile": self.kitfile_written,
            "sbom": self.sbom_written,
            "parents": list(self.parents),
            "signatureVerified": self.verified_signature,
        }


@dataclass(frozen=True)
class _Job:
    """One layer to extract."""

    storage: Any
    source: str  # display reference of the ModelKit
    desc: Descriptor
    kind: str
    codec: str
    section: str
    index: int
    path: str
    info: LayerInfo | None
    diff_id: Digest | None = None  # checked for compressed layers when known
    raw_name: str | None = None  # a ModelPack .raw layer: its file's path
    raw_mode: int = 0o644
    name: str | None = None  # the Kitfile element's name, for checking filters


@dataclass
class _Collected:
    jobs: list[_Job] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)


_Loaded = tuple[Descriptor, Manifest, "ModelContent"]


def _load_modelkit(storage: Storage, ref: Reference) -> _Loaded:
    from ocikit._modelkit._modelpack import read_model
    from ocikit._store._storage import read_manifest

    desc, manifest = read_manifest(storage, ref.identifier)
    if manifest.artifact_type == KITOPS_MANIFEST_ARTIFACT and manifest.config.media_type != KITOPS_CONFIG:
        raise NotAModelKitError(
            f"{ref.display} is not a ModelKit (config media type {manifest.config.media_type})"
        )
    return desc, manifest, read_model(storage, manifest, ref.display)


def _element_name(kitfile: Kitfile, section: str, index: int) -> str | None:
    if section == "model" and kitfile.model is not None:
        return kitfile.model.name
    if section == "parts" and kitfile.model is not None and index < len(kitfile.model.parts):
        return kitfile.model.parts[index].name
    if section == "datasets" and index < len(kitfile.datasets):
        return kitfile.datasets[index].name
    return None


def _match_layers(ref: Reference, storage: Storage, manifest: Manifest, content: ModelContent,
                  filters: FilterSet) -> list[_Job]:
    """Pair manifest layers with Kitfile elements by counting per kind (kit's unpack.go); a
    ModelPack's layers come paired already (``_modelpack``)."""
    from ocikit._kitfile._model import LayerInfo
    from ocikit._modelkit._modelpack import raw_mode

    kitfile, infos = content.kitfile, content.infos
    if content.slots is not None:
        jobs = []
        for slot in content.slots:
            if not filters.matches(slot.section, _element_name(kitfile, slot.section, slot.index), slot.path):
                continue
            layer = manifest.layers[slot.position]
            # never None here: that would mean a kit <= 0.4 layer (names relative to the path's parent)
            slot_info = infos.get((slot.section, slot.index)) or LayerInfo(layer.digest,
                                                                           slot.diff_id or layer.digest)
            jobs.append(_Job(storage, ref.display, layer, slot.kind, slot.codec, slot.section, slot.index,
                             slot.path, slot_info, slot.diff_id,
                             slot.filepath if slot.raw else None, raw_mode(layer.annotations),
                             name=_element_name(kitfile, slot.section, slot.index)))
        return jobs
    by_kind: dict[str, list[Any]] = {}
    for el in kitfile.layer_elements():
        by_kind.setdefault(el.kind, []).append(el)
    used: dict[str, int] = {}
    jobs = []
    for layer in manifest.layers:
        kind, codec = parse_layer_media_type(layer.media_type)
        n = used.get(kind, 0)
        used[kind] = n + 1
        elements = by_kind.get(kind, [])
        if n >= len(elements):
            raise VerificationError(
                f"{ref.display}: the manifest has more {kind} layers than the Kitfile in its config lists"
            )
        el = elements[n]
        info = infos.get((el.section, el.index))
        if info is not None and info.digest != layer.digest:
            raise DigestMismatchError(
                f"{ref.display}: digest in config and manifest do not match in {kind} layer {el.path!r}"
            )
        name = _element_name(kitfile, el.section, el.index)
        if not filters.matches(el.section, name, el.path):
            continue
        jobs.append(_Job(storage, ref.display, layer, kind, codec, el.section, el.index, el.path, info,
                         info.diff_id if info is not None else None, name=name))
    return jobs


def _collect(ref: Reference, storage: Storage, manifest: Manifest, content: ModelContent,
             filters: FilterSet, home: Path | None,
             options: RegistryOptions | None, out: _Collected, chain: list[str]) -> None:
    """Parents first (recursively, model-only filters), then this ModelKit's selected layers."""
    parent_ref_text = content.kitfile.model_reference
    if parent_ref_text:
        parent_filters = filters.for_parent()
        if parent_filters is not None:
            parent_ref = Reference.parse(parent_ref_text)
            if parent_ref.display in chain:
                raise VerificationError(
                    f"found cycle in modelkit references: [{'=>'.join([*chain, parent_ref.display])}]"
                )
            if len(chain) > MAX_PARENT_DEPTH:
                raise VerificationError(
                    f"reached maximum number of model references: [{'=>'.join([*chain, parent_ref.display])}]",
                    hint=f"a ModelKit may have at most {MAX_PARENT_DEPTH} ancestors",
                )
            from ocikit._ops._repos import locate

            parent_storage = locate(parent_ref, home=home, options=options)
            _, p_manifest, p_content = _load_modelkit(parent_storage, parent_ref)
            out.parents.append(parent_ref.display)
            _collect(parent_ref, parent_storage, p_manifest, p_content, parent_filters, home, options,
                     out, [*chain, parent_ref.display])
    out.jobs.extend(_match_layers(ref, storage, manifest, content, filters))


# ------------------------------------------------------------------------------------------------
# extraction into staging


class _DiffIdReader:
    """Hashes the decompressed tar stream, to check the config's diffId of compressed layers."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.hash = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data: bytes = self._raw.read(n)
        self.hash.update(data)
        return data


def _extract_job(job: _Job, staging_fd: int, state: ExtractState, limits: Limits, progress: Progress) -> int:
    what = f"{job.kind} layer {job.path!r} ({job.desc.digest.short}) of {job.source}"
    key = f"{job.source}:{job.desc.digest}"
    progress.start(key, f"{job.kind} {job.path}", job.desc.size if job.codec == "none" else 0)
    raw = job.storage.open_blob(job.desc)
    hashed = ThreadedHashingReader(raw, job.desc.digest, job.desc.size, f"{job.kind} layer {job.path!r}")
    try:
        stream: Any = open_decompressed(hashed, job.codec, job.desc.size, limits, what)
        if job.raw_name is not None:
            from ocikit._modelkit._modelpack import RawAsTar

            stream = RawAsTar(stream, job.raw_name, job.raw_mode, job.desc.size)
        diff = _DiffIdReader(stream) if job.codec != "none" and job.diff_id is not None else None
        reader = TarReader(diff if diff is not None else stream, what, limits)
        root_fd = staging_fd
        prefix_fd = None
        if job.info is None and job.raw_name is None:
            # Layers of kit <= 0.4 (config element without digest): names are relative to the
            # parent of the Kitfile path (kitops-format.md §3.4).
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
            while diff.read(CHUNK):
                pass
            actual = Digest.from_hash(diff.hash)
            if actual != job.diff_id:
                raise DigestMismatchError(f"{what}: uncompressed content does not match its diffId {job.diff_id}")
    finally:
        hashed.close()
    progress.finish(key)
    return len(extracted)


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
            nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
        finally:
            os.close(fd)
        fd = nfd
    return fd


# ------------------------------------------------------------------------------------------------
# moving from staging into the target


@dataclass
class _Moves:
    renames: list[str] = field(default_factory=list)  # staged paths to move (new or replacing)
    kept: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def _same_content(a_fd: int, b_fd: int, name: str) -> bool:
    try:
        fa = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=a_fd)
    except OSError:
        return False
    try:
        fb = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=b_fd)
    except OSError:
        os.close(fa)
        return False
    with open(fa, "rb") as x, open(fb, "rb") as y:
        while True:
            ca, cb = x.read(CHUNK), y.read(CHUNK)
            if ca != cb:
                return False
            if not ca:
                return True


def _plan_moves(s_fd: int, t_fd: int, rel: str, moves: _Moves, overwrite: bool, ignore_existing: bool) -> None:
    for name in sorted(os.listdir(s_fd)):
        path = f"{rel}/{name}" if rel else name
        s_st = os.lstat(name, dir_fd=s_fd)
        try:
            t_st = os.lstat(name, dir_fd=t_fd)
        except FileNotFoundError:
            moves.renames.append(path)
            continue
        if stat.S_ISLNK(t_st.st_mode):
            raise UnsafeArchiveError(
                f"{path} already exists in the target as a symbolic link; refusing to write through it",
                hint="remove the link, or unpack into an empty directory",
            )
        if stat.S_ISDIR(s_st.st_mode):
            if not stat.S_ISDIR(t_st.st_mode):
                raise TargetExistsError(f"{path} exists in the target and is not a directory",
                                        hint="remove it or unpack into another directory")
            cs = os.open(name, _DIR_FLAGS, dir_fd=s_fd)
            try:
                ct = os.open(name, _DIR_FLAGS, dir_fd=t_fd)
            except OSError as e:
                os.close(cs)
                raise UnsafeArchiveError(f"{path}: cannot open the existing directory safely ({e.strerror})") from e
            try:
                _plan_moves(cs, ct, path, moves, overwrite, ignore_existing)
            finally:
                os.close(cs)
                os.close(ct)
            continue
        if not stat.S_ISREG(t_st.st_mode):
            raise TargetExistsError(f"{path} exists in the target and is not a regular file",
                                    hint="remove it or unpack into another directory")
        if path == KITFILE_NAME and _same_content(s_fd, t_fd, name):
            moves.kept.append(path)
        elif overwrite:
            moves.renames.append(path)
        elif ignore_existing:
            moves.kept.append(path)
        elif path == KITFILE_NAME:
            moves.conflicts.append(f"{path} (exists and does not match the ModelKit's Kitfile)")
        else:
            moves.conflicts.append(path)


def _apply_moves(s_root: int, t_root: int, renames: list[str]) -> None:
    cache_s: dict[str, int] = {"": s_root}
    cache_t: dict[str, int] = {"": t_root}

    def dir_fd(cache: dict[str, int], rel: str) -> int:
        if rel in cache:
            return cache[rel]
        parent, _, base = rel.rpartition("/")
        fd = os.open(base, _DIR_FLAGS, dir_fd=dir_fd(cache, parent))
        cache[rel] = fd
        return fd

    try:
        for path in renames:
            parent, _, base = path.rpartition("/")
            os.rename(base, base, src_dir_fd=dir_fd(cache_s, parent), dst_dir_fd=dir_fd(cache_t, parent))
    finally:
        for cache in (cache_s, cache_t):
            for rel, fd in cache.items():
                if rel:
                    os.close(fd)


def _files_below(root_fd: int, rel: str) -> list[str]:
    """Regular files in the staged subtree ``rel`` (for the list of written paths)."""
    st = os.lstat(rel, dir_fd=root_fd)
    if not stat.S_ISDIR(st.st_mode):
        return [rel]
    out: list[str] = []
    fd = os.open(rel, _DIR_FLAGS, dir_fd=root_fd)
    try:
        for name in sorted(os.listdir(fd)):
            out.extend(f"{rel}/{p}" for p in _files_below(fd, name))
    finally:
        os.close(fd)
    return out


# ------------------------------------------------------------------------------------------------


def _write_small(dir_fd: int, name: str, data: bytes) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd)
    with open(fd, "wb") as f:
        f.write(data)


def unpack(
    reference: str | Reference,
    target: str | os.PathLike[str],
    *,
    filters: Any = (),
    overwrite: bool = False,
    ignore_existing: bool = False,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
    verify_key: str | os.PathLike[str] | None = None,
    progress: Progress = SILENT,
    limits: Limits | None = None,
) -> UnpackResult:
    """Unpack the ModelKit ``reference`` into ``target``; see the module docstring for the rules.

    ``filters``: KitOps filter strings (``"model"``, ``"datasets:validation"``, …), OR-ed.
    A filter that selects nothing (no layer, and not ``kitfile``) raises :class:`NotFoundError`.
    """
    from ocikit._ops._repos import locate

    if overwrite and ignore_existing:
        raise UsageError("choose one of --overwrite and --ignore-existing")
    ref = reference if isinstance(reference, Reference) else Reference.parse(reference)
    filter_set = parse_filters(filters)
    if verify_key is None:
        verify_key = os.environ.get(ENV_VERIFY_KEY) or None
    limits = limits or Limits.from_env()
    home_path = Path(home) if home is not None else None

    storage = locate(ref, home=home_path, options=options)
    desc, manifest, content = _load_modelkit(storage, ref)
    kitfile = content.kitfile
    verified = False
    if verify_key:
        from ocikit._trust._signing import verify_descriptor

        verify_descriptor(storage, ref, desc, verify_key)
        verified = True

    collected = _Collected()
    _collect(ref, storage, manifest, content, filter_set, home_path, options, collected, [ref.display])
    _check_filters_match(ref, storage, manifest, content, filter_set, collected)
    sbom_bytes: bytes | None = None
    if filter_set.includes_kitfile:
        from ocikit._trust._sbom import find_sbom

        sbom_bytes = find_sbom(storage, desc.digest)

    target_path = Path(target).absolute()
    try:
        return _unpack_into(target_path, ref, desc, kitfile, collected, filter_set, sbom_bytes, overwrite,
                            ignore_existing, limits, progress, verified)
    except OSError as e:
        # The target's file system refused (read-only, full, no permission): one clear line, not a
        # traceback; _unpack_into has already removed the staging directory and a new target.
        raise _target_error(e, target_path) from e


def _check_filters_match(ref: Reference, storage: Storage, manifest: Manifest, content: ModelContent,
                         filter_set: FilterSet, collected: _Collected) -> None:
    """Refuse a filter that selects nothing (a typo would otherwise unpack nothing, exit 0).

    A filter listing ``kitfile`` selects the Kitfile, so it always counts; layers of parent
    ModelKits (``model.path`` references) count like the ModelKit's own.
    """
    for f in filter_set.filters:
        if "kitfile" in f.types or any(f.matches(j.section, j.name, j.path) for j in collected.jobs):
            continue
        listing = [_describe_layer(j) for j in _match_layers(ref, storage, manifest, content, FilterSet())]
        parent = content.kitfile.model_reference
        if parent:
            listing.insert(0, f"model from parent ModelKit {parent}")
        has = "; ".join(listing) if listing else "no layers"
        raise NotFoundError(
            f"filter {str(f)!r} matches nothing in {ref.display}; it has: {has}",
            hint="a filter is <type>[,<type>...][:<name>[,<name>...]]; the names (a layer's name or path, "
                 "exactly) apply to every listed type; repeat --filter to combine selections",
        )


def _describe_layer(job: _Job) -> str:
    section = "model" if job.section == "parts" else job.section
    return f"{section} {job.name!r} ({job.path})" if job.name else f"{section} ({job.path})"


def _remove_stale_staging(target: Path) -> None:
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
                import time

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


def _target_error(e: OSError, target: Path) -> OcikitError:
    reason = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return OcikitError(f"cannot unpack into {target}: {reason}",
                           hint="free some disk space (or unpack elsewhere with -d) and run the command "
                                "again; nothing was left behind")
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return OcikitError(f"cannot write into {target}: {reason}",
                           hint="choose a directory you can write to with -d")
    where = f" ({e.filename})" if e.filename and STAGING_PREFIX not in str(e.filename) else ""
    return OcikitError(f"unpacking into {target} failed: {reason}{where}",
                       hint="check the target directory; nothing was left behind")


def _unpack_into(target_path: Path, ref: Reference, desc: Descriptor, kitfile: Kitfile, collected: _Collected,
                 filter_set: FilterSet, sbom_bytes: bytes | None, overwrite: bool, ignore_existing: bool,
                 limits: Limits, progress: Progress, verified: bool) -> UnpackResult:
    created_target = not os.path.lexists(target_path)
    try:
        target_path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as e:
        raise TargetExistsError(f"{target_path} exists and is not a directory") from e
    if not target_path.is_dir():
        raise TargetExistsError(f"{target_path} exists and is not a directory")
    _remove_stale_staging(target_path)
    try:
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=target_path))
    except OSError:
        if created_target:
            with contextlib.suppress(OSError):
                target_path.rmdir()
        raise
    ok = False
    lock_fd = -1
    try:
        # Held until the staging directory is gone: tells later unpacks this one is alive.
        lock_fd = os.open(staging / STAGING_LOCK, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                          | getattr(os, "O_CLOEXEC", 0), 0o600)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        os.mkdir(staging / STAGING_TREE, 0o700)
        s_fd = os.open(staging / STAGING_TREE, _DIR_FLAGS)
        t_fd = os.open(target_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            state = ExtractState()
            layers: list[UnpackedLayer] = []
            for job in collected.jobs:
                count = _extract_job(job, s_fd, state, limits, progress)
                layers.append(UnpackedLayer(job.source, job.kind, job.section, job.index, job.path,
                                            job.desc.digest, job.desc.size, count))
            kitfile_written = False
            if filter_set.includes_kitfile:
                if KITFILE_NAME in state.files or KITFILE_NAME in state.dirs:
                    log.warning("a layer holds a file named %s at the top; not writing the Kitfile", KITFILE_NAME)
                else:
                    _write_small(s_fd, KITFILE_NAME, kitfile.to_yaml().encode())
                    kitfile_written = True
            sbom_written = False
            if sbom_bytes is not None and SBOM_NAME not in state.files and SBOM_NAME not in state.dirs:
                _write_small(s_fd, SBOM_NAME, sbom_bytes)
                sbom_written = True
            moves = _Moves()
            _plan_moves(s_fd, t_fd, "", moves, overwrite, ignore_existing)
            if moves.conflicts:
                shown = ", ".join(moves.conflicts[:3]) + (f" and {len(moves.conflicts) - 3} more"
                                                          if len(moves.conflicts) > 3 else "")
                if len(moves.conflicts) == 1:
                    raise TargetExistsError(f"{shown} already exists in {target_path}")
                raise TargetExistsError(f"{len(moves.conflicts)} paths already exist in {target_path}: {shown}")
            written: list[str] = []
            for path in moves.renames:
                written.extend(_files_below(s_fd, path))
            _apply_moves(s_fd, t_fd, moves.renames)
        finally:
            os.close(s_fd)
            os.close(t_fd)
        ok = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if lock_fd >= 0:
            os.close(lock_fd)
        if not ok and created_target:
            with contextlib.suppress(OSError):
                target_path.rmdir()
    return UnpackResult(ref, desc.digest, target_path, tuple(layers), tuple(written), tuple(moves.kept),
                        kitfile_written, sbom_written, tuple(collected.parents), verified)
