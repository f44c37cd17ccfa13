"""``pack``: a project directory + Kitfile → a ModelKit in the local store.

The plan comes first (``_pack_plan``: which file goes into which layer, docs/compatibility.md §3.1,
§3.3, with the walk of the context in ``_pack_walk`` and the parent chain in ``_pack_parents``);
:func:`pack` then writes it: the layers, the config, the manifest (untagged), the SBOM, the
signatures, and the tags last. ``plan_pack`` is the dry run.

Reproducible: tar entries carry no times or owners and normalised modes, the manifest carries
``org.opencontainers.image.created`` only when ``SOURCE_DATE_EPOCH`` is set — so the same inputs
give the same manifest digest on any machine.

With ``format="modelpack"`` the same layers are written as a CNCF ModelPack (``_modelpack``,
docs/compatibility.md §5): ``application/vnd.cncf.model.*`` media types, a ModelPack config whose
``descriptor.createdAt`` is ``SOURCE_DATE_EPOCH`` when set (else now, so the digest then differs
from run to run), and the Kitfile as JSON in the manifest annotation ``ml.kitops.modelkit.kitfile``.
Every layer, in both formats, carries ``org.cncf.model.filepath`` = its cleaned Kitfile path, as
newer kit writes it.

Untagged packs (``tag=None``, library only; the CLI requires ``-t``) are stored in the repository
``localhost/_`` without a tag, kit's convention; they are found by digest and in ``ocikit list``.

The manifest goes in untagged and the tags come last, so an interrupted pack names nothing (its
blobs are left for gc), and a pack whose tags were written has finished: a Ctrl-C while they are
written is held until then.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocikit._config import RegistryOptions, source_date_epoch
from ocikit._io._digest import Digest
from ocikit._io._progress import SILENT, Progress
from ocikit._layers._types import PackedLayer
from ocikit._layers._writer import write_tar
from ocikit._modelkit._layer_types import ANNOTATION_LAYER_SUBTYPE, SUBTYPE_PROMPT
from ocikit._modelkit._raw import ANNOTATION_FILE_METADATA
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
from ocikit._oci._reference import Reference
from ocikit._ops._pack_parents import MAX_PARENT_DEPTH, parent_sboms
from ocikit._ops._pack_plan import LayerPlan, PackPlan, context_dir, pack_references, plan_pack, prepare_pack
from ocikit._ops._pack_raw import file_metadata, write_raw
from ocikit._ops._types import Compression, Format, LayerFormat
from ocikit._ops._unpack_file import attach_tocs
from ocikit._version import __version__
from ocikit.errors import NotFoundError, OcikitError, PackError, StoreError, UsageError

if TYPE_CHECKING:
    from ocikit._kitfile._model import Kitfile
    from ocikit._store._layout import LocalStore

__all__ = ["MAX_PARENT_DEPTH", "LayerPlan", "PackPlan", "PackResult", "pack", "plan_pack"]

log = logging.getLogger(__name__)

#: repository for packs without a tag (kit's convention)
UNTAGGED_REPOSITORY = "localhost/_"


@dataclass(frozen=True)
class PackResult:
    digest: Digest
    references: tuple[Reference, ...]
    manifest: Manifest
    descriptor: Descriptor
    kitfile: Kitfile
    layers: tuple[PackedLayer, ...]
    sbom_digest: Digest | None
    plan: PackPlan
    reused: tuple[Digest, ...] = field(default=())  # layer blobs that were already in the store

    def to_dict(self) -> dict[str, Any]:
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


def pack(
    context: str | os.PathLike[str],
    *,
    tag: str | Sequence[str] | None = None,
    kitfile: str | os.PathLike[str] | Kitfile | None = None,
    compression: Compression = "none",
    home: str | os.PathLike[str] | None = None,
    sbom: bool = True,
    sbom_env: bool = False,
    sign_key: str | os.PathLike[str] | None = None,
    progress: Progress = SILENT,
    options: RegistryOptions | None = None,
    format: Format = "kitops",
    layer_format: LayerFormat = "tar",
    provenance: bool = False,
) -> PackResult:
    """Pack ``context`` into the local store as a ModelKit; see the module docstring for the rules.

    ``tag`` is a reference or a list of them; ``repo:a,b`` adds several tags. ``compression`` is
    ``none`` (default), ``gzip``, ``gzip-fastest`` or ``zstd`` (kit older than 1.15 cannot read
    zstd). ``format`` is ``kitops`` (a KitOps ModelKit, default) or ``modelpack`` (a CNCF ModelPack).
    ``plan_pack`` with the same arguments tells what would be written, writing nothing.
    ``provenance`` also attaches a SLSA provenance attestation signed with ``sign_key``.
    """
    from ocikit._store._layout import LocalStore

    ctx = context_dir(context)
    refs = pack_references(tag)
    if sign_key is not None and not refs:
        raise UsageError("signing needs a tag to sign for", hint="pass -t/--tag with --sign-key")
    if provenance and sign_key is None:
        raise UsageError("--provenance needs a key to sign the attestation with", hint="pass --sign-key")
    prepared = prepare_pack(ctx, refs, kitfile=kitfile, compression=compression, home=home, options=options,
                            format=format, layer_format=layer_format)
    plan, loaded = prepared.plan, prepared.kitfile
    store = LocalStore.at_home(prepared.home)
    try:
        layers, reused = _write_layers(store, plan, compression, progress)
        manifest, config_desc = _build_manifest(store, loaded, layers, format)
        data = manifest.to_bytes()
        first = refs[0] if refs else None
        repo = store.repository(first.name if first else UNTAGGED_REPOSITORY)
        desc = repo.push_manifest(data, MANIFEST, tag=None)  # untagged until the very end
        log.info("saved manifest %s", desc.digest)
        sbom_digest: Digest | None = None
        if sbom:
            sbom_digest = _attach_sbom(repo, loaded, layers, desc, first, ctx, sbom_env, config_desc,
                                       parent_sboms(prepared.parents))
        attach_tocs(repo, desc, layers)  # one file out of a huge layer (_ops._unpack_file)
        if sign_key is not None:
            _sign(store, refs, desc, sign_key)
            if provenance:
                _attest_provenance(store, refs, desc, sign_key, ctx, config_desc)
        _write_tags(store, refs, data, desc)
        return PackResult(desc.digest, tuple(refs), manifest, desc, loaded, tuple(layers), sbom_digest, plan,
                          reused=tuple(reused))
    except OSError as e:
        # A full disk, a read-only store or an unreadable project file: one clear line, not a
        # traceback. Blobs are written to temporary files first, so nothing partial is left.
        raise _write_error(e, store.root) from e


def _write_layers(store: LocalStore, plan: PackPlan, compression: str,
                  progress: Progress) -> tuple[list[PackedLayer], list[Digest]]:
    """Every layer of the plan as a blob; returns them and the digests the store had already."""
    layers: list[PackedLayer] = []
    reused: list[Digest] = []
    for layer_plan in plan.layers:
        packed, existed = _write_layer(store, layer_plan, compression, progress)
        layers.append(packed)
        if existed:
            reused.append(packed.descriptor.digest)
        log.info("saved %s layer %s", packed.kind, packed.descriptor.digest)
    return layers, reused


def _write_layer(store: LocalStore, plan: LayerPlan, compression: str, progress: Progress) -> tuple[PackedLayer, bool]:
    key = f"{plan.section}[{plan.index}]" if plan.section != "model" else "model"
    progress.start(key, f"{plan.kind} {plan.path}", plan.size)
    annotations = {ANNOTATION_FILEPATH: plan.clean_path}
    with store.blob_writer(hashing=False, direct=not plan.raw) as writer:
        if plan.raw:
            written, st = write_raw(plan.entries[0], writer,
                                    compression="none" if plan.kind == "mcpb" else compression)
            annotations[ANNOTATION_FILE_METADATA] = file_metadata(plan.clean_path, st)
        else:
            written = write_tar(plan.entries, writer, compression=compression, progress=progress,
                                progress_key=key)
        existed = store.has_blob(written.digest, written.size)
        if not existed:  # else the temp file is dropped and the stored blob is left untouched
            writer.commit(written.digest)
    progress.finish(key, skipped=existed)
    if plan.kind == "prompt":  # kit: prompts are code layers marked with a subtype
        annotations[ANNOTATION_LAYER_SUBTYPE] = SUBTYPE_PROMPT
    desc = Descriptor(plan.media_type, written.digest, written.size, annotations)
    return PackedLayer(plan.kind, plan.section, plan.index, plan.path, desc, written.diff_id, written.files), existed


def _created() -> str | None:
    """``org.opencontainers.image.created``, only when SOURCE_DATE_EPOCH pins it (reproducible)."""
    when = source_date_epoch()
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else None


def _build_manifest(store: LocalStore, kitfile: Kitfile, layers: list[PackedLayer],
                    format: Format) -> tuple[Manifest, Descriptor]:
    """Store the config (the Kitfile as JSON, or a ModelPack config); the manifest over it all."""
    from ocikit._kitfile._elements import LayerInfo

    infos = {(layer.section, layer.index): LayerInfo(layer.descriptor.digest, layer.diff_id) for layer in layers}
    kitfile_json = kitfile.to_config_json(infos)
    annotations = {ANNOTATION_CLI_VERSION: f"ocikit-{__version__}"}
    created = _created()
    if created is not None:
        annotations[ANNOTATION_CREATED] = created
    if format == "modelpack":
        from ocikit._modelkit._modelpack import ANNOTATION_KITFILE, build_config, created_at

        config_bytes = build_config(kitfile, layers, created_at())
        config_type, artifact_type = MODELPACK_CONFIG, MODELPACK_MANIFEST_ARTIFACT
        annotations[ANNOTATION_KITFILE] = kitfile_json.decode("utf-8")
    else:
        config_bytes = kitfile_json
        config_type, artifact_type = KITOPS_CONFIG, KITOPS_MANIFEST_ARTIFACT
    config_digest = store.put_bytes(config_bytes)
    config_desc = Descriptor(config_type, config_digest, len(config_bytes))
    manifest = Manifest(config_desc, tuple(layer.descriptor for layer in layers), annotations,
                        artifact_type, None, MANIFEST)
    return manifest, config_desc


def _sign(store: LocalStore, refs: Sequence[Reference], desc: Descriptor, sign_key: str | os.PathLike[str]) -> None:
    from ocikit._trust._signing import sign_descriptor

    signed: set[str] = set()
    for ref in refs:
        if ref.name not in signed:  # the signature tag is per repository, not per tag
            signed.add(ref.name)
            # the key's password, if any, comes from $OCIKIT_PASSWORD (_keys.resolve_password)
            sign_descriptor(store.repository(ref.name), ref, desc, sign_key)


def _attest_provenance(store: LocalStore, refs: Sequence[Reference], desc: Descriptor,
                       sign_key: str | os.PathLike[str], ctx: Path, config: Descriptor) -> None:
    """SLSA provenance of this pack, signed with ``sign_key``, as a bundle referrer (docs/signing.md)."""
    from ocikit._trust._attest import attest_descriptor, pack_provenance
    from ocikit._trust._keys import load_private_key
    from ocikit._version import __version__

    key = load_private_key(sign_key)
    predicate = pack_provenance(ctx, config, [ref.display for ref in refs], ocikit_version=__version__)
    for name in dict.fromkeys(ref.name for ref in refs):
        attest_descriptor(store.repository(name), desc, key, predicate, "slsaprovenance1")


def _write_tags(store: LocalStore, refs: Sequence[Reference], data: bytes, desc: Descriptor) -> None:
    """The commit point: point every tag at the manifest, with Ctrl-C held until all are written.
    A ModelKit a tag moved away from stays listed, untagged."""
    with _sigint_held():
        displaced = [_current(store, ref) for ref in refs]
        for ref in refs:
            store.repository(ref.name).push_manifest(data, MANIFEST, tag=ref.tag)
        for ref, old in zip(refs, displaced, strict=True):
            if old is not None and old.digest != desc.digest:
                _keep_untagged(store, ref.name, old)


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


def _attach_sbom(repo: Any, kitfile: Kitfile, layers: list[PackedLayer], desc: Descriptor,
                 ref: Reference | None, context: Path, include_env: bool, config: Descriptor,
                 parents: Sequence[tuple[str, bytes | None]] = ()) -> Digest | None:
    from ocikit._trust import _sbom as _sbom

    sbom_bytes = _sbom.build_sbom(kitfile, layers, desc, ref, context, include_env=include_env, config=config)
    if parents:
        sbom_bytes = _sbom.inherit_parent_files(sbom_bytes, parents)
    attached = _sbom.attach_sbom(repo, desc, sbom_bytes)
    return attached.digest

