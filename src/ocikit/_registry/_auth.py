"""Registry authentication: Basic and Bearer-token challenges and the token cache.

Flow (https://distribution.github.io/distribution/spec/auth/token/): a request is answered
``401`` with ``WWW-Authenticate``. ``Basic`` → resend with the stored credentials, and from then
on send them pre-emptively (no body is ever sent twice). ``Bearer realm=..,service=..,scope=..``
→ fetch a token from the realm for the scopes the operation needs (``pull`` to read,
``pull,push`` to write, plus ``pull`` on a mount source) and cache it per (realm, service, scopes,
identity); a ``401``/``403`` with ``error="insufficient_scope"`` re-challenges once with the
server's scope (``docs/compatibility.md`` §7.3).

Safety (``docs/reliability.md`` §H3-H4): credentials go only to the registry's exact origin
(scheme, host, port) and to a validated token realm: http(s) only, no userinfo, no TLS downgrade,
plain http only to the registry host itself, never a link-local / metadata address, and a
private or loopback IP only when it is the registry host. Token responses are size-capped and
never followed through redirects. Secrets never reach a message or a log.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from ocikit._registry._credentials import Credential
from ocikit._registry._http import Transport, TransportError, origin, redact_url
from ocikit._version import user_agent
from ocikit.errors import AuthError, NetworkError

__all__ = ["Authenticator", "Challenge", "check_realm", "parse_challenges"]

log = logging.getLogger(__name__)

#: Largest token response we read (real ones are a few KiB).
MAX_TOKEN_RESPONSE = 1024 * 1024
_DEFAULT_TOKEN_LIFETIME = 60.0
_FORBIDDEN_HOSTS = frozenset({"metadata.google.internal", "metadata", "metadata.azure.internal"})

_ITEM = re.compile(
    r"""[\s,]*([A-Za-z0-9!#$%&'*+.^_`|~-]+)(\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*)))?"""
)


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: "basic" or "bearer"
    params: Mapping[str, str] = field(default_factory=dict)


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value (RFC 7235): ``Bearer realm="..",service=".."``."""
    found: list[tuple[str, dict[str, str]]] = []
    pos = 0
    while pos < len(header):
        m = _ITEM.match(header, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        if m.group(2) is None:  # a bare token starts a new challenge
            found.append((m.group(1).lower(), {}))
        elif found:
            raw = m.group(3) if m.group(3) is not None else (m.group(4) or "")
            found[-1][1][m.group(1).lower()] = re.sub(r"\\(.)", r"\1", raw)
    return [Challenge(scheme, params) for scheme, params in found]


def check_realm(realm: str, registry_url: str) -> None:
    """Refuse token realms that would leak credentials or reach internal services (SSRF)."""
    parts = urlsplit(realm)
    reg_scheme, reg_host, _ = origin(registry_url)
    shown = redact_url(realm)
    if parts.scheme not in ("http", "https"):
        raise AuthError(f"refusing token realm {shown!r}: only http(s) URLs are allowed",
                        hint="the registry's WWW-Authenticate header is malformed or hostile")
    if parts.username is not None or parts.password is not None:
        raise AuthError(f"refusing token realm {shown!r}: it contains credentials",
                        hint="the registry's WWW-Authenticate header is malformed or hostile")
    host = (parts.hostname or "").lower()
    if not host:
        raise AuthError(f"refusing token realm {shown!r}: no host")
    same_host = host == reg_host
    if parts.scheme == "http" and reg_scheme == "https":
        raise AuthError(f"refusing token realm {shown!r}: the registry uses HTTPS but the realm is plain HTTP",
                        hint="a token server must not downgrade the connection")
    if parts.scheme == "http" and not same_host:
        raise AuthError(f"refusing token realm {shown!r}: plain HTTP to another host than the registry",
                        hint="credentials would travel in clear text to a third party")
    if host in _FORBIDDEN_HOSTS:
        raise AuthError(f"refusing token realm {shown!r}: a cloud metadata address")
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        raise AuthError(f"refusing token realm {shown!r}: a link-local/metadata or reserved address",
                        hint="the registry's WWW-Authenticate header points at an internal service")
    if (ip.is_loopback or ip.is_private) and not same_host:
        raise AuthError(f"refusing token realm {shown!r}: a private address other than the registry",
                        hint="the registry's WWW-Authenticate header points at an internal service")


@dataclass
class _Token:
    value: str
    expires: float


class Authenticator:
    """Per-registry auth state; thread-safe. ``authorize`` gives the headers for one request."""

    def __init__(
        self,
        registry_url: str,
        credential: Credential | None,
        transport: Transport,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = registry_url
        self._origin = origin(registry_url)
        self._cred = credential if credential is not None and not credential.is_empty else None
        self._transport = transport
        self._clock = clock
        self._lock = threading.Lock()
        self._mode: str | None = None  # None (unknown / anonymous), "basic", "bearer"
        self._realm: str | None = None
        self._service: str | None = None
        self._tokens: dict[tuple[str, str, tuple[str, ...]], _Token] = {}

    @property
    def mode(self) -> str | None:
        return self._mode

    @property
    def has_credentials(self) -> bool:
        return self._cred is not None

    def same_origin(self, url: str) -> bool:
        return origin(url) == self._origin

    def authorize(self, url: str, scopes: Sequence[str]) -> dict[str, str]:
        """The Authorization header for ``url`` (none for another origin or before a challenge)."""
        if not self.same_origin(url):
            return {}
        with self._lock:
            mode = self._mode
        if mode == "basic" and self._cred is not None:
            return {"Authorization": self._basic_value()}
        if mode == "bearer":
            token = self._token_for(tuple(sorted(set(scopes))))
            return {"Authorization": f"Bearer {token}"} if token else {}
        return {}

    def on_challenge(
        self, status: int, header: str | None, scopes: Sequence[str], *, retried: bool, sent: str | None = None
    ) -> bool:
        """Learn from a 401/403. True if the request should be sent again with new credentials.

        ``sent`` is the Authorization value the refused request carried (None: anonymous).
        """
        challenges = parse_challenges(header or "")
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        if bearer is not None:
            realm = bearer.params.get("realm", "")
            check_realm(realm, self._base)
            wanted = set(scopes)
            server_scope = bearer.params.get("scope")
            if server_scope:
                wanted.update(server_scope.split(" "))
            key_scopes = tuple(sorted(wanted))
            insufficient = bearer.params.get("error") == "insufficient_scope"
            if retried and not insufficient:
                return False  # a fresh token for these scopes was refused: give up
            with self._lock:
                self._mode, self._realm = "bearer", realm
                self._service = bearer.params.get("service", "")
                service = self._service
                self._tokens.pop((realm, service, key_scopes), None)
            token = self._fetch_token(key_scopes)
            with self._lock:  # remember the (possibly wider) token under the request's key too
                self._tokens[(realm, service, tuple(sorted(set(scopes))))] = _Token(
                    token, self._tokens[(realm, service, key_scopes)].expires)
            return True
        if basic is not None:
            with self._lock:
                self._mode = "basic"
            # retry once if we have credentials and the refused request did not carry them
            return self._cred is not None and sent != self._basic_value()
        return False

    # -- internals -----------------------------------------------------------------------------

    def _basic_value(self) -> str:
        assert self._cred is not None
        raw = f"{self._cred.username}:{self._cred.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def _token_for(self, scopes: tuple[str, ...]) -> str:
        with self._lock:
            realm, service = self._realm or "", self._service or ""
            cached = self._tokens.get((realm, service, scopes))
            if cached is not None and cached.expires > self._clock():
                return cached.value
        return self._fetch_token(scopes)

    def _fetch_token(self, scopes: tuple[str, ...]) -> str:
        with self._lock:
            realm, service = self._realm or "", self._service or ""
        check_realm(realm, self._base)
        query: list[tuple[str, str]] = []
        if service:
            query.append(("service", service))
        query.extend(("scope", s) for s in scopes if s)
        headers = {"Accept": "application/json", "User-Agent": user_agent()}
        sep = "&" if urlsplit(realm).query else "?"
        if self._cred is not None and self._cred.identity_token:
            # OAuth2 refresh-token grant (distribution's token spec, docs/compatibility.md §7.3)
            form = [("grant_type", "refresh_token"), ("refresh_token", self._cred.identity_token),
                    ("client_id", "ocikit"), *query]
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            method, url, body = "POST", realm, urlencode(form).encode()
        else:
            if self._cred is not None:
                headers["Authorization"] = self._basic_value()
            method, url, body = "GET", realm + (sep + urlencode(query) if query else ""), None
        try:
            resp = self._transport.request(method, url, headers=headers, body=body)
        except TransportError as e:
            raise NetworkError(f"cannot reach the token server: {e}") from e
        try:
            data = resp.read(MAX_TOKEN_RESPONSE + 1)
        finally:
            resp.close()
        if resp.status in (401, 403):
            who = f" for user {self._cred.username!r}" if self._cred and self._cred.username else ""
            raise AuthError(f"the token server of {self._origin[1]}:{self._origin[2]} refused the credentials{who}")
        if resp.status != 200:
            raise AuthError(f"the token server answered {resp.status} ({redact_url(realm)})")
        if len(data) > MAX_TOKEN_RESPONSE:
            raise AuthError("the token server's answer is larger than 1 MiB; refusing it")
        try:
            obj = json.loads(data)
        except ValueError as e:
            raise AuthError("the token server's answer is not JSON") from e
        token = obj.get("token") or obj.get("access_token") if isinstance(obj, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError("the token server's answer holds no token")
        lifetime = obj.get("expires_in") if isinstance(obj, dict) else None
        ttl = float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else _DEFAULT_TOKEN_LIFETIME
        with self._lock:
            # renew a little early so a long upload does not start with a token about to expire
            self._tokens[(realm, service, scopes)] = _Token(token, self._clock() + max(ttl - 10, ttl / 2))
        log.debug("got a token for %s", " ".join(scopes) or "(no scope)")
        return token
