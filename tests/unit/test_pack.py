"""pack: KitOps' pack-unpack cases (kit's testing/testdata/pack-unpack cases, docs/compatibility.md §3.3), claims, symlinks, reproducibility, reuse."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ocikit._ops._pack import pack
from ocikit._ops._pack_plan import plan_pack
from ocikit._ops._unpack import unpack
from ocikit._store._layout import LocalStore
from ocikit.errors import KitfileError, PackError, UsageError

# name → (Kitfile, .kitignore, files that must come back, files that must not)
CASES: dict[str, tuple[str, str, list[str], list[str]]] = {
    "vcs-directories-left-out": ("manifestVersion: 1.0.0\ncode:\n  - path: .\n", "",
                                 ["train.py", ".gitignore", "lib/.gitkeep"],
                                 [".git/config", ".git/objects/ab/cdef", "vendor/x/.git/HEAD", ".hg/store"]),
    "basic-model": (
        "manifestVersion: 1.0.0\npackage:\n  name: basic\nmodel:\n  name: m\n  path: ./model\n"
        "code:\n  - path: ./code\ndatasets:\n  - name: d\n    path: ./datasets\n",
        "", ["model/model.bin", "code/train.py", "datasets/data.csv"], ["unreferenced.txt"]),
    "ignores-basic": (
        "manifestVersion: 1.0.0\nmodel:\n  path: .\n",
        "dir1\ndir2/sub\nroot.txt\ndir3/nested.txt\ndir4/*/x\n**/*.md\n**/ignored\nignored-?.txt\n"
        "!dir5/not-ignored.md\n",
        ["dir2/kept.txt", "dir3/kept.txt", "dir4/x", "dir5/not-ignored.md", "ignored-10.txt", "keep.bin"],
        ["dir1/a.txt", "dir2/sub/b.txt", "root.txt", "dir3/nested.txt", "dir4/a/x", "README.md",
         "dir5/other.md", "a/ignored/file", "ignored-1.txt"]),
    "ignores-intersecting": (
        "manifestVersion: 1.0.0\nmodel:\n  path: main-dir\ndatasets:\n  - path: main-dir/subdir\ncode:\n  - path: .\n",
        "main-dir/*.tmp\nmain-dir/subdir/*.log\n*.bak\n",
        ["main-dir/m.bin", "main-dir/subdir/d.csv", "other.py"],
        ["main-dir/x.tmp", "main-dir/subdir/y.log", "z.bak"]),
    "intersecting-paths": (
        "manifestVersion: 1.0.0\nmodel:\n  path: model\ndatasets:\n  - path: model/data\ncode:\n  - path: .\n",
        "", ["model/w.bin", "model/data/d.csv", "src/a.py", "model.txt", "model-v2/w.bin"], []),
    "parts-kitignore": (
        "manifestVersion: 1.0.0\nmodel:\n  path: model/\n  parts:\n    - path: model/part1/\n"
        "    - path: ./model/part2\n    - path: part3/\n",
        "**/*.md\n**/part2/ignored\n",
        ["model/w.bin", "model/part1/p1.bin", "model/part2/p2.bin", "part3/p3.bin"],
        ["model/README.md", "model/part2/ignored/x", "part3/notes.md"]),
    "parts": (
        "manifestVersion: 1.0.0\nmodel:\n  path: model\n  parts:\n    - path: model/part1\n"
        "    - path: ./model/part2\n    - path: toplevel.bin\n",
        "", ["model/w.bin", "model/part1", "model/part2", "toplevel.bin"], []),
    "path-formats": (
        "manifestVersion: 1.0.0\ndatasets:\n  - path: ./test1\n  - path: test2\n  - path: test3/\n"
        "  - path: test4/single.txt\n  - path: test5/subdir/subdir2/\n  - path: test6\n  - path: test7/test7\n",
        "", ["test1/a", "test2/b", "test3/c", "test4/single.txt", "test5/subdir/subdir2/f",
             "test6/x/y/z", "test7/test7/f"],
        ["test4/sibling.txt", "test5/subdir/other.txt", "test7/other", "unreferenced/f"]),
    "path-is-context-dir": (
        "manifestVersion: 1.0.0\nmodel:\n  path: .\n", "",
        ["a.bin", "dir/b.bin", "dir/deep/c.bin"], []),
    "docs-path-formats": (
        "manifestVersion: 1.0.0\ndocs:\n  - path: d1\n  - path: ./d2\n  - path: d3/\n  - path: ./d4/\n"
        "  - path: d5/file.md\n  - path: ./d6/file.md\n",
        "", ["d1/a.md", "d2/a.md", "d3/a.md", "d4/a.md", "d5/file.md", "d6/file.md"], ["d5/other.md"]),
}


def _make(ctx: Path, kitfile: str, kitignore: str, files: list[str], ignored: list[str]) -> None:
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Kitfile").write_text(kitfile)
    if kitignore:
        (ctx / ".kitignore").write_text(kitignore)
    for rel in files + ignored:
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        (ctx / rel).write_text(f"content of {rel}\n")


def test_a_kitfile_that_names_nothing_is_refused(home: Path, tmp_path: Path) -> None:
    """kit packs a Kitfile with no model, code, datasets or docs into an empty ModelKit; that is
    always a mistake in a release job, so it is refused, naming the Kitfile, and nothing is stored."""
    ctx = tmp_path / "ctx"
    _make(ctx, "manifestVersion: 1.0.0\npackage:\n  name: empty\n", "", [], ["stray.txt"])
    with pytest.raises(PackError, match=r"Kitfile names no model, code, datasets or docs") as e:
        pack(ctx, tag="acme/empty:1", home=home)
    assert "ocikit init" in (e.value.hint or "")
    assert LocalStore.at_home(home).entries() == []


def test_a_kitfile_path_that_is_a_directory_says_so(home: Path, tmp_path: Path) -> None:
    (tmp_path / "Kitfile").mkdir()
    with pytest.raises(KitfileError, match=r"Kitfile is a directory, not a Kitfile"):
        pack(tmp_path, tag="acme/x:1", home=home)


@pytest.mark.parametrize("case", sorted(CASES))
def test_kitops_pack_unpack_cases(case: str, home: Path, tmp_path: Path) -> None:
    kitfile, kitignore, files, ignored = CASES[case]
    ctx = tmp_path / "ctx"
    _make(ctx, kitfile, kitignore, files, ignored)
    result = pack(ctx, tag=f"test/{case}:test", home=home, sbom=False)
    packed = [r.path for layer in result.layers for r in layer.files]
    assert len(packed) == len(set(packed)), "a file landed in two layers"
    out = tmp_path / "out"
    unpack(f"test/{case}:test", out, home=home)
    for rel in files:
        assert (out / rel).is_file(), rel
        assert (out / rel).read_text() == f"content of {rel}\n"
    for rel in ignored:
        assert not (out / rel).exists(), rel
    assert not (out / ".kitignore").exists()
    assert (out / "Kitfile").is_file()


def test_path_boundary_claims(home: Path, tmp_path: Path) -> None:
    """kit's string-prefix quirk would drop model.txt and model-v2/ from the '.' layer."""
    ctx = tmp_path / "ctx"
    _make(ctx, CASES["intersecting-paths"][0], "", CASES["intersecting-paths"][2], [])
    result = pack(ctx, tag="t/claims:1", home=home, sbom=False)
    layers = {layer.path: sorted(r.path for r in layer.files) for layer in result.layers}
    assert layers["model"] == ["model/w.bin"]
    assert layers["model/data"] == ["model/data/d.csv"]
    assert layers["."] == ["model-v2/w.bin", "model.txt", "src/a.py"]


def test_layer_order_and_ancestors(home: Path, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    _make(ctx, "manifestVersion: 1.0.0\ndocs:\n  - path: d\ndatasets:\n  - path: a/b/c.csv\ncode:\n  - path: src\n"
               "model:\n  path: m\n  parts:\n    - path: p\n", "", ["d/x.md", "a/b/c.csv", "src/s.py", "m/w", "p/q"], [])
    plan = plan_pack(ctx, tag="t/order:1", home=home)
    assert [layer.kind for layer in plan.layers] == ["model", "modelpart", "code", "dataset", "docs"]
    dataset = plan.layers[3]
    assert [(e.name, e.is_dir) for e in dataset.entries] == [("a", True), ("a/b", True), ("a/b/c.csv", False)]


def test_walk_order_is_go_filepath_walk(home: Path, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    _make(ctx, "manifestVersion: 1.0.0\ncode:\n  - path: .\n", "", ["a/b", "a-c", "B"], [])
    plan = plan_pack(ctx, tag="t/walk:1", home=home)
    # pre-order per directory, entries sorted by bytes ('B' < 'a'); not a global string sort
    assert [e.name for e in plan.layers[0].entries] == ["B", "a", "a/b", "a-c"]


def _project(tmp_path: Path) -> Path:
    ctx = tmp_path / "proj"
    _make(ctx, "manifestVersion: 1.0.0\npackage:\n  name: p\nmodel:\n  path: model\ncode:\n  - path: src\n",
          "", ["model/w.bin", "model/sub/x.bin", "src/a.py"], [])
    return ctx


def test_same_inputs_same_digest_despite_mtime_and_modes(home: Path, tmp_path: Path) -> None:
    ctx = _project(tmp_path)
    first = pack(ctx, tag="t/repro:1", home=home, sbom=False)
    for p in ctx.rglob("*"):
        os.utime(p, (1234567, 1234567))
    os.chmod(ctx / "model/w.bin", 0o600)  # a different umask at checkout
    os.chmod(ctx / "model/sub", 0o700)
    second = pack(ctx, tag="t/repro:2", home=home, sbom=False)
    assert second.digest == first.digest
    assert set(second.reused) == {layer.descriptor.digest for layer in first.layers}


def test_repack_does_not_rewrite_blobs(home: Path, tmp_path: Path) -> None:
    ctx = _project(tmp_path)
    first = pack(ctx, tag="t/reuse:1", home=home, sbom=False)
    blob = home / "store/blobs/sha256" / first.layers[0].descriptor.digest.hex
    before = blob.stat()
    pack(ctx, tag="t/reuse:2", home=home, sbom=False)
    after = blob.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    assert not any((home / "store/ingest").iterdir())  # the temp file was dropped


def test_created_annotation_only_with_source_date_epoch(home: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _project(tmp_path)
    with_epoch = pack(ctx, tag="t/epoch:1", home=home, sbom=False)
    assert with_epoch.manifest is not None
    assert with_epoch.manifest.annotations["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    without = pack(ctx, tag="t/epoch:2", home=home, sbom=False)
    assert without.manifest is not None
    assert "org.opencontainers.image.created" not in without.manifest.annotations
    assert without.manifest.artifact_type == "application/vnd.kitops.modelkit.manifest.v1+json"
    assert without.manifest.annotations["ml.kitops.modelkit.cli-version"].startswith("ocikit-")


@pytest.mark.parametrize("value", ["yesterday", "99999999999999999999", "1e9"])
def test_bad_source_date_epoch_is_a_usage_error_and_stores_nothing(
    value: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _project(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        pack(ctx, tag="t/epoch:bad", home=home)
    from ocikit._store._layout import LocalStore

    assert LocalStore.at_home(home).entries() == []


def test_symlink_inside_context_is_followed(home: Path, tmp_path: Path) -> None:
    ctx = _project(tmp_path)
    (ctx / "model/alias.bin").symlink_to("w.bin")
    (ctx / "model/linked-dir").symlink_to("../src")
    result = pack(ctx, tag="t/links:1", home=home, sbom=False)
    names = {r.path: r for r in result.layers[0].files}
    assert names["model/alias.bin"].sha256 == names["model/w.bin"].sha256
    assert "model/linked-dir/a.py" in names
    out = tmp_path / "out"
    unpack("t/links:1", out, home=home)
    assert (out / "model/alias.bin").is_file() and not (out / "model/alias.bin").is_symlink()


def test_symlink_outside_context_is_refused(home: Path, tmp_path: Path) -> None:
    ctx = _project(tmp_path)
    (tmp_path / "secret.txt").write_text("secret")
    (ctx / "model/leak.bin").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(PackError, match=r"model/leak\.bin is a symbolic link") as e:
        pack(ctx, tag="t/leak:1", home=home, sbom=False)
    assert "outside the context" in str(e.value)
    assert not (home / "store").exists() or not any((home / "store/ingest").iterdir())


def test_symlink_loop_is_refused(home: Path, tmp_path: Path) -> None:
    ctx = _project(tmp_path)
    (ctx / "model/sub/loop").symlink_to("..")
    with pytest.raises(PackError, match="loops"):
        pack(ctx, tag="t/loop:1", home=home, sbom=False)


def test_ignored_symlink_outside_is_fine(home: Path, tmp_path: Path) -> None:
    ctx = _project(tmp_path)
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_bytes(b"outside-the-context-7f3a9c")
    (ctx / "model/leak.bin").symlink_to(secret)
    (ctx / ".kitignore").write_text("model/leak.bin\n")
    result = pack(ctx, tag="t/ignored-link:1", home=home, sbom=False)
    # ignored means not packed: no entry names it and no blob (uncompressed layers) holds its bytes
    names = [e.name for layer in result.plan.layers for e in layer.entries]
    assert not any(e.source == str(secret) for layer in result.plan.layers for e in layer.entries)
    assert names and not any("leak.bin" in n for n in names)
    blobs = list((home / "store" / "blobs" / "sha256").iterdir())
    assert blobs and not any(b"outside-the-context-7f3a9c" in b.read_bytes() for b in blobs)


def test_hard_links_become_regular_files(home: Path, tmp_path: Path) -> None:
    ctx = _project(tmp_path)
    os.link(ctx / "model/w.bin", ctx / "model/hard.bin")
    result = pack(ctx, tag="t/hard:1", home=home, sbom=False)
    files = {r.path: r for r in result.layers[0].files}
    assert files["model/hard.bin"].size == files["model/w.bin"].size > 0


def test_fifo_is_skipped_and_reported(home: Path, tmp_path: Path) -> None:
    ctx = _project(tmp_path)
    os.mkfifo(ctx / "model/pipe")
    plan = plan_pack(ctx, tag="t/fifo:1", home=home)
    assert plan.skipped == ("model/pipe",)


def test_plan_pack_writes_nothing(home: Path, tmp_path: Path) -> None:
    ctx = _project(tmp_path)
    (ctx / ".kitignore").write_text("model/sub\n")
    plan = plan_pack(ctx, tag="t/dry:1", home=home)
    assert not home.exists()
    assert plan.ignored == ("model/sub",)
    assert [e.name for e in plan.layers[0].entries] == ["model", "model/w.bin"]
    assert [r.display for r in plan.references] == ["t/dry:1"]
    # the plan pack writes is the one plan_pack makes
    assert pack(ctx, tag="t/dry:1", home=home, sbom=False).plan == plan


def test_the_option_types_name_the_values_checked_at_run_time() -> None:
    from typing import get_args

    from ocikit._layers._types import COMPRESSIONS
    from ocikit._modelkit._modelpack import FORMATS
    from ocikit._ops._types import Compression, Format

    assert get_args(Compression) == COMPRESSIONS
    assert get_args(Format) == FORMATS


def test_missing_path_and_escaping_path(home: Path, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    _make(ctx, "manifestVersion: 1.0.0\nmodel:\n  path: nope\n", "", [], [])
    with pytest.raises(KitfileError, match="does not exist"):
        pack(ctx, tag="t/missing:1", home=home)
    (ctx / "Kitfile").write_text("manifestVersion: 1.0.0\nmodel:\n  path: ../outside\n")
    with pytest.raises(KitfileError, match="outside"):
        pack(ctx, tag="t/escape:1", home=home)


def test_multi_tag_and_untagged(home: Path, tmp_path: Path) -> None:
    from ocikit._store._layout import LocalStore

    ctx = _project(tmp_path)
    result = pack(ctx, tag="t/multi:a,b", home=home, sbom=False)
    assert [r.tag for r in result.references] == ["a", "b"]
    untagged = pack(ctx, home=home, sbom=False)
    assert untagged.digest == result.digest
    entries = LocalStore.at_home(home).entries()
    assert {(e.repository, e.tag) for e in entries} >= {("localhost/t/multi", "a"), ("localhost/t/multi", "b"),
                                                         ("localhost/_", None)}
    with pytest.raises(UsageError):
        pack(ctx, home=home, sign_key=str(ctx / "Kitfile"))


def test_sbom_attached(home: Path, tmp_path: Path) -> None:
    from ocikit._store._layout import LocalStore
    from ocikit._trust._sbom import find_sbom

    ctx = _project(tmp_path)
    result = pack(ctx, tag="t/sbom:1", home=home)
    assert result.sbom_digest is not None and result.digest is not None
    sbom = find_sbom(LocalStore.at_home(home).repository("localhost/t/sbom"), result.digest)
    assert sbom is not None and b"CycloneDX" in sbom


def test_parent_modelkit_paths_are_excluded(home: Path, tmp_path: Path) -> None:
    base = tmp_path / "base"
    _make(base, "manifestVersion: 1.0.0\nmodel:\n  path: weights\n", "", ["weights/w.bin"], [])
    pack(base, tag="t/base:1", home=home, sbom=False)
    child = tmp_path / "child"
    _make(child, "manifestVersion: 1.0.0\nmodel:\n  path: t/base:1\ncode:\n  - path: .\n", "",
          ["weights/w.bin", "adapter.py"], [])
    result = pack(child, tag="t/child:1", home=home, sbom=False)
    assert [r.path for layer in result.layers for r in layer.files] == ["adapter.py"]
    assert result.plan.parents == ("t/base:1",)
    out = tmp_path / "out"
    unpack("t/child:1", out, home=home)
    assert (out / "weights/w.bin").read_text() == "content of weights/w.bin\n"
    assert (out / "adapter.py").is_file()


def test_parent_cycle_and_depth(home: Path, tmp_path: Path) -> None:
    for i in range(12):
        ctx = tmp_path / f"k{i}"
        parent = f"  path: t/k{i - 1}:1\n" if i else "  path: w\n"
        _make(ctx, f"manifestVersion: 1.0.0\nmodel:\n{parent}code:\n  - path: c{i}\n", "", [f"c{i}/f", "w/x"], [])
        if i <= 10:
            pack(ctx, tag=f"t/k{i}:1", home=home, sbom=False)  # up to 10 ancestors
    with pytest.raises(PackError, match="maximum number of model references"):
        pack(tmp_path / "k11", tag="t/k11:1", home=home, sbom=False)
    ctx = tmp_path / "self"
    _make(ctx, "manifestVersion: 1.0.0\nmodel:\n  path: t/self:1\n", "", [], [])
    with pytest.raises(PackError, match="cycle"):
        pack(ctx, tag="t/self:1", home=home, sbom=False)


@pytest.mark.parametrize("err,expected,hint", [
    (OSError(28, "No space left on device"), r"no space left on the device while writing to the local store",
     "disk space"),
    (OSError(30, "Read-only file system"), r"cannot write to the local store .*: Read-only file system", "--home"),
    (OSError(13, "Permission denied", "PROJECT/model/w.bin"), r"cannot read .*model/w\.bin: Permission denied",
     "can be read"),
])
def test_write_errors_are_one_clear_error(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          err: OSError, expected: str, hint: str) -> None:
    """A full disk, a read-only store or an unreadable file: an ocikit error, not a traceback, and
    no tag, manifest or blob left behind."""
    from ocikit._ops import _pack as _pack
    from ocikit._store._layout import LocalStore
    from ocikit.errors import OcikitError

    ctx = _project(tmp_path)
    if err.filename:
        err.filename = str(ctx / "model/w.bin")

    def fail(*args: object, **kwargs: object) -> object:
        raise err

    monkeypatch.setattr(_pack, "write_tar", fail)
    with pytest.raises(OcikitError, match=expected) as info:
        pack(ctx, tag="t/full:1", home=home, sbom=False)
    assert info.value.exit_code == 1 and hint in info.value.hint
    store = LocalStore.at_home(home)
    assert list(store.entries()) == []
    assert list((home / "store/blobs/sha256").iterdir()) == []
    assert list((home / "store/ingest").iterdir()) == []


def test_an_interrupted_pack_writes_no_tag(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C after the layers but before the end (here: while the SBOM is attached) leaves the
    ModelKit untagged, so 'Aborted.' and exit 130 never come with a tag that was written."""
    from ocikit._trust import _sbom as _sbom

    ctx = tmp_path / "ctx"
    _make(ctx, "manifestVersion: 1.0.0\nmodel:\n  path: m.bin\n", "", ["m.bin"], [])

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_sbom, "attach_sbom", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pack(ctx, tag="acme/x:1", home=home)
    assert [e.tag for e in LocalStore.at_home(home).entries()] == [None]


def test_a_ctrl_c_while_the_tags_are_written_does_not_abort_the_pack() -> None:
    import signal

    from ocikit._ops._pack import _sigint_held

    done = []
    with _sigint_held():
        signal.raise_signal(signal.SIGINT)
        done.append("tags written")
    assert done == ["tags written"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
