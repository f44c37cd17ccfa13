"""One repository of the local store as a :class:`~ocikit._store._storage.Storage`: tags, manifests and
blobs, all kept in the store's shared ``index.json`` and ``blobs/``.

A manifest is indexed only once every blob it references is present, checked under the index
lock (never an incomplete ModelKit in ``index.json``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, Protocol

from ocikit._io._digest import CHUNK, Digest, HashingReader
from ocikit._oci._model import ANNOTATION_REF_NAME, INDEX, MANIFEST, MAX_MANIFEST_BYTES, Descriptor, Index, Manifest
from ocikit._store._blobs import BlobWriter
from ocikit._store._index import ANNOTATION_REPOSITORY, StoreEntry, index_entry
from ocikit.errors import NotFoundError, StoreError, VerificationError

__all__ = ["LayoutRepository"]


class _Store(Protocol):
    """What a repository uses of its :class:`~ocikit._store._layout.LocalStore`."""

    def entries(self) -> list[StoreEntry]: ...
    def blob_path(self, digest: Digest) -> Path: ...
    def has_blob(self, digest: Digest, size: int | None = None) -> bool: ...
    def put_bytes(self, data: bytes) -> Digest: ...
    def blob_writer(self, *, hashing: bool = True, direct: bool = False) -> AbstractContextManager[BlobWriter]: ...
    def update_index(self, change: Callable[[list[Descriptor]], list[Descriptor]]) -> None: ...


class LayoutRepository:
    """One repository of the local store, as a :class:`~ocikit._store._storage.Storage`."""

    def __init__(self, store: _Store, name: str) -> None:
        self.store = store
        self.name = name

    def _mine(self) -> list[StoreEntry]:
        return [e for e in self.store.entries() if e.repository == self.name]

    def resolve(self, identifier: str) -> Descriptor:
        if identifier.startswith("sha256:"):
            digest = Digest.parse(identifier)
            for e in self._mine():
                if e.descriptor.digest == digest:
                    return Descriptor(e.descriptor.media_type, digest, e.descriptor.size)
            # A manifest in the shared blobs (e.g. pushed by digest as a referrer) still resolves.
            path = self.store.blob_path(digest)
            if path.exists() and path.stat().st_size <= MAX_MANIFEST_BYTES:
                data = path.read_bytes()
                media_type = INDEX if b'"manifests"' in data and b'"layers"' not in data else MANIFEST
                return Descriptor(media_type, digest, len(data))
            raise NotFoundError(f"{self.name}@{identifier} not found in the local store")
        for e in self._mine():
            if e.tag == identifier:
                return Descriptor(e.descriptor.media_type, e.descriptor.digest, e.descriptor.size)
        display = self.name.removeprefix("localhost/")
        raise NotFoundError(f"{display}:{identifier} not found in the local store")

    def fetch_manifest(self, desc: Descriptor) -> bytes:
        if desc.size > MAX_MANIFEST_BYTES:
            raise VerificationError(f"manifest {desc.digest} is larger than {MAX_MANIFEST_BYTES} bytes")
        try:
            data = self.store.blob_path(desc.digest).read_bytes()
        except FileNotFoundError as e:
            raise NotFoundError(f"manifest {desc.digest} is missing from the local store") from e
        desc.digest.verify_bytes(data, size=desc.size, what="manifest")
        return data

    def has_blob(self, desc: Descriptor) -> bool:
        return self.store.has_blob(desc.digest, desc.size)

    def has_manifest(self, digest: Digest) -> bool:
        return self.store.has_blob(digest)

    def open_blob(self, desc: Descriptor, offset: int = 0) -> BinaryIO:
        try:
            f = open(self.store.blob_path(desc.digest), "rb")  # noqa: SIM115 - caller closes
        except FileNotFoundError as e:
            raise NotFoundError(f"blob {desc.digest} is missing from the local store") from e
        if offset:
            f.seek(offset)
        return f

    def push_blob(self, desc: Descriptor, stream: BinaryIO) -> None:
        if self.store.has_blob(desc.digest, desc.size):
            return
        reader = HashingReader(stream, desc.digest, desc.size)
        with self.store.blob_writer(hashing=False) as w:
            while True:
                chunk = reader.read(CHUNK)
                if not chunk:
                    break
                w.write(chunk)
            reader.verify()
            w.commit(desc.digest)

    def push_manifest(self, data: bytes, media_type: str, tag: str | None = None) -> Descriptor:
        if len(data) > MAX_MANIFEST_BYTES:
            raise VerificationError(f"manifest of {len(data)} bytes is larger than {MAX_MANIFEST_BYTES}")
        if media_type == INDEX:
            Index.from_bytes(data)
        else:
            Manifest.from_bytes(data)
        desc = Descriptor.for_bytes(media_type, data)
        if not self.store.has_blob(desc.digest, desc.size):
            self.store.put_bytes(data)
        self._add(desc, tag)
        return desc

    def _missing_blobs(self, desc: Descriptor) -> list[Digest]:
        """Blobs an image manifest references that are absent (checked under the store lock)."""
        if not self.store.has_blob(desc.digest, desc.size):
            return [desc.digest]
        if desc.media_type == INDEX:
            return []
        try:
            manifest = Manifest.from_bytes(self.store.blob_path(desc.digest).read_bytes())
        except VerificationError:
            return []  # an index under another media type: its children are manifests, not checked
        return [d.digest for d in (manifest.config, *manifest.layers)
                if d.data is None and not self.store.has_blob(d.digest, d.size)]

    def _add(self, desc: Descriptor, tag: str | None) -> None:
        name = self.name

        def change(entries: list[Descriptor]) -> list[Descriptor]:
            # Under the lock `gc` holds while it decides: a blob it collected after a pull found it
            # present must not end up referenced by a new entry (never index an incomplete kit).
            missing = self._missing_blobs(desc)
            if missing:
                raise StoreError(
                    f"manifest {desc.digest} references {len(missing)} blob(s) missing from the local "
                    f"store (first: {missing[0]})",
                    hint="store the blobs first; if a gc ran meanwhile, run the pull or pack again",
                )
            kept = []
            for d in entries:
                mine = d.annotations.get(ANNOTATION_REPOSITORY) == name
                ref = d.annotations.get(ANNOTATION_REF_NAME)
                if mine and tag is not None and ref == f"{name}:{tag}":
                    continue  # the tag moves
                if mine and ref is None and d.digest == desc.digest:
                    continue  # replaced by the new entry (tagged or not)
                kept.append(d)
            if tag is None and any(
                d.annotations.get(ANNOTATION_REPOSITORY) == name and d.digest == desc.digest for d in kept
            ):
                return kept  # already present under a tag
            return [*kept, index_entry(desc, name, tag)]

        self.store.update_index(change)

    def tag(self, desc: Descriptor, tag: str) -> None:
        if not self.store.has_blob(desc.digest):
            raise NotFoundError(f"manifest {desc.digest} is not in the local store")
        self._add(Descriptor(desc.media_type, desc.digest, desc.size), tag)

    def untag(self, tag: str) -> None:
        name = self.name
        found: list[Descriptor] = []

        def change(entries: list[Descriptor]) -> list[Descriptor]:
            kept = []
            for d in entries:
                ref = d.annotations.get(ANNOTATION_REF_NAME)
                if d.annotations.get(ANNOTATION_REPOSITORY) == name and ref == f"{name}:{tag}":
                    found.append(d)
                    continue
                kept.append(d)
            for d in found:  # keep the manifest listed, untagged, unless another tag holds it
                if not any(k.annotations.get(ANNOTATION_REPOSITORY) == name and k.digest == d.digest for k in kept):
                    kept.append(index_entry(d, name, None))
            return kept

        self.store.update_index(change)
        if not found:
            raise NotFoundError(f"{name}:{tag} not found in the local store")

    def tags(self) -> list[str]:
        return sorted(e.tag for e in self._mine() if e.tag is not None)

    def delete_manifest(self, digest: Digest) -> None:
        """Remove the manifest and all its tags from this repository (blobs stay until ``gc``)."""
        name = self.name
        removed: list[Descriptor] = []

        def change(entries: list[Descriptor]) -> list[Descriptor]:
            kept = []
            for d in entries:
                if d.annotations.get(ANNOTATION_REPOSITORY) == name and d.digest == digest:
                    removed.append(d)
                else:
                    kept.append(d)
            return kept

        self.store.update_index(change)
        if not removed:
            raise NotFoundError(f"{name}@{digest} not found in the local store")

    def referrers(self, subject: Digest) -> list[Descriptor] | None:
        return None  # the layout uses the OCI 1.1 fallback tag, like distribution


