"""Peers read what ocikit writes and ocikit reads what peers write: skopeo and oras-py."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from _registry_fixtures import TestRegistry, unique_repo
from fakes.modelkit import BuiltKit, build_layers, push_modelkit
from ocikit._config import store_dir
from ocikit._io._digest import Digest
from ocikit._oci._reference import Reference
from ocikit._ops._transfer import pull, push
from ocikit._store._layout import LocalStore

pytestmark = [pytest.mark.registry, pytest.mark.interop]


def _need(tool: str) -> str:
    from conftest import require_tool  # type: ignore[import-not-found]

    return str(require_tool(tool))


def _skopeo(*args: str) -> str:
    done = subprocess.run([_need("skopeo"), "--insecure-policy", *args], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _kit(home: Path, name: str = "acme/kit:1.0") -> BuiltKit:
    ref = Reference.parse(name)
    return push_modelkit(LocalStore.at_home(home).repository(ref.name), ref.tag, build_layers([400_000, 50_000], 11))


def test_skopeo_reads_what_ocikit_pushed(registry: TestRegistry, tmp_path: Path) -> None:
    kit = _kit(tmp_path)
    dest = f"{registry.host}/{unique_repo()}:1.0"
    push("acme/kit:1.0", dest, home=tmp_path, options=registry.options)
    raw = _skopeo("inspect", "--raw", *registry.skopeo_tls_args, f"docker://{dest}")
    assert raw.encode() == kit.manifest_bytes  # byte-identical manifest
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == str(kit.desc.digest)
    out = tmp_path / "skopeo-layout"
    _skopeo("copy", "--preserve-digests", *[a.replace("--tls-verify", "--src-tls-verify")
                                            for a in registry.skopeo_tls_args],
            f"docker://{dest}", f"oci:{out}:copied")
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == str(kit.desc.digest)
    for digest, data in kit.blobs.items():
        assert (out / "blobs" / "sha256" / digest.split(":")[1]).read_bytes() == data


def test_skopeo_reads_the_tls_registry_with_its_ca(tls_registry: TestRegistry, tmp_path: Path) -> None:
    kit = _kit(tmp_path)
    dest = f"{tls_registry.host}/{unique_repo()}:1.0"
    push("acme/kit:1.0", dest, home=tmp_path, options=tls_registry.options)
    raw = _skopeo("inspect", "--raw", *tls_registry.skopeo_tls_args, f"docker://{dest}")
    assert raw.encode() == kit.manifest_bytes


def test_ocikit_pulls_what_skopeo_copied_from_our_store(registry: TestRegistry, tmp_path: Path) -> None:
    kit = _kit(tmp_path / "src")
    dest = f"{registry.host}/{unique_repo()}:1.0"
    store = store_dir(tmp_path / "src")
    _skopeo("copy", "--preserve-digests", "--dest-tls-verify=false",
            f"oci:{store}:localhost/acme/kit:1.0", f"docker://{dest}")
    result = pull(dest, home=tmp_path / "dst", options=registry.options)
    assert result.digest == kit.desc.digest
    local = LocalStore.at_home(tmp_path / "dst")
    for digest, data in kit.blobs.items():
        assert local.blob_path(Digest.parse(digest)).read_bytes() == data


def test_oras_pulls_what_ocikit_pushed(registry: TestRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        import oras.client
    except ImportError:
        from conftest import fail_or_skip  # type: ignore[import-not-found]

        fail_or_skip("oras-py is not installed (pip install -e '.[dev]')")
    kit = _kit(tmp_path)
    dest = f"{registry.host}/{unique_repo()}:1.0"
    push("acme/kit:1.0", dest, home=tmp_path, options=registry.options)
    out = tmp_path / "oras-out"
    out.mkdir()
    monkeypatch.chdir(tmp_path)
    client = oras.client.OrasClient(hostname=registry.host, insecure=True)
    files = client.pull(target=dest, outdir=str(out))
    got = {Path(f).name: Path(f).read_bytes() for f in files}
    for layer in kit.manifest.layers:
        title = layer.annotations["org.opencontainers.image.title"]
        assert got[title] == kit.blobs[str(layer.digest)]
