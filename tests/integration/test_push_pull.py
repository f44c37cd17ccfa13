"""push / pull / login against the real distribution registry (registry-test/)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from _registry_fixtures import TestRegistry, unique_repo
from conftest import Run  # type: ignore[import-not-found]
from fakes.modelkit import BuiltKit, build_layers, push_modelkit
from ocikit._io._digest import Digest
from ocikit._oci._reference import Reference
from ocikit._ops._transfer import pull, push
from ocikit._registry import _repository as _registry
from ocikit._registry._client import Registry
from ocikit._registry._credentials import Credential
from ocikit._store._layout import LocalStore

pytestmark = pytest.mark.registry


@pytest.fixture(autouse=True)
def _forget_seen_blobs() -> None:
    """The per-registry blob memory is process-wide: without this, a blob another test pushed
    (the same config bytes) would be mounted, and byte counts would depend on test order."""
    _registry._SEEN.clear()


def ocikit(home: Path, *args: str, input: str | None = None) -> Run:
    """The real entry point (error boundary, exit codes) in a subprocess."""
    done = subprocess.run([sys.executable, "-m", "ocikit", "--home", str(home), *args], input=input,
                          capture_output=True, text=True, timeout=120, check=False)
    return Run(done.returncode, done.stdout, done.stderr)


def local_kit(home: Path, name: str, sizes: list[int], seed: int = 0) -> BuiltKit:
    store = LocalStore.at_home(home)
    return push_modelkit(store.repository(Reference.parse(name).name), Reference.parse(name).tag,
                         build_layers(sizes, seed))


def test_push_then_pull_into_a_fresh_home(registry: TestRegistry, tmp_path: Path) -> None:
    kit = local_kit(tmp_path / "a", "acme/kit:1.0", [2_000_000, 300_000])
    repo = unique_repo()
    dest = f"{registry.host}/{repo}:1.0"
    pushed = push("acme/kit:1.0", dest, tags=["latest"], home=tmp_path / "a", options=registry.options)
    assert pushed.digest == kit.desc.digest
    assert pushed.bytes_transferred == kit.blob_bytes and pushed.blobs_transferred == 3
    pulled = pull(dest, home=tmp_path / "b", options=registry.options)
    assert pulled.digest == kit.desc.digest and pulled.bytes_transferred == kit.blob_bytes
    store = LocalStore.at_home(tmp_path / "b")
    local = store.repository(f"{registry.host}/{repo}")
    assert local.resolve("1.0").digest == kit.desc.digest
    for digest, data in kit.blobs.items():
        assert store.blob_path(Digest.parse(digest)).read_bytes() == data
    reg_repo = Registry(registry.host, registry.options, credentials=Credential()).repository(repo)
    assert sorted(reg_repo.tags()) == ["1.0", "latest"]


def test_second_push_transfers_nothing(registry: TestRegistry, tmp_path: Path) -> None:
    kit = local_kit(tmp_path, "acme/kit:1.0", [1_000_000])
    dest = f"{registry.host}/{unique_repo()}:1.0"
    push("acme/kit:1.0", dest, home=tmp_path, options=registry.options)
    again = push("acme/kit:1.0", dest, home=tmp_path, options=registry.options)
    assert again.bytes_transferred == 0 and again.blobs_transferred == 0
    assert again.bytes_skipped == kit.blob_bytes
    second_pull = pull(dest, home=tmp_path / "p", options=registry.options)
    assert pull(dest, home=tmp_path / "p", options=registry.options).bytes_transferred == 0
    assert second_pull.bytes_transferred == kit.blob_bytes


def test_push_to_a_second_repository_mounts_instead_of_uploading(registry: TestRegistry, tmp_path: Path) -> None:
    _registry._SEEN.clear()
    kit = local_kit(tmp_path, "acme/kit:1.0", [1_500_000])
    first, second = unique_repo(), unique_repo()
    push("acme/kit:1.0", f"{registry.host}/{first}:1.0", home=tmp_path, options=registry.options)
    moved = push("acme/kit:1.0", f"{registry.host}/{second}:1.0", home=tmp_path, options=registry.options)
    assert moved.bytes_transferred == 0  # no blob bytes sent: mounted from the first repository
    assert moved.blobs_transferred == 2
    check = Registry(registry.host, registry.options, credentials=Credential()).repository(second)
    assert all(check.has_blob(d) for d in [kit.manifest.config, *kit.manifest.layers])


def test_interrupted_pull_resumes_with_only_the_rest(registry: TestRegistry, tmp_path: Path) -> None:
    kit = local_kit(tmp_path / "src", "acme/kit:1.0", [3_000_000], seed=7)
    dest = f"{registry.host}/{unique_repo()}:1.0"
    push("acme/kit:1.0", dest, home=tmp_path / "src", options=registry.options)
    layer = kit.manifest.layers[0]
    home = tmp_path / "dst"
    store = LocalStore.at_home(home)
    with store.ingest(layer) as ing:  # what an interrupted pull leaves behind
        ing.path.parent.mkdir(parents=True, exist_ok=True)
        ing.path.write_bytes(kit.blobs[str(layer.digest)][:1_000_000])
    result = pull(dest, home=home, options=registry.options)
    config_size = kit.manifest.config.size
    assert result.bytes_transferred == (layer.size - 1_000_000) + config_size
    assert store.blob_path(layer.digest).read_bytes() == kit.blobs[str(layer.digest)]


def test_concurrent_pulls_of_the_same_modelkit(registry: TestRegistry, tmp_path: Path) -> None:
    kit = local_kit(tmp_path / "src", "acme/kit:1.0", [1_000_000, 800_000], seed=3)
    dest = f"{registry.host}/{unique_repo()}:1.0"
    push("acme/kit:1.0", dest, home=tmp_path / "src", options=registry.options)
    home = tmp_path / "dst"
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            pull(dest, home=home, options=registry.options)
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = LocalStore.at_home(home)
    assert store.repository(Reference.parse(dest).name).resolve("1.0").digest == kit.desc.digest
    for d in [kit.manifest.config, *kit.manifest.layers]:
        assert store.blob_path(d.digest).read_bytes() == kit.blobs[str(d.digest)]


def test_tls_registry_with_ca_file(tls_registry: TestRegistry, tmp_path: Path) -> None:
    kit = local_kit(tmp_path, "acme/kit:1.0", [200_000])
    dest = f"{tls_registry.host}/{unique_repo()}:1.0"
    assert push("acme/kit:1.0", dest, home=tmp_path, options=tls_registry.options).digest == kit.desc.digest
    assert pull(dest, home=tmp_path / "b", options=tls_registry.options).digest == kit.desc.digest


# -- through the CLI: exit codes and messages --------------------------------------------------


def test_cli_login_push_pull_logout_over_tls_with_htpasswd(auth_registry: TestRegistry, home: Path) -> None:
    assert auth_registry.password and auth_registry.ca_file
    kit = local_kit(home, "acme/kit:1.0", [300_000])
    ca = ["--ca-file", auth_registry.ca_file]
    dest = f"{auth_registry.host}/{unique_repo()}:1.0"
    denied = ocikit(home, "push", "acme/kit:1.0", dest, *ca)
    assert denied.exit_code == 5
    wrong = ocikit(home, "login", auth_registry.host, "-u", auth_registry.username, "--password-stdin", *ca,
                input="not-the-password\n")
    assert wrong.exit_code == 5
    assert "not-the-password" not in wrong.output
    ok = ocikit(home, "login", auth_registry.host, "-u", auth_registry.username, "--password-stdin", *ca,
             input=auth_registry.password + "\n")
    assert auth_registry.password not in ok.output
    pushed = ocikit(home, "push", "acme/kit:1.0", dest, *ca, "--json")
    assert json.loads(pushed.stdout)["digest"] == str(kit.desc.digest)
    pulled = ocikit(home, "pull", dest, *ca, "--json")
    assert json.loads(pulled.stdout)["bytesTransferred"] == 0  # the blobs are already local
    ocikit(home, "logout", auth_registry.host)
    assert ocikit(home, "pull", dest, *ca).exit_code == 5


def test_cli_not_found_is_exit_6(registry: TestRegistry, home: Path) -> None:
    result = ocikit(home, "pull", f"{registry.host}/{unique_repo()}:nope", "--plain-http")
    assert result.exit_code == 6
    assert "not found" in result.stderr and "Traceback" not in result.output


def test_cli_https_to_a_plain_registry_hints_plain_http(registry: TestRegistry, home: Path) -> None:
    result = ocikit(home, "pull", f"{registry.host}/{unique_repo()}:1")
    assert result.exit_code == 4
    assert "--plain-http" in result.stderr


def test_cli_untrusted_certificate_hints_ca_file(tls_registry: TestRegistry, home: Path) -> None:
    result = ocikit(home, "pull", f"{tls_registry.host}/{unique_repo()}:1")
    assert result.exit_code == 4
    assert "--ca-file" in result.stderr and "certificate" in result.stderr


def test_cli_no_tls_verify_works(tls_registry: TestRegistry, home: Path) -> None:
    local_kit(home, "acme/kit:1.0", [10_000])
    ocikit(home, "push", "acme/kit:1.0", f"{tls_registry.host}/{unique_repo()}:1.0", "--no-tls-verify")


def test_cli_push_progress_lines_when_not_a_tty(registry: TestRegistry, home: Path) -> None:
    local_kit(home, "acme/kit:1.0", [10_000])
    result = ocikit(home, "push", "acme/kit:1.0", f"{registry.host}/{unique_repo()}:1.0", "--plain-http")
    assert "pushed" in result.stderr and "Pushed" in result.stdout
    quiet = ocikit(home, "-q", "push", "acme/kit:1.0", f"{registry.host}/{unique_repo()}:1.0", "--plain-http")
    assert quiet.stderr == ""


def test_connection_refused_is_exit_4(home: Path) -> None:
    result = ocikit(home, "pull", "127.0.0.1:1/acme/kit:1", "--plain-http")
    assert result.exit_code == 4 and "connection refused" in result.stderr




def test_a_later_run_mounts_from_the_repository_it_pushed_to_or_pulled_from(registry: TestRegistry,
                                                                             tmp_path: Path) -> None:
    """The blob-source memory lives in the home, so a new process (here: _SEEN cleared) mounts."""
    kit = local_kit(tmp_path / "a", "acme/kit:1.0", [1_200_000, 50_000], seed=7)
    first, second, third = unique_repo(), unique_repo(), unique_repo()
    push("acme/kit:1.0", f"{registry.host}/{first}:1.0", home=tmp_path / "a", options=registry.options)
    _registry._SEEN.clear()
    again = push("acme/kit:1.0", f"{registry.host}/{second}:1.0", home=tmp_path / "a", options=registry.options)
    assert again.bytes_transferred == 0  # all three blobs mounted: no byte sent
    assert again.blobs_transferred == 3
    check = Registry(registry.host, registry.options, credentials=Credential()).repository(second)
    assert all(check.has_blob(d) for d in [kit.manifest.config, *kit.manifest.layers])
    # a serving host that pulled from `first` and re-publishes to `third` mounts too
    pull(f"{registry.host}/{first}:1.0", home=tmp_path / "b", options=registry.options)
    _registry._SEEN.clear()
    copied = push(f"{registry.host}/{first}:1.0", f"{registry.host}/{third}:1.0", home=tmp_path / "b",
                  options=registry.options)
    assert copied.bytes_transferred == 0 and copied.digest == kit.desc.digest


def test_a_crashed_blob_push_resumes_on_the_real_registry(registry: TestRegistry, tmp_path: Path) -> None:
    """distribution keeps the session's bytes; the next run continues from its Range."""
    import io
    import os

    from fakes.streams import FailingStream
    from ocikit._oci._model import Descriptor
    from ocikit._registry._upload_sessions import UploadSessions

    data = os.urandom(3_000_000)
    desc = Descriptor("application/octet-stream", Digest.of_bytes(data), len(data))
    repo = unique_repo()

    def repository() -> _registry.RegistryRepository:
        return Registry(registry.host, registry.options, credentials=Credential(), home=tmp_path,
                        chunked_min_size=100_000, chunk_size=1_000_000).repository(repo)

    class Crash(BaseException):  # like kill -9: no handler of ours runs
        pass

    with pytest.raises(Crash):
        repository().push_blob(desc, FailingStream(data, 2_000_000, Crash))
    location = UploadSessions(tmp_path).get(registry.host, repo, desc.digest)
    assert location is not None
    first = repository()
    status = first._uploader.status(location)
    assert status is not None and status[0] == 2_000_000  # what the registry kept
    _registry._SEEN.clear()
    first.push_blob(desc, io.BytesIO(data))
    assert first.has_blob(desc)
    assert UploadSessions(tmp_path).get(registry.host, repo, desc.digest) is None
