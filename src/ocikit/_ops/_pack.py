"""``pack``: a project directory + Kitfile → a ModelKit in the local store.

What goes into which layer (kitops-format.md §3.1, §3.3):

* One layer per Kitfile element, in manifest order model, parts, code, datasets, docs. A model
  whose ``path`` is empty or a ModelKit reference gets no layer.
* A layer holds its path, everything below it, and its ancestor directories; names are relative to
  the context, in ``filepath.Walk`` order (depth-first, each directory's entries sorted by bytes).
* ``.kitignore`` (dockerignore rules, ``_ignore``) drops entries; the Kitfile and ``.kitignore`` at
  the context root are never packed.
* Paths claimed by another layer are left out: when a dataset lives inside the model directory, or
  ``code: .`` covers everything, every file lands in exactly one layer. Unlike kit, which compares
  with a string prefix (so a ``code: .`` layer also loses ``model.txt`` and ``model-v2/`` next to a
  ``model`` layer, and they end up in no layer), we compare whole path components.
* With ``model.path`` a ModelKit reference, the parent chain is resolved where each reference
  says (``_repos.locate``: the registry it names, the local store offline), at most 10 deep,
  cycles refused; the parents' layer paths are left out.

Symbolic links inside the context are followed when their target (fully resolved) stays inside the
context: the link's name is packed as a regular file or directory with the target's content. A
link that leads outside the context, or a loop, is a :class:`PackError` naming the link. kit
drops links silently (kitops issue #1237); we neither drop nor leak. Sockets, FIFOs and devices are
skipped (reported in the dry-run plan). Hard links become separate regular files.

Reproducible: tar entries carry no times or owners and normalised modes, the manifest carries
``org.opencontainers.image.created`` only when ``SOURCE_DATE_EPOCH`` is set — so the same inputs
give the same manifest digest on any machine.

With ``format="modelpack"`` the same layers are written as a CNCF ModelPack (``_modelpack``,
kitops-format.md §5): ``application/vnd.cncf.model.*`` media types, a ModelPack config whose
``descriptor.createdAt`` is ``SOURCE_DATE_EPOCH`` when set (else now, so the digest then differs
from run to run), and the Kitfile as JSON in the manifest annotation ``ml.kitops.modelkit.kitfile``.
Every layer, in both formats, carries ``org.cncf.model.filepath`` = its cleaned Kitfile path, as
newer kit writes it.

Untagged packs (``tag=None``, library only; the CLI requires ``-t``) are stored in the repository
``localhost/_`` without a tag, kit's convention; they are found by digest and in ``ocikit list``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import posixpath
import re
import signal
import stat
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocikit._config import RegistryOptions, source_date_epoch
from ocikit._io._digest import Digest
from ocikit._io._progress import SILENT, Progress
from ocikit._kitfile._ignore import IgnoreMatcher, load_kitignore
from ocikit._layers._tar import (
    COMPRESSIONS,
    SECTION_KIND,
    PackedLayer,
    layer_media_type,
    normalized_mode,
    write_tar,
)
from ocikit._oci._model import (
    ANNOTATION_CLI_VERSION,
    ANNOTATION_CREATED,
    ANNOTATION_FILEPATH,
    KITOPS_CONFIG,
    KITOPS_MANIFEST_ARTIFACT,
    MANIFEST,
    MODELPACK_CONFIG,
    MODELPACK_MANIFEST_ARTIFACT,
    Descriptor,
    Manifest,
)
from ocikit._oci._reference import Reference, split_tags
from ocikit._version import __version__
from ocikit.errors import NotFoundError, OcikitError, PackError, StoreError, UsageError

if TYPE_CHECKING:
    from ocikit._kitfile._model import Kitfile
    from ocikit._store._layout import LocalStore

__all__ = ["MAX_PARENT_DEPTH", "LayerPlan", "PackPlan", "PackResult", "pack"]

log = logging.getLogger(__name__)

#: kit's MaxModelRefChain: at most this many ancestors (kitops-format.md §4.14).
MAX_PARENT_DEPTH = 10
#: repository for packs without a tag (kit's convention)
UNTAGGED_REPOSITORY = "localhost/_"


@dataclass(frozen=True, slots=True)
class PlannedEntry:
    """One tar entry of the plan; also what ``write_tar`` reads (no second copy of the plan).

    Slots and a string ``source``: a plan may hold a hundred thousand of these, and a ``Path``
    per entry cost more than the rest of the entry (docs/performance.md).
    """

    name: str  # tar name
    is_dir: bool
    size: int
    source: str | None  # the file read (a symlink's resolved target), None for directories
    mode: int = 0o755  # normalised (see _layers.normalized_mode)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.name, "type": "dir" if self.is_dir else "file", "size": self.size}


@dataclass(frozen=True)
class LayerPlan:
    """One layer to write: the Kitfile element and the entries it will hold."""

    kind: str
    section: str
    index: int
    path: str  # Kitfile path, verbatim
    clean_path: str
    media_type: str
    entries: tuple[PlannedEntry, ...]

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    @property
    def file_count(self) -> int:
        return sum(1 for e in self.entries if not e.is_dir)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "section": self.section,
            "index": self.index,
            "path": self.path,
            "mediaType": self.media_type,
            "files": self.file_count,
            "size": self.size,
            "entries": [e.to_dict() for e in self.entries],
        }


@dataclass(frozen=True)
class PackPlan:
    """What ``pack`` writes (or, with ``dry_run``, would write)."""

    context: Path
    kitfile_path: Path | None
    layers: tuple[LayerPlan, ...]
    ignored: tuple[str, ...]  # paths dropped by .kitignore
    skipped: tuple[str, ...]  # special files (sockets, FIFOs, devices) not packed
    parents: tuple[str, ...]  # ModelKit references of the parent chain, nearest first

    def to_dict(self) -> dict[str, Any]:
        return {
            "context": str(self.context),
            "layers": [layer.to_dict() for layer in self.layers],
            "ignored": list(self.ignored),
            "skipped": list(self.skipped),
            "parents": list(self.parents),
        }


@dataclass(frozen=True)
class PackResult:
    digest: Digest | None
    references: tuple[Reference, ...]
    manifest: Manifest | None
    descriptor: Descriptor | None
    kitfile: Kitfile
    layers: tuple[PackedLayer, ...]
    sbom_digest: Digest | None
    plan: PackPlan
    dry_run: bool = False
    reused: tuple[Digest, ...] = field(default=())  # layer blobs that were already in the store

    def to_dict(self) -> dict[str, Any]:
        if self.dry_run:
            return {"dryRun": True, "plan": self.plan.to_dict(),
                    "references": [r.display for r in self.references]}
        return {
            "digest": str(self.digest),
            "references": [r.display for r in self.references],
            "layers": [
                {
                    "mediaType": layer.descriptor.media_type,
                    "digest": str(layer.descriptor.digest),
                    "diffId": str(layer.diff_id),
                    "size": layer.descriptor.size,
                    "path": layer.path,
                    "files": len(layer.files),
                }
                for layer in self.layers
            ],
            "sbom": str(self.sbom_digest) if self.sbom_digest else None,
        }


# ------------------------------------------------------------------------------------------------
# planning


def clean_layer_path(path: str) -> str:
    """Go's filepath.Clean of a Kitfile path, as a context-relative POSIX path ("." for the root)."""
    cleaned = posixpath.normpath(path.replace("\\", "/")) if path else "."
    if cleaned.startswith("/") or cleaned == ".." or cleaned.startswith("../"):
        raise PackError(f"Kitfile path {path!r} points outside the context directory")
    return cleaned


def _is_under(path: str, base: str) -> bool:
    """``path`` is ``base`` or below it, comparing whole components ("." contains everything)."""
    return base == "." or path == base or path.startswith(base + "/")


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\\]")  # control characters and backslashes


def _check_name(name: str, context: Path) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as e:
        raise PackError(f"{context / name!r}: file name is not valid UTF-8", hint="rename the file") from e
    if _UNSAFE_NAME.search(name):
        raise PackError(
            f"{name!r}: file names with backslashes or control characters cannot be unpacked safely",
            hint="rename the file or exclude it in .kitignore",
        )


class _Walker:
    """Walks the context for one layer, applying ignores, claims and the symlink policy."""

    def __init__(self, context: Path, real_context: str, matcher: IgnoreMatcher,
                 ignored: set[str], skipped: set[str]) -> None:
        self.context = context
        self.root = str(context)
        self.real = real_context
        self.matcher = matcher
        self.ignored = ignored
        self.skipped = skipped

    def _resolve(self, rel: str) -> tuple[os.stat_result, str]:
        """lstat ``rel``; for a symlink, check it stays inside and return the target's stat."""
        full = self.root if rel == "." else os.path.join(self.root, rel)
        try:
            st = os.lstat(full)
        except FileNotFoundError as e:
            raise PackError(f"path {rel} does not exist in {self.context}") from e
        if not stat.S_ISLNK(st.st_mode):
            return st, full
        target = os.path.realpath(full)
        if os.path.commonpath([self.real, target]) != self.real:
            raise PackError(
                f"{rel} is a symbolic link to {target}, which is outside the context directory",
                hint="copy the file into the context, or exclude the link in .kitignore",
            )
        try:
            st = os.stat(target)
        except FileNotFoundError as e:
            raise PackError(f"{rel} is a broken symbolic link (target {target} does not exist)",
                            hint="fix or remove the link, or exclude it in .kitignore") from e
        return st, target

    def entries(self, layer_path: str, excluded: Sequence[str]) -> list[PlannedEntry]:
        out: list[PlannedEntry] = []
        if layer_path != ".":
            parts = layer_path.split("/")
            # ancestors of the layer path, then the layer path itself
            for i in range(1, len(parts)):
                rel = "/".join(parts[:i])
                st, _ = self._resolve(rel)
                if not stat.S_ISDIR(st.st_mode):
                    raise PackError(f"path {layer_path}: {rel} is not a directory")
                if self.matcher.ignored(rel):
                    self.ignored.add(rel)
                    if not self.matcher.has_exclusions:
                        log.warning("layer path %s is ignored by .kitignore", layer_path)
                        return out
                    continue
                out.append(PlannedEntry(rel, True, 0, None))
            self._visit(layer_path, excluded, out, set(), top=True)
        else:
            st, _ = self._resolve(".")
            self._children(".", self.context, excluded, out, {(st.st_dev, st.st_ino)})
        return out

    def _visit(self, rel: str, excluded: Sequence[str], out: list[PlannedEntry],
               stack: set[tuple[int, int]], *, top: bool = False) -> None:
        if any(_is_under(rel, p) for p in excluded):
            return
        ignored = self.matcher.ignored(rel)
        if ignored:
            self.ignored.add(rel)
            if top:
                log.warning("layer path %s is ignored by .kitignore", rel)
            if not self.matcher.has_exclusions:
                return  # pruned before looking at it: an ignored link may point anywhere
        st, source = self._resolve(rel)
        if ignored and not stat.S_ISDIR(st.st_mode):
            return
        _check_name(rel, self.context)
        if stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key in stack:
                raise PackError(f"{rel} is a symbolic link that loops back to one of its parent directories",
                                hint="remove the link or exclude it in .kitignore")
            if not ignored:
                out.append(PlannedEntry(rel, True, 0, None))
            self._children(rel, source, excluded, out, stack | {key})
        elif stat.S_ISREG(st.st_mode):
            out.append(PlannedEntry(rel, False, st.st_size, source, normalized_mode(st.st_mode, is_dir=False)))
        else:
            self.skipped.add(rel)
            log.info("skipping %s: not a regular file or directory", rel)

    def _children(self, rel: str, directory: str | Path, excluded: Sequence[str], out: list[PlannedEntry],
                  stack: set[tuple[int, int]]) -> None:
        try:
            names = os.listdir(directory)
        except OSError as e:
            raise PackError(f"cannot list {directory}: {e.strerror}") from e
        for name in sorted(names, key=lambda n: os.fsencode(n)):
            child = name if rel == "." else f"{rel}/{name}"
            self._visit(child, excluded, out, stack)


def _load_kitfile(context: Path, kitfile: str | os.PathLike[str] | Kitfile | None) -> tuple[Kitfile, Path | None]:
    from ocikit._kitfile._model import Kitfile, find_kitfile

    if isinstance(kitfile, Kitfile):
        return kitfile, None
    path = Path(kitfile) if kitfile is not None else find_kitfile(context)
    return Kitfile.load(path), path


def plan_pack(
    context: str | os.PathLike[str],
    kitfile: Kitfile,
    *,
    kitfile_path: Path | None = None,
    compression: str = "none",
    parent_paths: Sequence[str] = (),
    parents: Sequence[str] = (),
    format: str = "kitops",
) -> PackPlan:
    """Decide which file goes into which layer. Reads the tree, writes nothing."""
    from ocikit._modelkit._modelpack import FORMATS, modelpack_media_type

    if compression not in COMPRESSIONS:
        raise UsageError(f"invalid compression {compression!r}: must be one of {', '.join(COMPRESSIONS)}")
    if format not in FORMATS:
        raise UsageError(f"invalid format {format!r}: must be one of {', '.join(FORMATS)}")
    media_type = modelpack_media_type if format == "modelpack" else layer_media_type
    ctx = Path(context).absolute()
    if not ctx.is_dir():
        raise PackError(f"context {ctx} is not a directory")
    real = os.path.realpath(ctx)
    matcher = load_kitignore(ctx)
    ignored: set[str] = set()
    skipped: set[str] = set()
    walker = _Walker(ctx, real, matcher, ignored, skipped)

    elements = kitfile.layer_elements()  # without a model whose path is empty or a reference
    if not elements and not parents:
        where = kitfile_path or "the Kitfile"
        raise PackError(f"{where} names no model, code, datasets or docs: there is nothing to pack",
                        hint="add the project's files to the Kitfile ('ocikit init' detects them)")
    cleaned = [clean_layer_path(el.path) for el in elements]
    parent_clean = [clean_layer_path(p) for p in parent_paths if p]
    layers = []
    for i, el in enumerate(elements):
        mine = cleaned[i]
        # another layer's path claims its subtree unless it is this layer's path or an ancestor
        excluded = [p for j, p in enumerate(cleaned) if j != i and not _is_under(mine, p)]
        excluded += [p for p in parent_clean if not _is_under(mine, p)]
        entries = walker.entries(mine, excluded)
        if not any(not e.is_dir for e in entries):
            log.warning("no files found for the %s layer with path %s", el.section, el.path)
        kind = SECTION_KIND[el.section]
        layers.append(LayerPlan(kind, el.section, el.index, el.path, mine,
                                media_type(kind, compression), tuple(entries)))
    return PackPlan(ctx, kitfile_path, tuple(layers), tuple(sorted(ignored)), tuple(sorted(skipped)),
                    tuple(parents))


# ------------------------------------------------------------------------------------------------
# parents (model.path is a ModelKit reference)


def _resolve_parents(kitfile: Kitfile, home: Path | None, options: RegistryOptions | None,
                     own: Sequence[Reference]) -> tuple[list[str], list[str], list[_Parent]]:
    """Walk the parent chain; return (layer paths of all parents, chain as display strings, the
    parents as found: where and which digest, for their SBOMs)."""
    paths: list[str] = []
    chain: list[str] = []
    found: list[_Parent] = []
    seen = {r.display for r in own}
    current = kitfile.model_reference
    trail = [own[0].display] if own else ["<this ModelKit>"]
    while current:
        ref = Reference.parse(current)
        if ref.display in seen or ref.display in chain:
            raise PackError(f"found cycle in modelkit references: [{'=>'.join([*trail, *chain, ref.display])}]")
        if len(chain) >= MAX_PARENT_DEPTH:
            raise PackError(
                f"reached maximum number of model references: [{'=>'.join([*trail, *chain, ref.display])}]",
                hint=f"a ModelKit may have at most {MAX_PARENT_DEPTH} ancestors",
            )
        chain.append(ref.display)
        parent = _fetch_parent(ref, home, options)
        found.append(parent)
        paths.extend(el.path for el in parent.kitfile.layer_elements() if el.path)
        current = parent.kitfile.model_reference
    return paths, chain, found


@dataclass(frozen=True)
class _Parent:
    display: str
    storage: Any  # a Storage
    digest: Digest
    kitfile: Kitfile


def _fetch_parent(ref: Reference, home: Path | None, options: RegistryOptions | None) -> _Parent:
    """A parent ModelKit or ModelPack: its Kitfile, and where and under which digest it was read."""
    from ocikit._modelkit._modelpack import read_model
    from ocikit._ops._repos import locate
    from ocikit._store._storage import read_manifest

    storage = locate(ref, home=home, options=options)
    desc, manifest = read_manifest(storage, ref.identifier)
    return _Parent(ref.display, storage, desc.digest, read_model(storage, manifest, ref.display).kitfile)


# ------------------------------------------------------------------------------------------------
# writing


def _created() -> str | None:
    """``org.opencontainers.image.created``, only when SOURCE_DATE_EPOCH pins it (reproducible)."""
    when = source_date_epoch()
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else None


def _references(tag: str | Sequence[str] | None) -> list[Reference]:
    if tag is None:
        return []
    texts = [tag] if isinstance(tag, str) else list(tag)
    refs: list[Reference] = []
    for text in texts:
        for ref in split_tags(text):
            if ref.digest is not None:
                raise UsageError(f"cannot pack to {text!r}: a tag, not a digest, names a new ModelKit")
            if ref not in refs:
                refs.append(ref)
    return refs


def _write_layer(store: LocalStore, plan: LayerPlan, compression: str, progress: Progress) -> tuple[PackedLayer, bool]:
    key = f"{plan.section}[{plan.index}]" if plan.section != "model" else "model"
    progress.start(key, f"{plan.kind} {plan.path}", plan.size)
    with store.blob_writer(hashing=False, direct=True) as writer:
        written = write_tar(plan.entries, writer, compression=compression, progress=progress, progress_key=key)
        existed = store.has_blob(written.digest, written.size)
        if not existed:  # else the temp file is dropped and the stored blob is left untouched
            writer.commit(written.digest)
    progress.finish(key, skipped=existed)
    annotations = {ANNOTATION_FILEPATH: plan.clean_path}
    desc = Descriptor(plan.media_type, written.digest, written.size, annotations)
    return PackedLayer(plan.kind, plan.section, plan.index, plan.path, desc, written.diff_id, written.files), existed


def pack(
    context: str | os.PathLike[str],
    *,
    tag: str | Sequence[str] | None = None,
    kitfile: str | os.PathLike[str] | Kitfile | None = None,
    compression: str = "none",
    home: str | os.PathLike[str] | None = None,
    sbom: bool = True,
    sbom_env: bool = False,
    sign_key: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    progress: Progress = SILENT,
    options: RegistryOptions | None = None,
    format: str = "kitops",
) -> PackResult:
    """Pack ``context`` into the local store as a ModelKit; see the module docstring for the rules.

    ``tag`` is a reference or a list of them; ``repo:a,b`` adds several tags. ``compression`` is
    ``none`` (default), ``gzip``, ``gzip-fastest`` or ``zstd`` (kit older than 1.15 cannot read
    zstd). With ``dry_run`` nothing is written and the result's ``plan`` tells what would be.
    ``format`` is ``kitops`` (a KitOps ModelKit, default) or ``modelpack`` (a CNCF ModelPack).
    """
    from ocikit._kitfile._model import LayerInfo
    from ocikit._store._layout import LocalStore

    ctx = Path(context).absolute()
    if not ctx.is_dir():
        raise PackError(f"context {ctx} is not a directory", hint="pass the project directory that holds the Kitfile")
    refs = _references(tag)
    if sign_key is not None and not refs:
        raise UsageError("signing needs a tag to sign for", hint="pass -t/--tag with --sign-key")
    loaded, kitfile_path = _load_kitfile(ctx, kitfile)
    loaded.check_paths(ctx)
    home_path = Path(home) if home is not None else None
    parent_paths, chain, parents = _resolve_parents(loaded, home_path, options, refs)
    plan = plan_pack(ctx, loaded, kitfile_path=kitfile_path, compression=compression,
                     parent_paths=parent_paths, parents=chain, format=format)
    if dry_run:
        return PackResult(None, tuple(refs), None, None, loaded, (), None, plan, dry_run=True)

    store = LocalStore.at_home(home_path)
    try:
        layers: list[PackedLayer] = []
        reused: list[Digest] = []
        for layer_plan in plan.layers:
            packed, existed = _write_layer(store, layer_plan, compression, progress)
            layers.append(packed)
            if existed:
                reused.append(packed.descriptor.digest)
            log.info("saved %s layer %s", packed.kind, packed.descriptor.digest)

        infos = {(layer.section, layer.index): LayerInfo(layer.descriptor.digest, layer.diff_id) for layer in layers}
        kitfile_json = loaded.to_config_json(infos)
        annotations = {ANNOTATION_CLI_VERSION: f"ocikit-{__version__}"}
        created = _created()
        if created is not None:
            annotations[ANNOTATION_CREATED] = created
        if format == "modelpack":
            from ocikit._modelkit._modelpack import ANNOTATION_KITFILE, build_config, created_at

            config_bytes = build_config(loaded, layers, created_at())
            config_type, artifact_type = MODELPACK_CONFIG, MODELPACK_MANIFEST_ARTIFACT
            annotations[ANNOTATION_KITFILE] = kitfile_json.decode("utf-8")
        else:
            config_bytes = kitfile_json
            config_type, artifact_type = KITOPS_CONFIG, KITOPS_MANIFEST_ARTIFACT
        config_digest = store.put_bytes(config_bytes)
        config_desc = Descriptor(config_type, config_digest, len(config_bytes))
        manifest = Manifest(config_desc, tuple(layer.descriptor for layer in layers), annotations,
                            artifact_type, None, MANIFEST)
        data = manifest.to_bytes()
        first = refs[0] if refs else None
        repo = store.repository(first.name if first else UNTAGGED_REPOSITORY)
        # The manifest goes in untagged; the tags come last, after the SBOM and the signatures,
        # so an interrupted pack names nothing (its blobs are left for gc), and a pack whose
        # tags were written has finished: a Ctrl-C while they are written is held until then.
        desc = repo.push_manifest(data, MANIFEST, tag=None)
        log.info("saved manifest %s", desc.digest)

        sbom_digest: Digest | None = None
        if sbom:
            sbom_digest = _attach_sbom(repo, loaded, layers, desc, first, ctx, sbom_env, config_desc,
                                       _parent_sboms(parents))
        if sign_key is not None:
            from ocikit._trust._signing import sign_descriptor

            signed: set[str] = set()
            for ref in refs:
                if ref.name not in signed:  # the signature tag is per repository, not per tag
                    signed.add(ref.name)
                    # the key's password, if any, comes from $OCIKIT_PASSWORD (_keys.resolve_password)
                    sign_descriptor(store.repository(ref.name), ref, desc, sign_key)
        with _sigint_held():
            displaced = [_current(store, ref) for ref in refs]
            for ref in refs:
                store.repository(ref.name).push_manifest(data, MANIFEST, tag=ref.tag)
            for ref, old in zip(refs, displaced, strict=True):
                if old is not None and old.digest != desc.digest:
                    _keep_untagged(store, ref.name, old)
        return PackResult(desc.digest, tuple(refs), manifest, desc, loaded, tuple(layers), sbom_digest, plan,
                          reused=tuple(reused))
    except OSError as e:
        # A full disk, a read-only store or an unreadable project file: one clear line, not a
        # traceback. Blobs are written to temporary files first, so nothing partial is left.
        raise _write_error(e, store.root) from e


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold SIGINT while the block runs (main thread only; elsewhere signals cannot arrive).

    The block is the commit point of a pack: once its tags are written the pack is done, so a
    Ctrl-C that came meanwhile is logged and dropped rather than reported as an abort.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        log.warning("interrupted while writing the tags; the pack completed, so it was not aborted")


def _write_error(e: OSError, store_root: Path) -> OcikitError:
    reason = e.strerror or str(e)
    filename = str(e.filename) if e.filename else ""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreError(f"no space left on the device while writing to the local store {store_root}",
                          hint="free some disk space (or use another --home) and run the command again")
    if filename and not filename.startswith(str(store_root)):
        return PackError(f"cannot read {filename}: {reason}",
                         hint="check that every file the Kitfile names can be read")
    return StoreError(f"cannot write to the local store {store_root}: {reason}",
                      hint="check that --home (or $OCIKIT_HOME) is a writable directory")


def _current(store: LocalStore, ref: Reference) -> Descriptor | None:
    try:
        return store.repository(ref.name).resolve(ref.identifier)
    except NotFoundError:
        return None


def _keep_untagged(store: LocalStore, repo_name: str, old: Descriptor) -> None:
    """A tag moved to the new ModelKit: keep the old one listed as untagged (``<none>``), as kit does,
    unless another tag still holds it; ``remove --all`` or ``gc`` clean it up later."""
    if any(e.repository == repo_name and e.descriptor.digest == old.digest for e in store.entries()):
        return
    repo = store.repository(repo_name)
    try:
        repo.push_manifest(repo.fetch_manifest(old), old.media_type, tag=None)
    except OSError as e:  # pragma: no cover - best effort: the blobs are still there for gc
        log.info("could not keep %s listed as untagged: %s", old.digest, e)


def _parent_sboms(parents: Sequence[_Parent]) -> list[tuple[str, bytes | None]]:
    """The SBOM of each parent (nearest first), None for a parent without one: of the very
    digest whose Kitfile was read, not of whatever its tag names by now."""
    from ocikit._trust._sbom import find_sbom

    return [(p.display, find_sbom(p.storage, p.digest)) for p in parents]


def _attach_sbom(repo: Any, kitfile: Kitfile, layers: list[PackedLayer], desc: Descriptor,
                 ref: Reference | None, context: Path, include_env: bool, config: Descriptor,
                 parents: Sequence[tuple[str, bytes | None]] = ()) -> Digest | None:
    from ocikit._trust import _sbom as _sbom

    sbom_bytes = _sbom.build_sbom(kitfile, layers, desc, ref, context, include_env=include_env, config=config)
    if parents:
        sbom_bytes = _sbom.inherit_parent_files(sbom_bytes, parents)
    attached = _sbom.attach_sbom(repo, desc, sbom_bytes)
    return attached.digest

