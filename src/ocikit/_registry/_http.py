"""The HTTP seam: a tiny ``Transport`` protocol and its urllib3 implementation.

Everything above this module (``_auth``, ``_registry``) talks to a :class:`Transport`, so unit
tests inject an in-process fake registry and the HTTP library never leaks further.

Why urllib3 and not requests: it streams file-object bodies and responses without buffering, it
does not read ``REQUESTS_CA_BUNDLE`` (which on some machines silently overrides a per-session CA,
``docs/compatibility.md`` §7.4), and we can switch off its redirect following and retries, which the
registry client does itself (credentials must be dropped on origin change, ``docs/reliability.md`` §H3;
PATCH must never be replayed blindly, "Registry faults" there).

TLS trust is the system CAs plus ``--ca-file``; ``--no-tls-verify`` turns verification off.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from ocikit._config import RegistryOptions
from ocikit._io._digest import CHUNK

__all__ = [
    "Body",
    "Response",
    "Transport",
    "TransportError",
    "Urllib3Transport",
    "origin",
    "redact_url",
]

Body = bytes | BinaryIO | None

log = logging.getLogger(__name__)

#: Query parameters safe to show in errors and logs; every other value is replaced by ``***``
#: (upload ``_state`` tokens, presigned-URL signatures; ggcr ``internal/redact``).
_SAFE_QUERY = frozenset({"scope", "service", "mount", "from", "digest", "n", "last"})

CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 120.0


class TransportError(Exception):
    """The request did not get an HTTP answer (or the body broke off).

    ``kind`` is one of ``dns``, ``refused``, ``tls``, ``reset``, ``timeout``, ``other``; only
    ``dns``/``refused``/``tls`` are certainly not worth retrying. The message never holds a
    query string or credentials.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Response(Protocol):
    """An HTTP answer whose body is read lazily (streamed)."""

    status: int

    @property
    def headers(self) -> Mapping[str, str]:
        """Case-insensitive header mapping."""
        ...

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes of the body (``b""`` at the end). Raises TransportError on a break."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Transport(Protocol):
    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: Body = None,
    ) -> Response:
        """Send one request; never follows redirects, never retries."""
        ...


def origin(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` with the default port filled in: the unit credentials bind to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def redact_url(url: str) -> str:
    """The URL without userinfo and with every non-allowlisted query value replaced by ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(
        item if item.partition("=")[0] in _SAFE_QUERY else f"{item.partition('=')[0]}=***"
        for item in parts.query.split("&")
        if item
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


class _Urllib3Response:
    def __init__(self, raw: Any, url: str) -> None:
        self._raw = raw
        self._url = url
        self.status: int = raw.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._raw.headers  # type: ignore[no-any-return]

    def read(self, n: int = -1) -> bytes:
        import urllib3

        try:
            data = self._raw.read(None if n < 0 else n, decode_content=False)
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise TransportError("reset", f"connection broke while reading {redact_url(self._url)}: "
                                 f"{type(e).__name__}") from e
        return data  # type: ignore[no-any-return]

    def close(self) -> None:
        # Reuse the connection when the body was read (or little is left); drop it otherwise, so
        # an unread multi-GB body is never drained.
        import urllib3

        remaining = self._raw.length_remaining
        try:
            if remaining is not None and remaining <= 64 * 1024:
                self._raw.drain_conn()
                self._raw.release_conn()
            else:
                self._raw.close()
        except (urllib3.exceptions.HTTPError, OSError):
            self._raw.close()


@dataclass(frozen=True)
class _TlsSettings:
    verify: bool
    ca_file: str | None
    client_cert: str | None
    client_key: str | None


def _ssl_context(tls: _TlsSettings) -> ssl.SSLContext:
    if tls.verify:
        # System trust store (load_default_certs), plus the user's CA; REQUESTS_CA_BUNDLE is not
        # consulted (it is a requests convention).
        ctx = ssl.create_default_context()
        if tls.ca_file:
            ctx.load_verify_locations(cafile=tls.ca_file)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if tls.client_cert:
        ctx.load_cert_chain(tls.client_cert, tls.client_key)
    return ctx


class Urllib3Transport:
    """The real transport: one urllib3 pool manager, 1 MiB send blocks, no redirects, no retries."""

    def __init__(self, options: RegistryOptions | None = None, *, maxsize: int | None = None) -> None:
        import urllib3

        options = options or RegistryOptions()
        tls = _TlsSettings(options.tls_verify, options.ca_file, options.client_cert, options.client_key)
        try:
            # plain HTTP needs no trust store (loading it costs ~20-40 ms per process)
            ctx = None if options.plain_http else _ssl_context(tls)
        except (OSError, ssl.SSLError) as e:
            from ocikit.errors import UsageError

            raise UsageError(f"cannot load the TLS files (--ca-file/--client-cert/--client-key): {e}",
                             hint="pass PEM files") from e
        if not options.tls_verify and not options.plain_http:
            # The user asked for it (--no-tls-verify); say so once in our log instead of a warning
            # per request from urllib3.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            log.warning("TLS certificate verification is off (--no-tls-verify)")
        self._pool = urllib3.PoolManager(
            num_pools=8,
            maxsize=maxsize or max(4, options.concurrency + 2),
            block=False,
            ssl_context=ctx,
            cert_reqs="CERT_REQUIRED" if options.tls_verify else "CERT_NONE",
            assert_hostname=None if options.tls_verify else False,
            blocksize=CHUNK,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
            retries=False,
        )

    def request(self, method: str, url: str, *, headers: Mapping[str, str], body: Body = None) -> Response:
        import urllib3

        try:
            raw = self._pool.urlopen(
                method,
                url,
                body=body,
                headers=dict(headers),
                redirect=False,
                retries=False,
                preload_content=False,
                decode_content=False,
                chunked=False,
            )
        except urllib3.exceptions.NameResolutionError as e:
            raise TransportError("dns", f"cannot resolve the registry host of {redact_url(url)}") from e
        except urllib3.exceptions.NewConnectionError as e:
            raise TransportError("refused", f"cannot connect to {_netloc(url)}: connection refused") from e
        except urllib3.exceptions.SSLError as e:
            raise TransportError("tls", f"TLS handshake with {_netloc(url)} failed: {_ssl_reason(e)}") from e
        except (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.ReadTimeoutError) as e:
            raise TransportError("timeout", f"{method} {redact_url(url)} timed out") from e
        except (urllib3.exceptions.ProtocolError, urllib3.exceptions.HTTPError, OSError) as e:
            raise TransportError("reset", f"{method} {redact_url(url)}: connection broke "
                                 f"({type(e).__name__})") from e
        return _Urllib3Response(raw, url)


def _netloc(url: str) -> str:
    return urlsplit(url).netloc.rpartition("@")[2]


def _ssl_reason(e: BaseException) -> str:
    text = str(e)
    for known in ("CERTIFICATE_VERIFY_FAILED", "WRONG_VERSION_NUMBER", "wrong version number",
                  "certificate verify failed", "unknown protocol", "record layer failure"):
        if known in text:
            if "VERIFY" in known.upper():
                detail = text.split("certificate verify failed:")[-1].split("(")[0].strip(" )'\"")
                return f"certificate verify failed ({detail})" if detail else "certificate verify failed"
            return "the server does not speak TLS (wrong version number)"
    # Anything else: OpenSSL's own words ("unexpected message", "EOF occurred in violation of
    # protocol") say much more than the class name. The "(_ssl.c:1000)" location is dropped, and
    # nothing that could hold a URL is shown.
    words = re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)
    match = re.search(r"\(\d+, '([^']+)'\)", words)
    words = match.group(1) if match else words
    words = re.sub(r"^\[SSL: [A-Z0-9_]+\]\s*", "", words).strip()
    if words and "://" not in words and len(words) <= 200:
        return f"{type(e).__name__}: {words}"
    return type(e).__name__
