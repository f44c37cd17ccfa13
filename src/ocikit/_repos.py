"""From a reference to a ``Storage``: the local store for ``localhost/...``, a registry otherwise."""

from __future__ import annotations

import os

from ocikit._config import RegistryOptions, home_dir
from ocikit._reference import Reference
from ocikit._storage import Storage
from ocikit.errors import NotFoundError

__all__ = ["local_repository", "locate", "open_registry_repository", "open_repository"]


def local_repository(ref: Reference, *, home: str | os.PathLike[str] | None = None) -> Storage:
    """The local store's repository for ``ref.name`` (``registry/repository``), whatever the registry."""
    from ocikit._layout import LocalStore

    return LocalStore.at_home(home).repository(ref.name)


def open_registry_repository(
    ref: Reference,
    *,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
) -> Storage:
    """The repository on the registry named by ``ref`` (credentials from ``home`` / Docker)."""
    from ocikit._registry import Registry

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
    """The copy the user means: the local one when ``ref`` resolves in the local store, else remote.

    A pulled ``registry.example/acme/x:1`` is read from the local store without network; a
    reference the store does not have goes to its registry.
    """
    if ref.is_local:
        return local_repository(ref, home=home)
    local = local_repository(ref, home=home)
    try:
        local.resolve(ref.identifier)
    except NotFoundError:
        return open_registry_repository(ref, home=home, options=options)
    return local
