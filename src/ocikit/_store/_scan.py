"""Reading the local layout's files as they are on disk, for ``fsck``, its repair and ``gc``.

Unlike ``_layout`` (which trusts its own writes), everything here expects damage: blob files are
re-hashed, a missing ``index.json`` next to blobs is an error rather than an empty store, and a
manifest is size-capped, verified and parsed before anything reads its children.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from ocikit._io._digest import CHUNK
from ocikit._oci._model import (
    ANNOTATION_REF_NAME,
    INDEX,
    MANIFEST,
    MAX_MANIFEST_BYTES,
    Descriptor,
    Index,
    Manifest,
    parse_manifest_or_index,
)
from ocikit._store._index import ANNOTATION_REPOSITORY
from ocikit._store._layout import LocalStore
from ocikit.errors import StoreError, VerificationError

__all__ = [
    "HEX",
    "blob_files",
    "children",
    "entry_name",
    "hash_file",
    "load_manifest",
    "read_index_strict",
    "stale_candidates",
]

#: The name of a blob file: 64 lowercase hex digits.
HEX = re.compile(r"^[0-9a-f]{64}$")


def blob_files(store: LocalStore) -> Iterator[tuple[str, Path]]:
    """``(hex, path)`` of every regular file under ``blobs/sha256`` (other names yielded as-is)."""
    directory = store.root / "blobs" / "sha256"
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return
    for name in names:
        path = directory / name
        if path.is_file() and not path.is_symlink():
            yield name, path


def hash_file(path: Path) -> tuple[str, int]:
    """The sha256 hex digest and the size of the file at ``path``."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                return h.hexdigest(), size
            h.update(chunk)
            size += len(chunk)


def read_index_strict(store: LocalStore, *, have_blobs: bool) -> list[Descriptor]:
    """``index.json``'s entries; a missing index with blobs present, or a corrupt one, raises."""
    try:
        return store._read_index(missing_ok=not have_blobs)
    except FileNotFoundError:
        raise StoreError(
            f"the local store index {store.root / 'index.json'} is missing but blobs are present",
            hint="restore index.json from a backup; gc refuses to run without it",
        ) from None


def load_manifest(store: LocalStore, desc: Descriptor) -> Manifest | Index | None:
    """The parsed manifest/index ``desc`` names, ``None`` if absent. Raises VerificationError."""
    path = store.blob_path(desc.digest)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size > MAX_MANIFEST_BYTES:
        raise VerificationError(f"manifest {desc.digest} is {size} bytes, over the {MAX_MANIFEST_BYTES} limit")
    data = path.read_bytes()
    desc.digest.verify_bytes(data, what="manifest")
    media_type = desc.media_type if desc.media_type in (MANIFEST, INDEX) else None
    return parse_manifest_or_index(data, media_type, f"manifest {desc.digest}")


def children(node: Manifest | Index) -> list[Descriptor]:
    """What ``node`` references: a manifest's config and layers, an index's manifests."""
    if isinstance(node, Manifest):
        return [node.config, *node.layers]
    return list(node.manifests)


def entry_name(desc: Descriptor) -> str:
    """How an ``index.json`` entry is shown: its reference, or ``repository@digest`` when untagged."""
    ref = desc.annotations.get(ANNOTATION_REF_NAME)
    if ref:
        return ref
    repo = desc.annotations.get(ANNOTATION_REPOSITORY, "<untagged>")
    return f"{repo}@{desc.digest}"


def stale_candidates(store: LocalStore) -> list[Path]:
    """Leftovers of interrupted writes: ingest temp/partial files and temp copies of layout files."""
    out: list[Path] = []
    ingest = store.root / "ingest"
    with contextlib.suppress(FileNotFoundError):
        for name in sorted(os.listdir(ingest)):
            if name.endswith(".lock"):
                continue  # zero-byte lock files; removing one another process opened would break its lock
            out.append(ingest / name)
    with contextlib.suppress(FileNotFoundError):
        for name in sorted(os.listdir(store.root)):
            if name.startswith((".index.json.", ".oci-layout.")):  # _write_atomic temp files
                out.append(store.root / name)
    return out
