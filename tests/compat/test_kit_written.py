"""ocikit reads ModelKits laid out exactly as kit writes them (docs/compatibility.md §1.2, §2.1, §3.2, §3.4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compat.kitmake import Layer, dir_info, file_info, raw_file, raw_header, store_modelkit, tar_of
from ocikit._ops._unpack import unpack
from ocikit.errors import DigestMismatchError


def _go_tar(members: list[tuple[str, bytes | None]]) -> bytes:
    """Tar entries as Go writes them for kit: USTAR, mtime 0, uid 1000, two zero blocks only."""
    out = b""
    for name, data in members:
        if data is None:
            out += raw_header(name, typeflag=b"5", mode=0o755)
        else:
            out += raw_file(name, data)
    return out + bytes(1024)


def test_gzip_layers_from_kit_17(home: Path, tmp_path: Path) -> None:
    model = _go_tar([("model", None), ("model/w.bin", b"weights")])
    data = _go_tar([("data", None), ("data/train.csv", b"a,b\n1,2\n")])
    store_modelkit(home, "kit/gz", "v1", [
        Layer("model", "./model", model, compression="gzip", name="m"),
        Layer("dataset", "data", data, compression="gzip", name="train"),
    ], package={"name": "gz"})
    result = unpack("kit/gz:v1", tmp_path / "out", home=home)
    assert (tmp_path / "out/model/w.bin").read_bytes() == b"weights"
    assert (tmp_path / "out/data/train.csv").read_bytes() == b"a,b\n1,2\n"
    assert result.kitfile_written
    kitfile = (tmp_path / "out/Kitfile").read_text()
    assert "path: ./model" in kitfile and "name: train" in kitfile


def test_null_layers_and_no_media_type(home: Path, tmp_path: Path) -> None:
    store_modelkit(home, "kit/empty", "v1", [], package={"name": "empty"}, null_layers=True)
    result = unpack("kit/empty:v1", tmp_path / "out", home=home)
    assert result.layers == ()
    assert (tmp_path / "out/Kitfile").read_text().startswith("manifestVersion: 1.0.0")


def test_long_names_with_ustar_prefix_and_pax(home: Path, tmp_path: Path) -> None:
    deep = "model/" + "/".join(["d" * 40] * 4) + "/weights.bin"  # > 100 bytes: prefix/name split
    long_base = "model/" + "x" * 150 + ".bin"  # basename > 100: needs a PAX path record
    unicode_name = "model/gewichte-\u00fc\u00df.bin"  # non-ASCII: PAX path record
    members = [dir_info("model")]
    for parent in ["/".join(deep.split("/")[:i]) for i in range(2, len(deep.split("/")))]:
        members.append(dir_info(parent))
    members += [file_info(deep, b"deep"), file_info(long_base, b"long"), file_info(unicode_name, b"uni")]
    tar = tar_of(members, fmt=2)  # PAX format: tarfile writes per-file 'x' headers where needed
    store_modelkit(home, "kit/long", "v1", [Layer("model", "model", tar)])
    unpack("kit/long:v1", tmp_path / "out", home=home)
    assert (tmp_path / "out" / deep).read_bytes() == b"deep"
    assert (tmp_path / "out" / long_base).read_bytes() == b"long"
    assert (tmp_path / "out" / unicode_name).read_bytes() == b"uni"


def test_go_prefix_split_header_is_read(home: Path, tmp_path: Path) -> None:
    prefix = ("p" * 60 + "/" + "q" * 60).encode()
    tar = raw_header(b"model", typeflag=b"5", mode=0o755) + raw_header(
        b"f.bin", size=3, prefix=b"model/" + prefix) + b"abc" + bytes(509) + bytes(1024)
    store_modelkit(home, "kit/prefix", "v1", [Layer("model", "model", tar)])
    unpack("kit/prefix:v1", tmp_path / "out", home=home)
    assert (tmp_path / "out/model" / prefix.decode() / "f.bin").read_bytes() == b"abc"


def test_tarfile_record_padding_is_accepted(home: Path, tmp_path: Path) -> None:
    tar = tar_of([dir_info("docs"), file_info("docs/README.md", b"# hi\n")])
    assert len(tar) % 10240 == 0  # Python pads to a full record; Go does not
    store_modelkit(home, "kit/pad", "v1", [Layer("docs", "docs", tar)])
    unpack("kit/pad:v1", tmp_path / "out", home=home)
    assert (tmp_path / "out/docs/README.md").read_text() == "# hi\n"


def test_legacy_layer_without_config_digest(home: Path, tmp_path: Path) -> None:
    """kit <= 0.4: names relative to the parent of the Kitfile path (docs/compatibility.md §3.4)."""
    tar = _go_tar([("x", None), ("x/w.bin", b"old")])
    store_modelkit(home, "kit/legacy", "v1", [Layer("model", "models/x", tar, legacy=True)])
    unpack("kit/legacy:v1", tmp_path / "out", home=home)
    assert (tmp_path / "out/models/x/w.bin").read_bytes() == b"old"


def test_config_digest_must_match_manifest(home: Path, tmp_path: Path) -> None:
    tar = _go_tar([("model", None), ("model/w.bin", b"w")])
    store_modelkit(home, "kit/mismatch", "v1",
                   [Layer("model", "model", tar, config_digest="sha256:" + "0" * 64)])
    with pytest.raises(DigestMismatchError, match="do not match"):
        unpack("kit/mismatch:v1", tmp_path / "out", home=home)
    assert not (tmp_path / "out").exists()


def test_current_kit_manifest_with_media_type(home: Path, tmp_path: Path) -> None:
    tar = _go_tar([("code", None), ("code/a.py", b"print(1)\n")])
    store_modelkit(home, "kit/new", "v1", [Layer("code", "code", tar)], kit_v17=False)
    unpack("kit/new:v1", tmp_path / "out", home=home, filters=["code"])
    assert (tmp_path / "out/code/a.py").exists()
    assert not (tmp_path / "out/Kitfile").exists()
