"""A reference that names a registry means the registry (issue: nothing silently deploys the wrong
model), and ``remove --remote`` of one tag keeps the others. Real registry, the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _registry_fixtures import TestRegistry, unique_repo
from conftest import Cli  # type: ignore[import-not-found]
from ocikit._registry._client import Registry
from ocikit._store._referrers import signature_tag

pytestmark = pytest.mark.registry

KITFILE = """manifestVersion: 1.0.0
package:
  name: sentiment
model:
  name: sentiment
  path: model.bin
"""


def project(tmp_path: Path, version: str) -> Path:
    d = tmp_path / f"project-{version}"
    d.mkdir()
    (d / "Kitfile").write_text(KITFILE)
    (d / "model.bin").write_bytes(f"weights of {version}\n".encode() * 1000)
    return d


def pack_push(cli: Cli, tmp_path: Path, registry: TestRegistry, version: str, *dests: str) -> str:
    """Pack ``version`` locally, push it to each of ``dests``; the manifest digest."""
    cli("pack", str(project(tmp_path, version)), "-t", f"acme/s:{version}")
    for dest in dests:
        cli("push", f"acme/s:{version}", dest, "--plain-http")
    out = cli("inspect", f"acme/s:{version}", "--json").stdout
    digest: str = json.loads(out)["digest"]
    return digest


def remote_tags(registry: TestRegistry, repo: str, *, helpers: bool = False) -> list[str]:
    """The repository's tags; without ``helpers``, not the referrer tags ``sha256-<hex>[.sig]``."""
    tags = Registry(registry.host, registry.options).repository(repo).tags()
    return sorted(t for t in tags if helpers or not t.startswith("sha256-"))


def test_remove_remote_of_a_shared_tag_keeps_the_other_tag(cli: Cli, registry: TestRegistry, tmp_path: Path) -> None:
    repo = unique_repo("rm")
    r = f"{registry.host}/{repo}"
    pack_push(cli, tmp_path, registry, "1", f"{r}:1", f"{r}:latest")
    run = cli("remove", "--remote", f"{r}:latest", "--plain-http", ok=False)
    # distribution 2.8 cannot delete a tag alone: refused, nothing lost
    assert run.exit_code == 2, run.output
    assert "cannot delete only the tag latest" in run.stderr and "--force" in run.stderr
    assert remote_tags(registry, repo) == ["1", "latest"]
    cli("pull", f"{r}:1", "--plain-http")
    # by digest while tags still name it: refused too
    digest = json.loads(cli("inspect", f"{r}:1", "--json", "--plain-http").stdout)["digest"]
    run = cli("remove", "--remote", f"{r}@{digest}", "--plain-http", ok=False)
    assert run.exit_code == 2 and "still tagged 1, latest" in run.stderr, run.output
    assert remote_tags(registry, repo) == ["1", "latest"]


def test_remove_remote_deletes_the_manifest_with_its_signature(cli: Cli, registry: TestRegistry,
                                                                tmp_path: Path) -> None:
    repo = unique_repo("rm")
    r = f"{registry.host}/{repo}"
    digest = pack_push(cli, tmp_path, registry, "1", f"{r}:1", f"{r}:2")
    cli("keygen", "--output-prefix", str(tmp_path / "k"), "--password-stdin", input="\n")
    cli("sign", f"{r}:1", "--key", str(tmp_path / "k.key"), "--format", "legacy", "--plain-http", input="\n")
    cli("sign", f"{r}:1", "--key", str(tmp_path / "k.key"), "--plain-http", input="\n")  # and a bundle referrer
    sig = signature_tag(Registry(registry.host, registry.options).repository(repo).resolve("1").digest)
    helpers = remote_tags(registry, repo, helpers=True)
    assert sig in helpers and f"{sig.removesuffix('.sig')}" in helpers  # signature and SBOM referrer index
    run = cli("remove", "--remote", f"{r}:1", "--plain-http", "--force")
    assert f"Removed {r}:1 (digest {digest})" in run.stdout
    # the manifest went with both its tags, and its signature and referrers with it
    assert remote_tags(registry, repo, helpers=True) == []


def test_a_digest_reference_is_answered_by_the_registry(cli: Cli, registry: TestRegistry, tmp_path: Path) -> None:
    """On the host that packed and pushed, sign/verify/sbom of REG/repo@sha256:... use the registry."""
    repo = unique_repo("pin")
    r = f"{registry.host}/{repo}"
    digest = pack_push(cli, tmp_path, registry, "1", f"{r}:1")
    cli("keygen", "--output-prefix", str(tmp_path / "k"), "--password-stdin", input="\n")
    pinned = f"{r}@{digest}"
    cli("sign", pinned, "--key", str(tmp_path / "k.key"), "--format", "legacy", "--plain-http", input="\n")
    assert signature_tag(Registry(registry.host, registry.options).repository(repo).resolve("1").digest) \
        in remote_tags(registry, repo, helpers=True)
    run = cli("verify", pinned, "--key", str(tmp_path / "k.pub"), "--plain-http", "--json")
    assert json.loads(run.stdout)["digest"] == digest
    sbom = cli("sbom", pinned, "--plain-http").stdout
    assert json.loads(sbom)["bomFormat"] == "CycloneDX"
    # a host that never saw the ModelKit verifies the same signature
    other = Cli(tmp_path / "other-home")
    other("verify", pinned, "--key", str(tmp_path / "k.pub"), "--plain-http")


def test_a_moved_tag_is_not_answered_by_a_stale_local_copy(cli: Cli, registry: TestRegistry, tmp_path: Path) -> None:
    repo = unique_repo("stale")
    r = f"{registry.host}/{repo}"
    pack_push(cli, tmp_path, registry, "1.0.0", f"{r}:staging")
    serving = Cli(tmp_path / "serving")
    serving("pull", f"{r}:staging", "--plain-http")
    new = pack_push(cli, tmp_path, registry, "2.0.0", f"{r}:staging")  # the stage tag moved on
    serving("unpack", f"{r}:staging", "-d", str(tmp_path / "out"), "--plain-http")
    assert (tmp_path / "out" / "model.bin").read_bytes().startswith(b"weights of 2.0.0")
    info = json.loads(serving("inspect", f"{r}:staging", "--json", "--plain-http").stdout)
    assert info["digest"] == new
    # --offline answers from what was pulled, and says so
    run = serving("unpack", f"{r}:staging", "-d", str(tmp_path / "offline"), "--offline")
    assert (tmp_path / "offline" / "model.bin").read_bytes().startswith(b"weights of 1.0.0")
    assert "offline" in run.stderr


def test_remove_remote_of_the_last_tag_deletes_the_modelkit(cli: Cli, registry: TestRegistry, tmp_path: Path) -> None:
    repo = unique_repo("rm")
    r = f"{registry.host}/{repo}"
    pack_push(cli, tmp_path, registry, "1", f"{r}:only")
    assert remote_tags(registry, repo, helpers=True) != ["only"]  # the SBOM referrer index is there too
    run = cli("remove", "--remote", f"{r}:only", "--plain-http", "--json")
    assert json.loads(run.stdout)[0]["action"] == "removed"
    assert remote_tags(registry, repo, helpers=True) == []
    assert cli("pull", f"{r}:only", "--plain-http", ok=False).exit_code == 6


def test_pack_takes_registry_options_for_a_parent_in_model_path(cli: Cli, registry: TestRegistry,
                                                                 tmp_path: Path) -> None:
    r = f"{registry.host}/{unique_repo('base')}"
    pack_push(cli, tmp_path, registry, "1", f"{r}:1")
    child = tmp_path / "child"
    child.mkdir()
    (child / "Kitfile").write_text("manifestVersion: 1.0.0\npackage:\n  name: tuned\nmodel:\n  name: tuned\n"
                                   f"  path: {r}:1\n  parts:\n    - path: lora.bin\n")
    (child / "lora.bin").write_bytes(b"lora" * 100)
    refused = cli("pack", str(child), "-t", "acme/tuned:1", ok=False)
    assert refused.exit_code == 4 and "--plain-http" in refused.stderr  # HTTPS to a plain-HTTP registry
    cli("pack", str(child), "-t", "acme/tuned:1", "--plain-http")
    out = tmp_path / "out"
    cli("unpack", "acme/tuned:1", "-d", str(out), "--plain-http")
    assert (out / "model.bin").read_bytes().startswith(b"weights of 1")
    assert (out / "lora.bin").read_bytes() == b"lora" * 100
    # the derived ModelKit's SBOM lists the parent's files too, so the unpacked tree verifies
    run = cli("verify-files", str(out), "--json")
    assert json.loads(run.stdout)["files"] == 2, run.stdout
    (out / "model.bin").write_bytes(b"tampered")
    bad = cli("verify-files", str(out), "--json", ok=False)
    assert bad.exit_code == 3 and "model.bin" in bad.output
