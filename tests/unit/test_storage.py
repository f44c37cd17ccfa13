"""``_storage`` helpers: small blobs are read whole, verified and bounded."""

from __future__ import annotations

import io

import pytest

from ocikit._io._digest import Digest
from ocikit._oci._model import Descriptor
from ocikit._store._storage import MemoryStorage, read_blob
from ocikit.errors import DigestMismatchError, VerificationError


def _put(storage: MemoryStorage, data: bytes) -> Descriptor:
    desc = Descriptor("application/json", Digest.of_bytes(data), len(data))
    storage.push_blob(desc, io.BytesIO(data))
    return desc


def test_read_blob_returns_the_verified_bytes_across_chunks() -> None:
    storage = MemoryStorage()
    data = bytes(range(256)) * 9000  # a little over two 1 MiB chunks
    assert read_blob(storage, _put(storage, data)) == data


def test_read_blob_refuses_a_declared_size_over_the_limit_as_a_verification_failure() -> None:
    storage = MemoryStorage()
    desc = _put(storage, b"{}")
    oversized = Descriptor(desc.media_type, desc.digest, 17 * 1024 * 1024)
    with pytest.raises(VerificationError, match="limit") as info:
        read_blob(storage, oversized, what="config")
    assert info.value.exit_code == 3  # hostile content, not a usage mistake (exit 2)


def test_read_blob_refuses_bytes_that_do_not_match() -> None:
    storage = MemoryStorage()
    desc = _put(storage, b'{"a":1}')
    storage.blobs[desc.digest] = b'{"a":2}'
    with pytest.raises(DigestMismatchError):
        read_blob(storage, desc)
