"""Registry faults injected by a proxy in front of the REAL registry (docs/reliability.md, "Registry faults").

Every scenario pushes or pulls a small ModelKit through :class:`FaultProxy`. The operation must
either complete correctly after retries or fail with a clear one-line OcikitError; and whatever
happened, the registry must never hold a tag pointing at an incomplete ModelKit (checked by
``HEAD`` of every blob of the tagged manifest, straight against the registry) and the local store
must pass fsck. Counts (faults injected, survived, failed clearly) are printed at the end of the
module (``pytest -s``) and recorded in docs/reliability.md.
"""

from __future__ import annotations

import email.utils
import hashlib
import io
import itertools
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from _registry_fixtures import TestRegistry
from fakes.fault_proxy import FaultProxy, Rule
from fakes.kits import Kit, put_kit
from ocikit._config import RegistryOptions
from ocikit._io._digest import Digest
from ocikit._oci._model import Descriptor, Manifest
from ocikit._registry._client import Registry, RetryPolicy
from ocikit._registry._credentials import Credential
from ocikit._registry._http import Body, Response, Transport, Urllib3Transport
from ocikit._store._fsck import fsck
from ocikit._store._layout import LocalStore
from ocikit.errors import NotFoundError, OcikitError

pytestmark = [pytest.mark.registry, pytest.mark.slow]  # fault injection: crash/fault tests are slow

TALLY = {"scenarios": 0, "injected": 0, "survived": 0, "failed_clearly": 0}
_n = itertools.count()

BLOB_HEAD = r"^/v2/.+/blobs/sha256:"
UPLOAD_POST = r"^/v2/.+/blobs/uploads/$"
UPLOAD_URL = r"^/v2/.+/blobs/uploads/[^/?]+"
MANIFEST = r"^/v2/.+/manifests/"
BLOB_GET = r"^/v2/.+/blobs/sha256:"
REFERRERS = r"^/v2/.+/referrers/"
MANIFEST_BLOB_UNKNOWN = b'{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}'


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    print(f"\nfault injection: {TALLY}")


@pytest.fixture
def proxy(registry: TestRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(registry.host) as p:
        yield p


def _http_date(seconds_ahead: float) -> str:
    return email.utils.formatdate(time.time() + seconds_ahead, usegmt=True)


def _kit(home: Path, name: str) -> Kit:
    store = LocalStore.at_home(home)
    layers = [f"{name} weights ".encode() * 20_000, f"{name} data ".encode() * 5_000]
    return put_kit(store, f"localhost/{name}", "1", name, layers)


def assert_registry_consistent(registry: TestRegistry, repository: str, tag: str) -> bool:
    """True if ``tag`` exists; then every blob of its manifest must be present (HEAD, no proxy)."""
    repo = Registry(registry.host, registry.options).repository(repository)
    try:
        desc = repo.resolve(tag)
    except NotFoundError:
        return False
    manifest = Manifest.from_bytes(repo.fetch_manifest(desc))
    missing = [str(d.digest) for d in (manifest.config, *manifest.layers) if not repo.has_blob(d)]
    assert not missing, f"{repository}:{tag} points at an incomplete ModelKit: {missing}"
    return True


def _clear(e: OcikitError) -> None:
    text = str(e)
    assert "\n" not in text and text, f"not a one-line message: {text!r}"
    assert "Traceback" not in text


PUSH_FAULTS = {
    "503-retry-after-seconds": [Rule("status", "HEAD", BLOB_HEAD, status=503, headers={"Retry-After": "1"})],
    "429-retry-after-http-date": [Rule("status", "POST", UPLOAD_POST, status=429,
                                       headers={"Retry-After": _http_date(1.5)})],
    "reset-mid-upload": [Rule("reset-request", "PUT", UPLOAD_URL)],
    "upload-session-expired": [Rule("expire-upload", "PUT", UPLOAD_URL)],
    "upload-session-expired-twice": [Rule("expire-upload", "PUT", UPLOAD_URL, times=2)],
    "head-404-after-put": [Rule("head-404-after-put", "PUT", UPLOAD_URL, times=3)],
    "401-token-expiry-mid-push": [Rule("challenge", "PUT", UPLOAD_URL, after=1)],
    "401-on-manifest-put": [Rule("challenge", "PUT", MANIFEST)],
    "405-on-every-head": [Rule("status", "HEAD", r"^/v2/", status=405, times=1000, body=b"")],
    "manifest-blob-unknown-lag": [Rule("status", "PUT", MANIFEST, status=400, times=2, body=MANIFEST_BLOB_UNKNOWN)],
    "413-manifest-put": [Rule("status", "PUT", MANIFEST, status=413, times=10,
                              body=b'{"errors":[{"code":"SIZE_INVALID","message":"manifest too big"}]}')],
    "503-forever-on-upload": [Rule("status", "POST", UPLOAD_POST, status=503, times=100)],
    "reset-forever-mid-upload": [Rule("reset-request", "PUT", UPLOAD_URL, times=100)],
}


#: Faults the registry client does not survive yet (docs/reliability.md, "Registry faults", says it should). Strict
#: xfail: the day the client handles them, these turn into failures and this list must shrink.
KNOWN_GAPS: dict[str, str] = {}


def _params(faults: dict[str, list[Rule]]) -> list[object]:
    return [pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN_GAPS[name], strict=True))
            if name in KNOWN_GAPS else name for name in sorted(faults)]


@pytest.mark.parametrize("scenario", _params(PUSH_FAULTS))
def test_push_survives_or_fails_clearly(scenario: str, registry: TestRegistry, proxy: FaultProxy,
                                        tmp_path: Path) -> None:
    from ocikit._ops._transfer import push

    name = f"faults/push{next(_n)}"
    home = tmp_path / "home"
    kit = _kit(home, name)
    proxy.rules.extend(PUSH_FAULTS[scenario])
    TALLY["scenarios"] += 1
    try:
        result = push(f"{name}:1", f"{proxy.host}/{name}:1", home=home, options=RegistryOptions(plain_http=True))
    except OcikitError as e:
        _clear(e)
        TALLY["failed_clearly"] += 1
        assert scenario in ("413-manifest-put", "503-forever-on-upload", "reset-forever-mid-upload"), (
            f"{scenario}: a transient fault was not survived: {e}")
        assert not assert_registry_consistent(registry, name, "1")
    else:
        TALLY["survived"] += 1
        assert result.digest == kit.manifest.digest
        assert assert_registry_consistent(registry, name, "1")
    finally:
        TALLY["injected"] += proxy.injected
    assert proxy.injected >= 1, f"{scenario}: no fault was injected"


PULL_FAULTS = {
    "503-on-manifest-get": [Rule("status", "GET", MANIFEST, status=503, headers={"Retry-After": "1"})],
    "429-http-date-on-blob": [Rule("status", "GET", BLOB_GET, status=429, headers={"Retry-After": _http_date(1)})],
    "reset-mid-download": [Rule("reset-response", "GET", BLOB_GET, times=2)],
    "401-token-expiry-mid-pull": [Rule("challenge", "GET", BLOB_GET, after=1)],
    "lying-docker-content-digest": [Rule("lie-digest", None, MANIFEST, times=10)],
    "303-on-referrers": [Rule("status", "GET", REFERRERS, status=303, times=10,
                              headers={"Location": "/v2/"}, body=b"")],
    "501-on-referrers": [Rule("status", "GET", REFERRERS, status=501, times=10, body=b"not implemented")],
    "reset-forever-mid-download": [Rule("reset-response", "GET", BLOB_GET, times=1000)],
}


@pytest.mark.parametrize("scenario", _params(PULL_FAULTS))
def test_pull_survives_or_fails_clearly(scenario: str, registry: TestRegistry, proxy: FaultProxy,
                                        tmp_path: Path) -> None:
    from ocikit._ops._transfer import pull, push

    name = f"faults/pull{next(_n)}"
    kit = _kit(tmp_path / "src", name)
    push(f"{name}:1", f"{registry.host}/{name}:1", home=tmp_path / "src", options=registry.options)
    home = tmp_path / "dst"
    proxy.rules.extend(PULL_FAULTS[scenario])
    TALLY["scenarios"] += 1
    store = LocalStore.at_home(home)
    try:
        result = pull(f"{proxy.host}/{name}:1", home=home, options=RegistryOptions(plain_http=True))
    except OcikitError as e:
        _clear(e)
        TALLY["failed_clearly"] += 1
        assert scenario == "reset-forever-mid-download", f"{scenario}: a transient fault was not survived: {e}"
        assert store.repository(f"{proxy.host}/{name}").tags() == []
    else:
        TALLY["survived"] += 1
        assert result.digest == kit.manifest.digest
        repo = store.repository(f"{proxy.host}/{name}")
        assert repo.resolve("1").digest == kit.manifest.digest
        for desc in kit.blobs:
            assert store.has_blob(desc.digest, desc.size)
    finally:
        TALLY["injected"] += proxy.injected
    assert proxy.injected >= 1, f"{scenario}: no fault was injected"
    assert fsck(home).ok


# -- chunked uploads (PATCH) against the real registry ------------------------------------------
#
# Chunking is normally for blobs of 8 GiB and more; ``Registry(chunked_min_size=, chunk_size=)``
# brings it down to test size, so distribution 2.8's real PATCH/Range/Location behaviour is what
# the client meets (the unit tests only meet the in-process fake).

CHUNK = 64 * 1024
BLOB_SIZE = 5 * CHUNK + 12_345  # six PATCHes, the last one short


class _Recording:
    """An injected transport that records (method, path) of every request it passes on."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, str]] = []

    def request(self, method: str, url: str, *, headers: Mapping[str, str], body: Body = None) -> Response:
        self.sent.append((method, urlsplit(url).path))
        return self.inner.request(method, url, headers=headers, body=body)


def _chunked_registry(host: str, options: RegistryOptions) -> tuple[Registry, _Recording]:
    transport = _Recording(Urllib3Transport(options))
    reg = Registry(host, options, transport=transport, credentials=Credential(),
                   retry=RetryPolicy(base=0.01, cap=0.05), chunked_min_size=CHUNK, chunk_size=CHUNK)
    return reg, transport


def _blob_on_registry(registry: TestRegistry, repository: str, desc: Descriptor) -> Digest:
    """The digest of the bytes the registry serves for ``desc`` (straight, not through a proxy)."""
    repo = Registry(registry.host, registry.options, credentials=Credential()).repository(repository)
    assert repo.has_blob(desc)
    h = hashlib.sha256()
    stream = repo.open_blob(desc)
    try:
        for piece in iter(lambda: stream.read(CHUNK), b""):
            h.update(piece)
    finally:
        stream.close()
    return Digest.from_hash(h)


def test_chunked_upload_to_the_real_registry(registry: TestRegistry) -> None:
    name = f"faults/chunked{next(_n)}"
    data = os.urandom(BLOB_SIZE)
    desc = Descriptor("application/octet-stream", Digest.of_bytes(data), len(data))
    reg, transport = _chunked_registry(registry.host, registry.options)
    reg.repository(name).push_blob(desc, io.BytesIO(data))
    patches = [m for m, _ in transport.sent if m == "PATCH"]
    assert len(patches) == 6
    assert [m for m, _ in transport.sent if m in ("POST", "PUT")] == ["POST", "PUT"]
    assert _blob_on_registry(registry, name, desc) == desc.digest
    # below the threshold: one streamed PUT, no PATCH
    small = os.urandom(CHUNK - 1)
    small_desc = Descriptor("application/octet-stream", Digest.of_bytes(small), len(small))
    transport.sent.clear()
    reg.repository(name).push_blob(small_desc, io.BytesIO(small))
    assert [m for m, _ in transport.sent] == ["POST", "PUT"]
    assert _blob_on_registry(registry, name, small_desc) == small_desc.digest


CHUNKED_FAULTS = {
    "chunked-reset-mid-patch": [Rule("reset-request", "PATCH", UPLOAD_URL, after=1)],
    "chunked-401-mid-patch": [Rule("challenge", "PATCH", UPLOAD_URL, after=2)],
    "chunked-session-expired-on-patch": [Rule("expire-upload", "PATCH", UPLOAD_URL, after=3)],
    "chunked-session-expired-on-final-put": [Rule("expire-upload", "PUT", UPLOAD_URL)],
}


@pytest.mark.parametrize("scenario", sorted(CHUNKED_FAULTS))
def test_chunked_upload_survives(scenario: str, registry: TestRegistry, proxy: FaultProxy) -> None:
    name = f"faults/chunked{next(_n)}"
    data = os.urandom(BLOB_SIZE)
    desc = Descriptor("application/octet-stream", Digest.of_bytes(data), len(data))
    proxy.rules.extend(CHUNKED_FAULTS[scenario])
    reg, transport = _chunked_registry(proxy.host, RegistryOptions(plain_http=True))
    TALLY["scenarios"] += 1
    try:
        reg.repository(name).push_blob(desc, io.BytesIO(data))
        TALLY["survived"] += 1
    finally:
        TALLY["injected"] += proxy.injected
    assert proxy.injected >= 1, f"{scenario}: no fault was injected"
    assert _blob_on_registry(registry, name, desc) == desc.digest
    sessions = sum(1 for m, _ in transport.sent if m == "POST")
    if "expired" in scenario:
        assert sessions == 2  # the lost session was replaced, once
    else:
        assert sessions == 1  # resumed in the same session from GET <location>'s Range
        assert ("GET", next(p for m, p in transport.sent if m == "PATCH")) in transport.sent
