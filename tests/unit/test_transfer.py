"""copy (_store/_copy.py) / push / pull (_ops/_transfer.py): ModelKit check, parallel verified blobs, skip, referrers, resume."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from fakes.modelkit import build_layers, push_modelkit
from fakes.registry import FakeNetwork, FakeRegistry
from ocikit._config import RegistryOptions
from ocikit._oci._model import EMPTY_CONFIG, MANIFEST, Descriptor, Manifest
from ocikit._ops import _transfer
from ocikit._registry import _repository as _registry
from ocikit._registry._client import Registry, RetryPolicy
from ocikit._registry._credentials import Credential
from ocikit._store._copy import copy
from ocikit._store._layout import LocalStore
from ocikit._store._referrers import list_referrers, push_referrer
from ocikit._store._storage import MemoryStorage
from ocikit.errors import DigestMismatchError, NotAModelKitError, SignatureError


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, int]] = []

    def start(self, key: str, label: str, total: int) -> None:
        self.events.append(("start", key, total))

    def advance(self, key: str, nbytes: int) -> None:
        self.events.append(("advance", key, nbytes))

    def finish(self, key: str, *, skipped: bool = False) -> None:
        self.events.append(("skip" if skipped else "finish", key, 0))


def test_copy_moves_blobs_then_manifest_with_all_tags() -> None:
    src, dst = MemoryStorage("m/src"), MemoryStorage("m/dst")
    kit = push_modelkit(src, "v1", build_layers([20_000, 30_000, 5_000]))
    progress = Recorder()
    result = copy(src, "v1", dst, ["v1", "stable"], concurrency=3, progress=progress)
    assert result.digest == kit.desc.digest
    assert result.blobs_transferred == 4 and result.blobs_skipped == 0
    assert result.bytes_transferred == kit.blob_bytes
    assert dst.tags() == ["stable", "v1"]
    assert {str(d) for d in dst.blobs} == set(kit.blobs)
    advanced = sum(n for e, _, n in progress.events if e == "advance")
    assert advanced == kit.blob_bytes
    assert result.reference.endswith(f"@{kit.desc.digest}")


def test_second_copy_skips_everything() -> None:
    src, dst = MemoryStorage("m/src"), MemoryStorage("m/dst")
    kit = push_modelkit(src, "v1", build_layers([10_000]))
    copy(src, "v1", dst, ["v1"])
    again = copy(src, "v1", dst, ["v1"])
    assert again.bytes_transferred == 0 and again.blobs_transferred == 0
    assert again.bytes_skipped == kit.blob_bytes and again.blobs_skipped == 2


def test_not_a_modelkit_is_refused_before_any_blob_moves() -> None:
    src, dst = MemoryStorage("m/src"), MemoryStorage("m/dst")
    push_modelkit(src, "img", build_layers([1000]), config_type="application/vnd.oci.image.config.v1+json")
    with pytest.raises(NotAModelKitError):
        copy(src, "img", dst, ["img"])
    assert dst.blobs == {} and dst.manifests == {}


def test_modelpack_config_is_a_modelkit() -> None:
    src, dst = MemoryStorage("m/src"), MemoryStorage("m/dst")
    push_modelkit(src, "mp", build_layers([1000]), config_type="application/vnd.cncf.model.config.v1+json")
    assert copy(src, "mp", dst, ["mp"]).blobs_transferred == 2


def test_corrupt_source_blob_fails_and_no_manifest_is_pushed() -> None:
    src, dst = MemoryStorage("m/src"), MemoryStorage("m/dst")
    kit = push_modelkit(src, "v1", build_layers([10_000]))
    layer = kit.manifest.layers[0].digest
    src.blobs[layer] = b"X" * len(src.blobs[layer])
    with pytest.raises(DigestMismatchError):
        copy(src, "v1", dst, ["v1"])
    assert layer not in dst.blobs and dst.manifests == {}


def _attach(storage: MemoryStorage, subject: Descriptor, kind: str) -> Descriptor:
    payload = json.dumps({"kind": kind}).encode()
    blob = Descriptor.for_bytes("application/json", payload)
    empty = Descriptor.for_bytes(EMPTY_CONFIG, b"{}")
    storage.push_blob(empty, io.BytesIO(b"{}"))
    storage.push_blob(blob, io.BytesIO(payload))
    return push_referrer(storage, Manifest(empty, (blob,), {"kind": kind}, f"application/vnd.test.{kind}", subject))


def test_referrers_and_cosign_signature_tag_travel() -> None:
    src, dst = MemoryStorage("m/src"), MemoryStorage("m/dst")
    kit = push_modelkit(src, "v1", build_layers([1000]))
    sbom = _attach(src, kit.desc, "sbom")
    event = _attach(src, kit.desc, "event")
    nested = _attach(src, Descriptor(MANIFEST, sbom.digest, sbom.size), "sig-of-sbom")
    sig_payload = b'{"critical":{}}'
    sig_blob = Descriptor.for_bytes("application/vnd.dev.cosign.simplesigning.v1+json", sig_payload)
    cfg = Descriptor.for_bytes("application/vnd.oci.image.config.v1+json", b"{}")
    src.push_blob(sig_blob, io.BytesIO(sig_payload))
    src.push_blob(cfg, io.BytesIO(b"{}"))
    sig_tag = f"sha256-{kit.desc.digest.hex}.sig"
    src.push_manifest(Manifest(cfg, (sig_blob,)).to_bytes(), MANIFEST, tag=sig_tag)
    copy(src, "v1", dst, ["v1"])
    assert {d.digest for d in list_referrers(dst, kit.desc.digest)} == {sbom.digest, event.digest}
    assert [d.digest for d in list_referrers(dst, sbom.digest)] == [nested.digest]
    assert sig_tag in dst.tags()
    assert sig_blob.digest in dst.blobs
    # without referrers=True nothing but the ModelKit moves
    bare = MemoryStorage("m/bare")
    copy(src, "v1", bare, ["v1"], referrers=False)
    assert bare.tags() == ["v1"]


@pytest.mark.parametrize("api", [False, True], ids=["fallback-tag", "referrers-api"])
def test_copy_between_memory_storages_carries_every_referrer(api: bool) -> None:
    src, dst = MemoryStorage("m/src", referrers_api=api), MemoryStorage("m/dst", referrers_api=api)
    kit = push_modelkit(src, "v1", build_layers([1000]))
    sbom = _attach(src, kit.desc, "sbom")
    signature = _attach(src, kit.desc, "signature")
    copy(src, "v1", dst, ["v1"])
    found = {d.digest: d for d in list_referrers(dst, kit.desc.digest)}
    assert set(found) == {sbom.digest, signature.digest}
    assert found[sbom.digest].artifact_type == "application/vnd.test.sbom"
    for referrer in (sbom, signature):  # the manifest and its blobs, byte for byte
        assert dst.manifests[referrer.digest] == src.manifests[referrer.digest]
        manifest = Manifest.from_bytes(dst.manifests[referrer.digest][1])
        assert all(dst.blobs[b.digest] == src.blobs[b.digest] for b in (manifest.config, *manifest.layers))
    # the fallback index exists exactly where there is no referrers API
    assert (f"sha256-{kit.desc.digest.hex}" in dst.tags()) is not api


def test_copy_to_and_from_a_fake_registry_with_mount_between_repositories() -> None:
    _registry._SEEN.clear()
    net = FakeNetwork()
    fake = FakeRegistry("registry.test")
    net.add("registry.test", fake)
    reg = Registry("registry.test", RegistryOptions(), transport=net, credentials=Credential(),
                   retry=RetryPolicy(sleep=lambda s: None))
    src = MemoryStorage("m/src")
    kit = push_modelkit(src, "v1", build_layers([50_000]))
    first = copy(src, "v1", reg.repository("acme/a"), ["v1"])
    assert first.bytes_transferred == kit.blob_bytes
    second = copy(reg.repository("acme/a"), "v1", reg.repository("acme/b"), ["v1"])
    assert second.bytes_transferred == 0 and second.blobs_transferred == 2  # mounted
    assert all(r.query.get("from") == "acme/a" for r in net.requests("POST") if "acme/b" in r.path)
    back = MemoryStorage("m/back")
    assert copy(reg.repository("acme/b"), "v1", back, ["v1"]).bytes_transferred == kit.blob_bytes


def test_copy_recognises_the_capabilities_of_each_storage(tmp_path: Path) -> None:
    """Resumable ingest and same-registry mounts are found by Protocol, on the real classes."""
    from ocikit._store._copy_blobs import MountingRepository, ResumableIngest

    local = LocalStore(tmp_path / "store").repository("localhost/acme/kit")
    remote = Registry("registry.test", RegistryOptions(), transport=FakeNetwork(),
                      credentials=Credential()).repository("acme/kit")
    memory = MemoryStorage("m/x")
    assert isinstance(local, ResumableIngest) and not isinstance(local, MountingRepository)
    assert isinstance(remote, MountingRepository) and not isinstance(remote, ResumableIngest)
    assert not isinstance(memory, ResumableIngest) and not isinstance(memory, MountingRepository)


def test_pull_into_local_store_resumes_a_partial_download(tmp_path: Path) -> None:
    src = MemoryStorage("m/src")
    kit = push_modelkit(src, "v1", build_layers([100_000]))
    layer = kit.manifest.layers[0]
    store = LocalStore(tmp_path / "store")
    dst = store.repository("localhost/acme/kit")
    with store.ingest(layer) as ing:  # an earlier pull stopped after 60,000 bytes
        ing.path.parent.mkdir(parents=True, exist_ok=True)
        ing.path.write_bytes(src.blobs[layer.digest][:60_000])
    reads: list[int] = []
    original = src.open_blob

    def spy(desc: Descriptor, offset: int = 0):  # type: ignore[no-untyped-def]
        reads.append(offset)
        return original(desc, offset)

    src.open_blob = spy  # type: ignore[method-assign]
    result = copy(src, "v1", dst, ["v1"])
    assert sorted(reads) == [0, 60_000]  # the config from 0, the layer from where it stopped
    assert result.bytes_transferred == kit.blob_bytes - 60_000
    assert store.blob_path(layer.digest).read_bytes() == src.blobs[layer.digest]
    assert dst.resolve("v1").digest == kit.desc.digest


def test_pull_discards_a_corrupt_partial_download(tmp_path: Path) -> None:
    src = MemoryStorage("m/src")
    kit = push_modelkit(src, "v1", build_layers([10_000]))
    layer = kit.manifest.layers[0]
    store = LocalStore(tmp_path / "store")
    with store.ingest(layer) as ing:
        ing.path.parent.mkdir(parents=True, exist_ok=True)
        ing.path.write_bytes(b"garbage!" * 100)
    with pytest.raises(DigestMismatchError):
        copy(src, "v1", store.repository("localhost/acme/kit"), ["v1"])
    assert not store.has_blob(layer.digest)
    copy(src, "v1", store.repository("localhost/acme/kit"), ["v1"])  # the retry starts over and works
    assert store.has_blob(layer.digest)


def test_pull_with_verify_key_checks_before_storing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = FakeNetwork()
    fake = FakeRegistry("registry.test")
    net.add("registry.test", fake)
    reg = Registry("registry.test", RegistryOptions(), transport=net, credentials=Credential(),
                   retry=RetryPolicy(sleep=lambda s: None))
    push_modelkit(reg.repository("acme/kit"), "v1", build_layers([1000]))
    from ocikit._ops import _repos
    from ocikit._trust import _trust_check

    monkeypatch.setattr(_repos, "open_registry_repository", lambda ref, **kw: reg.repository(ref.repository))
    calls: list[str] = []

    def refuse(storage, ref, desc, key, **kw):  # type: ignore[no-untyped-def]
        calls.append(str(desc.digest))
        raise SignatureError("not signed")

    monkeypatch.setattr(_trust_check, "verify_signed", refuse)
    home = tmp_path / "home"
    with pytest.raises(SignatureError):
        _transfer.pull("registry.test/acme/kit:v1", home=home, verify_key=str(tmp_path / "k.pub"))
    assert len(calls) == 1
    store = LocalStore.at_home(home)
    assert not any(store.root.glob("blobs/sha256/*"))


# -- the CLI's progress renderers --------------------------------------------------------------


def test_line_progress_prints_one_line_per_blob() -> None:
    from ocikit.cli._progress_ui import LineProgress

    out = io.StringIO()
    p = LineProgress("pushed", stream=out)
    p.start("a", "model.bin", 2048)
    p.advance("a", 2048)
    p.finish("a")
    p.start("b", "config", 10)
    p.finish("b", skipped=True)
    lines = out.getvalue().splitlines()
    assert lines == ["  pushed  model.bin  2.0 KiB", "  exists  config  10 B"]


def test_progress_ui_is_silent_when_quiet() -> None:
    from ocikit._io._progress import SILENT
    from ocikit.cli._progress_ui import LineProgress, progress_ui

    with progress_ui("pulled", quiet=True) as p:
        assert p is SILENT
    with progress_ui("pulled", quiet=False) as p:  # pytest's stderr is not a TTY
        assert isinstance(p, LineProgress)


def test_rich_progress_honours_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    from ocikit.cli._progress_ui import RichProgress

    monkeypatch.setenv("NO_COLOR", "1")
    bars = RichProgress("pushed")
    assert bars._bar.console.no_color
    with bars:
        bars.start("k", "model.bin", 100)
        bars.advance("k", 60)
        bars.finish("k")
        bars.start("s", "config", 10)
        bars.finish("s", skipped=True)
    tasks = {t.description.strip(): t for t in bars._bar.tasks}
    assert tasks["model.bin"].completed == 100
    assert tasks["pushed total"].completed == 110 and tasks["pushed total"].total == 110


@pytest.mark.parametrize("width", [80, 60, 120])
def test_rich_progress_rows_fit_the_terminal(width: int) -> None:
    """Every rendered row fits the console width, so refreshes never wrap (issue: rows wrapped at 80)."""
    import io as _io

    import rich.console

    from ocikit.cli._progress_ui import RichProgress

    out = _io.StringIO()
    console = rich.console.Console(file=out, width=width, force_terminal=True, color_system=None)
    bars = RichProgress("pushed", console=console)
    bars.start("k", "a-very-long-file-name-of-a-model-shard-00001-of-00042.safetensors", 12 * 2**30)
    bars.advance("k", 3 * 2**30)
    bars.start("c", "config", 10)
    console.print(bars._bar.make_tasks_table(bars._bar.tasks))
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert len(lines) == 3  # overall + two blobs, one row each
    assert all(len(line) <= width for line in lines), lines
    assert "…" in lines[1] and "GiB" in lines[1]
