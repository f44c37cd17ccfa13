"""Large-file extraction (``_io._direct.DirectWriter`` under ``_layers._extract``): direct I/O from aligned buffers, a writer
thread, the blob hashed on a queue thread. The thresholds are shrunk so small test data takes the
same path as a multi-GB weights file."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import threading
from pathlib import Path

import pytest

from ocikit._io import _direct
from ocikit._io._digest import Digest, ThreadedHashingReader
from ocikit._layers import _extract as _extractor
from ocikit._layers._extract import ExtractState, extract_layer
from ocikit._layers._reader import TarReader
from ocikit._layers._types import Limits
from ocikit._layers._writer import TarEntry, write_tar
from ocikit.errors import DigestMismatchError, UnsafeArchiveError

SIZES = [1, 4095, 4096, 8192, 8193, 3 * 8192 + 17, 100_000]


@pytest.fixture(autouse=True)
def small_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_extractor, "DIRECT_MIN", 1)
    monkeypatch.setattr(_direct, "DIRECT_BUFFER", 8192)  # a multiple of the 4 KiB alignment
    monkeypatch.setattr(_direct, "DIRECT_BUFFERS", 3)


def _content(size: int, seed: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def _layer(tmp_path: Path) -> tuple[bytes, dict[str, bytes]]:
    src = tmp_path / "src"
    (src / "m").mkdir(parents=True)
    files = {f"m/f{size}.bin": _content(size, size) for size in SIZES}
    entries = [TarEntry("m", None)]
    for name, data in files.items():
        (src / name).write_bytes(data)
        entries.append(TarEntry(name, str(src / name), len(data), 0o644))
    buf = io.BytesIO()
    write_tar(entries, buf)
    return buf.getvalue(), files


class _ReadOnly(io.RawIOBase):
    """A stream with ``read`` only (like a registry body without ``readinto``)."""

    def __init__(self, data: bytes, piece: int = 3000) -> None:
        self._data = memoryview(data)
        self._piece = piece

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = min(self._piece, len(self._data) if n < 0 else n)
        out, self._data = bytes(self._data[:n]), self._data[n:]
        return out


def _extract(blob: bytes, out: Path, raw: object | None = None, digest: Digest | None = None) -> list[str]:
    out.mkdir()
    hashed = ThreadedHashingReader(raw if raw is not None else io.BytesIO(blob),  # type: ignore[arg-type]
                                   digest or Digest.of_bytes(blob), len(blob), "layer")
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        extracted = extract_layer(TarReader(hashed, "layer", Limits()), fd, ExtractState(), what="layer")
        hashed.drain()
    finally:
        os.close(fd)
        hashed.close()
    return [e.path for e in extracted]


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("ocikit-")}


@pytest.mark.parametrize("raw", ["readinto", "read-only"])
def test_large_files_round_trip(tmp_path: Path, raw: str) -> None:
    blob, files = _layer(tmp_path)
    stream = io.BytesIO(blob) if raw == "readinto" else _ReadOnly(blob)
    paths = _extract(blob, tmp_path / "out", stream)
    assert sorted(paths) == sorted(files)
    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data, name
    assert not _threads(), "helper threads were left running"


def test_direct_io_is_used_where_the_file_system_allows_it(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    real = _direct.set_direct

    def spy(fd: int) -> bool:
        calls.append(real(fd))
        return calls[-1]

    monkeypatch.setattr(_direct, "set_direct", spy)
    blob, files = _layer(tmp_path)
    _extract(blob, tmp_path / "out")
    assert len(calls) == len(files)  # every file of this layer went through the body writer


def test_a_refusal_of_direct_io_on_write_falls_back_to_buffered(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.write
    refused: list[int] = []

    def write(fd: int, data: memoryview) -> int:
        import fcntl

        if fcntl.fcntl(fd, fcntl.F_GETFL) & getattr(os, "O_DIRECT", 0):
            refused.append(fd)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, data)

    monkeypatch.setattr(_direct.os, "write", write)
    blob, files = _layer(tmp_path)
    _extract(blob, tmp_path / "out")
    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data, name
    if hasattr(os, "O_DIRECT"):
        assert refused, "the test did not exercise the fallback"


def test_file_systems_without_direct_io_get_buffered_writes(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_direct, "set_direct", lambda fd: False)
    blob, files = _layer(tmp_path)
    _extract(blob, tmp_path / "out")
    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data, name


def test_a_write_error_on_the_writer_thread_is_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def write(fd: int, data: memoryview) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_direct.os, "write", write)
    blob, _ = _layer(tmp_path)
    with pytest.raises(OSError) as info:
        _extract(blob, tmp_path / "out")
    assert info.value.errno == errno.ENOSPC
    assert not _threads()


def test_a_body_shorter_than_declared_is_refused(tmp_path: Path) -> None:
    blob, _ = _layer(tmp_path)
    cut = blob[: len(blob) - 1024 - 4000]  # the last file's body ends early, no end blocks
    with pytest.raises(UnsafeArchiveError, match="declared size is a lie"):
        _extract(cut, tmp_path / "out")
    assert not _threads()


def test_a_changed_body_byte_is_a_digest_mismatch(tmp_path: Path) -> None:
    blob, files = _layer(tmp_path)
    digest = Digest.of_bytes(blob)
    changed = bytearray(blob)
    at = blob.index(files["m/f100000.bin"]) + 50_000
    changed[at] ^= 0xFF
    with pytest.raises(DigestMismatchError, match="does not match its digest"):
        _extract(bytes(changed), tmp_path / "out", digest=digest)


def test_unpack_of_a_tampered_large_file_writes_nothing(home: Path, tmp_path: Path) -> None:
    from ocikit._oci._model import Manifest
    from ocikit._ops._pack import pack
    from ocikit._ops._unpack import unpack
    from ocikit._store._layout import LocalStore

    ctx = tmp_path / "ctx"
    (ctx / "model").mkdir(parents=True)
    weights = _content(200_000, 7)
    (ctx / "model/w.bin").write_bytes(weights)
    (ctx / "Kitfile").write_text("manifestVersion: 1.0.0\npackage:\n  name: d\nmodel:\n  path: model\n")
    pack(ctx, tag="big:1", home=home, sbom=False)
    out = tmp_path / "out"
    unpack("big:1", out, home=home)
    assert (out / "model/w.bin").read_bytes() == weights

    repo = LocalStore.at_home(home).repository("localhost/big")
    manifest = Manifest.from_bytes(repo.fetch_manifest(repo.resolve("1")))
    blob = LocalStore.at_home(home).blob_path(manifest.layers[0].digest)
    os.chmod(blob, 0o644)
    data = bytearray(blob.read_bytes())
    data[data.index(weights) + 150_000] ^= 0x01
    blob.write_bytes(bytes(data))
    again = tmp_path / "again"
    with pytest.raises(DigestMismatchError):
        unpack("big:1", again, home=home)
    assert not again.exists()
