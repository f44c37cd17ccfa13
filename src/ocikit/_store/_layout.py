"""The local store: one standard OCI image layout shared by every repository.

Spec: https://github.com/opencontainers/image-spec/blob/main/image-layout.md. On disk::

    <store>/oci-layout               {"imageLayoutVersion": "1.0.0"}
    <store>/index.json               one entry per (repository, tag) and per untagged manifest
    <store>/blobs/sha256/<hex>       every blob and manifest of every repository, shared
    <store>/ingest/                  temp files and resumable partial downloads
    <store>/index.lock               flock(2) serialising index.json updates

Each ``index.json`` entry carries ``org.opencontainers.image.ref.name`` = the full reference
(``localhost/acme/sentiment:1.0.0``) when tagged, so ``skopeo inspect oci:<store>:<ref>`` reads it,
and ``dev.ocikit.repository`` = the repository name, also for untagged manifests (which ``list``
shows as ``<none>``, like kit).

Crash safety: a blob is written to ``ingest/``, fsynced, checked against its digest and renamed
into ``blobs/sha256/`` — a half-written blob never appears under its digest name. ``index.json`` is
rewritten the same way (temp + fsync + rename + directory fsync) while holding an exclusive lock,
so concurrent ocikit processes never lose a tag.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ocikit._config import home_dir, store_dir
from ocikit._io._digest import CHUNK, Digest, HashingReader, HashingWriter
from ocikit._oci._model import ANNOTATION_REF_NAME, INDEX, MANIFEST, MAX_MANIFEST_BYTES, Descriptor, Index, Manifest
from ocikit.errors import DigestMismatchError, NotFoundError, StoreError, VerificationError

__all__ = ["ANNOTATION_REPOSITORY", "BlobWriter", "IngestFile", "LayoutRepository", "LocalStore", "StoreEntry"]

log = logging.getLogger(__name__)

ANNOTATION_REPOSITORY = "dev.ocikit.repository"
_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


@dataclass(frozen=True)
class StoreEntry:
    """One ``index.json`` entry: a manifest in a repository, under a tag or untagged."""

    repository: str
    tag: str | None
    descriptor: Descriptor

    @property
    def reference(self) -> str:
        if self.tag is not None:
            return f"{self.repository}:{self.tag}"
        return f"{self.repository}@{self.descriptor.digest}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: Start writing a blob back to disk after this many bytes, and again after each as many more,
#: so the fsync in ``commit()`` has only the tail left to wait for (docs/performance.md).
WRITEBACK_STEP = 16 * 1024 * 1024


class _Writeback:
    """A helper thread that asks the kernel to write a growing file back while it is written.

    ``kick()`` wakes the thread, which calls ``fdatasync`` on the file (blocking only itself; the
    writer keeps filling the page cache meanwhile). Kicks while a sync runs are coalesced. This
    changes when the data reaches the disk, not what is durable when: ``commit()`` still fsyncs
    before the rename, so the crash-safety argument is unchanged.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._wake = threading.Event()
        self._stop = False
        self.error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="ocikit-writeback", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            try:
                os.fdatasync(self._fd)
            except OSError as e:  # reported by commit(); the final fsync would fail the same way
                self.error = e
                return

    def kick(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join()


#: Size and number of the aligned buffers of a direct-I/O blob writer (a multiple of any block
#: size; four so that a slow write or hash does not stall the one filling).
DIRECT_BUFFER = 4 * 1024 * 1024
DIRECT_BUFFERS = 4


class _DirectSink:
    """Writes a blob with ``O_DIRECT`` from page-aligned buffers: the disk DMAs the bytes, so
    neither the page-cache copy nor the kernel's writeback costs CPU, which pack needs for its
    two hashes (docs/performance.md). Four buffers in rotation: one fills while a helper thread
    writes the others, in order (the write blocks for the transfer; the GIL is released). The
    tail that does not fill a whole buffer is written with ``O_DIRECT`` cleared, at
    ``finish()``. A refusal of direct I/O (a file system without it, an odd block size) turns
    it off for the rest of the blob: same bytes, just buffered.

    Two ways in: :meth:`write` copies bytes into the current buffer; :meth:`space` and
    :meth:`filled` let a caller read straight into it (pack's tar writer, no copy). Whoever
    reads a buffer on another thread (a hash) registers a :meth:`fence`, and :attr:`on_full`
    sees each full buffer before its write; a buffer is refilled only after its write and its
    fences are done. Since every buffer is written whole at a multiple of its size, its
    contents need no alignment of their own (a 512-byte tar header may start it).
    """

    def __init__(self, fd: int) -> None:
        import mmap

        self.fd = fd
        self._bufs = [mmap.mmap(-1, DIRECT_BUFFER) for _ in range(DIRECT_BUFFERS)]  # page-aligned
        self._views = [memoryview(b) for b in self._bufs]
        self._free = [threading.Event() for _ in self._bufs]
        for ev in self._free:
            ev.set()
        self._fences: list[list[Callable[[], None]]] = [[] for _ in self._bufs]
        self._which = 0
        self._used = 0
        self.total = 0  # bytes accepted so far
        self.direct = True
        #: Called with each full buffer before its write; may return a fence for it.
        self.on_full: Callable[[memoryview], Callable[[], None]] | None = None
        self._error: BaseException | None = None
        self._jobs: collections.deque[int | None] = collections.deque()
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="ocikit-direct-write", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._jobs:
                    self._ready.wait()
                job = self._jobs.popleft()
            if job is None:
                return
            try:
                if self._error is None:
                    self._write_direct(self._views[job])
            except BaseException as e:  # reported on the writer's thread at the next wait
                self._error = e
            finally:
                self._free[job].set()

    def _write_direct(self, view: memoryview) -> None:
        try:
            _write_all(self.fd, view)
        except OSError as e:
            if e.errno != errno.EINVAL or not self.direct:
                raise
            self._buffered()
            _write_all(self.fd, view)

    def _settle(self, i: int) -> None:
        """Wait until buffer ``i`` is written and nobody reads it any more."""
        self._free[i].wait()
        fences, self._fences[i] = self._fences[i], []
        for fence in fences:
            fence()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def space(self) -> memoryview:
        """The free room of the current buffer (never empty); fill it, then call :meth:`filled`."""
        if self._used == 0:
            self._settle(self._which)
            self._raise()
        return self._views[self._which][self._used:]

    def filled(self, n: int) -> None:
        """``n`` more bytes of the current buffer hold data; a full buffer goes to the disk."""
        self._used += n
        self.total += n
        if self._used == DIRECT_BUFFER:
            i = self._which
            if self.on_full is not None:
                self._fences[i].append(self.on_full(self._views[i]))
            self._free[i].clear()
            with self._ready:
                self._jobs.append(i)
                self._ready.notify()
            self._which = (i + 1) % DIRECT_BUFFERS
            self._used = 0

    def fence(self, wait: Callable[[], None]) -> None:
        """The current buffer is not refilled before ``wait()`` has returned."""
        self._fences[self._which].append(wait)

    def pending(self) -> memoryview:
        """The bytes accepted but not yet handed on (less than a buffer; written by ``finish``)."""
        return self._views[self._which][:self._used]

    def write(self, data: bytes | bytearray | memoryview) -> int:
        src = memoryview(data).cast("B")
        n = len(src)
        pos = 0
        while pos < n:
            room = self.space()
            take = min(n - pos, len(room))
            room[:take] = src[pos:pos + take]
            pos += take
            self.filled(take)
        return n

    def _buffered(self) -> None:
        fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~os.O_DIRECT)
        self.direct = False

    def _settle_all(self) -> None:
        for k in range(DIRECT_BUFFERS):
            self._settle((self._which + 1 + k) % DIRECT_BUFFERS)  # oldest first

    def finish(self) -> None:
        """Wait for the full buffers, then write the partial one (buffered: unaligned)."""
        self._settle_all()
        self._raise()
        if self.direct:
            self._buffered()
        if self._used:
            _write_all(self.fd, self._views[self._which][:self._used])
            self._used = 0

    def close(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(BaseException):
                self._settle_all()  # no write or hash may still read a buffer being unmapped
            with self._ready:
                self._jobs.append(None)
                self._ready.notify()
            self._thread.join()
        for view, buf in zip(self._views, self._bufs, strict=True):
            # After an error, slices of a buffer may live on in a traceback's frames; the
            # mapping is then freed with the last of them instead.
            with contextlib.suppress(BufferError):
                view.release()
                buf.close()


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class BlobWriter:
    """Writes one blob into ``ingest/``; ``commit()`` moves it under its digest."""

    def __init__(self, store: LocalStore, file: BinaryIO, tmp: Path, hashing: bool,
                 direct: _DirectSink | None = None) -> None:
        self._store = store
        self._file = file
        self._direct = direct
        target: Any = direct if direct is not None else file
        self._target = target
        self._hashing = HashingWriter(target) if hashing else None
        self.tmp = tmp
        self.count = 0
        self.committed: Digest | None = None
        self._next_writeback = WRITEBACK_STEP if direct is None else 1 << 62
        self._writeback: _Writeback | None = None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        n = self._hashing.write(data) if self._hashing is not None else self._target.write(data)
        self.count += n
        if self.count >= self._next_writeback:
            self._next_writeback = self.count + WRITEBACK_STEP
            if self._writeback is None:
                self._writeback = _Writeback(self._file.fileno())
            self._file.flush()
            self._writeback.kick()
        return n

    def buffers(self) -> _DirectSink | None:
        """The direct-I/O buffers to fill in place (see :class:`_DirectSink`), when this writer
        writes directly and does not hash itself; bytes put there count as written."""
        return self._direct if self._hashing is None else None

    def flush(self) -> None:
        self._file.flush()

    def _stop_writeback(self) -> None:
        if self._writeback is not None:
            self._writeback.stop()

    def _close_direct(self) -> None:
        if self._direct is not None:
            self._direct.close()

    def commit(self, digest: Digest | None = None) -> tuple[Digest, int]:
        """Finish the blob. ``digest`` is required when hashing was off and checked when on."""
        if self._direct is not None:
            self._direct.finish()
            self._direct.close()
            self.count = self._direct.total  # also what was put into its buffers in place
        self._file.flush()
        self._stop_writeback()
        os.fsync(self._file.fileno())
        self._file.close()
        actual = self._hashing.digest if self._hashing is not None else digest
        if actual is None:
            raise ValueError("commit() needs the digest when the writer does not hash")
        if digest is not None and actual != digest:
            raise DigestMismatchError(f"blob written as {digest} hashes to {actual}")
        self._store._install(self.tmp, actual)
        self.committed = actual
        return actual, self.count


class IngestFile:
    """A resumable download of one blob: ``path`` holds ``offset`` bytes from an earlier try."""

    def __init__(self, store: LocalStore, desc: Descriptor) -> None:
        self._store = store
        self.desc = desc
        self.path = store.root / "ingest" / f"{desc.digest.hex}.partial"
        self.offset = self.path.stat().st_size if self.path.exists() else 0
        if self.offset > desc.size:  # longer than the blob can be: start over
            self.path.unlink()
            self.offset = 0

    def open(self) -> BinaryIO:
        """The partial file opened for appending."""
        return open(self.path, "ab")

    def commit(self, *, verified: bool = False) -> None:
        """Move the complete file under its digest; re-hash it unless the caller already did."""
        if not verified:
            try:
                with open(self.path, "rb") as f:
                    HashingReader(f, self.desc.digest, self.desc.size, what="downloaded blob").drain()
            except DigestMismatchError:
                self.discard()  # a bad prefix kept would fail every later resume the same way
                raise
        with open(self.path, "rb") as f:
            os.fsync(f.fileno())
        self._store._install(self.path, self.desc.digest)

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


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

    def _write_atomic(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(path.parent)

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
        path = self.root / "index.json"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            if not missing_ok:
                raise
            return []
        except OSError as e:
            raise StoreError(f"cannot read {path}: {e.strerror}") from e
        try:
            return list(Index.from_bytes(data, str(path)).manifests)
        except VerificationError as e:
            raise StoreError(f"the local store index {path} is corrupt: {e}") from e

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
        _fsync_dir(target.parent)

    @contextlib.contextmanager
    def blob_writer(self, *, hashing: bool = True, direct: bool = False) -> Iterator[BlobWriter]:
        """Write a new blob; on error (or without ``commit()``) the temp file is removed.

        ``direct``: write with ``O_DIRECT`` where the file system allows it (for large blobs
        written in big pieces; see :class:`_DirectSink`). Crash safety is the same either way.
        """
        self._ensure()
        fd, tmp = tempfile.mkstemp(dir=self.root / "ingest", prefix="blob-")
        sink = None
        if direct and hasattr(os, "O_DIRECT"):
            try:
                fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_DIRECT)
                sink = _DirectSink(fd)
            except OSError as e:  # tmpfs and others refuse O_DIRECT: write through the cache
                log.debug("no direct I/O for blobs in %s: %s", self.root, e)
        writer = BlobWriter(self, os.fdopen(fd, "wb"), Path(tmp), hashing, sink)
        try:
            yield writer
        finally:
            if writer.committed is None:
                writer._close_direct()
                writer._stop_writeback()
                with contextlib.suppress(OSError):
                    writer._file.close()
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)

    def put_bytes(self, data: bytes) -> Digest:
        with self.blob_writer() as w:
            w.write(data)
            digest, _ = w.commit()
        return digest

    @contextlib.contextmanager
    def ingest(self, desc: Descriptor) -> Iterator[IngestFile]:
        """Exclusive access to the resumable download of ``desc`` (one process at a time)."""
        self._ensure()
        lock_path = self.root / "ingest" / f"{desc.digest.hex}.lock"
        while True:
            f = open(lock_path, "a+b")  # noqa: SIM115 - closed below
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            # The previous holder unlinks the lock file when done; if we locked that unlinked
            # inode, a third process may hold a fresh file under the same name: lock again.
            try:
                same = os.fstat(f.fileno()).st_ino == os.stat(lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            f.close()
        try:
            yield IngestFile(self, desc)
        finally:
            with contextlib.suppress(FileNotFoundError):
                lock_path.unlink()  # while still holding the lock, so no one else can be inside
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            f.close()

    # -- repositories -------------------------------------------------------------------------

    def repository(self, name: str) -> LayoutRepository:
        return LayoutRepository(self, name)

    def entries(self) -> list[StoreEntry]:
        out = []
        for desc in self._read_index():
            repo = desc.annotations.get(ANNOTATION_REPOSITORY)
            ref_name = desc.annotations.get(ANNOTATION_REF_NAME)
            tag = None
            if ref_name and repo and ref_name.startswith(repo + ":"):
                tag = ref_name[len(repo) + 1 :]
            elif ref_name and not repo:  # written by another tool: take the reference apart
                repo, _, tag = ref_name.rpartition(":")
                if not repo:
                    repo, tag = ref_name, None
            if repo is None:
                repo = "localhost/_"
            out.append(StoreEntry(repo, tag, desc))
        return out

    def repositories(self) -> list[str]:
        return sorted({e.repository for e in self.entries()})


def _entry(desc: Descriptor, repository: str, tag: str | None) -> Descriptor:
    annotations = {ANNOTATION_REPOSITORY: repository}
    if tag is not None:
        annotations[ANNOTATION_REF_NAME] = f"{repository}:{tag}"
    return Descriptor(desc.media_type, desc.digest, desc.size, annotations, desc.artifact_type)


class LayoutRepository:
    """One repository of the local store, as a :class:`~ocikit._store._storage.Storage`."""

    def __init__(self, store: LocalStore, name: str) -> None:
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
            return [*kept, _entry(desc, name, tag)]

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
                    kept.append(_entry(d, name, None))
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

