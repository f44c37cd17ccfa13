"""From a reference to a ``Storage``: the local store for ``localhost/...``, a registry otherwise."""

from __future__ import annotations

import logging
import os
from typing import BinaryIO

from ocikit._config import RegistryOptions, home_dir
from ocikit._io._digest import Digest
from ocikit._oci._model import Descriptor
from ocikit._oci._reference import Reference
from ocikit._store._storage import Storage
from ocikit.errors import NotFoundError, VerificationError

log = logging.getLogger(__name__)

__all__ = ["CachedRepository", "local_repository", "locate", "open_registry_repository", "open_repository"]


def local_repository(ref: Reference, *, home: str | os.PathLike[str] | None = None) -> Storage:
    """The local store's repository for ``ref.name`` (``registry/repository``), whatever the registry."""
    from ocikit._store._layout import LocalStore

    return LocalStore.at_home(home).repository(ref.name)


def open_registry_repository(
    ref: Reference,
    *,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
) -> Storage:
    """The repository on the registry named by ``ref`` (credentials from ``home`` / Docker)."""
    from ocikit._registry._client import Registry

    return Registry(ref.registry, options or RegistryOptions(), home=home_dir(home)).repository(ref.repository)


def open_repository(
    ref: Reference,
    *,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
) -> Storage:
    """The local store for ``localhost/...`` references, the registry otherwise."""
    if ref.is_local:
        return local_repository(ref, home=home)
    return open_registry_repository(ref, home=home, options=options)


def locate(
    ref: Reference,
    *,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
) -> Storage:
    """The storage a reference means, by docker's rule.

    A bare or ``localhost/...`` reference, or any reference with ``options.offline``, is the local
    store. A reference that names a registry is resolved *in the registry* (one manifest request), so
    a tag moved there since the last pull (a promotion) is never answered by a stale local copy;
    the local store then serves as a cache of content by digest only (:class:`CachedRepository`).
    """
    if ref.is_local or (options is not None and options.offline):
        if not ref.is_local:
            log.info("offline: reading %s from the local store", ref.display)
        return local_repository(ref, home=home)
    return CachedRepository(open_registry_repository(ref, home=home, options=options),
                            local_repository(ref, home=home))


class CachedRepository:
    """A registry repository whose content is read from the local store when it has it.

    Names (tags, digests) are always resolved by ``remote``; manifests and blobs are content
    addressed, so a local copy with the same digest and size is the same bytes (callers verify
    every stream they read anyway). Everything that writes, lists or deletes goes to ``remote``.
    """

    def __init__(self, remote: Storage, local: Storage) -> None:
        self.remote = remote
        self.local = local
        self.name = remote.name

    def __repr__(self) -> str:
        return f"CachedRepository({self.remote!r})"

    def resolve(self, identifier: str) -> Descriptor:
        return self.remote.resolve(identifier)

    def fetch_manifest(self, desc: Descriptor) -> bytes:
        if self.local.has_blob(desc):
            try:
                return self.local.fetch_manifest(desc)
            except (NotFoundError, VerificationError):
                log.debug("local copy of manifest %s unusable; reading the registry's", desc.digest)
        return self.remote.fetch_manifest(desc)

    def has_blob(self, desc: Descriptor) -> bool:
        return self.remote.has_blob(desc)

    def has_manifest(self, digest: Digest) -> bool:
        return self.remote.has_manifest(digest)

    def open_blob(self, desc: Descriptor, offset: int = 0) -> BinaryIO:
        if self.local.has_blob(desc):
            try:
                return self.local.open_blob(desc, offset)
            except NotFoundError:
                pass
        return self.remote.open_blob(desc, offset)

    def push_blob(self, desc: Descriptor, stream: BinaryIO) -> None:
        self.remote.push_blob(desc, stream)

    def push_manifest(self, data: bytes, media_type: str, tag: str | None = None) -> Descriptor:
        return self.remote.push_manifest(data, media_type, tag)

    def tag(self, desc: Descriptor, tag: str) -> None:
        self.remote.tag(desc, tag)

    def untag(self, tag: str) -> None:
        self.remote.untag(tag)

    def tags(self) -> list[str]:
        return self.remote.tags()

    def delete_manifest(self, digest: Digest) -> None:
        self.remote.delete_manifest(digest)

    def referrers(self, subject: Digest) -> list[Descriptor] | None:
        return self.remote.referrers(subject)
