"""The OCI image view of a ModelKit (``ocikit image``) in the local store: same blobs, real diffIds,
strict tar checks before anything is written, a pinned config."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
import zstandard

from fakes.kits import put_kit  # type: ignore[import-not-found]
from ocikit._oci._model import MANIFEST, Manifest
from ocikit._ops._image import image_view
from ocikit._ops._image_config import IMAGE_CONFIG, Platform
from ocikit._ops._pack import pack
from ocikit._store._layout import LocalStore
from ocikit._store._referrers import list_referrers
from ocikit._store._storage import read_blob
from ocikit.errors import UnsafeArchiveError, UsageError

GOLDEN = Path(__file__).parent.parent / "goldens" / "image-config-basic.json"


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "model").mkdir(parents=True)
    (project / "model" / "weights.bin").write_bytes(bytes(range(256)) * 300)
    (project / "data.csv").write_text("text,label\ngood,1\n")
    (project / "Kitfile").write_text("manifestVersion: 1.0.0\npackage:\n  name: img\nmodel:\n  path: model\n"
                                     "datasets:\n  - name: data\n    path: data.csv\n")
    return project


def _tar(entries: list[tuple[str, bytes | None, bytes]]) -> bytes:
    """A tar of (name, body or None for a symlink, link target) with fixed metadata."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, body, target in entries:
            info = tarfile.TarInfo(name)
            info.mtime, info.mode, info.uname, info.gname = 0, 0o644, "", ""
            if body is None:
                info.type, info.linkname = tarfile.SYMTYPE, target.decode()
                tf.addfile(info)
            else:
                info.size = len(body)
                tf.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def _uncompressed(blob: bytes, media_type: str) -> bytes:
    if media_type.endswith("+gzip"):
        return gzip.decompress(blob)
    if media_type.endswith("+zstd"):
        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read()
    return blob


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_the_image_view_points_at_the_modelkit_blobs_with_their_diff_ids(
        home: Path, tmp_path: Path, compression: str) -> None:
    kit = pack(_project(tmp_path), tag="acme/img:1.0", home=home, compression=compression)  # type: ignore[arg-type]
    view = image_view("acme/img:1.0", "acme/img:1.0-image", home=home, platform="linux/arm64")

    repo = LocalStore.at_home(home).repository("localhost/acme/img")
    kit_manifest = Manifest.from_bytes(repo.fetch_manifest(repo.resolve("1.0")))
    desc = repo.resolve("1.0-image")
    assert desc.digest == view.digest and desc.media_type == MANIFEST
    image = Manifest.from_bytes(repo.fetch_manifest(desc))
    suffix = {"none": "", "gzip": "+gzip", "zstd": "+zstd"}[compression]
    assert [(d.digest, d.size) for d in image.layers] == [(d.digest, d.size) for d in kit_manifest.layers]
    assert {d.media_type for d in image.layers} == {"application/vnd.oci.image.layer.v1.tar" + suffix}
    assert image.config.media_type == IMAGE_CONFIG
    assert image.subject is not None and image.subject.digest == kit.digest
    assert image.annotations == {"dev.ocikit.modelkit.digest": str(kit.digest)}

    config = json.loads(read_blob(repo, image.config))
    assert (config["os"], config["architecture"]) == ("linux", "arm64")
    assert config["config"]["Labels"] == {"dev.ocikit.modelkit.digest": str(kit.digest)}
    expected = ["sha256:" + hashlib.sha256(_uncompressed(read_blob(repo, d), d.media_type)).hexdigest()
                for d in kit_manifest.layers]
    assert config["rootfs"] == {"type": "layers", "diff_ids": expected}
    assert [str(d) for d in view.diff_ids] == expected
    assert view.bytes_uploaded == 0

    # linked both ways: the image is a referrer of the ModelKit
    assert view.digest in [r.digest for r in list_referrers(repo, kit.digest)]


def test_an_image_view_in_another_repository_shares_the_blobs(home: Path, tmp_path: Path) -> None:
    pack(_project(tmp_path), tag="acme/img:1.0", home=home)
    view = image_view("acme/img:1.0", "acme/img-image:1.0", home=home)
    other = LocalStore.at_home(home).repository("localhost/acme/img-image")
    assert other.resolve("1.0").digest == view.digest
    assert view.layers_uploaded == 0 and view.bytes_uploaded == 0


def test_the_config_bytes_of_a_fixed_modelkit_are_pinned(home: Path, update_goldens: bool) -> None:
    layer = _tar([("model/weights.bin", b"\x00\x01weights", b""), ("README.md", b"# fixed\n", b"")])
    put_kit(LocalStore.at_home(home), "localhost/acme/fixed", "1", "fixed", [layer])
    view = image_view("acme/fixed:1", "acme/fixed:1-image", home=home)
    repo = LocalStore.at_home(home).repository("localhost/acme/fixed")
    image = Manifest.from_bytes(repo.fetch_manifest(repo.resolve("1-image")))
    data = read_blob(repo, image.config)
    if update_goldens:
        GOLDEN.write_bytes(data)
    assert data == GOLDEN.read_bytes()
    assert view.config_digest == image.config.digest


@pytest.mark.parametrize("entries", [
    [("model/ok.bin", b"ok", b""), ("model/link", None, b"/etc/passwd")],
    [("../escape.bin", b"x", b"")],
    [("/abs.bin", b"x", b"")],
], ids=["symlink", "dotdot", "absolute"])
def test_no_image_view_of_a_modelkit_whose_layer_fails_the_strict_tar_checks(
        home: Path, entries: list[tuple[str, bytes | None, bytes]]) -> None:
    store = LocalStore.at_home(home)
    put_kit(store, "localhost/acme/evil", "1", "evil", [_tar(entries)])
    with pytest.raises(UnsafeArchiveError):
        image_view("acme/evil:1", "acme/evil:1-image", home=home)
    assert store.repository("localhost/acme/evil").tags() == ["1"]


def test_a_file_in_two_layers_is_refused(home: Path) -> None:
    put_kit(LocalStore.at_home(home), "localhost/acme/dup", "1", "dup",
            [_tar([("a.bin", b"one", b"")]), _tar([("a.bin", b"two", b"")])])
    with pytest.raises(UnsafeArchiveError, match=r"a\.bin"):
        image_view("acme/dup:1", "acme/dup:1-image", home=home)


def test_raw_layers_are_refused_not_converted_silently(home: Path, tmp_path: Path) -> None:
    project = tmp_path / "rawproj"
    project.mkdir()
    (project / "w.bin").write_bytes(b"weights")
    (project / "Kitfile").write_text("manifestVersion: 1.0.0\npackage:\n  name: raw\nmodel:\n  path: w.bin\n")
    pack(project, tag="acme/raw:1", home=home, layer_format="raw")
    with pytest.raises(UsageError, match="raw file"):
        image_view("acme/raw:1", "acme/raw:1-image", home=home)


@pytest.mark.parametrize("text", ["linux", "windows/amd64", "linux/amd65", "linux//v8"])
def test_a_bad_platform_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        Platform.parse(text)


def test_the_image_view_is_written_next_to_its_modelkit(home: Path, tmp_path: Path) -> None:
    pack(_project(tmp_path), tag="acme/img:1.0", home=home)
    with pytest.raises(UsageError, match="same store"):
        image_view("acme/img:1.0", "registry.example/acme/img:1.0-image", home=home)


def test_the_cli_writes_the_view_and_exits_3_on_a_hostile_layer(cli: Any, home: Path, tmp_path: Path) -> None:
    pack(_project(tmp_path), tag="acme/img:1.0", home=home)
    run = cli("image", "acme/img:1.0", "-t", "acme/img:1.0-image", "--json")
    out = json.loads(run.stdout)
    repo = LocalStore.at_home(home).repository("localhost/acme/img")
    assert out["digest"] == str(repo.resolve("1.0-image").digest)
    assert out["modelkit"] == str(repo.resolve("1.0").digest) and out["bytesUploaded"] == 0

    put_kit(LocalStore.at_home(home), "localhost/acme/evil", "1", "evil", [_tar([("../x", b"x", b"")])])
    bad = cli("image", "acme/evil:1", "-t", "acme/evil:1-image", ok=False)
    assert bad.exit_code == 3 and "'..'" in bad.stderr
    usage = cli("image", "acme/img:1.0", "-t", "acme/img:x", "--platform", "windows/amd64", ok=False)
    assert usage.exit_code == 2


def test_a_tampered_layer_blob_makes_no_image_view(home: Path) -> None:
    from ocikit.errors import DigestMismatchError

    store = LocalStore.at_home(home)
    kit = put_kit(store, "localhost/acme/tamper", "1", "tamper", [_tar([("w.bin", b"weights", b"")])])
    path = store.blob_path(kit.layers[0].digest)
    path.chmod(0o644)
    path.write_bytes(_tar([("w.bin", b"WEIGHTS", b"")]))  # same size, other bytes
    with pytest.raises(DigestMismatchError):
        image_view("acme/tamper:1", "acme/tamper:1-image", home=home)
    assert store.repository("localhost/acme/tamper").tags() == ["1"]
