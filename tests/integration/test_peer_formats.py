"""What kit 1.17, modctl 0.2 and Docker Model Runner push, ocikit pulls and unpacks: each fixture of
``tests/compat/peermake.py`` (byte for byte as the peer's Go code writes it, see the README in tests/compat)
is pushed to the real registry with the plain distribution API, then ``ocikit pull``, ``unpack`` (whole
and filtered), ``inspect``, ``info``, ``list``, ``diff``, ``sbom`` and ``verify-files`` run on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _registry_fixtures import TestRegistry, unique_repo
from compat.peermake import PEERS, expected_files, push_http
from conftest import Cli

pytestmark = pytest.mark.registry

#: a filter each fixture can answer, and the files it must give
FILTERED = {
    "kit-1.17-tar": ("prompts", {"prompts/system.prompt.md"}),
    "kit-1.17-raw": ("mcpservers:postgres", {"postgres.mcpb"}),
    "modctl-0.2": ("code", {"scripts/infer.py"}),
    "modctl-0.2-cncf": ("docs", {"README.md"}),
    "docker-model-v0.1": ("docs", {"LICENSE"}),
    "docker-model-v0.2": ("model:text_encoder/model.safetensors", {"text_encoder/model.safetensors"}),
}
FORMAT = {"kit-1.17-tar": "kitops", "kit-1.17-raw": "kitops", "modctl-0.2": "modelpack", "modctl-0.2-cncf": "modelpack",
          "docker-model-v0.1": "docker", "docker-model-v0.2": "docker"}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("peer", sorted(PEERS))
def test_peer_artifact_pulls_unpacks_and_inspects(peer: str, registry: TestRegistry, cli: Cli,
                                                  tmp_path: Path) -> None:
    art = PEERS[peer]()
    repo = unique_repo(peer.replace(".", "-"))
    push_http(registry.url, repo, "v1", art)
    ref = registry.ref(repo, "v1")

    pulled = json.loads(cli("pull", ref, "--plain-http", "--json").stdout)
    assert art.digest in json.dumps(pulled)

    out = tmp_path / "out"
    cli("unpack", ref, "-d", str(out), "--plain-http")
    got = _files(out)
    assert "Kitfile" in got
    got.pop("Kitfile")
    assert got == expected_files(art)

    flt, wanted = FILTERED[peer]
    only = tmp_path / "only"
    cli("unpack", ref, "-d", str(only), "--filter", flt, "--plain-http")
    assert set(_files(only)) == wanted

    inspected = json.loads(cli("inspect", ref, "--json", "--plain-http").stdout)
    assert inspected["digest"] == art.digest
    assert inspected.get("format", "kitops") == FORMAT[peer]
    assert cli("info", ref, "--plain-http").exit_code == 0
    assert repo in cli("list").stdout
    assert cli("diff", ref, ref, "--json", "--plain-http").exit_code == 0

    # the peers attach no SBOM: said plainly (not found, exit 6)
    no_sbom = cli("sbom", ref, "--plain-http", ok=False)
    assert no_sbom.exit_code == 6 and "no SBOM" in no_sbom.output

    # what was unpacked packs again with ocikit; its SBOM then verifies a fresh unpack of it
    cli("pack", str(out), "-t", f"again/{repo}:1")
    again = tmp_path / "again"
    cli("unpack", f"again/{repo}:1", "-d", str(again))
    assert cli("verify-files", str(again)).exit_code == 0
    assert {k: v for k, v in _files(again).items() if k not in ("Kitfile", "SBOM.json")} == expected_files(art)


def test_pulled_peer_artifact_keeps_its_bytes(registry: TestRegistry, cli: Cli, home: Path) -> None:
    """Pull stores the manifest and every blob unchanged (same digests as the peer wrote)."""
    from ocikit._store._layout import LocalStore

    art = PEERS["kit-1.17-raw"]()
    repo = unique_repo("kit-raw-bytes")
    push_http(registry.url, repo, "v1", art)
    cli("pull", registry.ref(repo, "v1"), "--plain-http")
    root = LocalStore.at_home(home).root / "blobs" / "sha256"
    for digest, data in [*art.blobs.items(), (art.digest, art.manifest)]:
        assert (root / digest.split(":")[1]).read_bytes() == data
