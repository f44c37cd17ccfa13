"""The ``Storage`` protocol: one repository of content-addressed blobs, manifests and tags.

The local OCI layout (``_layout.LayoutRepository``) and a remote registry repository
(``_registry.RegistryRepository``) both implement it, so moving a ModelKit is one
``_copy.copy(src, ref, dst, ref)`` and every feature (pack, unpack, sign, sbom, stages) is
written once against this protocol. :class:`MemoryStorage` is the in-process implementation used by
unit tests.

Contract for implementations:

* ``push_blob`` and ``push_manifest`` verify digest and size of what they store and never make
  content visible under a digest it does not have.
* ``open_blob`` returns the raw stream; callers wrap it with :func:`open_verified` (or
  :class:`~ocikit._io._digest.HashingReader`) so nothing unverified is used.
* ``referrers`` returns ``None`` when the backend has no referrers API; callers then use the
  OCI 1.1 fallback tag (``_referrers``).
"""

from __future__ import annotations

import io
import threading
from typing import BinaryIO, Protocol, runtime_checkable

from ocikit._io._digest import CHUNK, Digest, HashingReader
from ocikit._oci._model import INDEX, MANIFEST, MAX_MANIFEST_BYTES, Descriptor, Index, Manifest
from ocikit.errors import NotFoundError, UsageError, VerificationError

__all__ = ["MemoryStorage", "Storage", "open_verified", "read_blob", "read_manifest"]

#: Config blobs and other small JSON blobs are read into memory up to this size.
MAX_SMALL_BLOB = 16 * 1024 * 1024


@runtime_checkable
class Storage(Protocol):
    """One repository. ``name`` is ``registry/repository`` (``localhost/...`` for the local store)."""

    name: str

    def resolve(self, identifier: str) -> Descriptor:
        """A tag or ``sha256:`` digest → the manifest's descriptor. Raises NotFoundError."""
        ...

    def fetch_manifest(self, desc: Descriptor) -> bytes:
        """The manifest bytes, verified against ``desc``."""
        ...

    def has_blob(self, desc: Descriptor) -> bool: ...

    def has_manifest(self, digest: Digest) -> bool: ...

    def open_blob(self, desc: Descriptor, offset: int = 0) -> BinaryIO:
        """A raw stream of the blob from ``offset``. Callers verify (see ``open_verified``)."""
        ...

    def push_blob(self, desc: Descriptor, stream: BinaryIO) -> None:
        """Store a blob read from ``stream``; refuse it if digest or size differ from ``desc``."""
        ...

    def push_manifest(self, data: bytes, media_type: str, tag: str | None = None) -> Descriptor:
        """Store a manifest (or index) by digest, and under ``tag`` if given."""
        ...

    def tag(self, desc: Descriptor, tag: str) -> None: ...

    def untag(self, tag: str) -> None: ...

    def tags(self) -> list[str]: ...

    def delete_manifest(self, digest: Digest) -> None: ...

    def referrers(self, subject: Digest) -> list[Descriptor] | None:
        """Referrers of ``subject`` from a native API, or ``None`` when there is none."""
        ...


def open_verified(storage: Storage, desc: Descriptor, *, what: str = "blob") -> HashingReader:
    """A stream over a blob that raises DigestMismatchError at EOF if it does not match ``desc``."""
    return HashingReader(storage.open_blob(desc), desc.digest, desc.size, what=what)


def read_blob(storage: Storage, desc: Descriptor, *, limit: int = MAX_SMALL_BLOB, what: str = "blob") -> bytes:
    """Read a small blob (config, SBOM, event) whole, verified, refusing anything over ``limit``."""
    if desc.size > limit:  # declared by a manifest we do not trust yet: refuse before reading
        raise VerificationError(f"{what} {desc.digest} is {desc.size} bytes, more than the {limit}-byte limit",
                                hint="the manifest names a blob too large to be a ModelKit config, SBOM or event")
    if desc.data is not None:
        desc.digest.verify_bytes(desc.data, size=desc.size, what=what)
        return desc.data
    reader = open_verified(storage, desc, what=what)
    try:
        data = b"".join(iter(lambda: reader.read(CHUNK), b""))  # one copy, not one per chunk
        reader.verify()
        return data
    finally:
        reader.close()


def read_manifest(storage: Storage, identifier: str) -> tuple[Descriptor, Manifest]:
    """Resolve and parse an image manifest (refusing indexes)."""
    desc = storage.resolve(identifier)
    data = storage.fetch_manifest(desc)
    return desc, Manifest.from_bytes(data, f"manifest {desc.digest}")


class MemoryStorage:
    """A thread-safe, in-memory :class:`Storage`: one repository held in dicts, for tests and dry runs.

    It keeps the contract every storage keeps: pushed blobs and manifests are verified against
    their digest and size, manifests are parsed before they are stored, and nothing becomes
    visible under a digest it does not have. Copy a ModelKit into one to inspect it without
    touching the disk or the network::

        mem = MemoryStorage("registry.example/acme/sentiment")
        copy(store.repository("localhost/acme/sentiment"), "1.0.0", mem, ["1.0.0"])

    :param name: the repository name it reports (``registry/repository``).
    :param referrers_api: answer :meth:`referrers` like a registry with the OCI 1.1 referrers API;
        without it (the default) ``referrers`` returns ``None`` and referrers are kept in the
        ``sha256-<hex>`` fallback tag, as on distribution and the local store.

    The contents are plain attributes, readable (and, in tests, corruptible) directly:
    ``blobs`` (digest → bytes), ``manifests`` (digest → (media type, bytes)) and ``tag_map``
    (tag → digest).
    """

    def __init__(self, name: str = "memory/test", *, referrers_api: bool = False) -> None:
        self.name = name
        self.blobs: dict[Digest, bytes] = {}
        self.manifests: dict[Digest, tuple[str, bytes]] = {}
        self.tag_map: dict[str, Digest] = {}
        self._referrers_api = referrers_api
        self._lock = threading.Lock()

    def resolve(self, identifier: str) -> Descriptor:
        """A tag or ``sha256:`` digest → the manifest's descriptor. Raises NotFoundError."""
        with self._lock:
            digest = Digest.parse(identifier) if identifier.startswith("sha256:") else self.tag_map.get(identifier)
            if digest is None or digest not in self.manifests:
                raise NotFoundError(f"{self.name}:{identifier} not found")
            media_type, data = self.manifests[digest]
            return Descriptor(media_type, digest, len(data))

    def fetch_manifest(self, desc: Descriptor) -> bytes:
        """The manifest bytes, verified against ``desc``. Raises NotFoundError."""
        with self._lock:
            if desc.digest not in self.manifests:
                raise NotFoundError(f"manifest {desc.digest} not found in {self.name}")
            data = self.manifests[desc.digest][1]
        desc.digest.verify_bytes(data, what="manifest")
        return data

    def has_blob(self, desc: Descriptor) -> bool:
        """Whether the blob ``desc`` names is stored."""
        return desc.digest in self.blobs

    def has_manifest(self, digest: Digest) -> bool:
        """Whether a manifest (or index) with ``digest`` is stored."""
        return digest in self.manifests

    def open_blob(self, desc: Descriptor, offset: int = 0) -> BinaryIO:
        """The blob's bytes from ``offset`` as a stream. Raises NotFoundError."""
        if desc.digest not in self.blobs:
            raise NotFoundError(f"blob {desc.digest} not found in {self.name}")
        buf = io.BytesIO(self.blobs[desc.digest])
        buf.seek(offset)
        return buf

    def push_blob(self, desc: Descriptor, stream: BinaryIO) -> None:
        """Store the blob read from ``stream``; DigestMismatchError if digest or size differ from ``desc``."""
        reader = HashingReader(stream, desc.digest, desc.size)
        data = b"".join(iter(lambda: reader.read(CHUNK), b""))
        reader.verify()
        with self._lock:
            self.blobs[desc.digest] = data

    def push_manifest(self, data: bytes, media_type: str, tag: str | None = None) -> Descriptor:
        """Store a manifest or index (parsed first; refused when too large) and tag it if ``tag``."""
        if len(data) > MAX_MANIFEST_BYTES:
            raise UsageError(f"manifest of {len(data)} bytes is too large")
        if media_type == INDEX:
            Index.from_bytes(data)
        elif media_type == MANIFEST:
            Manifest.from_bytes(data)
        desc = Descriptor.for_bytes(media_type, data)
        with self._lock:
            self.manifests[desc.digest] = (media_type, data)
            if tag is not None:
                self.tag_map[tag] = desc.digest
        return desc

    def tag(self, desc: Descriptor, tag: str) -> None:
        """Point ``tag`` at the stored manifest ``desc``. Raises NotFoundError."""
        with self._lock:
            if desc.digest not in self.manifests:
                raise NotFoundError(f"manifest {desc.digest} not found in {self.name}")
            self.tag_map[tag] = desc.digest

    def untag(self, tag: str) -> None:
        """Remove ``tag`` (the manifest stays). Raises NotFoundError."""
        with self._lock:
            if self.tag_map.pop(tag, None) is None:
                raise NotFoundError(f"{self.name}:{tag} not found")

    def tags(self) -> list[str]:
        """Every tag, sorted."""
        with self._lock:
            return sorted(self.tag_map)

    def delete_manifest(self, digest: Digest) -> None:
        """Delete a manifest and every tag naming it (its blobs stay). Raises NotFoundError."""
        with self._lock:
            if self.manifests.pop(digest, None) is None:
                raise NotFoundError(f"manifest {digest} not found in {self.name}")
            for tag in [t for t, d in self.tag_map.items() if d == digest]:
                del self.tag_map[tag]

    def referrers(self, subject: Digest) -> list[Descriptor] | None:
        """The stored manifests whose ``subject`` is ``subject``, or ``None`` without ``referrers_api``."""
        if not self._referrers_api:
            return None
        out = []
        with self._lock:
            items = list(self.manifests.items())
        for digest, (media_type, data) in items:
            if media_type != MANIFEST:
                continue
            m = Manifest.from_bytes(data)
            if m.subject is not None and m.subject.digest == subject:
                out.append(Descriptor(media_type, digest, len(data), m.annotations,
                                      m.artifact_type or m.config.media_type))
        return out
