"""unpack: filters, existing files, the Kitfile, staging cleanup, signature check first."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from fakes.modelkit import write_project
from ocikit._layers._types import Limits
from ocikit._ops._pack import pack
from ocikit._ops._unpack import unpack
from ocikit.errors import (
    NotAModelKitError,
    NotFoundError,
    SignatureError,
    TargetExistsError,
    UnsafeArchiveError,
    UsageError,
)

KITFILE = """manifestVersion: 1.0.0
package:
  name: demo
model:
  name: m
  path: model
  parts:
    - name: tok
      path: tokenizer
datasets:
  - name: train
    path: data/train
  - name: validation
    path: data/val
code:
  - path: src
docs:
  - path: README.md
"""

FILES = ["model/w.bin", "tokenizer/t.json", "data/train/a.csv", "data/val/b.csv", "src/s.py", "README.md"]


@pytest.fixture
def kit(home: Path, tmp_path: Path) -> str:
    ctx = write_project(tmp_path / "ctx", {rel: rel.encode() for rel in FILES}, KITFILE)
    pack(ctx, tag="demo:1", home=home, sbom=False)
    return "demo:1"


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("filters,expected", [
    (["model"], ["model/w.bin", "tokenizer/t.json"]),
    (["datasets:validation"], ["data/val/b.csv"]),
    (["datasets:data/train"], ["data/train/a.csv"]),
    (["model,datasets:validation"], ["data/val/b.csv"]),  # ids apply to both types; model is 'm'
    (["model:m", "datasets:validation"], ["data/val/b.csv", "model/w.bin"]),
    (["model:tok"], ["tokenizer/t.json"]),
    (["code", "docs"], ["README.md", "src/s.py"]),
    (["kitfile"], ["Kitfile"]),
    (["kitfile", "model:m"], ["Kitfile", "model/w.bin"]),
])
def test_filters(kit: str, home: Path, tmp_path: Path, filters: list[str], expected: list[str]) -> None:
    out = tmp_path / "out"
    unpack(kit, out, filters=filters, home=home)
    assert _files(out) == expected


def test_everything_and_kitfile_yaml(kit: str, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = unpack(kit, out, home=home)
    assert _files(out) == sorted([*FILES, "Kitfile"])
    from ocikit._kitfile._model import Kitfile

    assert Kitfile.loads((out / "Kitfile").read_text()) == Kitfile.loads(KITFILE)  # same Kitfile back
    assert result.kitfile_written and len(result.layers) == 6
    assert not list(out.glob(".ocikit-unpack-*"))


def test_existing_files(kit: str, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "model").mkdir(parents=True)
    (out / "model/w.bin").write_text("mine")
    with pytest.raises(TargetExistsError, match=r"^model/w\.bin already exists in "):
        unpack(kit, out, home=home)
    assert _files(out) == ["model/w.bin"]  # nothing else written
    (out / "src").mkdir()
    (out / "src/s.py").write_text("mine too")
    with pytest.raises(TargetExistsError, match=r"^2 paths already exist in .*out: model/w\.bin, src/s\.py$"):
        unpack(kit, out, home=home)
    (out / "src/s.py").unlink()
    (out / "src").rmdir()
    result = unpack(kit, out, home=home, ignore_existing=True)
    assert (out / "model/w.bin").read_text() == "mine" and "model/w.bin" in result.kept
    assert (out / "src/s.py").read_text() == "src/s.py"
    unpack(kit, out, home=home, overwrite=True)
    assert (out / "model/w.bin").read_text() == "model/w.bin"
    with pytest.raises(UsageError):
        unpack(kit, out, home=home, overwrite=True, ignore_existing=True)


def test_identical_kitfile_is_kept_different_one_refused(kit: str, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    unpack(kit, out, home=home, filters=["kitfile"])
    result = unpack(kit, out, home=home, filters=["kitfile"])
    assert result.kept == ("Kitfile",)
    (out / "Kitfile").write_text("manifestVersion: 1.0.0\n")
    with pytest.raises(TargetExistsError, match="does not match"):
        unpack(kit, out, home=home, filters=["kitfile"])


def test_file_where_a_directory_goes(kit: str, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "model").write_text("a file")
    with pytest.raises(TargetExistsError, match="not a directory"):
        unpack(kit, out, home=home, overwrite=True)


def test_failed_unpack_leaves_no_staging_and_no_new_target(kit: str, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "new" / "target"
    with pytest.raises(UnsafeArchiveError, match="more than 2 tar entries"):
        unpack(kit, out, home=home, limits=Limits(max_entries=2))
    assert not out.exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(UnsafeArchiveError):
        unpack(kit, existing, home=home, limits=Limits(max_entries=2))
    assert list(existing.iterdir()) == []


def test_verify_key_is_checked_before_writing(kit: str, home: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from ocikit._trust._signing import keygen

    monkeypatch.setenv("OCIKIT_PASSWORD", "")
    keygen(tmp_path / "k")
    out = tmp_path / "out"
    monkeypatch.setenv("OCIKIT_VERIFY_KEY", str(tmp_path / "k.pub"))
    with pytest.raises(SignatureError):
        unpack(kit, out, home=home)
    assert not out.exists()


def test_signed_pack_then_verified_unpack(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ocikit._trust._signing import keygen

    monkeypatch.setenv("OCIKIT_PASSWORD", "")
    keygen(tmp_path / "k")
    ctx = tmp_path / "ctx"
    (ctx / "model").mkdir(parents=True)
    (ctx / "model/w").write_text("w")
    (ctx / "Kitfile").write_text("manifestVersion: 1.0.0\nmodel:\n  path: model\n")
    pack(ctx, tag="signed/kit:1", home=home, sign_key=str(tmp_path / "k.key"), sbom=False)
    result = unpack("signed/kit:1", tmp_path / "out", home=home, verify_key=str(tmp_path / "k.pub"))
    assert result.verified_signature and (tmp_path / "out/model/w").read_text() == "w"


def test_not_a_modelkit(home: Path, tmp_path: Path) -> None:
    from ocikit._oci._model import EMPTY_CONFIG, MANIFEST, Descriptor, Manifest
    from ocikit._store._layout import LocalStore

    store = LocalStore.at_home(home)
    config = store.put_bytes(b"{}")
    manifest = Manifest(Descriptor(EMPTY_CONFIG, config, 2), ())
    store.repository("localhost/other/art").push_manifest(manifest.to_bytes(), MANIFEST, tag="1")
    with pytest.raises(NotAModelKitError):
        unpack("other/art:1", tmp_path / "out", home=home)


def test_tampered_layer_is_reported_as_digest_mismatch(kit: str, home: Path, tmp_path: Path) -> None:
    """A changed byte in a tar header breaks the tar before the digest is checked at its end; the
    error must still say what happened (tampered content), not "hostile archive"."""
    import os

    from ocikit._store._layout import LocalStore
    from ocikit.errors import DigestMismatchError

    store = LocalStore.at_home(home)
    manifest_desc = store.repository("localhost/demo").resolve("1")
    from ocikit._oci._model import Manifest

    manifest = Manifest.from_bytes(store.repository("localhost/demo").fetch_manifest(manifest_desc))
    blob = store.blob_path(manifest.layers[0].digest)
    os.chmod(blob, 0o644)
    data = bytearray(blob.read_bytes())
    data[0] ^= 0x01  # first byte of the first tar header: its checksum no longer matches
    blob.write_bytes(bytes(data))
    out = tmp_path / "out"
    with pytest.raises(DigestMismatchError, match="does not match its digest") as info:
        unpack(kit, out, home=home)
    assert isinstance(info.value.__cause__, UnsafeArchiveError)
    assert not out.exists()


def test_read_only_target_is_one_clear_error(kit: str, home: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import tempfile

    from ocikit.errors import OcikitError

    def refuse(*args: object, **kwargs: object) -> str:
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "out" / ".ocikit-unpack-x"))

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    out = tmp_path / "out"
    with pytest.raises(OcikitError, match=r"cannot write into .*out: Read-only file system") as info:
        unpack(kit, out, home=home)
    assert info.value.exit_code == 1 and "-d" in info.value.hint
    assert not out.exists()  # the target it created is gone again


def test_full_disk_is_one_clear_error_and_leaves_nothing(kit: str, home: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from ocikit._ops import _unpack_extract as _unpack_extract
    from ocikit.errors import OcikitError

    real = _unpack_extract.extract_layer
    calls = []

    def fill_up(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_unpack_extract, "extract_layer", fill_up)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OcikitError, match=r"cannot unpack into .*No space left on device") as info:
        unpack(kit, out, home=home)
    assert "disk space" in info.value.hint
    assert list(out.iterdir()) == []  # no staging directory, no partial files


@pytest.mark.parametrize("filters", [["datasets:typo"], ["model", "datasets:typo"], ["docs:nope"], ["model:train"]])
def test_filter_matching_nothing_is_not_found_and_writes_nothing(kit: str, home: Path, tmp_path: Path,
                                                                 filters: list[str]) -> None:
    out = tmp_path / "out"
    with pytest.raises(NotFoundError) as e:
        unpack(kit, out, filters=filters, home=home)
    msg = str(e.value)
    assert repr(filters[-1]) in msg
    for listed in ("model 'm' (model)", "model 'tok' (tokenizer)", "datasets 'train' (data/train)",
                   "datasets 'validation' (data/val)", "code (src)", "docs (README.md)"):
        assert listed in msg
    assert e.value.exit_code == 6
    assert not out.exists()


def test_kitfile_filter_alone_still_fine(kit: str, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    unpack(kit, out, filters=["kitfile"], home=home)
    assert _files(out) == ["Kitfile"]


def test_filter_matching_only_parent_layers_counts(home: Path, tmp_path: Path) -> None:
    base = tmp_path / "base"
    (base / "weights").mkdir(parents=True)
    (base / "weights/w.bin").write_text("w")
    (base / "Kitfile").write_text("manifestVersion: 1.0.0\nmodel:\n  name: basem\n  path: weights\n")
    pack(base, tag="t/base:1", home=home, sbom=False)
    child = tmp_path / "child"
    child.mkdir()
    (child / "adapter.py").write_text("a")
    (child / "Kitfile").write_text("manifestVersion: 1.0.0\nmodel:\n  path: t/base:1\ncode:\n  - path: adapter.py\n")
    pack(child, tag="t/child:1", home=home, sbom=False)
    out = tmp_path / "out"
    unpack("t/child:1", out, filters=["model"], home=home)
    assert _files(out) == ["weights/w.bin"]
    out2 = tmp_path / "out2"
    unpack("t/child:1", out2, filters=["model:basem"], home=home)
    assert _files(out2) == ["weights/w.bin"]
    with pytest.raises(NotFoundError, match=r"model from parent ModelKit t/base:1.*code \(adapter.py\)"):
        unpack("t/child:1", tmp_path / "out3", filters=["model:typo"], home=home)


def _fake_staging(target: Path, suffix: str) -> Path:
    d = target / f".ocikit-unpack-{suffix}"
    (d / "tree" / "model").mkdir(parents=True)
    (d / "tree" / "model" / "partial.bin").write_text("half")
    (d / "lock").write_text("")
    return d


def test_stale_staging_of_killed_unpack_is_removed_live_one_kept(kit: str, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stale = _fake_staging(out, "dead1")
    live = _fake_staging(out, "live1")
    fd = os.open(live / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a concurrent unpack holding its lock
        unpack(kit, out, filters=["model"], home=home)
        assert not stale.exists()
        assert live.is_dir() and (live / "tree/model/partial.bin").is_file()
        assert sorted(p.name for p in out.iterdir()) == [live.name, "model", "tokenizer"]
    finally:
        os.close(fd)
    unpack(kit, out, filters=["docs"], home=home)  # the lock is free now: removed too
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "model", "tokenizer"]


def test_a_compressed_layer_whose_content_is_not_its_diff_id_is_refused(home: Path, tmp_path: Path) -> None:
    """The blob matches its digest, but the config's diffId (the uncompressed tar) does not."""
    import json

    from ocikit._io._digest import Digest
    from ocikit._oci._model import MANIFEST, Descriptor, Manifest
    from ocikit._store._layout import LocalStore
    from ocikit.errors import DigestMismatchError

    ctx = tmp_path / "ctx"
    (ctx / "model").mkdir(parents=True)
    (ctx / "model" / "w.bin").write_bytes(b"weights" * 100)
    (ctx / "Kitfile").write_text("manifestVersion: 1.0.0\nmodel:\n  path: model\n")
    result = pack(ctx, tag="t/diffid:1", home=home, sbom=False, compression="gzip")
    store = LocalStore.at_home(home)
    config = json.loads(store.blob_path(result.manifest.config.digest).read_bytes())
    wrong = Digest.of_bytes(b"something else")
    config["model"]["diffId"] = str(wrong)
    data = json.dumps(config).encode()
    config_desc = Descriptor(result.manifest.config.media_type, store.put_bytes(data), len(data))
    manifest = Manifest(config_desc, result.manifest.layers, result.manifest.annotations,
                        result.manifest.artifact_type, None, MANIFEST)
    store.repository("localhost/t/diffid").push_manifest(manifest.to_bytes(), MANIFEST, tag="bad")
    out = tmp_path / "out"
    with pytest.raises(DigestMismatchError, match=f"uncompressed content does not match its digest {wrong}"):
        unpack("t/diffid:bad", out, home=home)
    assert not out.exists()
