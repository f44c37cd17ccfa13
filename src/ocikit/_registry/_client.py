"""The registry client: ``Registry(host, options).repository(name)`` is a ``Storage``.

Spec: https://github.com/opencontainers/distribution-spec/blob/main/spec.md. Behaviour of the
registry we test against (distribution 2.8) is in ``docs/compatibility.md`` §7.2; the faults handled
here are catalogued in ``docs/reliability.md`` ("Registry faults", "Hostile manifests and blobs", §H2-H4).

The work is done below this module, each part documented where it is:

* ``_host`` — one registry host: transport, auth, ``send`` (challenges, retries, redirects), errors;
* ``_retry`` — the retry policy; ``_auth`` — challenges and the token cache;
* ``_repository`` — manifests, tags, referrers, blob existence, the blob memory used for mounts;
* ``_upload`` — monolithic, chunked and resumed uploads; ``_download`` — blob reads resumed by ``Range``.
"""

from __future__ import annotations

from ocikit._io._digest import Digest
from ocikit._registry._host import RegistryHost
from ocikit._registry._repository import RegistryRepository, remember_blob
from ocikit._registry._retry import RetryPolicy

__all__ = ["Registry", "RegistryRepository", "RetryPolicy"]


class Registry(RegistryHost):
    """One registry host (see ``RegistryHost`` for the arguments). Thread-safe; share it between
    the workers of a transfer."""

    def repository(self, name: str) -> RegistryRepository:
        return RegistryRepository(self, name)

    def remember_blob(self, digest: Digest, repository: str) -> None:
        """Note that ``repository`` of this registry holds ``digest``: a push of it to another
        repository here mounts it instead of uploading (``_store._copy_blobs`` tells us so)."""
        remember_blob(self.host, digest, repository)
