"""Hostile layers in the local store: every one is refused with exit 3, writes nothing outside the
target and leaves no partial target behind (docs/reliability.md §H1-H2)."""

from __future__ import annotations

import io
import os
import tarfile
import zlib
from pathlib import Path

import pytest

from compat.kitmake import (
    Layer,
    dir_info,
    end,
    file_info,
    raw_file,
    raw_header,
    store_modelkit,
    tar_of,
)
from conftest import Cli  # type: ignore[import-not-found]


@pytest.fixture
def cli(home: Path) -> Cli:  # through main(): the real error boundary and exit codes
    return Cli(home)


def _snapshot(root: Path, home: Path) -> set[str]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath).is_relative_to(home):
            continue
        for n in dirnames + filenames:
            out.add(os.path.relpath(os.path.join(dirpath, n), root))
    return out


def _refused(cli, home: Path, tmp_path: Path, layers: list[Layer], match: str, *, repo: str = "evil/kit") -> None:
    store_modelkit(home, repo, "v1", layers)
    before = _snapshot(tmp_path, home)
    target = tmp_path / "target"
    result = cli("unpack", f"{repo}:v1", "-d", str(target), ok=False)
    assert result.exit_code == 3, result.output
    assert match in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not target.exists(), "a partial target was left behind"
    assert _snapshot(tmp_path, home) == before, "something was written outside the target"


def _model(tar: bytes, **kw) -> list[Layer]:
    return [Layer("model", "model", tar, **kw)]


@pytest.mark.parametrize("name", [
    "../evil", "a/../../evil", "./../evil", "model/../../evil", "..", "model/..", "model/sub/../..",
    "/etc/evil", "//etc/evil", "..\\..\\evil", "\\evil", "model\\..\\..\\evil", "C:evil", "C:\\evil",
    "c:/evil", "\\\\host\\share\\evil", "", ".", "./",
])
def test_bad_names_are_refused(cli, home: Path, tmp_path: Path, name: str) -> None:
    tar = raw_header("model", typeflag=b"5", mode=0o755) + raw_file(name, b"pwned") + end()
    _refused(cli, home, tmp_path, _model(tar), "entry")


def test_pax_record_renaming_outside(cli, home: Path, tmp_path: Path) -> None:
    info, data = file_info("model/ok.bin", b"pwned")
    info.pax_headers = {"path": "../../evil"}
    tar = tar_of([dir_info("model"), (info, data)], fmt=tarfile.PAX_FORMAT)
    _refused(cli, home, tmp_path, _model(tar), "'..' component")


def test_global_pax_header(cli, home: Path, tmp_path: Path) -> None:
    tar = tar_of([dir_info("model"), file_info("model/w.bin", b"w")], fmt=tarfile.PAX_FORMAT,
                 pax_headers={"path": "evil"})
    _refused(cli, home, tmp_path, _model(tar), "global PAX header")


@pytest.mark.parametrize("kind,typeflag", [
    ("symbolic link", b"2"), ("hard link", b"1"), ("character device", b"3"), ("block device", b"4"),
    ("FIFO", b"6"),
])
def test_links_devices_fifos(cli, home: Path, tmp_path: Path, kind: str, typeflag: bytes) -> None:
    tar = raw_header("model", typeflag=b"5", mode=0o755) + raw_header(
        "model/x", typeflag=typeflag, linkname="../../../etc/passwd") + end()
    _refused(cli, home, tmp_path, _model(tar), kind)


def test_symlink_then_write_through_it(cli, home: Path, tmp_path: Path) -> None:
    link = tarfile.TarInfo("model/d")
    link.type = tarfile.SYMTYPE
    link.linkname = str(tmp_path / "outside")
    tar = tar_of([dir_info("model"), (link, None), file_info("model/d/passwd", b"pwned")])
    (tmp_path / "outside").mkdir()
    _refused(cli, home, tmp_path, _model(tar), "symbolic link")


def test_chain_across_layers(cli, home: Path, tmp_path: Path) -> None:
    """Layer 1 has a file 'x'; layer 2 writes 'x/authorized_keys' (GNU tar CVE-2025-45582 shape)."""
    first = raw_file("x", b"file") + end()
    second = raw_header("x", typeflag=b"5", mode=0o755) + raw_file("x/authorized_keys", b"key") + end()
    _refused(cli, home, tmp_path, [Layer("code", "x", first), Layer("dataset", "x/authorized_keys", second)],
             "already a file")


def test_link_in_one_layer_file_in_next(cli, home: Path, tmp_path: Path) -> None:
    link = tarfile.TarInfo("x")
    link.type = tarfile.SYMTYPE
    link.linkname = "../../../../home/victim/.ssh"
    first = tar_of([(link, None)])
    second = tar_of([dir_info("x"), file_info("x/authorized_keys", b"key")])
    _refused(cli, home, tmp_path, [Layer("code", "x", first), Layer("dataset", "x/a", second)], "symbolic link")


@pytest.mark.parametrize("mode", [0o4755, 0o2755, 0o6777])
def test_setuid_setgid(cli, home: Path, tmp_path: Path, mode: int) -> None:
    tar = raw_header("model", typeflag=b"5", mode=0o755) + raw_file("model/run", b"#!/bin/sh\n", mode=mode) + end()
    _refused(cli, home, tmp_path, _model(tar), "setuid/setgid")


def test_size_lie_short_body(cli, home: Path, tmp_path: Path) -> None:
    tar = raw_header("model", typeflag=b"5", mode=0o755) + raw_header("model/w.bin", size=100000) + b"x" * 512
    _refused(cli, home, tmp_path, _model(tar), "declared size is a lie")


def test_truncated_without_end_marker(cli, home: Path, tmp_path: Path) -> None:
    tar = raw_header("model", typeflag=b"5", mode=0o755) + raw_file("model/w.bin", b"w")
    _refused(cli, home, tmp_path, _model(tar), "end-of-archive")


def test_base256_size_refused(cli, home: Path, tmp_path: Path) -> None:
    huge = b"\x80" + b"\xff" * 11
    tar = raw_header("model", typeflag=b"5", mode=0o755) + raw_header("model/w", size_field=huge) + end()
    _refused(cli, home, tmp_path, _model(tar), "base-256")


def test_bad_checksum(cli, home: Path, tmp_path: Path) -> None:
    block = bytearray(raw_file("model/w.bin", b"w"))
    block[0] = ord("n")  # changes the name after the checksum was computed
    _refused(cli, home, tmp_path, _model(bytes(block) + end()), "checksum")


@pytest.mark.parametrize("second", ["model/w.bin", "model/w.bin/"])
def test_duplicates(cli, home: Path, tmp_path: Path, second: str) -> None:
    tar = raw_header("model", typeflag=b"5", mode=0o755) + raw_file("model/w.bin", b"one")
    tar += (raw_header(second, typeflag=b"5", mode=0o755) if second.endswith("/") else raw_file(second, b"two"))
    _refused(cli, home, tmp_path, _model(tar + end()), "w.bin")


def test_duplicate_file_across_layers(cli, home: Path, tmp_path: Path) -> None:
    one = raw_header("m", typeflag=b"5", mode=0o755) + raw_file("m/w.bin", b"one") + end()
    two = raw_header("m", typeflag=b"5", mode=0o755) + raw_file("m/w.bin", b"two") + end()
    _refused(cli, home, tmp_path, [Layer("model", "m", one), Layer("modelpart", "m/w.bin", two)], "duplicate")


def test_zstd_bomb(cli, home: Path, tmp_path: Path) -> None:
    import zstandard

    inner = raw_header("model", typeflag=b"5", mode=0o755) + raw_header("model/zeros", size=80 << 20)
    cctx = zstandard.ZstdCompressor(level=3)
    with io.BytesIO() as out:
        with cctx.stream_writer(out, closefd=False) as w:
            w.write(inner)
            zeros = bytes(1 << 20)
            for _ in range(80):
                w.write(zeros)
            w.write(end())
        blob = out.getvalue()
    assert len(blob) < 64 * 1024
    layer = Layer("model", "model", inner, compression="zstd", blob=blob)
    _refused(cli, home, tmp_path, [layer], "decompression bomb")


def test_gzip_bomb_over_ratio(cli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIKIT_UNPACK_MAX_RATIO", "2")
    inner = raw_header("model", typeflag=b"5", mode=0o755) + raw_file("model/zeros", bytes(70 << 20)) + end()
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    blob = comp.compress(inner) + comp.flush()
    _refused(cli, home, tmp_path, [Layer("model", "model", inner, compression="gzip", blob=blob)],
             "decompression bomb")


def test_many_tiny_entries(cli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIKIT_UNPACK_MAX_ENTRIES", "50")
    tar = raw_header("model", typeflag=b"5", mode=0o755)
    tar += b"".join(raw_file(f"model/f{i}", b"") for i in range(200)) + end()
    _refused(cli, home, tmp_path, _model(tar), "more than 50 tar entries")


def test_corrupt_blob_digest(cli, home: Path, tmp_path: Path) -> None:
    good = raw_header("model", typeflag=b"5", mode=0o755) + raw_file("model/w.bin", b"good") + end()
    evil = raw_header("model", typeflag=b"5", mode=0o755) + raw_file("model/w.bin", b"evil") + end()
    layer = Layer("model", "model", good)
    digest = store_modelkit(home, "evil/swap", "v1", [layer])
    del digest
    # swap the stored bytes behind the digest: content no longer matches
    from compat.kitmake import sha

    blob_path = home / "store" / "blobs" / "sha256" / sha(good).split(":")[1]
    blob_path.write_bytes(evil)
    target = tmp_path / "target"
    result = cli("unpack", "evil/swap:v1", "-d", str(target), ok=False)
    assert result.exit_code == 3
    assert "does not match its digest" in result.stderr
    assert not target.exists()


def test_preexisting_symlink_in_target(cli, home: Path, tmp_path: Path) -> None:
    tar = raw_header("model", typeflag=b"5", mode=0o755) + raw_file("model/w.bin", b"w") + end()
    store_modelkit(home, "good/kit", "v1", _model(tar))
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (target / "model").symlink_to(outside)
    for flags in ([], ["--overwrite"], ["--ignore-existing"]):
        result = cli("unpack", "good/kit:v1", "-d", str(target), *flags, ok=False)
        assert result.exit_code == 3, (flags, result.output)
        assert "symbolic link" in result.stderr
        assert list(outside.iterdir()) == []
        assert sorted(p.name for p in target.iterdir()) == ["model"]  # staging removed


def test_preexisting_file_symlink_in_target(cli, home: Path, tmp_path: Path) -> None:
    tar = raw_header("model", typeflag=b"5", mode=0o755) + raw_file("model/w.bin", b"w") + end()
    store_modelkit(home, "good/kit2", "v1", _model(tar))
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    target = tmp_path / "target"
    (target / "model").mkdir(parents=True)
    (target / "model" / "w.bin").symlink_to(victim)
    result = cli("unpack", "good/kit2:v1", "-d", str(target), "--overwrite", ok=False)
    assert result.exit_code == 3
    assert victim.read_text() == "keep"


def test_dotdot_inside_a_name_is_fine(cli, home: Path, tmp_path: Path) -> None:
    tar = raw_header("model", typeflag=b"5", mode=0o755) + raw_file("model/weights..bin", b"ok")
    tar += raw_file("model/..hidden", b"ok2") + raw_file("model/a..", b"ok3") + end()
    store_modelkit(home, "good/dots", "v1", _model(tar))
    cli("unpack", "good/dots:v1", "-d", str(tmp_path / "t"))
    assert (tmp_path / "t/model/weights..bin").read_bytes() == b"ok"
    assert (tmp_path / "t/model/..hidden").read_bytes() == b"ok2"
    assert (tmp_path / "t/model/a..").read_bytes() == b"ok3"


def test_world_writable_modes_are_not_kept(cli, home: Path, tmp_path: Path) -> None:
    tar = raw_header("model", typeflag=b"5", mode=0o777) + raw_file("model/w.bin", b"w", mode=0o777)
    tar += raw_file("model/r.txt", b"r", mode=0o666) + end()
    store_modelkit(home, "good/modes", "v1", _model(tar))
    cli("unpack", "good/modes:v1", "-d", str(tmp_path / "t"))
    assert (tmp_path / "t/model/w.bin").stat().st_mode & 0o7777 in (0o755, 0o755 & ~os.umask(os.umask(0)))
    assert (tmp_path / "t/model/r.txt").stat().st_mode & 0o022 == 0
