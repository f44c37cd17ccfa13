"""``push`` and ``pull``: a reference turned into two storages (``_repos``), then ``copy`` between them.

``copy`` (``_store/_copy.py``) moves the ModelKit with its referrers and knows nothing of
references or registries. What only a reference knows is wired here: the registry named, the
blob-source memory kept in the home directory between runs (``_registry/_blob_sources.py``), so
a push to a second repository of the same registry mounts the blobs instead of uploading them,
and signature verification before a pull stores anything.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ocikit._config import RegistryOptions, home_dir
from ocikit._io._digest import Digest
from ocikit._io._progress import SILENT, Progress
from ocikit._oci._model import Manifest, parse_manifest_or_index
from ocikit._oci._reference import Reference
from ocikit._registry._blob_sources import known_sources, remember
from ocikit._store._copy import TransferResult, check_modelkit, copy
from ocikit._store._copy_blobs import MountingRepository
from ocikit._store._storage import Storage
from ocikit.errors import NotFoundError, UsageError

__all__ = ["TransferResult", "check_modelkit", "pull", "push"]


def push(
    source: str,
    destination: str | None = None,
    *,
    tags: Sequence[str] = (),
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
    progress: Progress = SILENT,
    with_image: str | None = None,
) -> TransferResult:
    """Push the ModelKit ``source`` from the local store to a registry.

    ``destination`` (``registry/repository[:tag]``) defaults to ``source`` itself, which must
    then name a registry. ``tags`` adds more tags in the destination repository. ``with_image``
    (a tag) also writes the OCI image view (``_image.image_view``) under that tag, next to it.
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
    if isinstance(dst, MountingRepository):  # mount what another repository of this registry already holds
        for digest, repository in known_sources(home_dir(home), dst_ref.registry, blobs).items():
            dst.registry.remember_blob(digest, repository)
    from ocikit._ops._index import copy_index  # a ModelKit index goes with all its variants

    result = copy_index(src, src_ref.identifier, dst, list(dict.fromkeys(all_tags)),
                        concurrency=options.concurrency, progress=progress) or copy(
        src, src_ref.identifier, dst, list(dict.fromkeys(all_tags)), concurrency=options.concurrency,
        progress=progress)
    remember(home_dir(home), dst_ref.registry, dst_ref.repository, blobs)
    if with_image:
        from ocikit._ops._image import image_view

        base = f"{dst_ref.registry}/{dst_ref.repository}"
        image_view(f"{base}@{result.digest}", f"{base}:{with_image}", home=home, options=options)
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
    select: Sequence[str] = (),
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
    from ocikit._ops._index import chosen  # a ModelKit index: the variant --select names

    identifier = chosen(src, ref, select).identifier
    if verify_key is not None:
        from ocikit._trust._trust_check import verify_signed

        desc = src.resolve(identifier)
        verify_signed(src, ref, desc, verify_key)
        identifier = str(desc.digest)  # pull exactly what was verified
    dst = _repos.local_repository(ref, home=home)
    result = copy(src, identifier, dst, [ref.tag] if ref.tag else [], concurrency=options.concurrency,
                  progress=progress)
    remember(home_dir(home), ref.registry, ref.repository, _blobs_of(dst, str(result.digest)))
    return result

