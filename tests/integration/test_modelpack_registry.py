"""CNCF ModelPacks on the real registry: push, pull, unpack (local and straight from the registry),
inspect/list/diff remotely, and skopeo sees the CNCF artifactType."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from _registry_fixtures import TestRegistry, unique_repo
from fakes.modelkit import write_project
from ocikit._config import RegistryOptions
from ocikit._kitfile._model import Kitfile
from ocikit._ops._catalog import inspect, list_modelkits
from ocikit._ops._diff import diff
from ocikit._ops._pack import pack
from ocikit._ops._transfer import pull, push
from ocikit._ops._unpack import unpack

pytestmark = pytest.mark.registry

MP_MANIFEST = "application/vnd.cncf.model.manifest.v1+json"
MP_CONFIG = "application/vnd.cncf.model.config.v1+json"

KITFILE = """manifestVersion: 1.0.0
package: {name: tiny, version: 1.0.0, authors: [ML team]}
model: {name: tiny, path: model, format: safetensors}
datasets: [{name: eval, path: data}]
docs: [{path: README.md}]
"""
FILES = {"model/w.safetensors": b"w" * 70_000, "data/eval.csv": b"a,b\n1,2\n", "README.md": b"# tiny\n"}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _modelpack(tmp_path: Path, home: Path, tag: str, compression: str = "gzip") -> None:
    ctx = write_project(tmp_path / "ctx", FILES, KITFILE)
    pack(ctx, tag=tag, home=home, format="modelpack", compression=compression)


def test_modelpack_push_pull_unpack(registry: TestRegistry, tmp_path: Path, home: Path) -> None:
    _modelpack(tmp_path, home, "acme/tiny:1")
    remote = registry.ref(unique_repo("mp"), "1")
    push("acme/tiny:1", remote, home=home, options=registry.options)

    # straight from the registry, nothing stored locally
    direct = tmp_path / "direct"
    unpack(remote, direct, home=home, options=registry.options)
    files = _files(direct)
    assert Kitfile.loads(files.pop("Kitfile")) == Kitfile.loads(KITFILE)
    files.pop("SBOM.json")  # the SBOM referrer travelled with the ModelPack
    assert files == FILES

    # pull into a fresh store, then unpack the local copy without the network
    other = tmp_path / "other-home"
    pulled = pull(remote, home=other, options=registry.options)
    local = tmp_path / "local"
    unpack(remote, local, home=other, options=RegistryOptions(offline=True))
    assert {k: v for k, v in _files(local).items() if k not in ("Kitfile", "SBOM.json")} == FILES

    info = inspect(remote, remote=True, home=other, options=registry.options)
    assert info.format == "modelpack" and info.kitfile_source == "annotation"
    assert info.digest == pulled.digest
    assert info.manifest["artifactType"] == MP_MANIFEST and info.manifest["config"]["mediaType"] == MP_CONFIG
    listed = list_modelkits(remote.rsplit(":", 1)[0], home=other, options=registry.options)
    assert [(k.tags, k.name) for k in listed] == [(("1",), "tiny")]


def test_modelpack_and_modelkit_of_one_project_diff_remotely(registry: TestRegistry, tmp_path: Path,
                                                             home: Path) -> None:
    _modelpack(tmp_path, home, "acme/both:mp", compression="none")
    pack(tmp_path / "ctx", tag="acme/both:kit", home=home, sbom=False)
    repo = unique_repo("mpdiff")
    push("acme/both:mp", registry.ref(repo, "mp"), home=home, options=registry.options)
    push("acme/both:kit", registry.ref(repo, "kit"), home=home, options=registry.options)
    result = diff(registry.ref(repo, "kit"), registry.ref(repo, "mp"), home=tmp_path / "empty",
                  options=registry.options)
    assert not result.identical and not result.same_config
    assert {c.status for c in result.layers} == {"same"}  # identical tar bytes in both formats
    assert result.fields == ()


@pytest.mark.interop
def test_skopeo_sees_the_cncf_artifact_type(registry: TestRegistry, tmp_path: Path, home: Path) -> None:
    from conftest import require_tool  # type: ignore[import-not-found]

    skopeo = require_tool("skopeo")
    _modelpack(tmp_path, home, "acme/tiny:1")
    remote = registry.ref(unique_repo("mpskopeo"), "1")
    pushed = push("acme/tiny:1", remote, home=home, options=registry.options)
    done = subprocess.run([skopeo, "--insecure-policy", "inspect", "--raw", *registry.skopeo_tls_args,
                           f"docker://{remote}"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["artifactType"] == MP_MANIFEST
    assert manifest["config"]["mediaType"] == MP_CONFIG
    assert [la["mediaType"] for la in manifest["layers"]] == [
        "application/vnd.cncf.model.weight.v1.tar+gzip",
        "application/vnd.cncf.model.dataset.v1.tar+gzip",
        "application/vnd.cncf.model.doc.v1.tar+gzip",
    ]
    assert [la["annotations"]["org.cncf.model.filepath"] for la in manifest["layers"]] == ["model", "data", "README.md"]
    assert "ml.kitops.modelkit.kitfile" in manifest["annotations"]
    assert "sha256:" + hashlib.sha256(done.stdout.encode()).hexdigest() == str(pushed.digest)
