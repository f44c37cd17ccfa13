from __future__ import annotations

import hashlib
import io

import pytest

from ocikit._io._digest import Digest, HashingReader, HashingWriter, copy_stream
from ocikit.errors import DigestMismatchError, VerificationError


def test_parse_roundtrip_and_strictness() -> None:
    d = Digest.of_bytes(b"hello")
    assert str(d) == "sha256:" + hashlib.sha256(b"hello").hexdigest()
    assert Digest.parse(str(d)) == d
    for bad in ("sha256:../../x", "sha256:" + "A" * 64, "sha512:" + "a" * 128, "sha256:" + "a" * 63, ""):
        with pytest.raises(VerificationError):
            Digest.parse(bad)


def test_hashing_reader_accepts_exact_content() -> None:
    data = b"x" * 3_000_000
    r = HashingReader(io.BytesIO(data), Digest.of_bytes(data), len(data))
    out = io.BytesIO()
    assert copy_stream(r, out) == len(data)
    assert out.getvalue() == data


@pytest.mark.parametrize(
    ("body", "declared"),
    [(b"hellO", b"hello"), (b"hello!", b"hello"), (b"hell", b"hello")],
    ids=["modified", "trailing-byte", "short"],
)
def test_hashing_reader_refuses_mismatch(body: bytes, declared: bytes) -> None:
    r = HashingReader(io.BytesIO(body), Digest.of_bytes(declared), len(declared))
    with pytest.raises(DigestMismatchError):
        r.drain()


def test_trailing_bytes_are_refused_before_they_are_returned() -> None:
    declared = b"a" * 10
    r = HashingReader(io.BytesIO(declared + b"EXTRA"), Digest.of_bytes(declared), 10)
    with pytest.raises(DigestMismatchError, match="longer than its declared size"):
        r.read()


def test_hashing_writer() -> None:
    out = io.BytesIO()
    w = HashingWriter(out)
    w.write(b"ab")
    w.write(memoryview(b"c"))
    assert w.count == 3
    assert w.digest == Digest.of_bytes(b"abc")
    assert out.getvalue() == b"abc"
