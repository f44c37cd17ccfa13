"""``index create/add/remove/inspect/list``, copying a ModelKit index, and choosing a variant of one.

The index and its variants live in one repository (a registry serves an index's children from
the index's repository): a variant added from another local repository is first copied into the
index's repository (blobs are shared in the local store, so nothing is duplicated). Copying an
index (``push``, ``pull``) copies every child ModelKit with its blobs and referrers first, then
the index's exact bytes, so a reader never sees an index whose children are missing.
See docs/model-index.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ocikit._config import RegistryOptions
from ocikit._io._progress import SILENT, Progress
from ocikit._modelkit._index import (
    ANNOTATION_ORIGINAL_TAG,
    ModelKitIndex,
    Variant,
    apply_label_changes,
    is_kit_index,
    parse_label_changes,
)
from ocikit._oci._model import INDEX, MAX_MANIFEST_BYTES, Descriptor
from ocikit._oci._reference import Reference
from ocikit._store._copy import TransferResult, check_modelkit, copy
from ocikit._store._copy_blobs import Tally
from ocikit._store._storage import Storage
from ocikit.errors import NotFoundError, UsageError, VerificationError

__all__ = ["IndexResult", "VariantSpec", "copy_index", "index_add", "index_create", "index_inspect",
           "index_remove", "load_index", "select_variant"]


@dataclass(frozen=True)
class VariantSpec:
    """One ``--add REF`` with the ``--label`` (and ``--annotate``) options that follow it."""

    reference: str
    labels: tuple[str, ...] = ()
    annotations: Mapping[str, str] | None = None


@dataclass(frozen=True)
class IndexResult:
    """A ModelKit index as stored: where, its digest and size, and its content."""

    reference: str
    descriptor: Descriptor
    index: ModelKitIndex

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": str(self.descriptor.digest),
                "size": self.descriptor.size, "variants": [v.to_dict() for v in self.index.variants]}


def load_index(storage: Storage, identifier: str, where: str) -> tuple[Descriptor, ModelKitIndex] | None:
    """The ModelKit index ``identifier`` names in ``storage``, or None when it names something else."""
    desc = storage.resolve(identifier)
    if desc.media_type != INDEX and desc.size > MAX_MANIFEST_BYTES:
        return None
    data = storage.fetch_manifest(desc)
    if b'"manifests"' not in data:
        return None
    return Descriptor.for_bytes(INDEX, data), ModelKitIndex.from_bytes(data, where)


def _local(ref: Reference, home: str | os.PathLike[str] | None) -> Storage:
    from ocikit._ops._repos import local_repository

    return local_repository(ref, home=home)


def _variant(repo: Storage, index_ref: Reference, spec: VariantSpec, old: Variant | None,
             home: str | os.PathLike[str] | None) -> Variant:
    from ocikit._oci._model import parse_manifest_or_index

    ref = Reference.parse(spec.reference)
    src = _local(ref, home)
    try:
        desc = src.resolve(ref.identifier)
    except NotFoundError as e:
        raise NotFoundError(f"{ref.display} is not in the local store",
                            hint="pack or pull it first; see 'ocikit list'") from e
    check_modelkit(parse_manifest_or_index(src.fetch_manifest(desc), desc.media_type, ref.display), ref.display)
    if ref.name != index_ref.name:
        copy(src, str(desc.digest), repo, [])
    annotations = dict(old.descriptor.annotations) if old else {}
    annotations.update(spec.annotations or {})
    if ref.digest is None and ref.tag:
        annotations[ANNOTATION_ORIGINAL_TAG] = ref.tag
    metadata = apply_label_changes(old.metadata if old else {}, parse_label_changes(spec.labels))
    return Variant(Descriptor(desc.media_type, desc.digest, desc.size, annotations), metadata)


def _store(repo: Storage, ref: Reference, index: ModelKitIndex) -> IndexResult:
    pushed = repo.push_manifest(index.to_bytes(), INDEX, tag=ref.tag)
    return IndexResult(ref.with_digest(pushed.digest).display if ref.tag is None else ref.display,
                       Descriptor(INDEX, pushed.digest, pushed.size), index)


def index_create(reference: str, variants: Sequence[VariantSpec] = (), *,
                 annotations: Mapping[str, str] | None = None,
                 home: str | os.PathLike[str] | None = None) -> IndexResult:
    """Create the ModelKit index ``reference`` in the local store from local ModelKits."""
    ref = Reference.parse(reference)
    repo = _local(ref, home)
    try:
        repo.resolve(ref.identifier)
    except NotFoundError:
        pass
    else:
        raise UsageError(f"{ref.display} already exists", hint="use 'ocikit index add' to change an index")
    index = ModelKitIndex((), dict(annotations or {}))
    for spec in variants:
        variant = _variant(repo, ref, spec, None, home)
        index = index.with_variant(variant)
    return _store(repo, ref, index)


def _existing(ref: Reference, home: str | os.PathLike[str] | None) -> tuple[Storage, ModelKitIndex]:
    repo = _local(ref, home)
    try:
        loaded = load_index(repo, ref.identifier, ref.display)
    except NotFoundError as e:
        raise NotFoundError(f"{ref.display} is not in the local store",
                            hint="create it with 'ocikit index create'") from e
    if loaded is None:
        raise UsageError(f"{ref.display} is a ModelKit, not a ModelKit index")
    return repo, loaded[1]


def index_add(reference: str, variants: Sequence[VariantSpec], *,
              home: str | os.PathLike[str] | None = None) -> IndexResult:
    """Add (or relabel: labels merge, ``key-`` removes one) ModelKits in the local index ``reference``."""
    ref = Reference.parse(reference)
    repo, index = _existing(ref, home)
    for spec in variants:
        probe = Reference.parse(spec.reference)
        digest = str(_local(probe, home).resolve(probe.identifier).digest) if _has(probe, home) else ""
        index = index.with_variant(_variant(repo, ref, spec, index.get(digest), home))
    return _store(repo, ref, index)


def _has(ref: Reference, home: str | os.PathLike[str] | None) -> bool:
    try:
        _local(ref, home).resolve(ref.identifier)
    except NotFoundError:
        return False
    return True


def index_remove(reference: str, digests: Sequence[str], *,
                 home: str | os.PathLike[str] | None = None) -> IndexResult:
    """Remove the variants ``digests`` from the local index ``reference`` (the ModelKits stay)."""
    ref = Reference.parse(reference)
    repo, index = _existing(ref, home)
    for digest in digests:
        index = index.without(digest)
    return _store(repo, ref, index)


def index_inspect(reference: str, *, home: str | os.PathLike[str] | None = None,
                  options: RegistryOptions | None = None) -> IndexResult:
    """The ModelKit index ``reference`` (local store, or its registry by docker's rule)."""
    from ocikit._ops._repos import locate

    ref = Reference.parse(reference)
    loaded = load_index(locate(ref, home=home, options=options), ref.identifier, ref.display)
    if loaded is None:
        raise UsageError(f"{ref.display} is a ModelKit, not a ModelKit index")
    return IndexResult(ref.display, loaded[0], loaded[1])


def select_variant(storage: Storage, ref: Reference, selector: Mapping[str, str]) -> Reference:
    """``ref`` pinned to the chosen variant when it names a ModelKit index, else ``ref`` itself.

    No selector and one variant chooses it; otherwise exactly one variant must carry every
    selected label (exit 2 with the list of variants). A selector on a ModelKit is refused.
    """
    try:
        loaded = load_index(storage, ref.identifier, ref.display)
    except VerificationError:
        if selector:
            raise
        return ref  # another kind of index: the ModelKit reader refuses it with its own message
    if loaded is None:
        if selector:
            raise UsageError(f"{ref.display} is a ModelKit, not a ModelKit index; --select chooses a "
                             "variant of an index", hint="leave out --select")
        return ref
    return ref.with_digest(loaded[1].select(selector, ref.display).descriptor.digest)


def copy_index(src: Storage, identifier: str, dst: Storage, tags: Sequence[str] = (), *,
               concurrency: int = 4, progress: Progress = SILENT) -> TransferResult | None:
    """Copy the ModelKit index ``identifier`` with every variant (children first); None if not an index."""
    loaded = load_index(src, identifier, f"{src.name}:{identifier}")
    if loaded is None:
        return None
    desc, index = loaded
    tally = Tally()
    for variant in index.variants:
        moved = copy(src, str(variant.descriptor.digest), dst, [], concurrency=concurrency, progress=progress)
        tally.bytes_transferred += moved.bytes_transferred
        tally.bytes_skipped += moved.bytes_skipped
        tally.blobs_transferred += moved.blobs_transferred
        tally.blobs_skipped += moved.blobs_skipped
    tag_list = [t for t in tags if t]
    data = src.fetch_manifest(desc)
    pushed = dst.push_manifest(data, INDEX, tag=tag_list[0] if tag_list else None)
    for extra in tag_list[1:]:
        dst.tag(pushed, extra)
    shown = f"{dst.name}:{tag_list[0]}" if tag_list else dst.name
    return TransferResult(f"{shown}@{pushed.digest}", pushed.digest, tally.bytes_transferred,
                          tally.bytes_skipped, tally.blobs_transferred, tally.blobs_skipped)


__all__ += ["is_kit_index"]


def chosen(storage: Storage, ref: Reference, select: Sequence[str]) -> Reference:
    """``select_variant`` with ``--select KEY=VALUE`` strings (kit's label selector grammar)."""
    from ocikit._modelkit._index import parse_selector

    return select_variant(storage, ref, parse_selector(select))


def index_pull(reference: str, *, home: str | os.PathLike[str] | None = None,
               options: RegistryOptions | None = None, progress: Progress = SILENT) -> TransferResult:
    """Pull the ModelKit index ``reference`` with every variant into the local store."""
    from ocikit._ops._repos import local_repository, open_registry_repository

    options = options or RegistryOptions()
    ref = Reference.parse(reference)
    if ref.is_local:
        raise UsageError(f"{ref.display} names no registry; pull needs one")
    src = open_registry_repository(ref, home=home, options=options)
    result = copy_index(src, ref.identifier, local_repository(ref, home=home), [ref.tag] if ref.tag else [],
                        concurrency=options.concurrency, progress=progress)
    if result is None:
        raise UsageError(f"{ref.display} is a ModelKit, not a ModelKit index", hint="use 'ocikit pull'")
    return result


__all__ += ["chosen", "index_pull"]
