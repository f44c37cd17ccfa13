"""The image view against the real registry, read by real image tools: ``skopeo copy`` into an OCI
layout, ``umoci unpack`` into a rootfs whose files are byte-identical to ``ocikit unpack`` of the
ModelKit. Every request body sent for the image view is counted by a proxy: no layer is re-uploaded."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from _registry_fixtures import TestRegistry, unique_repo  # type: ignore[import-not-found]
from conftest import require_tool  # type: ignore[import-not-found]
from fakes.fault_proxy import FaultProxy
from ocikit._config import RegistryOptions
from ocikit._oci._model import Manifest
from ocikit._ops._image import image_view
from ocikit._ops._pack import pack
from ocikit._ops._transfer import push
from ocikit._ops._unpack import unpack
from ocikit._registry._client import Registry

pytestmark = [pytest.mark.registry, pytest.mark.interop]


class CountingProxy(FaultProxy):
    """A pass-through proxy that records every request body it forwards."""

    def __init__(self, upstream: str) -> None:
        self.bodies: list[tuple[str, str, int]] = []
        self._count_lock = threading.Lock()
        super().__init__(upstream)

    def _handler(self) -> Any:
        base: Any = super()._handler()
        proxy = self

        class Counting(base):  # type: ignore[misc, valid-type]
            def _body(self) -> bytes:
                data: bytes = super()._body()
                with proxy._count_lock:
                    proxy.bodies.append((self.command, self.path, len(data)))
                return data

        return Counting

    @property
    def uploaded(self) -> int:
        return sum(n for _, _, n in self.bodies)


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "model").mkdir(parents=True)
    (project / "model" / "weights.bin").write_bytes(os.urandom(300_000))
    (project / "model" / "config.json").write_text('{"layers": 2}\n')
    (project / "data").mkdir()
    (project / "data" / "train.csv").write_text("text,label\ngood,1\nbad,0\n")
    (project / "Kitfile").write_text("manifestVersion: 1.0.0\npackage:\n  name: imgview\nmodel:\n  path: model\n"
                                     "datasets:\n  - name: train\n    path: data/train.csv\n")
    return project


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_skopeo_and_umoci_read_the_image_view_and_no_layer_is_uploaded(
        registry: TestRegistry, home: Path, tmp_path: Path, compression: str) -> None:
    skopeo, umoci = require_tool("skopeo"), require_tool("umoci")
    repo = unique_repo("imageview")
    kit = pack(_project(tmp_path), tag=f"{repo}:1", home=home, compression=compression)  # type: ignore[arg-type]
    push(f"{repo}:1", registry.ref(repo, "1"), home=home, options=registry.options)
    kit_manifest = Manifest.from_bytes(
        Registry(registry.host, registry.options).repository(repo).fetch_manifest(
            Registry(registry.host, registry.options).repository(repo).resolve("1")))

    other_repo = unique_repo("imageview-serve")
    with CountingProxy(registry.host) as proxy:
        options = RegistryOptions(plain_http=True)
        same = image_view(f"{proxy.host}/{repo}:1", f"{proxy.host}/{repo}:1-image", home=tmp_path / "h1",
                          options=options)
        mounted = image_view(f"{proxy.host}/{repo}:1", f"{proxy.host}/{other_repo}:1", home=tmp_path / "h2",
                             options=options)
    puts = [(m, p, n) for m, p, n in proxy.bodies if m in ("PUT", "PATCH", "POST")]
    layer_sizes = {d.size for d in kit_manifest.layers}
    assert all(n not in layer_sizes or n < 4096 for _, _, n in puts), puts
    assert proxy.uploaded < 10 * 1024, proxy.bodies  # config + manifests (+ the referrers fallback index)
    assert not any("/blobs/uploads/" in p and n > 4096 for _, p, n in puts)
    assert same.bytes_uploaded == 0 and mounted.bytes_uploaded == 0
    assert same.digest == mounted.digest  # the same bytes: a view depends only on its ModelKit

    layout = tmp_path / "layout"
    # --preserve-digests: skopeo fails rather than recompress a layer (it would, by default, for tar)
    src_tls = [f"--src-{a.lstrip('-')}" for a in registry.skopeo_tls_args]
    subprocess.run([skopeo, "--insecure-policy", "copy", "--preserve-digests", *src_tls,
                    f"docker://{registry.ref(other_repo, '1')}", f"oci:{layout}:view"],
                   check=True, capture_output=True, timeout=120)
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == str(mounted.digest)
    image = Manifest.from_bytes((layout / "blobs" / "sha256" / str(mounted.digest).removeprefix("sha256:")).read_bytes())
    assert [(d.digest, d.size) for d in image.layers] == [(d.digest, d.size) for d in kit_manifest.layers]
    assert image.subject is not None and image.subject.digest == kit.digest

    bundle = tmp_path / "bundle"
    subprocess.run([umoci, "unpack", "--rootless", "--image", f"{layout}:view", str(bundle)],
                   check=True, capture_output=True, timeout=120)
    served = tmp_path / "served"
    unpack(registry.ref(repo, "1"), served, home=tmp_path / "h3", options=registry.options)
    rootfs = _files(bundle / "rootfs")
    unpacked = _files(served)
    assert rootfs, "umoci unpacked nothing"
    assert rootfs == {k: v for k, v in unpacked.items() if k in rootfs}
    assert set(unpacked) - set(rootfs) <= {"Kitfile", "SBOM.json"}  # written by unpack, not layers


def test_push_with_image_and_promote_with_image_keep_the_image_view_in_step(
        registry: TestRegistry, home: Path, tmp_path: Path) -> None:
    from ocikit._ops._stages import promote

    repo = unique_repo("imageview-stages")
    remote = Registry(registry.host, registry.options).repository(repo)
    project = _project(tmp_path)
    one = pack(project, tag=f"{repo}:1", home=home)
    push(f"{repo}:1", registry.ref(repo, "1"), home=home, options=registry.options, with_image="1-image")
    image = Manifest.from_bytes(remote.fetch_manifest(remote.resolve("1-image")))
    assert image.subject is not None and image.subject.digest == one.digest

    (project / "model" / "weights.bin").write_bytes(os.urandom(1000))
    two = pack(project, tag=f"{repo}:2", home=home)
    push(f"{repo}:2", registry.ref(repo, "2"), home=home, options=registry.options)
    for kit, tag in ((one, "1"), (two, "2")):
        promote(registry.ref(repo, tag), "production", reason="test", home=home, options=registry.options,
                new_stage=True, with_image=True)
        staged = Manifest.from_bytes(remote.fetch_manifest(remote.resolve("production-image")))
        assert staged.subject is not None and staged.subject.digest == kit.digest
        assert staged.annotations["dev.ocikit.modelkit.digest"] == str(kit.digest)
