"""``ocikit.Client`` and the in-process seams a release script is tested with (no registry).

A release job written against ``Client`` is run here end to end — pack, push, sign, pull on another
host, verify, unpack, promote — with the registry an in-process fake behind the injected transport,
and ``MemoryStorage`` + ``copy`` as the second storage.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import ocikit
from fakes.registry import FakeNetwork, FakeRegistry


def _project(root: Path) -> Path:
    project = root / "project"
    (project / "model").mkdir(parents=True)
    (project / "model" / "weights.safetensors").write_bytes(b"\x01" * 8192)
    (project / "Kitfile").write_text(
        "manifestVersion: 1.0.0\npackage:\n  name: release\nmodel:\n  name: clf\n  path: model\n"
    )
    return project


@pytest.fixture
def network() -> tuple[FakeNetwork, FakeRegistry]:
    net, fake = FakeNetwork(), FakeRegistry("registry.test")
    net.add("registry.test", fake)
    return net, fake


def test_a_release_job_runs_against_an_injected_transport(tmp_path: Path, network: tuple[FakeNetwork, FakeRegistry],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    net, fake = network
    builder = ocikit.Client(tmp_path / "builder", transport=net)
    packed = builder.pack(_project(tmp_path), tag="acme/release:1.0")
    builder.push("acme/release:1.0", "registry.test/acme/release:1.0")
    assert fake.repos["acme/release"].tags["1.0"] == str(packed.digest)
    assert net.requests("PUT", "registry.test"), "the push went through the injected transport"

    priv, pub = ocikit.keygen(tmp_path / "cosign")
    builder.sign("registry.test/acme/release:1.0", priv)

    server = ocikit.Client(tmp_path / "server", transport=net)
    pulled = server.pull("registry.test/acme/release:1.0", verify_key=pub)
    assert pulled.digest == packed.digest
    assert server.verify("registry.test/acme/release:1.0", pub).signatures
    server.unpack("registry.test/acme/release:1.0", tmp_path / "serve", filters=["model"])
    assert (tmp_path / "serve" / "model" / "weights.safetensors").read_bytes() == b"\x01" * 8192

    event = server.promote("registry.test/acme/release:1.0", "staging", reason="eval passed", new_stage=True)
    assert event.stage == "staging"
    assert [s.stage for s in server.stages("registry.test/acme/release")] == ["staging"]
    assert (tmp_path / "server" / "store").is_dir() and not (tmp_path / "builder" / "credentials.json").exists()


def test_a_client_without_transport_uses_its_own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    client = ocikit.Client(tmp_path / "home")
    plan = client.plan_pack(_project(tmp_path))
    assert [layer.media_type for layer in plan.layers] == ["application/vnd.kitops.modelkit.model.v1.tar"]
    packed = client.pack(_project(tmp_path / "again"), tag="acme/kit:1")
    assert [k.digest for k in client.list_modelkits()] == [packed.digest]
    assert ocikit.list_modelkits(home=tmp_path / "elsewhere") == []
    assert client.fsck().ok


def test_a_transport_that_is_not_one_is_refused(tmp_path: Path) -> None:
    client = ocikit.Client(tmp_path, transport=object())  # type: ignore[arg-type]
    with pytest.raises(ocikit.errors.UsageError, match="must be a Transport"):
        client.pull("registry.test/acme/kit:1")


def test_copy_into_memory_storage_tests_a_script_without_a_registry(home: Path, tmp_path: Path) -> None:
    packed = ocikit.pack(_project(tmp_path), tag="acme/kit:1.0", home=home)
    local = ocikit.LocalStore.at_home(home).repository("localhost/acme/kit")
    mirror = ocikit.MemoryStorage("mirror/acme/kit")
    result = ocikit.copy(local, "1.0", mirror, tags=["1.0", "latest"])
    assert result.digest == packed.digest
    assert sorted(mirror.tags()) == ["1.0", "latest", f"sha256-{packed.digest.hex}"]  # + the referrers index
    manifest = ocikit.Manifest.from_bytes(mirror.fetch_manifest(mirror.resolve("latest")))
    assert all(mirror.has_blob(layer) for layer in manifest.layers) and mirror.has_blob(manifest.config)
    assert packed.sbom_digest is not None and mirror.has_manifest(packed.sbom_digest), "the SBOM travels along"


@pytest.mark.parametrize("name", sorted(n for n in vars(ocikit.Client) if not n.startswith("_")))
def test_each_method_is_its_function_with_home_and_options_bound(name: str) -> None:
    method = inspect.signature(getattr(ocikit.Client, name))
    function = inspect.signature(getattr(ocikit, name))
    bound = {"home", "options", "clock"}  # clock: a test seam of the stage functions
    expected = [p for n, p in function.parameters.items() if n not in bound]
    got = [p for n, p in method.parameters.items() if n != "self"]
    assert [(p.name, p.default) for p in got] == [(p.name, p.default) for p in expected]
    assert method.return_annotation == function.return_annotation
