"""Hostile raw layers (ModelPack, kit 1.17, Docker): the path annotation gets the checks a tar entry's
name gets, and the bytes are verified before anything reaches the target (docs/reliability.md §H1)."""

from __future__ import annotations

import gzip
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from compat.kitmake import go_json, sha
from compat.peermake import FILEPATH, METADATA, Artifact, docker_model_v01, kit_117_raw, modctl_02, store
from conftest import Cli
from ocikit._ops._unpack import unpack
from ocikit.errors import DigestMismatchError, OcikitError, UnsafeArchiveError, VerificationError


def _with_layers(art: Artifact, change: Any) -> Artifact:
    manifest = art.manifest_json()
    change(manifest["layers"])
    return Artifact(go_json(manifest), dict(art.blobs), dict(art.files))


def _set_path(index: int, path: str) -> Any:
    def change(layers: list[dict[str, Any]]) -> None:
        layers[index]["annotations"][FILEPATH] = path
    return change


def _unpack_refused(home: Path, tmp_path: Path, art: Artifact, error: type[Exception], match: str | None) -> Path:
    store(home, art, "hostile/raw", "v1")
    target = tmp_path / "deep" / "out"
    with pytest.raises(error, match=match):
        unpack("localhost/hostile/raw:v1", target, home=home)
    assert not target.exists()  # nothing written, not even the target directory (no staging left)
    assert not (tmp_path / "deep").exists() or list((tmp_path / "deep").iterdir()) == []
    return target


@pytest.mark.parametrize("build", [modctl_02, lambda: modctl_02(legacy=False), docker_model_v01],
                         ids=["modctl-cnai", "modctl-cncf", "docker"])
@pytest.mark.parametrize(("path", "match"), [
    ("../x", "leaves the target"),
    ("a/../../x", "leaves the target"),
    ("/etc/passwd", "absolute"),
    ("C:/x", "absolute"),
    ("a\\..\\x", "backslash"),
    ("a\x00b", "control"),
    ("", "empty"),
])
def test_raw_path_that_leaves_the_target_is_refused(build: Any, path: str, match: str, home: Path,
                                                    tmp_path: Path) -> None:
    art = _with_layers(build(), _set_path(1, path))
    _unpack_refused(home, tmp_path, art, (UnsafeArchiveError, VerificationError), match)  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists() and not (tmp_path / "deep" / "x").exists()


def test_kit_raw_layer_path_is_checked_too(home: Path, tmp_path: Path) -> None:
    art = _with_layers(kit_117_raw(), _set_path(0, "../../escape.gguf"))
    _unpack_refused(home, tmp_path, art, UnsafeArchiveError, "leaves the target")
    assert not (tmp_path / "escape.gguf").exists()


def test_two_raw_layers_with_one_path_are_refused(home: Path, tmp_path: Path) -> None:
    art = _with_layers(modctl_02(), _set_path(3, "model.safetensors"))  # the README claims the weights' path
    _unpack_refused(home, tmp_path, art, UnsafeArchiveError, "refusing duplicate files")


def test_raw_path_below_another_raw_file_is_refused(home: Path, tmp_path: Path) -> None:
    art = _with_layers(modctl_02(), _set_path(3, "model.safetensors/README.md"))
    _unpack_refused(home, tmp_path, art, UnsafeArchiveError, "below a file")


def test_tampered_raw_blob_is_refused_before_it_lands(home: Path, tmp_path: Path) -> None:
    art = modctl_02()
    store(home, art, "hostile/raw", "v1")
    weights = art.manifest_json()["layers"][1]["digest"]
    blob = home / "store" / "blobs" / "sha256" / weights.split(":")[1]
    if not blob.exists():
        blob = next(p for p in home.rglob(weights.split(":")[1]))
    os.chmod(blob, 0o644)
    blob.write_bytes(b"X" * 3000)  # same size, other bytes
    target = tmp_path / "out"
    with pytest.raises(DigestMismatchError):
        unpack("localhost/hostile/raw:v1", target, home=home)
    assert not target.exists()


def test_existing_symlink_where_a_raw_file_goes_is_refused(home: Path, tmp_path: Path) -> None:
    art = modctl_02()
    store(home, art, "hostile/raw", "v1")
    target = tmp_path / "out"
    (target / "scripts").parent.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (target / "scripts").symlink_to(outside)
    with pytest.raises(OcikitError):
        unpack("localhost/hostile/raw:v1", target, home=home, overwrite=True)
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in target.iterdir()) == ["scripts"]  # nothing else landed, no staging left


def test_compressed_raw_layer_with_lying_size_is_refused(home: Path, tmp_path: Path) -> None:
    art = kit_117_raw()

    def lie(layers: list[dict[str, Any]]) -> None:
        meta = json.loads(layers[1]["annotations"][METADATA])
        meta["size"] -= 5
        layers[1]["annotations"][METADATA] = go_json(meta).decode()

    _unpack_refused(home, tmp_path, _with_layers(art, lie), UnsafeArchiveError, "more bytes than its declared")


def test_compressed_raw_layer_whose_content_differs_from_its_diff_id(home: Path, tmp_path: Path) -> None:
    art = kit_117_raw()
    other = gzip.compress(b"evil tokenizer\n", mtime=0)
    old = art.manifest_json()["layers"][1]["digest"]

    def swap(layers: list[dict[str, Any]]) -> None:
        layers[1]["digest"], layers[1]["size"] = sha(other), len(other)
        meta = json.loads(layers[1]["annotations"][METADATA])
        meta["size"] = len(b"evil tokenizer\n")
        layers[1]["annotations"][METADATA] = go_json(meta).decode()

    bad = _with_layers(art, swap)
    bad.blobs[sha(other)] = other
    config = json.loads(bad.blobs[bad.manifest_json()["config"]["digest"]])
    config["model"]["parts"][0]["digest"] = sha(other)  # the config agrees with the manifest, not the diffId
    assert config["model"]["parts"][0]["diffId"] != sha(b"evil tokenizer\n")
    cfg = go_json(config)
    bad.blobs[sha(cfg)] = cfg
    manifest = bad.manifest_json()
    manifest["config"]["digest"], manifest["config"]["size"] = sha(cfg), len(cfg)
    bad = Artifact(go_json(manifest), bad.blobs, bad.files)
    assert old != sha(other)
    _unpack_refused(home, tmp_path, bad, DigestMismatchError, "uncompressed")


def _future(layers: list[dict[str, Any]]) -> None:
    layers.append({"mediaType": "application/vnd.kitops.modelkit.skill.v1.raw", "digest": sha(b"# skill\n"),
                   "size": 8, "annotations": {FILEPATH: "skills/SKILL.md"}})


def test_unknown_future_layer_type_is_unpacked_by_its_path_with_a_warning(
        home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    art = _with_layers(kit_117_raw(), _future)
    art.blobs[sha(b"# skill\n")] = b"# skill\n"
    store(home, art, "future/kit", "v1")
    with caplog.at_level(logging.WARNING):
        unpack("localhost/future/kit:v1", tmp_path / "out", home=home)
    assert (tmp_path / "out/skills/SKILL.md").read_bytes() == b"# skill\n"
    assert "does not know the layer type" in caplog.text


def test_unknown_future_layer_needs_a_safe_path(home: Path, tmp_path: Path) -> None:
    def future_escape(layers: list[dict[str, Any]]) -> None:
        _future(layers)
        layers[-1]["annotations"][FILEPATH] = "../SKILL.md"

    art = _with_layers(kit_117_raw(), future_escape)
    art.blobs[sha(b"# skill\n")] = b"# skill\n"
    _unpack_refused(home, tmp_path, art, UnsafeArchiveError, "leaves the target")


def test_cli_shows_the_unknown_layer_warning(cli: Cli, home: Path, tmp_path: Path) -> None:
    art = _with_layers(kit_117_raw(), _future)
    art.blobs[sha(b"# skill\n")] = b"# skill\n"
    store(home, art, "future/kit", "v1")
    run = cli("unpack", "localhost/future/kit:v1", "-d", str(tmp_path / "out"))
    assert "does not know the layer type" in run.stderr


@pytest.mark.parametrize(("build", "media_type"), [
    (lambda: modctl_02(legacy=False), "application/vnd.cncf.model.skill.v1.raw"),
    (modctl_02, "application/vnd.cnai.model.skill.v1.raw"),
    (docker_model_v01, "application/vnd.docker.ai.future.weights"),
], ids=["modelpack", "modctl-cnai", "docker"])
def test_unknown_layer_types_of_other_writers_are_placed_by_path(
        build: Any, media_type: str, home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def add(layers: list[dict[str, Any]]) -> None:
        layers.append({"mediaType": media_type, "digest": sha(b"new\n"), "size": 4,
                       "annotations": {FILEPATH: "extra/new.bin"}})

    art = _with_layers(build(), add)
    art.blobs[sha(b"new\n")] = b"new\n"
    store(home, art, "future/other", "v1")
    with caplog.at_level(logging.WARNING):
        unpack("localhost/future/other:v1", tmp_path / "out", home=home)
    assert (tmp_path / "out/extra/new.bin").read_bytes() == b"new\n"
    assert media_type in caplog.text
