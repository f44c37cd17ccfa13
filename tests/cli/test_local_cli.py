"""Local commands through the real entry point: output formats, remove semantics, concurrency."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Cli  # type: ignore[import-not-found]


@pytest.fixture
def ocikit(home: Path) -> Cli:
    return Cli(home)


def _project(root: Path, name: str = "demo", author: str = "ML team", content: str = "w") -> Path:
    (root / "model").mkdir(parents=True, exist_ok=True)
    (root / "model/w.bin").write_text(content)
    (root / "Kitfile").write_text(
        f"manifestVersion: 1.0.0\npackage:\n  name: {name}\n  authors: [{author}]\nmodel:\n  path: model\n")
    return root


def test_pack_list_inspect_info(ocikit: Cli, tmp_path: Path) -> None:
    ctx = _project(tmp_path / "p")
    run = ocikit("pack", str(ctx), "-t", "acme/demo:1.0.0,latest", "--no-sbom")
    digest = run.stdout.strip().removeprefix("Model saved: ")
    assert digest.startswith("sha256:") and len(digest) == 71
    lines = ocikit("list").stdout.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "MAINTAINER", "NAME", "SIZE", "DIGEST"]
    rows = [line.split("   ") for line in lines[1:]]
    assert [[c.strip() for c in r if c.strip()] for r in rows] == [
        ["acme/demo", "1.0.0", "ML team", "demo", "2.5 KiB", digest],
        ["acme/demo", "latest", "ML team", "demo", "2.5 KiB", digest],
    ]
    listed = json.loads(ocikit("list", "--json").stdout)
    assert listed == [{"repo": "acme/demo", "digest": digest, "tags": ["1.0.0", "latest"], "modelName": "demo",
                       "size": "2.5 KiB", "sizeBytes": 2560, "author": "ML team"}]
    inspected = json.loads(ocikit("inspect", "acme/demo:1.0.0").stdout)
    assert inspected["digest"] == digest and inspected["cliVersion"].startswith("ocikit-")
    assert inspected["kitfile"]["model"]["path"] == "model"
    assert inspected["manifest"]["artifactType"] == "application/vnd.kitops.modelkit.manifest.v1+json"
    assert ocikit("info", "acme/demo:latest").stdout.startswith("manifestVersion: 1.0.0\npackage:\n  name: demo")


def test_list_empty_and_untagged(ocikit: Cli, tmp_path: Path) -> None:
    assert json.loads(ocikit("list", "--json").stdout) == []
    ocikit("pack", str(_project(tmp_path / "a")), "-t", "x/y:1", "--no-sbom")
    ocikit("pack", str(_project(tmp_path / "b", content="v2")), "-t", "x/y:1", "--no-sbom")
    rows = ocikit("list").stdout.splitlines()[1:]
    assert [r.split()[1] for r in rows].count("<none>") == 1  # the re-pointed tag leaves the old one untagged


def test_pack_dry_run_and_json(ocikit: Cli, tmp_path: Path, home: Path) -> None:
    ctx = _project(tmp_path / "p")
    out = ocikit("pack", str(ctx), "-t", "d/r:1", "--dry-run").stdout
    assert "model layer model: 1 files" in out and "model/w.bin" in out
    assert not (home / "store").exists()
    result = json.loads(ocikit("pack", str(ctx), "-t", "d/r:1", "--json", "--no-sbom").stdout)
    assert result["layers"][0]["mediaType"] == "application/vnd.kitops.modelkit.model.v1.tar"


def test_pack_requires_a_tag_and_reports_errors(ocikit: Cli, tmp_path: Path) -> None:
    ctx = _project(tmp_path / "p")
    assert ocikit("pack", str(ctx), ok=False).exit_code == 2
    (ctx / "model/leak").symlink_to("/etc/hostname")
    run = ocikit("pack", str(ctx), "-t", "a/b:1", ok=False)
    assert run.exit_code == 1
    assert run.stderr.startswith("error: model/leak is a symbolic link to /etc/hostname")
    assert "hint:" in run.stderr and "Traceback" not in run.stderr


def test_unpack_cli(ocikit: Cli, tmp_path: Path) -> None:
    ocikit("pack", str(_project(tmp_path / "p")), "-t", "u/k:1", "--no-sbom")
    target = tmp_path / "out"
    result = json.loads(ocikit("unpack", "u/k:1", "-d", str(target), "--filter", "model", "--json").stdout)
    assert result["written"] == ["model/w.bin"]
    run = ocikit("unpack", "u/k:1", "-d", str(target), "--filter", "model", ok=False)
    assert run.exit_code == 1 and "already exists" in run.stderr
    assert ocikit("unpack", "u/k:1", "-d", str(target), "-i").exit_code == 0
    assert ocikit("unpack", "u/k:1", "-d", str(target), "--filter", "bogus", ok=False).exit_code == 2
    assert ocikit("unpack", "nope/x:1", "-d", str(target), ok=False).exit_code == 6
    typo = tmp_path / "typo"
    run = ocikit("unpack", "u/k:1", "-d", str(typo), "--filter", "datasets:typo", ok=False)
    assert run.exit_code == 6
    assert "filter 'datasets:typo' matches nothing in u/k:1" in run.stderr and "model (model)" in run.stderr
    assert not typo.exists()
    help_text = " ".join(ocikit("unpack", "--help").stdout.split())
    assert "apply to every listed type" in help_text
    assert "--filter model --filter datasets:validation" in help_text


def test_tag_and_remove_semantics(ocikit: Cli, tmp_path: Path) -> None:
    digest = ocikit("pack", str(_project(tmp_path / "p")), "-t", "r/k:a,b,c", "--no-sbom").stdout.split()[-1]
    assert ocikit("tag", "r/k:a", "other/k:z").stdout.startswith("Tagged other/k:z@")
    # by tag with several tags: only untag
    assert ocikit("remove", "r/k:a").stdout.strip() == "Untagged r/k:a"
    # comma-separated tags one after another: b is untagged, then c is the last tag → removed
    out = ocikit("remove", "r/k:b,c").stdout.splitlines()
    assert out == ["Untagged r/k:b", f"Removed r/k:c (digest {digest})"]
    assert not any(line.startswith("r/k ") for line in ocikit("list").stdout.splitlines())
    # --force with a tag removes the manifest and all its tags
    ocikit("tag", "other/k:z", "other/k:y")
    assert ocikit("remove", "other/k:z", "--force").stdout.strip() == f"Removed other/k:z (digest {digest})"
    assert ocikit("list", "--json").stdout.strip() == "[]"
    # by digest
    ocikit("pack", str(_project(tmp_path / "p")), "-t", "d/k:1,2", "--no-sbom")
    assert ocikit("remove", f"d/k@{digest}").stdout.startswith("Removed")
    assert ocikit("remove", "d/k:1", ok=False).exit_code == 6


def test_remove_all(ocikit: Cli, tmp_path: Path) -> None:
    ocikit("pack", str(_project(tmp_path / "a")), "-t", "x/y:1")
    ocikit("pack", str(_project(tmp_path / "b", content="v2")), "-t", "x/y:1")  # first one now untagged
    removed = ocikit("remove", "--all").stdout.splitlines()
    assert len(removed) == 1 and removed[0].startswith("Removed x/y@sha256:")
    assert len(json.loads(ocikit("list", "--json").stdout)) == 1
    assert ocikit("remove", "--all", "--force").stdout.count("Removed") == 1
    assert json.loads(ocikit("list", "--json").stdout) == []
    assert ocikit("remove", "--all", "x/y:1", ok=False).exit_code == 2
    assert ocikit("remove", ok=False).exit_code == 2


def test_concurrent_packs_lose_no_tag(home: Path, tmp_path: Path) -> None:
    projects = [_project(tmp_path / f"p{i}", content=f"weights {i}") for i in range(4)]
    env = {**os.environ, "OCIKIT_HOME": str(home)}
    procs = [subprocess.Popen([sys.executable, "-m", "ocikit", "pack", str(p), "-t", f"c/k:{i}", "--no-sbom"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i, p in enumerate(projects)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    from ocikit._ops._catalog import list_modelkits

    kits = list_modelkits(home=home)
    assert sorted(t for k in kits for t in k.tags) == ["0", "1", "2", "3"]
