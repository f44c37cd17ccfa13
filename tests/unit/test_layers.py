"""The tar writer matches Go's archive/tar byte layout (docs/compatibility.md §3.2) and hashes in one pass."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from ocikit._layers._compress import open_decompressed
from ocikit._layers._extract import check_member_name
from ocikit._layers._format import normalized_mode, tar_header
from ocikit._layers._reader import TarReader
from ocikit._layers._types import Limits, layer_media_type, parse_layer_media_type
from ocikit._layers._writer import TarEntry, write_tar
from ocikit.errors import PackError, UnsafeArchiveError, UsageError


def _fields(block: bytes) -> dict[str, bytes]:
    return {"name": block[0:100], "mode": block[100:108], "uid": block[108:116], "gid": block[116:124],
            "size": block[124:136], "mtime": block[136:148], "chksum": block[148:156], "type": block[156:157],
            "magic": block[257:263], "version": block[263:265], "uname": block[265:297], "gname": block[297:329],
            "devmajor": block[329:337], "devminor": block[337:345], "prefix": block[345:500]}


def test_file_header_is_go_ustar() -> None:
    block = tar_header("model/w.bin", 0o644, 5, is_dir=False)
    assert len(block) == 512
    f = _fields(block)
    assert f["name"] == b"model/w.bin".ljust(100, b"\0")
    assert f["mode"] == b"0000644\0"
    assert f["uid"] == b"0001750\0"  # 1000
    assert f["gid"] == b"0000000\0"
    assert f["size"] == b"00000000005\0"
    assert f["mtime"] == b"00000000000\0"
    assert f["type"] == b"0"
    assert f["magic"] == b"ustar\0" and f["version"] == b"00"
    assert f["uname"] == bytes(32) and f["gname"] == bytes(32)
    assert f["devmajor"] == b"0000000\0" and f["devminor"] == b"0000000\0"
    # checksum: six octal digits, NUL, space; computed with the field as spaces
    unsummed = block[:148] + b" " * 8 + block[156:]
    assert f["chksum"] == b"%06o\0 " % sum(unsummed)


def test_same_header_bytes_as_tarfile_ustar_for_a_plain_file() -> None:
    """An independent USTAR writer agrees on every byte for a short name (dirs differ: '/' suffix)."""
    info = tarfile.TarInfo("code/train.py")
    info.size, info.mode, info.uid, info.gid, info.mtime = 1234, 0o755, 1000, 0, 0
    info.uname = info.gname = ""
    theirs = bytearray(info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape"))
    # Go's templateV7Plus formats devmajor/devminor as octal 0; tarfile leaves them empty for files
    theirs[329:345] = b"0000000\0" * 2
    theirs[148:156] = b" " * 8
    theirs[148:156] = b"%06o\0 " % sum(theirs)
    assert tar_header("code/train.py", 0o755, 1234, is_dir=False) == bytes(theirs)


def test_directory_has_no_trailing_slash() -> None:
    f = _fields(tar_header("model/sub", 0o755, 0, is_dir=True))
    assert f["name"].rstrip(b"\0") == b"model/sub" and f["type"] == b"5" and f["size"] == b"00000000000\0"


def test_long_name_uses_go_prefix_split_at_last_slash() -> None:
    name = "a" * 50 + "/" + "b" * 50 + "/" + "c" * 30 + "/file.bin"  # 140 bytes
    f = _fields(tar_header(name, 0o644, 1, is_dir=False))
    # Go splits at the LAST '/' within the first 156 bytes (Python's tarfile splits at the first fit)
    assert f["prefix"].rstrip(b"\0") == name.rsplit("/", 1)[0].encode()
    assert f["name"].rstrip(b"\0") == b"file.bin"


def test_unsplittable_name_gets_a_per_file_pax_header() -> None:
    name = "model/" + "x" * 120 + ".bin"
    out = tar_header(name, 0o644, 3, is_dir=False)
    pax, main = out[:512], out[-512:]
    assert pax[156:157] == b"x"
    assert pax[0:100].rstrip(b"\0") == ("model/PaxHeaders.0/" + "x" * 120 + ".bin").encode()[:100]
    assert pax[100:108] == b"0000000\0" and pax[108:116] == b"0000000\0"  # mode/uid 0 on the PAX entry
    assert pax[265:345] == bytes(80)  # writeRawFile leaves uname/gname/dev fields empty
    record = f" path={name}\n"
    length = len(record) + len(str(len(record) + 3))
    assert out[512 : 512 + length] == f"{length}{record}".encode()
    assert main[0:100] == name.encode()[:100]
    assert len(out) == 512 * 3


def test_non_ascii_name_uses_pax_and_ascii_fallback() -> None:
    out = tar_header("docs/r\u00e9sum\u00e9.md", 0o644, 1, is_dir=False)
    assert out[156:157] == b"x"
    assert b"path=docs/r\xc3\xa9sum\xc3\xa9.md\n" in out[512:1024]
    assert out[-512:][0:100].rstrip(b"\0") == b"docs/rsum.md"  # Go's toASCII drops non-ASCII runes


def test_size_of_8_gib_needs_pax_size() -> None:
    out = tar_header("model/big.bin", 0o644, 8 << 30, is_dir=False)
    assert out[156:157] == b"x"
    assert b" size=8589934592\n" in out[512:1024]
    assert out[-512:][124:136] == b"00000000000\0"  # too large for octal: Go writes 0
    below = tar_header("model/big.bin", 0o644, (8 << 30) - 1, is_dir=False)
    assert len(below) == 512


def _write(entries: list[TarEntry], compression: str = "none") -> tuple[bytes, object]:
    buf = io.BytesIO()
    result = write_tar(entries, buf, compression=compression)
    return buf.getvalue(), result


@pytest.fixture
def files(tmp_path: Path) -> list[TarEntry]:
    (tmp_path / "m").mkdir()
    (tmp_path / "m/a.bin").write_bytes(b"hello")
    (tmp_path / "m/big.bin").write_bytes(bytes(range(256)) * 9000)  # > 2 buffers
    return [TarEntry("m", None), TarEntry("m/a.bin", tmp_path / "m/a.bin", 5, 0o644),
            TarEntry("m/big.bin", tmp_path / "m/big.bin", 256 * 9000, 0o644)]


def test_write_tar_digests_and_end_marker(files: list[TarEntry]) -> None:
    data, result = _write(files)
    assert data.endswith(bytes(1024)) and len(data) % 512 == 0
    assert len(data) % 10240 != 0 or len(data) == 10240  # no record padding
    assert result.digest == result.diff_id
    assert str(result.digest) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert result.size == len(data)
    assert [(f.path, f.size, f.sha256) for f in result.files] == [
        ("m/a.bin", 5, hashlib.sha256(b"hello").hexdigest()),
        ("m/big.bin", 256 * 9000, hashlib.sha256(bytes(range(256)) * 9000).hexdigest()),
    ]
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = [(m.name, m.uid, m.gid, m.mtime, m.uname) for m in tf]
    assert names == [("m", 1000, 0, 0, ""), ("m/a.bin", 1000, 0, 0, ""), ("m/big.bin", 1000, 0, 0, "")]


@pytest.mark.parametrize("compression,codec", [("gzip", "gzip"), ("gzip-fastest", "gzip"), ("zstd", "zstd")])
def test_compressed_layers_round_trip(files: list[TarEntry], compression: str, codec: str) -> None:
    plain, plain_result = _write(files)
    data, result = _write(files, compression)
    assert result.diff_id == plain_result.diff_id  # diffId = the uncompressed tar
    assert str(result.digest) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert result.digest != result.diff_id
    reader = open_decompressed(io.BytesIO(data), codec, len(data), Limits(), "t")
    out = b"".join(iter(lambda: reader.read(1 << 16), b""))
    assert out == plain
    if codec == "gzip":
        assert gzip.decompress(data) == plain
        assert data[4:8] == bytes(4)  # gzip mtime 0
        assert not data[3] & 0x08  # no file name


def test_gzip_is_reproducible(files: list[TarEntry]) -> None:
    assert _write(files, "gzip")[0] == _write(files, "gzip")[0]


def test_file_that_grows_while_packing_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"0123456789")
    with pytest.raises(PackError, match="grew"):
        _write([TarEntry("f", tmp_path / "f", 4, 0o644)])
    with pytest.raises(PackError, match="shrank"):
        _write([TarEntry("f", tmp_path / "f", 40, 0o644)])


def test_modes_are_normalised() -> None:
    assert normalized_mode(0o100664, is_dir=False) == 0o644
    assert normalized_mode(0o100600, is_dir=False) == 0o644
    assert normalized_mode(0o100744, is_dir=False) == 0o755
    assert normalized_mode(0o40700, is_dir=True) == 0o755


def test_media_types() -> None:
    assert layer_media_type("dataset") == "application/vnd.kitops.modelkit.dataset.v1.tar"
    assert layer_media_type("model", "gzip-fastest") == "application/vnd.kitops.modelkit.model.v1.tar+gzip"
    assert layer_media_type("code", "zstd").endswith(".tar+zstd")
    assert parse_layer_media_type("application/vnd.kitops.modelkit.modelpart.v1.tar+gzip") == ("modelpart", "gzip")
    with pytest.raises(UsageError):
        layer_media_type("model", "brotli")
    for bad in ("application/vnd.kitops.modelkit.model.v1.raw", "application/vnd.kitops.modelkit.evil.v1.tar",
                "application/vnd.kitops.modelkit.model.v1.tar+lz4", "application/octet-stream"):
        with pytest.raises(UnsafeArchiveError):
            parse_layer_media_type(bad)


@pytest.mark.parametrize("name", ["weights..bin", "a/..b/c", "...", "model/./w.bin", "./model/w"])
def test_member_names_that_are_fine(name: str) -> None:
    assert ".." not in check_member_name(name, "t").split("/")


def test_reader_reads_what_the_writer_wrote(files: list[TarEntry]) -> None:
    data, _ = _write(files)
    reader = TarReader(io.BytesIO(data), "t", Limits())
    seen = []
    for member in reader:
        body = b"".join(iter(lambda: reader.read_body(1000), b""))
        seen.append((member.name, member.is_dir, len(body)))
    assert seen == [("m", True, 0), ("m/a.bin", False, 5), ("m/big.bin", False, 256 * 9000)]


def test_reader_refuses_unread_bodies(files: list[TarEntry]) -> None:
    data, _ = _write(files)
    reader = TarReader(io.BytesIO(data), "t", Limits())
    with pytest.raises(UnsafeArchiveError, match="not read to its end"):
        for _ in reader:
            pass
