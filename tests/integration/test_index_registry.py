"""ModelKit indexes on the real registry: push (children first), pull with --select on a fresh home,
unpack with --select straight from the registry, the refusals with the list, and real peers
(skopeo reads the pushed bytes as an OCI image index with the children; ``skopeo copy --all``
copies it into an OCI layout)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from _registry_fixtures import TestRegistry, unique_repo
from conftest import Cli, require_tool  # type: ignore[import-not-found]
from fakes.modelkit import write_project
from ocikit._ops._pack import pack

pytestmark = [pytest.mark.registry, pytest.mark.slow]

KITFILE = "manifestVersion: 1.0.0\npackage: {name: idx}\nmodel: {path: model.bin}\n"


def _net(registry: TestRegistry) -> list[str]:
    return ["--plain-http"] if registry.variant == "plain" else ["--ca-file", str(registry.ca_file)]


def _index(cli: Cli, tmp_path: Path, home: Path) -> None:
    for q in ("q4_0", "q8_0"):
        ctx = write_project(tmp_path / q, {"model.bin": f"weights-{q}".encode() * 1000}, KITFILE)
        pack(ctx, tag=f"acme/llm:{q}", home=home)
    cli("index", "create", "acme/llm:all", "--add", "acme/llm:q4_0", "--label", "quantization=q4_0",
        "--label", "vram=6GiB", "--add", "acme/llm:q8_0", "--label", "quantization=q8_0")


def test_index_round_trip(registry: TestRegistry, cli: Cli, tmp_path: Path, home: Path) -> None:
    _index(cli, tmp_path, home)
    local = json.loads(cli("index", "list", "acme/llm:all", "--json").stdout)
    remote = registry.ref(unique_repo("index"), "all")
    cli("push", "acme/llm:all", remote, *_net(registry))

    listed = json.loads(cli("index", "list", remote, "--json", *_net(registry)).stdout)
    assert listed["digest"] == local["digest"]  # the exact bytes travelled
    assert [v["labels"]["quantization"] for v in listed["variants"]] == ["q4_0", "q8_0"]

    fresh = Cli(tmp_path / "fresh-home")
    ambiguous = fresh("pull", remote, *_net(registry), ok=False)
    assert ambiguous.exit_code == 2
    assert "q4_0  (quantization=q4_0, vram=6GiB)" in ambiguous.stderr
    assert "q8_0  (quantization=q8_0)" in ambiguous.stderr
    none = fresh("pull", remote, "--select", "quantization=q2_k", *_net(registry), ok=False)
    assert none.exit_code == 2 and "no ModelKit in the index has quantization=q2_k" in none.stderr

    anded = fresh("pull", remote, "--select", "quantization=q8_0", "--select", "vram=6GiB", *_net(registry),
                  ok=False)  # selectors AND: q8_0 has no vram label
    assert anded.exit_code == 2 and "quantization=q8_0, vram=6GiB" in anded.stderr
    got = json.loads(fresh("pull", remote, "--select", "quantization=q8_0", "--json", *_net(registry)).stdout)
    assert got["digest"] == local["variants"][1]["digest"]

    out = tmp_path / "serve"
    fresh("unpack", remote, "--select", "quantization=q4_0", "-d", str(out), *_net(registry))
    assert (out / "model.bin").read_bytes() == b"weights-q4_0" * 1000

    # the whole index with its variants, on another fresh home
    whole = Cli(tmp_path / "whole-home")
    whole("index", "pull", remote, *_net(registry))
    again = json.loads(whole("index", "list", remote, "--json", "--offline").stdout)
    assert again["digest"] == local["digest"]
    whole("fsck")
    whole("unpack", remote, "--offline", "--select", "quantization=q8_0", "-d", str(tmp_path / "w"))
    assert (tmp_path / "w" / "model.bin").read_bytes() == b"weights-q8_0" * 1000


def test_peers_read_the_pushed_index(registry: TestRegistry, cli: Cli, tmp_path: Path, home: Path) -> None:
    skopeo = require_tool("skopeo")
    _index(cli, tmp_path, home)
    local = json.loads(cli("index", "list", "acme/llm:all", "--json").stdout)
    remote = registry.ref(unique_repo("indexpeer"), "all")
    cli("push", "acme/llm:all", remote, *_net(registry))

    raw = subprocess.run([skopeo, "--insecure-policy", "inspect", "--raw", *registry.skopeo_tls_args,
                          f"docker://{remote}"], capture_output=True, check=True).stdout
    body = json.loads(raw)
    assert body["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert body["artifactType"] == "application/vnd.kitops.modelkit.index.v1+json"
    assert [m["digest"] for m in body["manifests"]] == [v["digest"] for v in local["variants"]]
    assert body["manifests"][0]["modelMetadata"] == {"quantization": "q4_0", "vram": "6GiB"}

    layout = tmp_path / "layout"
    subprocess.run([skopeo, "--insecure-policy", "copy", "--all", *[a.replace("--", "--src-", 1)
                    for a in registry.skopeo_tls_args], f"docker://{remote}", f"oci:{layout}:all"],
                   capture_output=True, check=True)
    index = json.loads((layout / "index.json").read_text())
    top = index["manifests"][0]
    assert top["digest"] == local["digest"]  # skopeo kept the bytes
    for v in local["variants"]:
        assert (layout / "blobs" / "sha256" / v["digest"].split(":")[1]).is_file()


def test_sign_verify_and_promote_an_index(registry: TestRegistry, cli: Cli, tmp_path: Path, home: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIKIT_PASSWORD", "")
    _index(cli, tmp_path, home)
    local = json.loads(cli("index", "list", "acme/llm:all", "--json").stdout)
    repo = unique_repo("indexsign")
    remote = registry.ref(repo, "all")
    cli("push", "acme/llm:all", remote, *_net(registry))
    cli("keygen", "--output-prefix", str(tmp_path / "k"))
    for fmt in ("bundle", "legacy"):
        cli("sign", remote, "--key", str(tmp_path / "k.key"), "--format", fmt, *_net(registry))
    verified = cli("verify", remote, "--key", str(tmp_path / "k.pub"), *_net(registry)).stdout
    assert local["digest"] in verified  # the index digest was signed
    cli("promote", remote, "--to", "staging", "--new-stage", "--reason", "variants", *_net(registry))
    staged = json.loads(cli("index", "list", registry.ref(repo, "staging"), "--json", *_net(registry)).stdout)
    assert staged["digest"] == local["digest"]  # the stage tag moved to the index: all variants as one
    stages = cli("stages", f"{registry.host}/{repo}", *_net(registry)).stdout
    assert local["digest"][:19] in stages or local["digest"] in stages
