"""``unpack``: a ModelKit (local store or registry) → files in a directory, safely.

Order of work, so that nothing is written unless everything checks out:

1. Resolve the reference: the local store if it has it, else the registry directly. From a
   registry only the selected layers are streamed, straight into the extractor while they are
   hashed; nothing is stored locally (use ``pull`` for that).
2. With a verify key (``verify_key=`` or ``$OCIKIT_VERIFY_KEY``) check the signature first.
3. Read the config (the Kitfile) and match layers to Kitfile elements by counting per kind in
   manifest order, as kit does; the config's per-layer digest must equal the manifest's.
4. Parent ModelKits (``model.path`` is a reference) come first, with only the ``model`` part of
   the filters, at most 10 deep, cycles refused (docs/compatibility.md §4.10, §4.14).
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

CNCF ModelPacks (``_modelpack``, docs/compatibility.md §5) are read too: the Kitfile comes from the
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
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocikit._config import RegistryOptions
from ocikit._io._digest import Digest
from ocikit._io._progress import SILENT, Progress
from ocikit._kitfile._filters import FilterSet, parse_filters
from ocikit._layers._extract import ExtractState
from ocikit._layers._types import Limits
from ocikit._oci._model import Descriptor
from ocikit._oci._reference import Reference
from ocikit._ops._index import chosen
from ocikit._ops._unpack_extract import extract_job
from ocikit._ops._unpack_layers import (
    MAX_PARENT_DEPTH,
    Collected,
    LayerJob,
    check_filters_match,
    collect,
    load_modelkit,
)
from ocikit._ops._unpack_moves import KITFILE_NAME, apply_moves, files_below, plan_moves
from ocikit._ops._unpack_staging import STAGING_PREFIX, staging_tree
from ocikit._trust._keys import ENV_VERIFY_KEY
from ocikit.errors import OcikitError, TargetExistsError, UsageError

if TYPE_CHECKING:
    from ocikit._kitfile._model import Kitfile

__all__ = ["MAX_PARENT_DEPTH", "UnpackResult", "UnpackedLayer", "unpack"]

log = logging.getLogger(__name__)

SBOM_NAME = "SBOM.json"


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


def _write_small(dir_fd: int, name: str, data: bytes) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd)
    with open(fd, "wb") as f:
        f.write(data)


def unpack(
    reference: str | Reference,
    target: str | os.PathLike[str],
    *,
    filters: str | Iterable[str] | None = (),
    overwrite: bool = False,
    ignore_existing: bool = False,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
    verify_key: str | os.PathLike[str] | None = None,
    progress: Progress = SILENT,
    limits: Limits | None = None,
    include_remote: bool = False,
    select: Iterable[str] = (),
) -> UnpackResult:
    """Unpack the ModelKit ``reference`` into ``target``; see the module docstring for the rules.

    ``include_remote``: also fetch remote datasets (``_remote_datasets``), hash-checked, into staging.

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
    desc, manifest, content = load_modelkit(storage, ref := chosen(storage, ref, list(select)))  # an index's variant
    kitfile = content.kitfile
    verified = False
    if verify_key:
        from ocikit._trust._trust_check import verify_signed

        verify_signed(storage, ref, desc, verify_key)
        verified = True

    collected = Collected()
    collect(ref, storage, manifest, content, filter_set, home_path, options, collected, [ref.display])
    check_filters_match(ref, storage, manifest, content, filter_set, collected)
    from ocikit._trust._sbom import find_sbom

    sbom_bytes = find_sbom(storage, desc.digest) if filter_set.includes_kitfile else None

    target_path = Path(target).absolute()
    _check_target_first(target_path, storage, desc, manifest, kitfile, collected, filter_set, sbom_bytes, overwrite,
                        ignore_existing)
    try:
        return _unpack_into(target_path, ref, desc, kitfile, collected, filter_set, sbom_bytes, overwrite,
                            ignore_existing, limits, progress, verified, include_remote)
    except OSError as e:
        # The target's file system refused (read-only, full, no permission): one clear line, not a
        # traceback; _unpack_into has already removed the staging directory and a new target.
        raise _target_error(e, target_path) from e


def _check_target_first(target: Path, storage: Any, desc: Descriptor, manifest: Any, kitfile: Kitfile,
                        collected: Collected, filter_set: FilterSet, sbom: bytes | None, overwrite: bool,
                        ignore_existing: bool) -> None:
    """Refuse what would block the move into ``target`` before a layer byte is fetched (``_unpack_preflight``)."""
    from ocikit._ops._unpack_file import load_tocs
    from ocikit._ops._unpack_preflight import check_target, expected_paths

    expected = expected_paths(collected.jobs, lambda: load_tocs(storage, desc.digest, manifest),
                              kitfile=kitfile.to_yaml().encode() if filter_set.includes_kitfile else None,
                              sbom_name=SBOM_NAME if sbom is not None else None)
    check_target(target, expected, overwrite=overwrite, ignore_existing=ignore_existing)


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


def _unpack_into(target_path: Path, ref: Reference, desc: Descriptor, kitfile: Kitfile, collected: Collected,
                 filter_set: FilterSet, sbom_bytes: bytes | None, overwrite: bool, ignore_existing: bool,
                 limits: Limits, progress: Progress, verified: bool, include_remote: bool = False) -> UnpackResult:
    """Extract every layer into a staging directory, add the Kitfile and SBOM, then move it all in."""
    created_target = _make_target(target_path)
    ok = False
    try:
        with staging_tree(target_path) as s_fd:
            t_fd = os.open(target_path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                state = ExtractState()
                layers = [_extract(job, s_fd, state, limits, progress) for job in collected.jobs]
                _remote(kitfile, filter_set, s_fd, include_remote)
                kitfile_written = filter_set.includes_kitfile and _add_kitfile(s_fd, state, kitfile)
                sbom_written = sbom_bytes is not None and _add_file(s_fd, state, SBOM_NAME, sbom_bytes)
                moves = plan_moves(s_fd, t_fd, target_path, overwrite, ignore_existing)
                written = [path for staged in moves.renames for path in files_below(s_fd, staged)]
                apply_moves(s_fd, t_fd, moves.renames)
            finally:
                os.close(t_fd)
        ok = True
    finally:
        if not ok and created_target:
            with contextlib.suppress(OSError):
                target_path.rmdir()
    return UnpackResult(ref, desc.digest, target_path, tuple(layers), tuple(written), tuple(moves.kept),
                        kitfile_written, sbom_written, tuple(collected.parents), verified)


def _remote(kitfile: Kitfile, filter_set: FilterSet, s_fd: int, include_remote: bool) -> None:
    """Remote datasets: fetched (hash-checked) with ``include_remote``, else a warning (as kit)."""
    if not any(d.remote_path for d in kitfile.datasets):
        return
    if not include_remote:
        log.warning("the ModelKit refers to remote datasets; to fetch them, unpack with --include-remote")
        return
    from ocikit._ops._remote_datasets import fetch_remote_datasets

    fetch_remote_datasets(kitfile, filter_set, s_fd)


def _make_target(target_path: Path) -> bool:
    """Create the target directory if needed; returns whether it was created (to remove on failure)."""
    created = not os.path.lexists(target_path)
    try:
        target_path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as e:
        raise TargetExistsError(f"{target_path} exists and is not a directory") from e
    if not target_path.is_dir():
        raise TargetExistsError(f"{target_path} exists and is not a directory")
    return created


def _extract(job: LayerJob, s_fd: int, state: ExtractState, limits: Limits, progress: Progress) -> UnpackedLayer:
    count = extract_job(job, s_fd, state, limits, progress)
    return UnpackedLayer(job.source, job.kind, job.section, job.index, job.path, job.desc.digest, job.desc.size,
                         count)


def _add_kitfile(s_fd: int, state: ExtractState, kitfile: Kitfile) -> bool:
    if KITFILE_NAME in state.files or KITFILE_NAME in state.dirs:
        log.warning("a layer holds a file named %s at the top; not writing the Kitfile", KITFILE_NAME)
        return False
    _write_small(s_fd, KITFILE_NAME, kitfile.to_yaml().encode())
    return True


def _add_file(s_fd: int, state: ExtractState, name: str, data: bytes) -> bool:
    """Write ``name`` at the top of the staged tree unless a layer holds that name already."""
    if name in state.files or name in state.dirs:
        return False
    _write_small(s_fd, name, data)
    return True
