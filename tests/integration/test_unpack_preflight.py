"""``unpack`` refuses what blocks it in the target before it fetches a single layer byte: the
paths come from the Kitfile's elements and, for large uncompressed layers, from the table of
contents. A proxy in front of the REAL registry counts the layer blob GETs: zero."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from _registry_fixtures import TestRegistry, unique_repo
from fakes.fault_proxy import FaultProxy
from ocikit._config import RegistryOptions
from ocikit._ops._catalog import inspect
from ocikit._ops._pack import pack
from ocikit._ops._transfer import push
from ocikit._ops._unpack import unpack
from ocikit.errors import TargetExistsError, UnsafeArchiveError

pytestmark = pytest.mark.registry
PLAIN = RegistryOptions(plain_http=True)


@pytest.fixture
def proxy(registry: TestRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(registry.host) as p:
        yield p


def _push(registry: TestRegistry, ctx: Path, home: Path, kitfile: str) -> tuple[str, set[str]]:
    (ctx / "Kitfile").write_text(kitfile)
    pack(ctx, tag="acme/pre:1", home=home)
    repo = unique_repo("pre")
    push("acme/pre:1", registry.ref(repo, "1"), home=home, options=registry.options)
    layers = {layer["digest"] for layer in inspect("acme/pre:1", home=home).manifest["layers"]}
    return repo, layers


def _layer_gets(proxy: FaultProxy, layers: set[str]) -> list[str]:
    return [path for method, path, _ in proxy.log
            if method == "GET" and "/blobs/" in path and path.rsplit("/", 1)[-1] in layers]


@pytest.fixture
def small(registry: TestRegistry, tmp_path: Path, home: Path) -> tuple[str, set[str]]:
    ctx = tmp_path / "ctx"
    (ctx / "data").mkdir(parents=True)
    (ctx / "m.bin").write_bytes(b"weights")
    (ctx / "data" / "a.csv").write_text("x,y\n")
    (ctx / "train.py").write_text("print(1)\n")
    return _push(registry, ctx, home, "manifestVersion: 1.0.0\npackage:\n  name: pre\nmodel:\n  path: m.bin\n"
                 "datasets:\n  - path: data\ncode:\n  - path: train.py\n")


def test_an_existing_file_is_refused_before_any_layer_is_fetched(
        proxy: FaultProxy, small: tuple[str, set[str]], tmp_path: Path, home: Path) -> None:
    repo, layers = small
    out = tmp_path / "out"
    out.mkdir()
    (out / "m.bin").write_text("mine")
    (out / "train.py").write_text("mine")
    with pytest.raises(TargetExistsError, match=r"2 paths already exist in .*: m\.bin, train\.py") as e:
        unpack(f"{proxy.host}/{repo}:1", out, home=home / "elsewhere", options=PLAIN)
    assert "nothing was downloaded" in (e.value.hint or "")
    assert _layer_gets(proxy, layers) == []
    assert sorted(p.name for p in out.iterdir()) == ["m.bin", "train.py"]  # no staging left, nothing added
    # --overwrite: the same target is fine, and then the layers are fetched
    unpack(f"{proxy.host}/{repo}:1", out, home=home / "elsewhere", options=PLAIN, overwrite=True)
    assert (out / "m.bin").read_bytes() == b"weights"
    assert len(_layer_gets(proxy, layers)) == 3


@pytest.mark.parametrize("blocker", ["symlink", "file", "kitfile"])
def test_what_no_flag_allows_is_refused_before_any_layer_is_fetched(
        proxy: FaultProxy, small: tuple[str, set[str]], tmp_path: Path, home: Path, blocker: str) -> None:
    repo, layers = small
    out = tmp_path / "out"
    out.mkdir()
    expected: tuple[type[Exception], str]
    if blocker == "symlink":  # a link where the dataset directory goes
        (tmp_path / "elsewhere-dir").mkdir()
        os.symlink(tmp_path / "elsewhere-dir", out / "data")
        expected = (UnsafeArchiveError, "data already exists in the target as a symbolic link")
    elif blocker == "file":  # a directory where the Kitfile (a file) goes
        (out / "Kitfile").mkdir()
        expected = (TargetExistsError, "Kitfile exists in the target and is not a regular file")
    else:
        (out / "Kitfile").write_text("manifestVersion: 1.0.0\n")
        expected = (TargetExistsError, "does not match the ModelKit's Kitfile")
    with pytest.raises(expected[0], match=expected[1]):
        unpack(f"{proxy.host}/{repo}:1", out, home=home / "elsewhere", options=PLAIN,
               overwrite=blocker != "kitfile")
    assert _layer_gets(proxy, layers) == []
    assert not any(p.name.startswith(".ocikit-unpack-") for p in out.iterdir())


@pytest.mark.slow  # a 17 MiB layer, the smallest that gets a table of contents
def test_a_file_inside_a_large_layer_is_found_by_its_table_of_contents(
        registry: TestRegistry, proxy: FaultProxy, tmp_path: Path, home: Path) -> None:
    ctx = tmp_path / "ctx"
    (ctx / "data" / "shards").mkdir(parents=True)
    (ctx / "data" / "shards" / "big.bin").write_bytes(os.urandom(17 << 20))
    (ctx / "data" / "shards" / "labels.csv").write_text("a,b\n")
    repo, layers = _push(registry, ctx, home, "manifestVersion: 1.0.0\npackage:\n  name: pre\n"
                         "datasets:\n  - path: data\n")
    out = tmp_path / "out"
    (out / "data" / "shards").mkdir(parents=True)
    (out / "data" / "shards" / "labels.csv").write_text("mine")
    with pytest.raises(TargetExistsError, match=r"data/shards/labels\.csv already exists"):
        unpack(f"{proxy.host}/{repo}:1", out, home=home / "elsewhere", options=PLAIN)
    assert _layer_gets(proxy, layers) == []
    assert (out / "data" / "shards" / "labels.csv").read_text() == "mine"
