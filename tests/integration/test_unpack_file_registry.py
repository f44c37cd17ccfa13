"""``unpack --file`` against the REAL registry: one 4 KiB file out of a 64 MiB uncompressed layer by
HTTP Range, bytes counted by a proxy; a lying table of contents is refused with exit 3."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from _registry_fixtures import TestRegistry, unique_repo
from fakes.fault_proxy import FaultProxy
from ocikit._config import RegistryOptions
from ocikit._io._digest import Digest
from ocikit._layers._toc import ARTIFACT_TYPE
from ocikit._oci._model import EMPTY_CONFIG, EMPTY_JSON, Descriptor, Manifest
from ocikit._oci._reference import Reference
from ocikit._ops._pack import pack
from ocikit._ops._repos import locate
from ocikit._ops._transfer import push
from ocikit._ops._unpack_file import ANNOTATION_TOC_LAYER, load_tocs, unpack_files
from ocikit._store._referrers import push_referrer
from ocikit.errors import VerificationError

pytestmark = [pytest.mark.registry, pytest.mark.slow]  # a 64 MiB push

WANTED = "data/reviews/part-0007.csv"


def _ocikit(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ocikit", "--home", str(home), *args], capture_output=True,
                          text=True, check=False)


@pytest.fixture
def proxy(registry: TestRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(registry.host) as p:
        yield p


@pytest.fixture
def pushed(registry: TestRegistry, tmp_path: Path, home: Path) -> tuple[str, bytes]:
    ctx = tmp_path / "ctx"
    (ctx / "data/reviews").mkdir(parents=True)
    want = os.urandom(4096)
    for i in range(32):
        (ctx / f"data/reviews/part-{i:04d}.csv").write_bytes(want if i == 7 else os.urandom(4096))
    (ctx / "data/bulk.bin").write_bytes(os.urandom(64 << 20))
    (ctx / "Kitfile").write_text("manifestVersion: 1.0.0\npackage:\n  name: t\ndatasets:\n"
                                 "  - name: reviews\n    path: data\n")
    pack(ctx, tag="acme/toc:1", home=home, sbom=False)
    repo = unique_repo("toc")
    push("acme/toc:1", registry.ref(repo, "1"), home=home, options=registry.options)
    return repo, want


def test_one_file_by_range_through_the_cli(proxy: FaultProxy, pushed: tuple[str, bytes], tmp_path: Path,
                                           home: Path) -> None:
    repo, want = pushed
    out = tmp_path / "out"
    got = _ocikit(home / "elsewhere", "unpack", f"{proxy.host}/{repo}:1", "--plain-http", "-d", str(out),
                  "--filter", "datasets:reviews", "--file", WANTED)
    assert got.returncode == 0, got.stderr
    assert "by range" in got.stdout
    assert (out / WANTED).read_bytes() == want
    assert [p for p in out.rglob("*") if p.is_file()] == [out / WANTED]
    assert proxy.body_bytes <= 1 << 20, proxy.log
    ranged = [entry for entry in proxy.log if entry[0] == "GET" and "/blobs/" in entry[1] and entry[2] == 206]
    assert len(ranged) == 1


def _lie(registry: TestRegistry, repo: str, original: dict[str, str], **change: object) -> None:
    storage = locate(Reference.parse(registry.ref(repo, "1")), options=registry.options)
    desc = storage.resolve("1")
    manifest = Manifest.from_bytes(storage.fetch_manifest(desc), "manifest")
    layer = max(manifest.layers, key=lambda d: d.size)
    if "toc" not in original:  # the honest one, before any lie was attached
        original["toc"] = load_tocs(storage, desc.digest, manifest)[layer.digest].to_bytes().decode()
    doc = json.loads(original["toc"])
    for f in doc["files"]:
        if f["path"] == WANTED:
            f.update(change)
    data = json.dumps(doc).encode()
    blob = Descriptor.for_bytes(ARTIFACT_TYPE, data, annotations={ANNOTATION_TOC_LAYER: str(layer.digest)})
    storage.push_blob(Descriptor(blob.media_type, blob.digest, blob.size), io.BytesIO(data))
    config = Descriptor(EMPTY_CONFIG, Digest.of_bytes(EMPTY_JSON), len(EMPTY_JSON), data=EMPTY_JSON)
    push_referrer(storage, Manifest(config=config, layers=(blob,), artifact_type=ARTIFACT_TYPE,
                                    subject=Descriptor(desc.media_type, desc.digest, desc.size)))


def test_a_lying_toc_is_refused_with_exit_3(registry: TestRegistry, pushed: tuple[str, bytes], tmp_path: Path,
                                            home: Path) -> None:
    repo, _ = pushed
    original: dict[str, str] = {}
    for i, change in enumerate([{"sha256": "ab" * 32}, {"offset": 10**12}, {"size": 4095}, {"path": "../x"}]):
        _lie(registry, repo, original, **change)  # the newest table of contents is the one used
        out = tmp_path / f"out{i}"
        got = _ocikit(home / "elsewhere", "unpack", registry.ref(repo, "1"), "--plain-http", "-d", str(out),
                      "--file", WANTED)
        assert got.returncode == 3, (change, got.stderr)
        assert not out.exists() or [p for p in out.rglob("*") if p.is_file()] == []
        with pytest.raises(VerificationError):
            unpack_files(registry.ref(repo, "1"), out, [WANTED], home=home, options=RegistryOptions(plain_http=True))
