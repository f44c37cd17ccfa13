"""SBOMs against the real distribution registry (plain HTTP, loopback): attach, push, read remotely.

The registry (distribution 2.8) has no referrers API, so everything goes through the OCI 1.1
fallback tag ``sha256-<hex>``. ``ocikit sbom`` is run through a counting HTTP proxy that records
every request: reading the SBOM must not fetch a single layer byte.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from _registry_fixtures import TestRegistry, unique_repo
from _sbom_kits import PROJECT_FILES, PROJECT_SECTIONS_YAML, check_sbom, write_project
from ocikit._config import RegistryOptions
from ocikit._io._digest import Digest
from ocikit._oci._reference import Reference
from ocikit._ops._pack import pack
from ocikit._ops._repos import local_repository
from ocikit._ops._trust import sbom
from ocikit._registry._client import Registry
from ocikit._store._referrers import fallback_tag, list_referrers
from ocikit._trust._sbom import SBOM_MEDIA_TYPE, find_sbom, verify_files
from ocikit.errors import NetworkError

pytestmark = pytest.mark.registry

KITFILE = """\
manifestVersion: 1.0.0
package:
  name: sentiment
  version: 1.0.0
model:
  name: sentiment-model
  path: model
  parts:
    - name: lora
      path: adapter
""" + PROJECT_SECTIONS_YAML


@dataclass
class Recorded:
    method: str
    path: str
    status: int
    body_bytes: int


@dataclass
class CountingProxy:
    """A loopback HTTP proxy in front of the registry that records every request and body size."""

    upstream: str
    host: str = ""
    log: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def blob_requests(self) -> list[Recorded]:
        return [r for r in self.log if "/blobs/" in r.path]


@pytest.fixture
def proxy(registry: TestRegistry) -> Iterator[CountingProxy]:
    state = CountingProxy(registry.host)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            conn = http.client.HTTPConnection(state.upstream, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            with state.lock:
                state.log.append(Recorded(self.command, self.path, resp.status, len(data)))
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data) if self.command != "HEAD"
                                                   else int(resp.getheader("Content-Length") or 0)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = _forward

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.host = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    monkeypatch.delenv("OCIKIT_HOME", raising=False)
    return tmp_path


def _pack_and_push(registry: TestRegistry, tmp_path: Path, repo: str) -> tuple[Reference, Digest, bytes]:
    from ocikit._ops._transfer import push

    project = write_project(tmp_path / "project")
    (project / "Kitfile").write_text(KITFILE)
    home = tmp_path / "packer-home"
    ref = Reference.parse(f"{registry.host}/{repo}:1.0.0")
    result = pack(project, tag=str(ref), home=home)
    assert result.digest is not None
    local = find_sbom(local_repository(ref, home=home), result.digest)
    assert local is not None
    push(str(ref), home=home, options=registry.options)
    return ref, result.digest, local


def test_sbom_is_pushed_as_a_referrer(registry: TestRegistry, env: Path) -> None:
    repo = unique_repo("sbom")
    _, digest, local = _pack_and_push(registry, env, repo)
    remote = Registry(registry.host, registry.options, home=env / "reader").repository(repo)
    entries = list_referrers(remote, digest, artifact_type=SBOM_MEDIA_TYPE)
    assert len(entries) == 1 and entries[0].artifact_type == SBOM_MEDIA_TYPE
    assert fallback_tag(digest) in remote.tags()  # distribution 2.8: the fallback index
    assert find_sbom(remote, digest) == local
    check_sbom(local)


def test_ocikit_sbom_fetches_no_layer_byte(registry: TestRegistry, proxy: CountingProxy, env: Path) -> None:
    repo = unique_repo("sbom")
    _, _, local = _pack_and_push(registry, env, repo)
    remote = Registry(registry.host, registry.options, home=env / "reader").repository(repo)
    from ocikit._store._storage import read_manifest

    _, manifest = read_manifest(remote, "1.0.0")
    layer_digests = {str(d.digest) for d in (manifest.config, *manifest.layers)}

    from ocikit.cli import main

    reader_home = env / "reader-home"  # empty: nothing local, so the registry is read
    with CliRunner().isolation() as streams:
        try:
            main(["--home", str(reader_home), "sbom", f"{proxy.host}/{repo}:1.0.0", "--plain-http"])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        out, err = streams[0].getvalue(), streams[1].getvalue().decode()
    assert code == 0, err
    assert out == local
    fetched = [r for r in proxy.blob_requests() if r.method == "GET"]
    for r in proxy.log:
        assert not any(d in r.path for d in layer_digests), f"fetched a ModelKit blob: {r.method} {r.path}"
    assert [r.path.rsplit("/", 1)[-1] for r in fetched] == [str(Digest.of_bytes(local))]
    assert sum(r.body_bytes for r in fetched) == len(local)
    # everything else is small JSON: the manifest, the referrers index, the SBOM's manifest
    assert sum(r.body_bytes for r in proxy.log) < len(local) + 16 * 1024
    assert not (reader_home / "store").exists() or not any((reader_home / "store").rglob("*.tar"))


def test_remote_sbom_unpack_verify_files(registry: TestRegistry, env: Path) -> None:
    from ocikit._ops._unpack import unpack

    repo = unique_repo("sbom")
    ref, _, local = _pack_and_push(registry, env, repo)
    reader = env / "serving-home"
    assert sbom(str(ref), home=reader, options=registry.options) == local
    target = env / "serve"
    unpack(str(ref), target, home=reader, options=registry.options)
    assert (target / "SBOM.json").read_bytes() == local
    result = verify_files(target, target / "SBOM.json")
    assert result.files == len(PROJECT_FILES)


def test_sbom_follows_a_pull(registry: TestRegistry, env: Path) -> None:
    from ocikit._ops._transfer import pull

    repo = unique_repo("sbom")
    ref, digest, local = _pack_and_push(registry, env, repo)
    puller = env / "puller-home"
    pull(str(ref), home=puller, options=registry.options)
    assert find_sbom(local_repository(ref, home=puller), digest) == local
    # --offline reads the local copy: a bogus registry option must not matter
    assert sbom(str(ref), home=puller, options=RegistryOptions(plain_http=False, offline=True)) == local
    # without it, a registry reference is answered by the registry (here: unreachable over TLS)
    with pytest.raises(NetworkError):
        sbom(str(ref), home=puller, options=RegistryOptions(plain_http=False))
