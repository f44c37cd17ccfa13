"""An in-process fake OCI registry behind ocikit's Transport seam, with fault injection.

``FakeNetwork`` is a ``Transport``: it routes requests by host to handlers, records every
request (method, URL, headers, body size) and applies injected faults first. ``FakeRegistry`` is
a handler speaking the distribution API the way distribution 2.8 does (manifests need an OCI
``Accept``; no referrers API unless asked; ``Content-Range`` on PATCH ignored; deletes by digest
remove every tag). ``TokenServer`` issues bearer tokens.

Faults (``FakeNetwork.fault``): a canned response (429/503 + Retry-After), a connection reset
before an answer, a reset after part of an upload body was received (the partial bytes are kept,
as a real server appends them), a download body that breaks or ends early.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ocikit._registry._http import TransportError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


class Headers(dict[str, str]):
    """Case-insensitive (keys stored lower-case)."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        super().__init__()
        for k, v in (items or {}).items():
            self[k] = v

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


class FakeResponse:
    def __init__(self, status: int, headers: Mapping[str, str] | None = None, body: bytes = b"",
                 *, break_after: int | None = None, truncate_to: int | None = None) -> None:
        self.status = status
        self.headers = Headers(headers)
        if "Content-Length" not in self.headers:
            self.headers["Content-Length"] = str(len(body))
        self._body = body if truncate_to is None else body[:truncate_to]
        self._pos = 0
        self._break_after = break_after
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        end = len(self._body) if n < 0 else min(len(self._body), self._pos + n)
        if self._break_after is not None:
            if self._pos >= self._break_after:
                raise TransportError("reset", "fake: connection reset mid-body")
            end = min(end, self._break_after)
        data = self._body[self._pos:end]
        self._pos = end
        return data

    def close(self) -> None:
        self.closed = True


@dataclass
class Request:
    method: str
    url: str
    host: str
    path: str
    query: dict[str, str]
    headers: Headers
    body: bytes | None


@dataclass
class Fault:
    when: Callable[[Request], bool]
    times: int = 1
    respond: Callable[[Request], FakeResponse] | None = None  # canned answer
    reset: bool = False  # raise a connection reset instead of answering
    upload_reset_after: int | None = None  # read this many body bytes (kept by the server), then reset
    body_break_after: int | None = None  # let the real handler answer, then break the body here
    body_truncate_to: int | None = None  # ... or end the body early


def _read_body(body: Any, limit: int | None = None) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body if limit is None else body[:limit]
    chunks = []
    got = 0
    while limit is None or got < limit:
        data = body.read(1 << 20 if limit is None else min(1 << 20, limit - got))
        if not data:
            break
        chunks.append(data)
        got += len(data)
    return b"".join(chunks)


class FakeNetwork:
    """The Transport: routes by host, records requests, applies faults."""

    def __init__(self) -> None:
        self.hosts: dict[str, Callable[[Request], FakeResponse]] = {}
        self.faults: list[Fault] = []
        self.log: list[Request] = []
        self._lock = threading.Lock()

    def add(self, host: str, handler: Callable[[Request], FakeResponse]) -> None:
        self.hosts[host] = handler

    def fault(self, when: Callable[[Request], bool], **kw: Any) -> Fault:
        f = Fault(when, **kw)
        self.faults.append(f)
        return f

    def requests(self, method: str | None = None, host: str | None = None) -> list[Request]:
        return [r for r in self.log if (method is None or r.method == method) and (host is None or r.host == host)]

    def request(self, method: str, url: str, *, headers: Mapping[str, str], body: Any = None) -> FakeResponse:
        parts = urlsplit(url)
        host = parts.netloc
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        req = Request(method, url, host, parts.path, query, Headers(headers), None)
        with self._lock:
            fault = next((f for f in self.faults if f.times > 0 and f.when(req)), None)
            if fault is not None:
                fault.times -= 1
        if fault is not None and fault.upload_reset_after is not None:
            req.body = _read_body(body, fault.upload_reset_after)
            self.log.append(req)
            handler = self.hosts[host]
            if method == "PATCH" and isinstance(handler, FakeRegistry):
                handler.append_partial(req)
            raise TransportError("reset", "fake: connection reset mid-upload")
        req.body = _read_body(body)
        self.log.append(req)
        if fault is not None and fault.reset:
            raise TransportError("reset", "fake: connection reset")
        if fault is not None and fault.respond is not None:
            return fault.respond(req)
        handler = self.hosts.get(host)
        if handler is None:
            raise TransportError("dns", f"fake: unknown host {host}")
        resp = handler(req)
        if fault is not None and (fault.body_break_after is not None or fault.body_truncate_to is not None):
            data = resp.read()
            headers = dict(resp.headers)
            return FakeResponse(resp.status, headers, data, break_after=fault.body_break_after,
                                truncate_to=fault.body_truncate_to)
        return resp


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _error(status: int, code: str, message: str = "") -> FakeResponse:
    body = json.dumps({"errors": [{"code": code, "message": message or code.lower()}]}).encode()
    return FakeResponse(status, {"Content-Type": "application/json"}, body)


@dataclass
class _Repo:
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


class FakeRegistry:
    """The distribution API (subset), in memory. ``host`` like ``registry.test``."""

    def __init__(self, host: str = "registry.test", *, scheme: str = "https", referrers_api: bool = False,
                 basic_users: Mapping[str, str] | None = None, token_realm: str | None = None,
                 token_service: str = "registry.test") -> None:
        self.host = host
        self.scheme = scheme
        self.repos: dict[str, _Repo] = {}
        self.uploads: dict[str, tuple[str, bytearray]] = {}
        self.referrers_api = referrers_api
        self.basic_users = dict(basic_users or {})
        self.token_realm = token_realm
        self.token_service = token_service
        self.valid_tokens: dict[str, set[str]] = {}  # token -> scopes it grants
        self.lying_digest: str | None = None  # served as Docker-Content-Digest on manifests
        self.blob_overrides: dict[str, bytes] = {}  # digest -> bytes served instead (corruption)
        self.manifest_overrides: dict[str, bytes] = {}  # tag/digest -> bytes served instead
        self.tag_page_size: int | None = None
        self._n = 0
        self._lock = threading.Lock()

    # -- helpers for tests --

    def repo(self, name: str) -> _Repo:
        return self.repos.setdefault(name, _Repo())

    def put_blob(self, repo: str, data: bytes) -> str:
        d = _digest(data)
        self.repo(repo).blobs[d] = data
        return d

    def put_manifest(self, repo: str, data: bytes, media_type: str = OCI_MANIFEST, tag: str | None = None) -> str:
        d = _digest(data)
        r = self.repo(repo)
        r.manifests[d] = (media_type, data)
        if tag:
            r.tags[tag] = d
        return d

    def append_partial(self, req: Request) -> None:
        m = re.match(r"^/v2/(.+)/blobs/uploads/([^/]+)$", req.path)
        if m and m.group(2) in self.uploads:
            self.uploads[m.group(2)][1].extend(req.body or b"")

    # -- auth --

    def _authorized(self, req: Request, scope: str) -> FakeResponse | None:
        auth = req.headers.get("Authorization", "")
        if self.basic_users:
            if auth.startswith("Basic "):
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                if self.basic_users.get(user) == pw:
                    return None
            return FakeResponse(401, {"WWW-Authenticate": 'Basic realm="fake"'},
                                json.dumps({"errors": [{"code": "UNAUTHORIZED"}]}).encode())
        if self.token_realm:
            granted = self.valid_tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
            if granted is not None and (not scope or scope in granted or _covers(granted, scope)):
                return None
            params = f'realm="{self.token_realm}",service="{self.token_service}"'
            if scope:
                params += f',scope="{scope}"'
            if granted is not None:
                params += ',error="insufficient_scope"'
            return FakeResponse(401, {"WWW-Authenticate": f"Bearer {params}"},
                                json.dumps({"errors": [{"code": "UNAUTHORIZED"}]}).encode())
        return None

    # -- the API --

    def __call__(self, req: Request) -> FakeResponse:
        path = req.path
        if path in ("/v2/", "/v2"):
            denied = self._authorized(req, "")
            return denied or FakeResponse(200, {"Content-Type": "application/json"}, b"{}")
        m = re.match(r"^/v2/(.+?)/(manifests|blobs|tags|referrers)/(.*)$", path)
        if not m:
            return FakeResponse(404, {"Content-Type": "text/plain"}, b"404 page not found")
        name, kind, rest = m.groups()
        write = req.method in ("PUT", "POST", "PATCH", "DELETE")
        scope = f"repository:{name}:{'pull,push' if write else 'pull'}"
        denied = self._authorized(req, scope)
        if denied is not None:
            return denied
        if kind == "referrers":
            if not self.referrers_api:
                return FakeResponse(404, {"Content-Type": "text/plain"}, b"404 page not found")
            return self._referrers(name, rest)
        if kind == "tags":
            return self._tags(req, name)
        if kind == "manifests":
            return self._manifests(req, name, rest)
        if rest.startswith("uploads"):
            return self._uploads(req, name, rest[len("uploads"):].strip("/"))
        return self._blobs(req, name, rest)

    def _manifests(self, req: Request, name: str, ref: str) -> FakeResponse:
        r = self.repo(name)
        if req.method == "PUT":
            ctype = req.headers.get("Content-Type", "")
            body = req.body or b""
            obj = json.loads(body)
            for d in [obj.get("config"), *(obj.get("layers") or [])]:
                if d and d["digest"] not in r.blobs:
                    return _error(400, "MANIFEST_BLOB_UNKNOWN", d["digest"])
            for d in obj.get("manifests") or []:
                if d["digest"] not in r.manifests:
                    return _error(400, "MANIFEST_BLOB_UNKNOWN", d["digest"])
            digest = self.put_manifest(name, body, ctype, None if ref.startswith("sha256:") else ref)
            return FakeResponse(201, {"Docker-Content-Digest": digest, "Location": f"/v2/{name}/manifests/{digest}"})
        digest = ref if ref.startswith("sha256:") else r.tags.get(ref)
        if req.method == "DELETE":
            if not ref.startswith("sha256:"):
                return _error(400, "DIGEST_INVALID", "deleting by tag is not supported")
            if digest not in r.manifests:
                return _error(404, "MANIFEST_UNKNOWN")
            del r.manifests[digest]
            for t in [t for t, d in r.tags.items() if d == digest]:
                del r.tags[t]
            return FakeResponse(202)
        if digest is None or digest not in r.manifests:
            return _error(404, "MANIFEST_UNKNOWN")
        media_type, data = r.manifests[digest]
        accept = req.headers.get("Accept", "")
        if media_type not in accept:
            return _error(404, "MANIFEST_UNKNOWN", "OCI manifest found, but accept header does not support it")
        data = self.manifest_overrides.get(ref, data)
        headers = {"Content-Type": media_type, "Docker-Content-Digest": self.lying_digest or digest,
                   "Content-Length": str(len(data))}
        if req.method == "HEAD":
            return FakeResponse(200, headers)
        return FakeResponse(200, headers, data)

    def _blobs(self, req: Request, name: str, digest: str) -> FakeResponse:
        r = self.repo(name)
        if digest not in r.blobs:
            return _error(404, "BLOB_UNKNOWN")
        data = self.blob_overrides.get(digest, r.blobs[digest])
        if req.method == "DELETE":
            del r.blobs[digest]
            return FakeResponse(202)
        headers = {"Docker-Content-Digest": digest, "Accept-Ranges": "bytes", "Content-Length": str(len(data))}
        if req.method == "HEAD":
            return FakeResponse(200, headers)
        rng = req.headers.get("Range")
        if rng:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
            assert m, rng
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else len(data) - 1
            if start >= len(data):
                return FakeResponse(416, {"Content-Range": f"bytes */{len(data)}"})
            part = data[start:end + 1]
            headers.update({"Content-Range": f"bytes {start}-{end}/{len(data)}", "Content-Length": str(len(part))})
            return FakeResponse(206, headers, part)
        return FakeResponse(200, headers, data)

    def _new_upload(self, name: str) -> FakeResponse:
        with self._lock:
            self._n += 1
            uid = f"u{self._n}"
        self.uploads[uid] = (name, bytearray())
        return FakeResponse(202, {"Location": f"{self.scheme}://{self.host}/v2/{name}/blobs/uploads/{uid}?_state=secret{uid}",
                                  "Range": "0-0", "Docker-Upload-UUID": uid})

    def _uploads(self, req: Request, name: str, uid: str) -> FakeResponse:
        if req.method == "POST":
            if "digest" in req.query:  # single-POST form: distribution ignores the body
                return self._new_upload(name)
            mount, source = req.query.get("mount"), req.query.get("from")
            if mount and source and mount in self.repo(source).blobs:
                self.repo(name).blobs[mount] = self.repo(source).blobs[mount]
                return FakeResponse(201, {"Location": f"/v2/{name}/blobs/{mount}", "Docker-Content-Digest": mount})
            return self._new_upload(name)
        if uid not in self.uploads:
            return _error(404, "BLOB_UPLOAD_UNKNOWN")
        _, buf = self.uploads[uid]
        location = f"/v2/{name}/blobs/uploads/{uid}?_state=secret{uid}"
        if req.method == "PATCH":
            buf.extend(req.body or b"")  # Content-Range ignored, like distribution 2.8
            return FakeResponse(202, {"Location": location, "Range": f"0-{max(len(buf) - 1, 0)}"})
        if req.method == "GET":
            return FakeResponse(204, {"Location": location, "Range": f"0-{max(len(buf) - 1, 0)}"})
        if req.method == "DELETE":
            del self.uploads[uid]
            return FakeResponse(204)
        if req.method == "PUT":
            buf.extend(req.body or b"")
            want = req.query.get("digest")
            if want != _digest(bytes(buf)):
                del self.uploads[uid]
                return _error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
            self.repo(name).blobs[want] = bytes(buf)
            del self.uploads[uid]
            return FakeResponse(201, {"Location": f"/v2/{name}/blobs/{want}", "Docker-Content-Digest": want})
        return FakeResponse(405)

    def _tags(self, req: Request, name: str) -> FakeResponse:
        if name not in self.repos:
            return _error(404, "NAME_UNKNOWN")
        tags = sorted(self.repos[name].tags)
        last = req.query.get("last")
        if last:
            tags = [t for t in tags if t > last]
        headers = {"Content-Type": "application/json"}
        if self.tag_page_size and len(tags) > self.tag_page_size:
            tags = tags[: self.tag_page_size]
            headers["Link"] = f'</v2/{name}/tags/list?n={self.tag_page_size}&last={tags[-1]}>; rel="next"'
        return FakeResponse(200, headers, json.dumps({"name": name, "tags": tags}).encode())

    def _referrers(self, name: str, digest: str) -> FakeResponse:
        out = []
        for d, (mt, data) in self.repo(name).manifests.items():
            obj = json.loads(data)
            if (obj.get("subject") or {}).get("digest") == digest:
                entry = {"mediaType": mt, "digest": d, "size": len(data)}
                at = obj.get("artifactType") or (obj.get("config") or {}).get("mediaType")
                if at:
                    entry["artifactType"] = at
                if obj.get("annotations"):
                    entry["annotations"] = obj["annotations"]
                out.append(entry)
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": out}).encode()
        return FakeResponse(200, {"Content-Type": OCI_INDEX}, body)


def _covers(granted: set[str], scope: str) -> bool:
    name, _, actions = scope.rpartition(":")
    for g in granted:
        gname, _, gactions = g.rpartition(":")
        if gname == name and set(actions.split(",")) <= set(gactions.split(",")):
            return True
    return False


class TokenServer:
    """A token endpoint: Basic credentials (optional) → a token granting the requested scopes."""

    def __init__(self, registry: FakeRegistry, users: Mapping[str, str] | None = None,
                 *, anonymous_pull: bool = False) -> None:
        self.registry = registry
        self.users = dict(users or {})
        self.anonymous_pull = anonymous_pull
        self.issued = 0

    def __call__(self, req: Request) -> FakeResponse:
        auth = req.headers.get("Authorization", "")
        user = None
        if auth.startswith("Basic "):
            u, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            if self.users.get(u) != pw:
                return FakeResponse(401, {}, b'{"details":"bad credentials"}')
            user = u
        scopes = parse_qs(urlsplit(req.url).query).get("scope", [])
        if user is None and not self.anonymous_pull and self.users:
            return FakeResponse(401, {}, b'{"details":"credentials required"}')
        self.issued += 1
        token = f"token{self.issued}"
        self.registry.valid_tokens[token] = set(scopes)
        return FakeResponse(200, {"Content-Type": "application/json"},
                            json.dumps({"token": token, "expires_in": 300}).encode())
