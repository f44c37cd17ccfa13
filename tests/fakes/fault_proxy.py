"""An in-process HTTP proxy that sits in front of the REAL registry and injects faults by rule.

The client talks to the proxy as if it were the registry (``proxy.host``); the proxy forwards each
request to the upstream registry (sending the proxy's own ``Host`` so distribution writes upload
``Location`` URLs that point back at the proxy) unless a :class:`Rule` matches, in which case it
answers with the fault instead (or mangles the upstream answer). Bodies are buffered: test blobs
are small. Faults come from ``docs/reliability.md`` ("Registry faults"):

* ``status``            answer ``status`` (503, 429, 413 ...) with optional headers, no forwarding
* ``reset-request``     read half the request body, then reset the connection (mid-upload)
* ``reset-response``    forward, send the headers and half the body, then reset (mid-download)
* ``expire-upload``     ``404 BLOB_UPLOAD_UNKNOWN`` on PATCH/PUT of an upload URL (session expired)
* ``head-404-after-put`` forward a PUT, then answer the next HEAD/GET of what it created with 404
* ``challenge``         ``401`` with a fresh Bearer challenge whose realm is the proxy's ``/token``
* ``lie-digest``        forward, but replace ``Docker-Content-Digest`` with another digest
* ``replace-body``      forward, but send ``body`` instead of the upstream body (hostile content)

Each rule fires ``times`` times after skipping ``after`` matching requests; ``injected`` counts.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WRONG_DIGEST = "sha256:" + "0" * 64
_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
        "proxy-authenticate", "host", "content-length"}


@dataclass
class Rule:
    action: str
    method: str | None = None  # None = any
    path: str = ".*"  # regex searched in the request path (with query)
    times: int = 1
    after: int = 0
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Callable[[bytes], bytes] | None = None
    seen: int = 0
    injected: int = 0

    def take(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        if not re.search(self.path, path):
            return False
        self.seen += 1
        if self.seen <= self.after or self.injected >= self.times:
            return False
        self.injected += 1
        return True


class FaultProxy:
    """``with FaultProxy("127.0.0.1:5000") as proxy: proxy.rules.append(Rule(...))``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.rules: list[Rule] = []
        self.log: list[tuple[str, str, int]] = []  # (method, path, status sent)
        self.body_bytes = 0  # response body bytes sent to the client, all requests
        self.tokens_issued = 0
        self._lock = threading.Lock()
        self._after_put: set[str] = set()  # paths whose next HEAD/GET answers 404
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def injected(self) -> int:
        return sum(r.injected for r in self.rules)

    def _match(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.take(method, path):
                    return rule
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _reset(self) -> None:
                # SO_LINGER 0: close() sends RST, like a proxy or load balancer dropping the flow.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def _send(self, status: int, headers: dict[str, str], body: bytes, *, head: bool = False) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in _HOP:
                        self.send_header(k, v)
                length = next((v for k, v in headers.items() if k.lower() == "content-length"), None)
                self.send_header("Content-Length", length if head and length is not None else str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)
                with proxy._lock:
                    proxy.log.append((self.command, self.path, status))
                    proxy.body_bytes += 0 if head else len(body)

            def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
                conn = http.client.HTTPConnection(proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP | {"authorization"}}
                headers["Host"] = proxy.host
                try:
                    conn.request(self.command, self.path, body=body if body or self.command in ("PUT", "PATCH",
                                                                                                 "POST") else None,
                                 headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    return resp.status, dict(resp.getheaders()), data
                finally:
                    conn.close()

            def _handle(self) -> None:
                path = self.path
                if path.startswith("/token"):
                    self._body()
                    with proxy._lock:
                        proxy.tokens_issued += 1
                        token = f"proxy-token-{proxy.tokens_issued}"
                    self._send(200, {"Content-Type": "application/json"},
                               json.dumps({"token": token, "expires_in": 300}).encode())
                    return
                rule = proxy._match(self.command, path)
                head = self.command == "HEAD"
                plain = path.split("?")[0]
                if rule is None:
                    with proxy._lock:
                        lagging = plain in proxy._after_put and self.command in ("HEAD", "GET")
                        if lagging:
                            proxy._after_put.discard(plain)
                    if lagging:
                        self._body()
                        self._send(404, {"Content-Type": "application/json"},
                                   b'{"errors":[{"code":"BLOB_UNKNOWN","message":"not yet"}]}', head=head)
                        return
                    status, headers, data = self._forward(self._body())
                    self._send(status, headers, data, head=head)
                    return
                action = rule.action
                if action == "status":
                    self._body()
                    body = rule.body if isinstance(rule.body, bytes) else b'{"errors":[{"code":"UNAVAILABLE"}]}'
                    self._send(rule.status, {"Content-Type": "application/json", **rule.headers}, body, head=head)
                elif action == "challenge":
                    self._body()
                    name = re.match(r"^/v2/(.+?)/(?:blobs|manifests|tags)/", plain)
                    scope = f"repository:{name.group(1)}:pull,push" if name else ""
                    challenge = (f'Bearer realm="http://{proxy.host}/token",service="fault-proxy",'
                                 f'scope="{scope}"')
                    self._send(401, {"Content-Type": "application/json", "WWW-Authenticate": challenge},
                               b'{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}', head=head)
                elif action == "reset-request":
                    length = int(self.headers.get("Content-Length") or 0)
                    if length:
                        self.rfile.read(max(1, length // 2))
                    self._reset()
                elif action == "reset-response":
                    status, headers, data = self._forward(self._body())
                    self.send_response(status)
                    for k, v in headers.items():
                        if k.lower() not in _HOP:
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self._reset()
                elif action == "expire-upload":
                    self._body()
                    self._send(404, {"Content-Type": "application/json"},
                               b'{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"upload expired"}]}', head=head)
                elif action == "head-404-after-put":
                    status, headers, data = self._forward(self._body())
                    if status in (201, 202):
                        created = headers.get("Location") or headers.get("location") or ""
                        created = re.sub(r"^https?://[^/]+", "", created)
                        with proxy._lock:
                            proxy._after_put.add(created.split("?")[0])
                    self._send(status, headers, data, head=head)
                elif action == "lie-digest":
                    status, headers, data = self._forward(self._body())
                    headers = {k: (WRONG_DIGEST if k.lower() == "docker-content-digest" else v)
                               for k, v in headers.items()}
                    self._send(status, headers, data, head=head)
                elif action == "replace-body":
                    status, headers, data = self._forward(self._body())
                    new = rule.body(data) if callable(rule.body) else (rule.body or b"")
                    self._send(status, headers, new, head=head)
                else:  # pragma: no cover - a typo in a test
                    raise AssertionError(f"unknown fault action {action}")

            def do_GET(self) -> None:
                self._handle()

            def do_HEAD(self) -> None:
                self._handle()

            def do_PUT(self) -> None:
                self._handle()

            def do_PATCH(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def do_DELETE(self) -> None:
                self._handle()

        return Handler
