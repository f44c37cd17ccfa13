"""The local store: one standard OCI image layout shared by every repository.

Spec: https://github.com/opencontainers/image-spec/blob/main/image-layout.md. On disk::

    <store>/oci-layout               {"imageLayoutVersion": "1.0.0"}
    <store>/index.json               one entry per (repository, tag) and per untagged manifest
    <store>/blobs/sha256/<hex>       every blob and manifest of every repository, shared
    <store>/ingest/                  temp files and resumable partial downloads
    <store>/index.lock               flock(2) serialising index.json updates

:class:`LocalStore` owns the layout files, ``index.json`` and its lock, and the blob paths; the
entries are read by ``_index``, blobs come in through ``_blobs`` (writer, resumable ingest) and
each repository is a ``_layout_repository.LayoutRepository``.

Crash safety: a blob is written to ``ingest/``, fsynced, checked against its digest and renamed
into ``blobs/sha256/`` — a half-written blob never appears under its digest name. ``index.json`` is
rewritten the same way (temp + fsync + rename + directory fsync) while holding an exclusive lock,
so concurrent ocikit processes never lose a tag.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from ocikit._config import home_dir, store_dir
from ocikit._io._digest import Digest
from ocikit._io._files import fsync_dir, write_atomic
from ocikit._oci._model import Descriptor, Index
from ocikit._store._blobs import BlobWriter, IngestFile, exclusive_ingest, new_blob
from ocikit._store._index import StoreEntry, read_index, store_entries
from ocikit._store._layout_repository import LayoutRepository
from ocikit.errors import StoreError

__all__ = ["LocalStore"]

_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
#: ``index.json`` and ``oci-layout`` are written as ``mkstemp`` made them: owner-only.
_LAYOUT_FILE_MODE = 0o600


class LocalStore:
    """The local OCI layout. Create with :meth:`at_home` or a store directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @classmethod
    def at_home(cls, home: str | os.PathLike[str] | None = None) -> LocalStore:
        return cls(store_dir(home_dir(home)))

    # -- layout files -------------------------------------------------------------------------

    def _ensure(self) -> None:
        # A layout written by another tool (skopeo, oras) has oci-layout but no ingest/ dir.
        if (self.root / "oci-layout").exists() and (self.root / "ingest").is_dir():
            return
        try:
            (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
            (self.root / "ingest").mkdir(exist_ok=True)
            self._write_atomic(self.root / "oci-layout", _LAYOUT)
            if not (self.root / "index.json").exists():
                self._write_atomic(self.root / "index.json", Index(()).to_bytes())
        except OSError as e:
            raise StoreError(
                f"cannot create the local store at {self.root}: {e.strerror}",
                hint="use a writable location (--home or OCIKIT_HOME) with free space",
            ) from e

    @staticmethod
    def _write_atomic(path: Path, data: bytes) -> None:
        write_atomic(path, data, mode=_LAYOUT_FILE_MODE, strict=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock over ``index.json`` updates (held across processes)."""
        self._ensure()
        with open(self.root / "index.lock", "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def _read_index(self, *, missing_ok: bool = True) -> list[Descriptor]:
        """``index.json``'s entries; none when it is missing (``FileNotFoundError`` unless ``missing_ok``)."""
        return read_index(self.root / "index.json", missing_ok=missing_ok)

    def update_index(self, change: Callable[[list[Descriptor]], list[Descriptor]]) -> None:
        """Read-modify-write ``index.json`` under the lock, atomically."""
        with self.lock():
            entries = change(self._read_index())
            self._write_atomic(self.root / "index.json", Index(tuple(entries)).to_bytes())

    # -- blobs --------------------------------------------------------------------------------

    def blob_path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.hex

    def has_blob(self, digest: Digest, size: int | None = None) -> bool:
        try:
            st = self.blob_path(digest).stat()
        except FileNotFoundError:
            return False
        return size is None or st.st_size == size

    def _install(self, tmp: Path, digest: Digest) -> None:
        target = self.blob_path(digest)
        if target.exists():
            tmp.unlink()  # same content already stored: keep the existing file untouched
            return
        try:
            os.replace(tmp, target)
        except OSError as e:
            raise StoreError(f"cannot store blob {digest}: {e.strerror}") from e
        fsync_dir(target.parent, strict=True)

    @contextlib.contextmanager
    def blob_writer(self, *, hashing: bool = True, direct: bool = False) -> Iterator[BlobWriter]:
        """Write a new blob; on error (or without ``commit()``) the temp file is removed.

        ``direct``: write with ``O_DIRECT`` where the file system allows it (for large blobs
        written in big pieces; see :class:`~ocikit._io._direct.DirectWriter`). Crash safety is
        the same either way.
        """
        self._ensure()
        with new_blob(self.root / "ingest", self._install, hashing=hashing, direct=direct) as writer:
            yield writer

    def put_bytes(self, data: bytes) -> Digest:
        with self.blob_writer() as w:
            w.write(data)
            digest, _ = w.commit()
        return digest

    @contextlib.contextmanager
    def ingest(self, desc: Descriptor) -> Iterator[IngestFile]:
        """Exclusive access to the resumable download of ``desc`` (one process at a time)."""
        self._ensure()
        with exclusive_ingest(self.root / "ingest", desc, self._install) as part:
            yield part

    # -- repositories -------------------------------------------------------------------------

    def repository(self, name: str) -> LayoutRepository:
        return LayoutRepository(self, name)

    def entries(self) -> list[StoreEntry]:
        return store_entries(self._read_index())

    def repositories(self) -> list[str]:
        return sorted({e.repository for e in self.entries()})
