"""The registry client against an in-process fake registry: protocol, faults, safety."""

from __future__ import annotations

import email.utils
import io
import json
import logging
import os
import time
from pathlib import Path

import pytest

from fakes.registry import OCI_INDEX, FakeNetwork, FakeRegistry, FakeResponse, TokenServer
from fakes.streams import FailingStream
from ocikit._config import RegistryOptions
from ocikit._io._digest import Digest
from ocikit._oci._model import KITOPS_CONFIG, MANIFEST, Descriptor, Manifest
from ocikit._registry import _repository, _upload
from ocikit._registry._client import Registry, RegistryRepository, RetryPolicy
from ocikit._registry._credentials import Credential
from ocikit._registry._host import CHUNK_SIZE, CHUNKED_MIN_SIZE
from ocikit._registry._retry import MAX_RESUMES
from ocikit._registry._upload import UPLOAD_RESTARTS
from ocikit._store._referrers import list_referrers, push_referrer
from ocikit._store._storage import open_verified, read_blob
from ocikit.errors import (
    AuthError,
    DigestMismatchError,
    NetworkError,
    NotFoundError,
    RegistryError,
    VerificationError,
)

HOST = "registry.test"


@pytest.fixture(autouse=True)
def _fresh_blob_memory() -> None:
    _repository._SEEN.clear()


class Setup:
    def __init__(self, *, cred: Credential | None = None, chunked_min_size: int = CHUNKED_MIN_SIZE,
                 chunk_size: int = CHUNK_SIZE, **kw: object) -> None:
        self.net = FakeNetwork()
        self.fake = FakeRegistry(HOST, **kw)  # type: ignore[arg-type]
        self.net.add(HOST, self.fake)
        self.sleeps: list[float] = []
        self.registry = Registry(HOST, RegistryOptions(), transport=self.net, credentials=cred or Credential(),
                                 retry=RetryPolicy(sleep=self.sleeps.append), chunked_min_size=chunked_min_size,
                                 chunk_size=chunk_size)

    def repo(self, name: str = "acme/kit") -> RegistryRepository:
        return self.registry.repository(name)


def _kit(fake: FakeRegistry, repo: str = "acme/kit", tag: str = "v1", layer: bytes = b"L" * 5000) -> Descriptor:
    config = b'{"manifestVersion":"1.0.0"}'
    cd = fake.put_blob(repo, config)
    ld = fake.put_blob(repo, layer)
    manifest = Manifest(Descriptor(KITOPS_CONFIG, Digest.parse(cd), len(config)),
                        (Descriptor("application/vnd.kitops.modelkit.model.v1.tar", Digest.parse(ld), len(layer)),))
    data = manifest.to_bytes()
    fake.put_manifest(repo, data, MANIFEST, tag)
    return Descriptor(MANIFEST, Digest.of_bytes(data), len(data))


# -- manifests ---------------------------------------------------------------------------------


def test_manifest_requests_send_explicit_oci_accept_and_resolve_by_our_own_hash() -> None:
    s = Setup()
    want = _kit(s.fake)
    s.fake.lying_digest = "sha256:" + "0" * 64
    desc = s.repo().resolve("v1")
    assert desc == want  # the lying Docker-Content-Digest header was not used
    gets = s.net.requests("GET")
    assert all("application/vnd.oci.image.manifest.v1+json" in r.headers["Accept"] for r in gets)
    assert all("application/vnd.oci.image.index.v1+json" in r.headers["Accept"] for r in gets)
    assert s.repo().has_manifest(want.digest)
    assert "application/vnd.oci.image.manifest.v1+json" in s.net.requests("HEAD")[-1].headers["Accept"]


def test_manifest_served_under_a_digest_it_does_not_have_is_refused() -> None:
    s = Setup()
    want = _kit(s.fake)
    s.fake.manifest_overrides[str(want.digest)] = b'{"schemaVersion":2,"evil":true}'
    with pytest.raises(DigestMismatchError):
        s.repo().resolve(str(want.digest))
    with pytest.raises(DigestMismatchError):
        s.repo().fetch_manifest(want)


def test_huge_manifest_is_refused_without_reading_it() -> None:
    s = Setup()
    huge = b'{"schemaVersion":2,"layers":[' + b" " * (5 * 1024 * 1024) + b"]}"
    s.net.fault(lambda r: "/manifests/" in r.path,
                respond=lambda r: FakeResponse(200, {"Content-Type": MANIFEST}, huge))
    with pytest.raises(VerificationError, match="limit"):
        s.repo().resolve("v1")


def test_huge_manifest_without_content_length_is_capped() -> None:
    s = Setup()
    huge = b"{" + b" " * (5 * 1024 * 1024)
    resp = FakeResponse(200, {"Content-Type": MANIFEST}, huge)
    del resp.headers["content-length"]
    s.net.fault(lambda r: "/manifests/" in r.path, respond=lambda r: resp)
    with pytest.raises(VerificationError, match="limit"):
        s.repo().resolve("v1")
    assert resp._pos <= 4 * 1024 * 1024 + 1  # read no more than the cap + 1 byte


def test_not_found_and_auth_errors_map_to_exit_codes() -> None:
    s = Setup()
    with pytest.raises(NotFoundError) as e:
        s.repo().resolve("nope")
    assert e.value.exit_code == 6
    s.net.fault(lambda r: True, respond=lambda r: FakeResponse(403, {}, b'{"errors":[{"code":"DENIED"}]}'))
    with pytest.raises(AuthError) as a:
        s.repo().resolve("v1")
    assert a.value.exit_code == 5


# -- retries -----------------------------------------------------------------------------------


def test_503_with_retry_after_seconds_is_retried_after_that_delay() -> None:
    s = Setup()
    want = _kit(s.fake)
    s.net.fault(lambda r: r.method == "GET", times=2,
                respond=lambda r: FakeResponse(503, {"Retry-After": "7"}, b"busy"))
    assert s.repo().resolve("v1") == want
    assert s.sleeps == [7.0, 7.0]


def test_429_with_http_date_retry_after_is_honoured() -> None:
    s = Setup()
    want = _kit(s.fake)
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    s.net.fault(lambda r: r.method == "GET", respond=lambda r: FakeResponse(429, {"Retry-After": when}))
    assert s.repo().resolve("v1") == want
    assert len(s.sleeps) == 1 and 15 <= s.sleeps[0] <= 21


def test_retry_after_is_capped() -> None:
    s = Setup()
    _kit(s.fake)
    s.net.fault(lambda r: r.method == "GET", respond=lambda r: FakeResponse(429, {"Retry-After": "86400"}))
    s.repo().resolve("v1")
    assert s.sleeps == [60.0]


def test_retries_are_bounded_then_a_network_error() -> None:
    s = Setup()
    _kit(s.fake)
    s.net.fault(lambda r: r.method == "GET", times=100, respond=lambda r: FakeResponse(502, {}, b""))
    with pytest.raises(NetworkError) as e:
        s.repo().resolve("v1")
    assert e.value.exit_code == 4
    assert len(s.net.requests("GET")) == 5


def test_connection_reset_before_an_answer_is_retried() -> None:
    s = Setup()
    want = _kit(s.fake)
    s.net.fault(lambda r: r.method == "GET", reset=True)
    assert s.repo().resolve("v1") == want
    assert len(s.net.requests("GET")) == 2


def test_404_is_not_retried() -> None:
    s = Setup()
    with pytest.raises(NotFoundError):
        s.repo().resolve("missing")
    assert len(s.net.requests("GET")) == 1 and s.sleeps == []


# -- downloads ---------------------------------------------------------------------------------


def test_download_reset_mid_body_resumes_with_range() -> None:
    s = Setup()
    layer = os.urandom(300_000)
    d = Descriptor("x", Digest.of_bytes(layer), len(layer))
    s.fake.put_blob("acme/kit", layer)
    s.net.fault(lambda r: r.method == "GET" and "/blobs/" in r.path, body_break_after=100_000)
    reader = open_verified(s.repo(), d)
    assert b"".join(iter(lambda: reader.read(65536), b"")) == layer
    gets = s.net.requests("GET")
    assert len(gets) == 2
    assert "Range" not in gets[0].headers
    assert gets[1].headers["Range"] == "bytes=100000-"
    assert gets[0].headers["Accept-Encoding"] == "identity"


def test_short_body_is_resumed_and_verified() -> None:
    s = Setup()
    layer = os.urandom(50_000)
    d = Descriptor("x", Digest.of_bytes(layer), len(layer))
    s.fake.put_blob("acme/kit", layer)
    s.net.fault(lambda r: r.method == "GET" and "/blobs/" in r.path, body_truncate_to=20_000)
    assert read_blob(s.repo(), d) == layer
    assert s.net.requests("GET")[-1].headers["Range"] == "bytes=20000-"


def test_wrong_bytes_for_a_digest_are_refused() -> None:
    s = Setup()
    layer = b"good" * 1000
    d = Descriptor("x", Digest.of_bytes(layer), len(layer))
    s.fake.put_blob("acme/kit", layer)
    s.fake.blob_overrides[str(d.digest)] = b"evil" * 1000
    with pytest.raises(DigestMismatchError):
        read_blob(s.repo(), d)


def test_open_blob_with_offset_asks_only_for_the_rest() -> None:
    s = Setup()
    layer = os.urandom(10_000)
    d = Descriptor("x", Digest.of_bytes(layer), len(layer))
    s.fake.put_blob("acme/kit", layer)
    stream = s.repo().open_blob(d, 6000)
    assert stream.read(-1) == layer[6000:]
    assert s.net.requests("GET")[-1].headers["Range"] == "bytes=6000-"


# -- uploads -----------------------------------------------------------------------------------


def test_upload_is_post_then_one_streamed_put_never_the_single_post_form() -> None:
    s = Setup()
    data = os.urandom(200_000)
    d = Descriptor("x", Digest.of_bytes(data), len(data))
    s.repo().push_blob(d, io.BytesIO(data))
    assert s.fake.repo("acme/kit").blobs[str(d.digest)] == data
    posts, puts = s.net.requests("POST"), s.net.requests("PUT")
    assert len(posts) == 1 and "digest" not in posts[0].query
    assert len(puts) == 1 and puts[0].headers["Content-Length"] == str(len(data))
    assert puts[0].query["digest"] == str(d.digest) and puts[0].query["_state"]  # Location query kept


def test_upload_of_content_that_does_not_match_is_refused() -> None:
    s = Setup()
    data = b"a" * 1000
    d = Descriptor("x", Digest.of_bytes(b"b" * 1000), 1000)
    with pytest.raises(DigestMismatchError):
        s.repo().push_blob(d, io.BytesIO(data))
    assert str(d.digest) not in s.fake.repo("acme/kit").blobs


def test_a_streamed_put_body_is_refused_before_its_last_byte_and_never_read_past_its_size() -> None:
    good = os.urandom(1000)
    d = Descriptor("x", Digest.of_bytes(good), len(good))
    sent = b""
    body = _upload._VerifiedBody(io.BytesIO(b"x" * 1000), d)
    with pytest.raises(DigestMismatchError, match="does not match its digest"):
        while piece := body.read(300):
            sent += piece
    assert len(sent) == 900  # the last 100 bytes never reached the transport
    longer = io.BytesIO(good + b"more")
    body = _upload._VerifiedBody(longer, d)
    assert b"".join(iter(lambda: body.read(300), b"")) == good
    assert longer.tell() == len(good)
    short = _upload._VerifiedBody(io.BytesIO(good[:10]), d)
    assert short.read(300) == good[:10]
    with pytest.raises(DigestMismatchError, match="ended after 10 bytes, expected 1000"):
        short.read(300)


def test_monolithic_upload_reset_restarts_a_fresh_session() -> None:
    s = Setup()
    data = os.urandom(300_000)
    d = Descriptor("x", Digest.of_bytes(data), len(data))
    s.net.fault(lambda r: r.method == "PUT", upload_reset_after=100_000)
    s.repo().push_blob(d, io.BytesIO(data))
    assert s.fake.repo("acme/kit").blobs[str(d.digest)] == data
    assert len(s.net.requests("POST")) == 2  # a new session, not a replay into the broken one
    assert len(s.net.requests("HEAD")) == 1  # asked whether the broken PUT committed after all


def test_chunked_upload_tracks_offsets_from_range_and_never_replays_a_patch() -> None:
    s = Setup(chunked_min_size=1000, chunk_size=40_000)
    data = os.urandom(100_000)
    d = Descriptor("x", Digest.of_bytes(data), len(data))
    # the second PATCH breaks after 15,000 bytes reached the server (which keeps them)
    patches = iter(range(100))
    s.net.fault(lambda r: r.method == "PATCH" and next(patches) == 1, upload_reset_after=15_000)
    s.repo().push_blob(d, io.BytesIO(data))
    assert s.fake.repo("acme/kit").blobs[str(d.digest)] == data
    ranges = [r.headers["Content-Range"] for r in s.net.requests("PATCH")]
    # 0-39999, 40000-79999 (broken after 15,000), then resumed at 55000 as the server reported
    assert ranges[:2] == ["0-39999", "40000-79999"]
    assert ranges[2] == "55000-94999"
    status_checks = [r for r in s.net.requests("GET") if "/uploads/" in r.path]
    assert len(status_checks) == 1


def test_ctrl_c_during_an_upload_cancels_the_session_on_the_registry() -> None:
    s = Setup(chunked_min_size=1000, chunk_size=40_000)
    data = os.urandom(100_000)
    d = Descriptor("x", Digest.of_bytes(data), len(data))

    with pytest.raises(KeyboardInterrupt):
        s.repo().push_blob(d, FailingStream(data, 40_000, KeyboardInterrupt))
    deletes = [r for r in s.net.requests("DELETE") if "/blobs/uploads/" in r.path]
    assert len(deletes) == 1
    assert s.fake.uploads == {}  # the session and its 40,000 bytes are gone
    assert str(d.digest) not in s.fake.repo("acme/kit").blobs


def test_a_push_that_died_resumes_from_the_registrys_upload_status(tmp_path: Path) -> None:
    """A crashed push (not Ctrl-C) leaves its session recorded in the home; the next run asks
    the registry where it stands (GET <Location>) and sends only the rest."""
    net = FakeNetwork()
    fake = FakeRegistry(HOST)
    net.add(HOST, fake)

    def registry() -> Registry:
        return Registry(HOST, RegistryOptions(), transport=net, credentials=Credential(), home=tmp_path,
                        retry=RetryPolicy(sleep=lambda s: None), chunked_min_size=1000, chunk_size=40_000)

    data = os.urandom(100_000)
    d = Descriptor("x", Digest.of_bytes(data), len(data))

    class Crash(Exception):
        pass

    with pytest.raises(Crash):
        registry().repository("acme/kit").push_blob(d, FailingStream(data, 40_000, Crash))
    assert (tmp_path / "upload-sessions.json").exists()
    before = len(net.requests("PATCH"))
    _repository._SEEN.clear()
    registry().repository("acme/kit").push_blob(d, io.BytesIO(data))
    assert fake.repo("acme/kit").blobs[str(d.digest)] == data
    ranges = [r.headers["Content-Range"] for r in net.requests("PATCH")[before:]]
    assert ranges == ["40000-79999", "80000-99999"]  # the first 40,000 bytes were not sent again
    assert json.loads((tmp_path / "upload-sessions.json").read_text()) == {}


def test_chunked_upload_falls_back_to_one_put_when_patch_is_refused() -> None:
    s = Setup(chunked_min_size=1000, chunk_size=40_000)
    data = os.urandom(100_000)
    d = Descriptor("x", Digest.of_bytes(data), len(data))
    s.net.fault(lambda r: r.method == "PATCH", respond=lambda r: FakeResponse(405, {}, b""))
    s.repo().push_blob(d, io.BytesIO(data))
    assert s.fake.repo("acme/kit").blobs[str(d.digest)] == data
    assert s.net.requests("PUT")[-1].headers["Content-Length"] == str(len(data))


def test_blob_seen_in_another_repository_is_mounted_not_uploaded() -> None:
    s = Setup()
    data = os.urandom(10_000)
    d = Descriptor("x", Digest.of_bytes(data), len(data))
    s.fake.put_blob("acme/source", data)
    assert s.registry.repository("acme/source").has_blob(d)  # now remembered
    s.repo("acme/target").push_blob(d, io.BytesIO(data))
    posts = s.net.requests("POST")
    assert posts[0].query == {"mount": str(d.digest), "from": "acme/source"}
    assert s.net.requests("PUT") == []
    assert s.fake.repo("acme/target").blobs[str(d.digest)] == data


def test_failed_mount_falls_back_to_an_upload() -> None:
    s = Setup()
    data = os.urandom(10_000)
    d = Descriptor("x", Digest.of_bytes(data), len(data))
    s.registry.remember_blob(d.digest, "acme/gone")
    s.repo("acme/target").push_blob(d, io.BytesIO(data))
    assert s.fake.repo("acme/target").blobs[str(d.digest)] == data
    assert len(s.net.requests("PUT")) == 1


# -- tags, deletes, referrers ------------------------------------------------------------------


def test_tags_follow_link_pagination() -> None:
    s = Setup()
    want = _kit(s.fake)
    data = s.fake.repo("acme/kit").manifests[str(want.digest)][1]
    for t in ["a", "b", "c", "d", "e"]:
        s.fake.put_manifest("acme/kit", data, MANIFEST, t)
    s.fake.tag_page_size = 2
    assert sorted(s.repo().tags()) == ["a", "b", "c", "d", "e", "v1"]
    assert s.repo("acme/none").tags() == []


def test_delete_manifest_by_digest_and_untag_is_refused_clearly() -> None:
    s = Setup()
    want = _kit(s.fake)
    repo = s.repo()
    repo.tag(want, "v2")
    with pytest.raises(RegistryError, match="every tag"):
        repo.untag("v2")
    repo.delete_manifest(want.digest)
    assert s.net.requests("DELETE")[-1].path.endswith(str(want.digest))
    assert repo.tags() == []  # distribution removes all tags of the manifest
    with pytest.raises(NotFoundError):
        repo.delete_manifest(want.digest)


def test_referrers_none_without_api_so_the_fallback_tag_is_used() -> None:
    s = Setup()
    subject = _kit(s.fake)
    repo = s.repo()
    assert repo.referrers(subject.digest) is None
    empty = Descriptor("application/vnd.oci.empty.v1+json", Digest.of_bytes(b"{}"), 2)
    repo.push_blob(empty, io.BytesIO(b"{}"))
    ref = Manifest(empty, (empty,), {"k": "v"}, "application/vnd.example+json", subject)
    pushed = push_referrer(repo, ref)
    assert f"sha256-{subject.digest.hex}" in s.fake.repo("acme/kit").tags
    assert [d.digest for d in list_referrers(repo, subject.digest)] == [pushed.digest]


def test_referrers_api_used_when_present() -> None:
    s = Setup(referrers_api=True)
    subject = _kit(s.fake)
    empty = b"{}"
    ed = s.fake.put_blob("acme/kit", empty)
    m = {"schemaVersion": 2, "mediaType": MANIFEST, "artifactType": "application/x",
         "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": ed, "size": 2},
         "layers": [], "subject": {"mediaType": MANIFEST, "digest": str(subject.digest), "size": subject.size}}
    rd = s.fake.put_manifest("acme/kit", json.dumps(m).encode())
    found = s.repo().referrers(subject.digest)
    assert found is not None and [str(d.digest) for d in found] == [rd]
    assert s.net.requests("GET")[-1].headers["Accept"] == OCI_INDEX


# -- auth and credential safety ----------------------------------------------------------------


def test_basic_auth_after_challenge_then_preemptive() -> None:
    s = Setup(cred=Credential("alice", "s3cret"), basic_users={"alice": "s3cret"})
    _kit(s.fake)
    s.repo().resolve("v1")
    s.repo().resolve("v1")
    gets = s.net.requests("GET")
    assert "Authorization" not in gets[0].headers  # first request anonymous, 401
    assert [g.headers.get("Authorization", "")[:6] for g in gets[1:]] == ["Basic ", "Basic "]
    assert len(gets) == 3  # the second resolve did not need a challenge


def test_wrong_password_is_an_auth_error_without_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    s = Setup(cred=Credential("alice", "hunter2-secret"), basic_users={"alice": "other"})
    _kit(s.fake)
    with pytest.raises(AuthError) as e:
        s.repo().resolve("v1")
    text = f"{e.value} {e.value.hint} {e.value!r} {caplog.text} {s.registry!r} {s.registry.auth._cred!r}"
    assert "hunter2" not in text
    assert len(s.net.requests("GET")) == 2  # challenged once, retried once, then gave up


def _bearer_setup(users: dict[str, str] | None = None) -> tuple[Setup, TokenServer]:
    s = Setup(cred=Credential("bob", "pw") if users else Credential(),
              token_realm="https://auth.test/token", token_service="registry.test")
    server = TokenServer(s.fake, users, anonymous_pull=not users)
    s.net.add("auth.test", server)
    return s, server


def test_bearer_token_per_scope_and_push_asks_pull_push() -> None:
    s, server = _bearer_setup({"bob": "pw"})
    data = b"x" * 1000
    d = Descriptor("x", Digest.of_bytes(data), len(data))
    repo = s.repo()
    assert not repo.has_blob(d)
    repo.push_blob(d, io.BytesIO(data))
    token_requests = s.net.requests(host="auth.test")
    scopes = [r.query.get("scope") for r in token_requests]
    assert "repository:acme/kit:pull" in scopes
    assert "repository:acme/kit:pull,push" in scopes
    assert all(r.headers["Authorization"].startswith("Basic ") for r in token_requests)
    # tokens are cached: more requests, no more token fetches
    before = server.issued
    repo.has_blob(d)
    repo.push_blob(d, io.BytesIO(data))
    assert server.issued == before


def test_insufficient_scope_rechallenges_with_the_servers_scope() -> None:
    s, _ = _bearer_setup({"bob": "pw"})
    _kit(s.fake, repo="acme/src")
    s.registry.repository("acme/src").resolve("v1")
    # a token for acme/src:pull is now cached; a write there is answered insufficient_scope
    data = b"y" * 100
    d = Descriptor("x", Digest.of_bytes(data), 100)
    s.registry.repository("acme/src").push_blob(d, io.BytesIO(data))
    assert s.fake.repo("acme/src").blobs[str(d.digest)] == data


def test_token_realm_at_a_metadata_address_is_refused_and_never_contacted() -> None:
    s = Setup(cred=Credential("bob", "pw"), token_realm="https://169.254.169.254/latest/meta-data")
    s.net.add("169.254.169.254", lambda r: FakeResponse(200, {}, b'{"token":"stolen"}'))
    _kit(s.fake)
    with pytest.raises(AuthError, match="link-local"):
        s.repo().resolve("v1")
    assert s.net.requests(host="169.254.169.254") == []


@pytest.mark.parametrize("realm", [
    "http://auth.elsewhere/token",  # downgrade to plain http
    "https://user:pw@auth.test/token",  # userinfo
    "ftp://auth.test/token",
    "https://10.0.0.5/token",  # private address that is not the registry
    "https://metadata.google.internal/token",
])
def test_hostile_realms_are_refused(realm: str) -> None:
    s = Setup(cred=Credential("bob", "pw"), token_realm=realm)
    _kit(s.fake)
    with pytest.raises(AuthError, match="refusing token realm"):
        s.repo().resolve("v1")
    assert [r for r in s.net.log if r.host != HOST] == []


def test_authorization_is_dropped_on_redirect_to_another_host() -> None:
    s = Setup(cred=Credential("alice", "pw"), basic_users={"alice": "pw"})
    layer = os.urandom(5000)
    d = Descriptor("x", Digest.of_bytes(layer), len(layer))
    s.fake.put_blob("acme/kit", layer)
    s.net.add("cdn.test", lambda r: FakeResponse(200, {}, layer))
    s.net.fault(lambda r: r.method == "GET" and "/blobs/" in r.path and "Authorization" in r.headers,
                respond=lambda r: FakeResponse(307, {"Location": "https://cdn.test/blob?X-Amz-Signature=abc"}))
    assert read_blob(s.repo(), d) == layer
    cdn = s.net.requests(host="cdn.test")
    assert len(cdn) == 1 and "Authorization" not in cdn[0].headers


@pytest.mark.parametrize("location", ["http://registry.test/blob", "https://registry.test:8443/blob"])
def test_authorization_is_dropped_on_scheme_or_port_change(location: str) -> None:
    s = Setup(cred=Credential("alice", "pw"), basic_users={"alice": "pw"})
    layer = b"z" * 100
    d = Descriptor("x", Digest.of_bytes(layer), 100)
    s.fake.put_blob("acme/kit", layer)
    other = location.split("/")[2]
    seen: list[dict[str, str]] = []
    s.net.add(other, lambda r: (seen.append(dict(r.headers)), FakeResponse(200, {}, layer))[1])
    s.net.fault(lambda r: r.method == "GET" and "/blobs/" in r.path and r.host == HOST and "Authorization" in r.headers,
                respond=lambda r: FakeResponse(302, {"Location": location}))
    if other == HOST:  # same host:port, other scheme — still a different origin
        s.net.hosts[HOST] = _scheme_split(s.fake, seen, layer)
    assert read_blob(s.repo(), d) == layer
    assert seen and all("authorization" not in h for h in seen)


def _scheme_split(fake: FakeRegistry, seen: list[dict[str, str]], layer: bytes):  # type: ignore[no-untyped-def]
    def handler(r):  # type: ignore[no-untyped-def]
        if r.url.startswith("http://"):
            seen.append(dict(r.headers))
            return FakeResponse(200, {}, layer)
        return fake(r)
    return handler


def test_redirect_to_link_local_is_refused() -> None:
    s = Setup()
    layer = b"q" * 10
    d = Descriptor("x", Digest.of_bytes(layer), 10)
    s.fake.put_blob("acme/kit", layer)
    s.net.fault(lambda r: "/blobs/" in r.path,
                respond=lambda r: FakeResponse(302, {"Location": "http://169.254.169.254/x"}))
    with pytest.raises(RegistryError, match="link-local"):
        read_blob(s.repo(), d)


def test_errors_redact_upload_state_tokens() -> None:
    s = Setup()
    data = b"d" * 100
    d = Descriptor("x", Digest.of_bytes(data), 100)
    s.net.fault(lambda r: r.method == "PUT", respond=lambda r: FakeResponse(400, {}, b'{"errors":[{"code":"X"}]}'))
    with pytest.raises(RegistryError) as e:
        s.repo().push_blob(d, io.BytesIO(data))
    assert "secret" not in str(e.value)


def test_unknown_host_and_tls_errors_are_one_clear_network_error() -> None:
    net = FakeNetwork()
    reg = Registry("nowhere.test", RegistryOptions(), transport=net, credentials=Credential(),
                   retry=RetryPolicy(sleep=lambda s: None))
    with pytest.raises(NetworkError, match="cannot resolve"):
        reg.repository("a/b").resolve("v1")
    from ocikit._registry._http import TransportError

    net.fault(lambda r: True, respond=None, reset=False)
    net.faults.clear()

    def tls_fail(method: str, url: str, **kw: object) -> FakeResponse:
        raise TransportError("tls", "TLS handshake with x failed: certificate verify failed")

    net.request = tls_fail  # type: ignore[method-assign,assignment]
    with pytest.raises(NetworkError) as e:
        reg.repository("a/b").resolve("v1")
    assert "--ca-file" in e.value.hint and "--plain-http" in e.value.hint and "--no-tls-verify" in e.value.hint


# -- upload recovery: token expiry, expired sessions (docs/reliability.md, "Registry faults") ----------------------


def _blob(n: int = 200_000) -> tuple[bytes, Descriptor]:
    data = os.urandom(n)
    return data, Descriptor("x", Digest.of_bytes(data), n)


def _upload_path(r: object) -> bool:
    return "/blobs/uploads/" in r.path  # type: ignore[attr-defined]


def _expired_token(s: Setup) -> FakeResponse:
    """What a token registry answers once the token the request carries has expired."""
    s.fake.valid_tokens.clear()
    return FakeResponse(401, {"WWW-Authenticate": 'Bearer realm="https://auth.test/token",service="registry.test",'
                                                  'scope="repository:acme/kit:pull,push"'},
                        b'{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}')


def _session_id(url: str) -> str:
    return url.split("/blobs/uploads/")[1].split("?")[0]


def test_401_on_upload_put_fetches_a_new_token_heads_and_restarts_in_a_new_session() -> None:
    s, server = _bearer_setup({"bob": "pw"})
    data, d = _blob()
    s.net.fault(lambda r: r.method == "PUT" and _upload_path(r), respond=lambda r: _expired_token(s))
    s.repo().push_blob(d, io.BytesIO(data))
    assert s.fake.repo("acme/kit").blobs[str(d.digest)] == data
    methods = [r.method for r in s.net.requests(host=HOST) if "/blobs/" in r.path]
    # HEAD (does it exist after all?) comes after the refused PUT and before the new session
    i = methods.index("PUT")
    assert methods[i + 1:] == ["HEAD", "DELETE", "POST", "PUT"]
    puts = s.net.requests("PUT")
    assert _session_id(puts[0].url) != _session_id(puts[1].url)  # a new session, not a replay
    assert puts[1].headers["Content-Length"] == str(len(data))
    # the retry carried a token issued after the 401, not the expired one
    assert puts[1].headers["Authorization"] != puts[0].headers["Authorization"]
    assert puts[1].headers["Authorization"][7:] in s.fake.valid_tokens
    assert server.issued >= 2


def test_401_on_upload_put_when_the_blob_landed_after_all_is_not_sent_again() -> None:
    s, _ = _bearer_setup({"bob": "pw"})
    data, d = _blob()

    def landed_then_401(r: object) -> FakeResponse:
        s.fake.put_blob("acme/kit", data)
        return _expired_token(s)

    s.net.fault(lambda r: r.method == "PUT" and _upload_path(r), respond=landed_then_401)
    s.repo().push_blob(d, io.BytesIO(data))
    assert s.fake._n == 1 and len(s.net.requests("PUT")) == 1  # one upload session, one PUT


def test_401_on_every_upload_is_bounded_and_a_clear_auth_error() -> None:
    s, _ = _bearer_setup({"bob": "pw"})
    data, d = _blob(5000)
    s.net.fault(lambda r: r.method == "PUT" and _upload_path(r), times=100, respond=lambda r: _expired_token(s))
    with pytest.raises(AuthError, match="asked for new credentials") as e:
        s.repo().push_blob(d, io.BytesIO(data))
    assert "\n" not in str(e.value)
    assert s.fake._n == len(s.net.requests("PUT")) == UPLOAD_RESTARTS  # upload sessions


def test_401_on_a_patch_resumes_the_same_session_from_its_reported_range() -> None:
    s, _ = _bearer_setup({"bob": "pw"})
    s.registry.chunked_min_size, s.registry.chunk_size = 1000, 40_000
    data, d = _blob(100_000)
    patches = iter(range(100))
    s.net.fault(lambda r: r.method == "PATCH" and next(patches) == 1, respond=lambda r: _expired_token(s))
    s.repo().push_blob(d, io.BytesIO(data))
    assert s.fake.repo("acme/kit").blobs[str(d.digest)] == data
    assert s.fake._n == 1  # no new upload session: the 401 came before the body was taken
    ranges = [r.headers["Content-Range"] for r in s.net.requests("PATCH")]
    assert ranges == ["0-39999", "40000-79999", "40000-79999", "80000-99999"]
    status = [r for r in s.net.requests("GET", host=HOST) if _upload_path(r)]
    assert len(status) == 1  # the retried PATCH was decided by GET <location>, not blindly
    assert status[0].headers["Authorization"][7:] in s.fake.valid_tokens


def test_basic_auth_401_on_an_upload_that_already_carried_the_credentials_is_not_retried() -> None:
    s = Setup(cred=Credential("alice", "pw"), basic_users={"alice": "pw"})
    data, d = _blob(5000)
    s.repo().has_blob(d)  # learn Basic; later requests carry it pre-emptively
    s.net.fault(lambda r: r.method == "PUT", respond=lambda r: FakeResponse(401, {"WWW-Authenticate": 'Basic realm="x"'}))
    with pytest.raises(AuthError):
        s.repo().push_blob(d, io.BytesIO(data))
    assert len(s.net.requests("POST")) == 1


def _upload_unknown(r: object) -> FakeResponse:
    return FakeResponse(404, {"Content-Type": "application/json"},
                        b'{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"blob upload unknown"}]}')


def test_expired_upload_session_on_put_restarts_in_a_new_session() -> None:
    s = Setup()
    data, d = _blob()
    s.net.fault(lambda r: r.method == "PUT" and _upload_path(r), respond=_upload_unknown)
    s.repo().push_blob(d, io.BytesIO(data))
    assert s.fake.repo("acme/kit").blobs[str(d.digest)] == data
    methods = [r.method for r in s.net.log if "/blobs/" in r.path]
    assert methods == ["POST", "PUT", "HEAD", "POST", "PUT"]
    puts = s.net.requests("PUT")
    assert _session_id(puts[0].url) != _session_id(puts[1].url)


def test_expired_upload_session_when_the_blob_was_committed_is_success() -> None:
    s = Setup()
    data, d = _blob()

    def committed_then_unknown(r: object) -> FakeResponse:  # ghcr: the PUT committed, the retry sees no session
        s.fake.put_blob("acme/kit", data)
        return _upload_unknown(r)

    s.net.fault(lambda r: r.method == "PUT" and _upload_path(r), respond=committed_then_unknown)
    s.repo().push_blob(d, io.BytesIO(data))
    assert len(s.net.requests("POST")) == 1


def test_expired_upload_session_forever_is_bounded_and_clear() -> None:
    s = Setup()
    data, d = _blob(5000)
    s.net.fault(lambda r: r.method == "PUT" and _upload_path(r), times=100, respond=_upload_unknown)
    with pytest.raises(RegistryError, match="no longer knows the upload session") as e:
        s.repo().push_blob(d, io.BytesIO(data))
    assert not isinstance(e.value, NotFoundError)  # not "check the repository and tag" (exit 6)
    assert "BLOB_UPLOAD_UNKNOWN" in str(e.value) and "secret" not in str(e.value)
    assert len(s.net.requests("POST")) == UPLOAD_RESTARTS == 3


def test_expired_upload_session_on_a_patch_restarts_from_zero_and_never_patches_the_old_location() -> None:
    s = Setup(chunked_min_size=1000, chunk_size=40_000)
    data, d = _blob(100_000)
    patches = iter(range(100))
    s.net.fault(lambda r: r.method == "PATCH" and next(patches) == 1, respond=_upload_unknown)
    s.repo().push_blob(d, io.BytesIO(data))
    assert s.fake.repo("acme/kit").blobs[str(d.digest)] == data
    patches_sent = s.net.requests("PATCH")
    first, second = _session_id(patches_sent[0].url), _session_id(patches_sent[2].url)
    assert first != second
    assert [_session_id(r.url) for r in patches_sent] == [first, first, second, second, second]
    assert [r.headers["Content-Range"] for r in patches_sent[2:]] == ["0-39999", "40000-79999", "80000-99999"]


def test_a_patch_that_breaks_before_any_byte_lands_is_bounded() -> None:
    s = Setup(chunked_min_size=1000, chunk_size=40_000)
    data, d = _blob(100_000)
    s.net.fault(lambda r: r.method == "PATCH", times=1000, reset=True)
    with pytest.raises(NetworkError):
        s.repo().push_blob(d, io.BytesIO(data))
    assert len(s.net.requests("PATCH")) <= UPLOAD_RESTARTS * (MAX_RESUMES + 1)


# -- HEAD answered 405 ---------------------------------------------------------------------------


def test_head_405_falls_back_to_a_ranged_get_whose_body_is_not_read() -> None:
    s = Setup()
    data, d = _blob(300_000)
    s.fake.put_blob("acme/kit", data)
    _, missing = _blob(10)
    s.net.fault(lambda r: r.method == "HEAD", times=100, respond=lambda r: FakeResponse(405, {}, b""))
    served: list[FakeResponse] = []

    def record(r: object) -> FakeResponse:
        resp = s.fake(r)  # type: ignore[arg-type]
        served.append(resp)
        return resp

    s.net.hosts[HOST] = record
    repo = s.repo()
    assert repo.has_blob(d)
    assert not repo.has_blob(missing)
    assert not repo.has_blob(Descriptor("x", d.digest, d.size + 1))  # size from Content-Range
    assert len(s.net.requests("HEAD")) == 1  # remembered: no HEAD per check
    gets = s.net.requests("GET")
    assert len(gets) == 3 and all(g.headers["Range"] == "bytes=0-0" for g in gets)
    assert all(resp.closed and resp._pos == 0 for resp in served)  # bodies never read


def test_head_405_and_a_server_ignoring_range_sends_the_whole_body_unread() -> None:
    s = Setup()
    data, d = _blob(300_000)
    big = FakeResponse(200, {"Content-Length": str(len(data))}, data)
    s.net.fault(lambda r: r.method == "HEAD", respond=lambda r: FakeResponse(405, {}, b""))
    s.net.fault(lambda r: r.method == "GET", respond=lambda r: big)
    assert s.repo().has_blob(d)
    assert big.closed and big._pos == 0


def test_head_405_on_a_manifest_falls_back_to_get() -> None:
    s = Setup()
    want = _kit(s.fake)
    s.net.fault(lambda r: r.method == "HEAD", times=100, respond=lambda r: FakeResponse(405, {}, b""))
    assert s.repo().has_manifest(want.digest)
    assert not s.repo().has_manifest(Digest.of_bytes(b"nope"))
    gets = s.net.requests("GET")
    assert len(gets) == 2 and all("application/vnd.oci.image.manifest.v1+json" in g.headers["Accept"] for g in gets)


# -- manifest PUT right after the blobs: read-after-write lag -----------------------------------


def _manifest_blob_unknown(r: object) -> FakeResponse:
    return FakeResponse(400, {"Content-Type": "application/json"},
                        b'{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}')


def _kit_manifest(s: Setup) -> bytes:
    want = _kit(s.fake)
    return s.fake.repo("acme/kit").manifests[str(want.digest)][1]


def test_manifest_blob_unknown_right_after_the_blobs_is_retried_with_backoff() -> None:
    s = Setup()
    data = _kit_manifest(s)
    s.net.fault(lambda r: r.method == "PUT" and "/manifests/" in r.path, times=2, respond=_manifest_blob_unknown)
    desc = s.repo().push_manifest(data, MANIFEST, tag="v2")
    assert s.fake.repo("acme/kit").tags["v2"] == str(desc.digest)
    assert len(s.net.requests("PUT")) == 3
    assert s.sleeps == [0.5, 1.0]  # injected sleep: the test does not wait


def test_manifest_blob_unknown_that_persists_is_bounded_and_names_the_code() -> None:
    s = Setup()
    data = _kit_manifest(s)
    s.net.fault(lambda r: r.method == "PUT" and "/manifests/" in r.path, times=100, respond=_manifest_blob_unknown)
    with pytest.raises(RegistryError, match="MANIFEST_BLOB_UNKNOWN"):
        s.repo().push_manifest(data, MANIFEST, tag="v2")
    assert len(s.net.requests("PUT")) == s.registry.retry.settle_attempts == 5
    assert s.sleeps == [0.5, 1.0, 2.0, 4.0]


def test_other_manifest_400s_are_not_retried() -> None:
    s = Setup()
    data = _kit_manifest(s)
    s.net.fault(lambda r: r.method == "PUT" and "/manifests/" in r.path, times=100,
                respond=lambda r: FakeResponse(400, {}, b'{"errors":[{"code":"MANIFEST_INVALID","message":"bad"}]}'))
    with pytest.raises(RegistryError, match="does not accept this artifact"):
        s.repo().push_manifest(data, MANIFEST, tag="v2")
    assert len(s.net.requests("PUT")) == 1 and s.sleeps == []


# -- referrers endpoint answers that are not the API ----------------------------------------------


@pytest.mark.parametrize("answer", [
    FakeResponse(303, {"Location": "https://registry.test/v2/acme/kit/tags/list"}),
    FakeResponse(301, {"Location": "/elsewhere"}),
    FakeResponse(307, {"Location": "https://cdn.test/x"}),
    FakeResponse(400, {"Content-Type": "application/json"}, b'{"errors":[{"code":"UNSUPPORTED"}]}'),
    FakeResponse(405, {}, b""),
    FakeResponse(501, {}, b"not implemented"),
    FakeResponse(200, {"Content-Type": "text/html"}, b"<html>login</html>"),
    FakeResponse(200, {"Content-Type": OCI_INDEX}, b"<html>not json</html>"),
    FakeResponse(200, {"Content-Type": OCI_INDEX}, b'{"schemaVersion":2,"manifests":"nope"}'),
], ids=["303", "301", "307", "400", "405", "501", "200-html", "200-index-not-json", "200-invalid-index"])
def test_referrers_answers_that_are_not_an_oci_index_mean_no_api(answer: FakeResponse) -> None:
    s = Setup(referrers_api=True)
    subject = _kit(s.fake)
    s.net.fault(lambda r: "/referrers/" in r.path, times=100, respond=lambda r: answer)
    repo = s.repo()
    assert repo.referrers(subject.digest) is None
    # so _referrers falls back to the sha256-<hex> tag, and the endpoint is not asked again
    empty = Descriptor("application/vnd.oci.empty.v1+json", Digest.of_bytes(b"{}"), 2)
    repo.push_blob(empty, io.BytesIO(b"{}"))
    pushed = push_referrer(repo, Manifest(empty, (empty,), {"k": "v"}, "application/vnd.example+json", subject))
    assert f"sha256-{subject.digest.hex}" in s.fake.repo("acme/kit").tags
    assert [d.digest for d in list_referrers(repo, subject.digest)] == [pushed.digest]
    assert len([r for r in s.net.log if "/referrers/" in r.path]) == 1
    assert s.net.requests(host="cdn.test") == []  # a redirect is not followed


def test_referrers_server_errors_are_not_mistaken_for_no_api() -> None:
    s = Setup(referrers_api=True)
    subject = _kit(s.fake)
    s.net.fault(lambda r: "/referrers/" in r.path, times=100, respond=lambda r: FakeResponse(500, {}, b""))
    with pytest.raises(NetworkError):
        s.repo().referrers(subject.digest)
    assert s.registry._referrers_api is None


def test_chunk_sizes_must_be_positive() -> None:
    from ocikit.errors import UsageError

    with pytest.raises(UsageError, match="chunk"):
        Registry(HOST, RegistryOptions(), transport=FakeNetwork(), credentials=Credential(), chunk_size=0)


@pytest.mark.parametrize("method_body", [b"Client sent an HTTP request to an HTTPS server.\n", b""])
def test_plain_http_to_a_tls_registry_says_drop_plain_http(method_body: bytes) -> None:
    """Go answers plain HTTP on a TLS port with a bare 400; to a HEAD (the first request of a push)
    without a body. Both must say "speaks HTTPS", not "the registry refused the request"."""
    from fakes.registry import Request

    net = FakeNetwork()

    def tls_port(req: Request) -> FakeResponse:
        return FakeResponse(400, {"Content-Type": "text/plain"}, b"" if req.method == "HEAD" else method_body)

    net.add(HOST, tls_port)
    registry = Registry(HOST, RegistryOptions(plain_http=True), transport=net, credentials=Credential(),
                        retry=RetryPolicy(sleep=lambda s: None))
    layer = Descriptor("application/octet-stream", Digest.of_bytes(b"x"), 1)
    with pytest.raises(NetworkError, match="speaks HTTPS, not plain HTTP") as e:
        registry.repository("acme/kit").has_blob(layer)
    assert "drop --plain-http" in e.value.hint and e.value.exit_code == 4
    with pytest.raises(NetworkError, match="speaks HTTPS") as e:
        registry.repository("acme/kit").resolve("v1")
