"""One registry host: its base URL, transport, credentials and retry policy, and ``send``.

``send`` is one logical request (auth challenges, retries, redirects); ``raise_for`` and
``network_error`` turn what went wrong into the right ocikit error. The repository, upload and
download code all talk to the registry through this class.

* Redirects are followed for GET/HEAD; ``Authorization`` is attached per request and only for
  the registry's exact origin, so it is dropped on a redirect to another host, port or scheme.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from ocikit._config import RegistryOptions
from ocikit._registry._auth import Authenticator
from ocikit._registry._credentials import Credential
from ocikit._registry._http import Body, Response, Transport, TransportError, Urllib3Transport, redact_url
from ocikit._registry._retry import RetryPolicy, body_start, rewind
from ocikit._registry._upload_sessions import UploadSessions
from ocikit._version import user_agent
from ocikit.errors import AuthError, DigestMismatchError, NetworkError, NotFoundError, RegistryError, UsageError

__all__ = ["CHUNKED_MIN_SIZE", "CHUNK_SIZE", "REDIRECT_STATUS", "Reauthenticated", "RegistryHost", "error_code",
           "one_line", "read_error_body"]

log = logging.getLogger(__name__)

#: Seekable blobs at least this large are sent in chunks (resumable after a reset without
#: starting over); smaller ones in one streamed PUT, which is faster: on distribution 2.8 a 2 GiB
#: blob took 7.5-8.3 s in one PUT and 9.0-11.5 s in 64 MiB PATCHes (bench/transfer.sh machine).
CHUNKED_MIN_SIZE = 8 * 1024 * 1024 * 1024
#: Size of one PATCH (≥ 16 MiB: each request costs the registry a hash-state reload).
CHUNK_SIZE = 256 * 1024 * 1024
_MAX_ERROR_BODY = 64 * 1024
_MAX_REDIRECTS = 5
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})


class RegistryHost:
    """One registry host. Thread-safe; share it between the workers of a transfer."""

    def __init__(
        self,
        host: str,
        options: RegistryOptions | None = None,
        *,
        transport: Transport | None = None,
        credentials: Credential | None = None,
        retry: RetryPolicy | None = None,
        home: Path | None = None,
        chunked_min_size: int = CHUNKED_MIN_SIZE,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        """``chunked_min_size``: seekable blobs at least this large go in ``PATCH`` chunks of
        ``chunk_size`` bytes; smaller ones in one streamed ``PUT``."""
        if chunk_size <= 0 or chunked_min_size < 0:
            raise UsageError(f"chunk sizes must be positive (chunk_size={chunk_size}, "
                             f"chunked_min_size={chunked_min_size})")
        self.host = host
        self.options = options or RegistryOptions()
        self.base = f"{'http' if self.options.plain_http else 'https'}://{host}"
        if transport is None:
            transport = _injected(self.options)
        self.transport: Transport = transport if transport is not None else Urllib3Transport(self.options)
        if credentials is None:
            from ocikit._registry._credentials import lookup

            credentials = lookup(host, home=home, options=self.options)
        self.auth = Authenticator(self.base, credentials, self.transport)
        #: Open upload sessions kept between runs (resumable pushes); None without a home.
        self.sessions: UploadSessions | None = UploadSessions(home) if home is not None else None
        self.retry = retry or RetryPolicy()
        self.chunked_min_size = chunked_min_size
        self.chunk_size = chunk_size
        self._referrers_api: bool | None = None
        self._head_allowed = True  # False once the registry answered 405 to a HEAD

    def __repr__(self) -> str:
        return f"Registry({self.base!r})"

    def ping(self, *, require_auth: bool = False) -> None:
        """``GET /v2/``: reachability, TLS and (with credentials) authentication."""
        resp = self.send("GET", f"{self.base}/v2/", scopes=())
        if resp.status == 200:
            resp.close()
            return
        self.raise_for(resp, f"registry {self.host}")

    def send(
        self,
        method: str,
        url: str,
        *,
        scopes: Sequence[str],
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        idempotent: bool = True,
        follow_redirects: bool = False,
    ) -> Response:
        """One logical request: auth challenges, retries, redirects. Returns the final answer.

        Raises NetworkError when there is no answer and AuthError on a final 401/403.
        """
        start = body_start(body)
        attempt = auth_tries = redirects = 0
        while True:
            hdrs = {"User-Agent": user_agent(), **(headers or {}), **self.auth.authorize(url, scopes)}
            try:
                resp = self.transport.request(method, url, headers=hdrs, body=body)
            except TransportError as e:
                if e.kind in ("dns", "refused", "tls") or not idempotent or attempt + 1 >= self.retry.attempts:
                    raise self.network_error(e) from e
                if not rewind(body, start):
                    raise self.network_error(e) from e
                wait = self.retry.delay(attempt)
                log.info("%s %s: %s; retrying in %.1fs", method, redact_url(url), e, wait)
                self.retry.sleep(wait)
                attempt += 1
                continue
            if resp.status in (401, 403) and self.auth.same_origin(url):
                self._answer_challenge(method, url, resp, scopes, hdrs.get("Authorization"), auth_tries, body, start)
                auth_tries += 1
                continue
            if (resp.status in _RETRY_STATUS and idempotent and attempt + 1 < self.retry.attempts
                    and rewind(body, start)):
                wait = self.retry.delay(attempt, resp.headers.get("Retry-After"))
                resp.close()
                log.info("%s %s answered %d; retrying in %.1fs", method, redact_url(url), resp.status, wait)
                self.retry.sleep(wait)
                attempt += 1
                continue
            if follow_redirects and resp.status in REDIRECT_STATUS and resp.headers.get("Location"):
                if redirects >= _MAX_REDIRECTS:
                    resp.close()
                    raise RegistryError(f"{method} {_path(url)}: too many redirects")
                url = self._redirect_target(url, resp.headers["Location"])
                resp.close()
                redirects += 1
                continue
            return resp

    def _answer_challenge(self, method: str, url: str, resp: Response, scopes: Sequence[str], sent: str | None,
                          tries: int, body: Body, start: int | None) -> None:
        """A 401/403 from the registry: returns when the request is to be sent again with new
        credentials (``sent`` is the Authorization the refused one carried), raises otherwise."""
        challenge = resp.headers.get("WWW-Authenticate")
        if tries < 2 and challenge:
            resp.close()
            if self.auth.on_challenge(resp.status, challenge, scopes, retried=tries > 0, sent=sent):
                if rewind(body, start):
                    return
                # A streamed upload body is spent: we hold fresh credentials now, but
                # only the caller can send the body again (in a new upload session).
                raise Reauthenticated(
                    f"{method} {_path(url)}: the registry {self.host} asked for new credentials "
                    f"({resp.status}) during the upload",
                    hint="the token may have expired mid-push; run the command again")
            self.raise_for(None, f"{method} {_path(url)}", status=resp.status)
        self.raise_for(resp, f"{method} {_path(url)}")

    def _redirect_target(self, url: str, location: str) -> str:
        target = urljoin(url, location)
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or parts.username is not None:
            raise RegistryError(f"refusing a redirect to {redact_url(target)!r}",
                                hint="the registry sent a malformed or hostile redirect")
        import ipaddress

        with contextlib.suppress(ValueError):
            ip = ipaddress.ip_address((parts.hostname or "").strip("[]"))
            if ip.is_link_local or ip.is_unspecified or ip.is_multicast:
                raise RegistryError(f"refusing a redirect to {redact_url(target)!r}: link-local address",
                                    hint="the registry sent a hostile redirect")
        if not self.auth.same_origin(target):
            log.debug("following a redirect to another origin without credentials")
        return target

    def network_error(self, e: TransportError) -> NetworkError:
        if e.kind == "tls":
            if "wrong version number" in str(e):
                hint = f"{self.host} does not speak TLS; pass --plain-http for a plain-HTTP registry"
            else:
                hint = ("pass --ca-file <ca.pem> to trust the registry's CA, --plain-http if it speaks "
                        "plain HTTP, or --no-tls-verify (insecure)")
            return NetworkError(str(e), hint=hint)
        if e.kind == "dns":
            return NetworkError(f"cannot resolve the registry host {self.host!r}",
                                hint="check the registry name in the reference")
        if e.kind == "refused":
            return NetworkError(str(e), hint=f"is a registry listening on {self.host}? check the host and port")
        return NetworkError(f"{e} (after {self.retry.attempts} attempts)" if e.kind != "other" else str(e))

    def raise_for(self, resp: Response | None, what: str, *, status: int | None = None,
                  body: bytes | None = None) -> None:
        """Turn an unexpected answer into the right ocikit error (reads a capped error body).

        ``body``: the error body when the caller already read it (then ``resp`` is None).
        """
        code = message = ""
        if resp is not None:
            status = resp.status
            body = read_error_body(resp)
        body = body or b""
        with contextlib.suppress(ValueError, AttributeError, TypeError, IndexError, KeyError):
            err = json.loads(body)["errors"][0]
            code, message = str(err.get("code", "")), str(err.get("message", ""))
        detail = one_line(f"{code}: {message}" if code else message or body.decode("utf-8", "replace"))
        suffix = f" ({detail})" if detail else ""
        if status in (401, 403):
            if self.auth.has_credentials:
                hint = "check the username/password ('ocikit login') and your access to this repository"
            else:
                hint = f"run 'ocikit login {self.host}' or check your access to this repository"
            raise AuthError(f"{what}: the registry {self.host} refused access ({status}){suffix}", hint=hint)
        if status == 404:
            raise NotFoundError(f"{what}: not found on {self.host}{suffix}",
                                hint="check the repository and tag")
        # Go's net/http answers plain HTTP on a TLS port with a bare 400 ("Client sent an HTTP
        # request to an HTTPS server."); to a HEAD the same 400 comes without any body.
        if status == 400 and self.options.plain_http and (b"HTTPS server" in body or not body.strip()):
            raise NetworkError(f"{self.host} speaks HTTPS, not plain HTTP (it answered 400)",
                               hint="drop --plain-http (add --ca-file if it uses a private CA)")
        if status == 400 and code == "DIGEST_INVALID":
            raise DigestMismatchError(f"{what}: the registry refused the content as not matching its digest{suffix}")
        if status == 413:
            raise RegistryError(f"{what}: the registry refused the content as too large{suffix}")
        if status in _RETRY_STATUS:
            raise NetworkError(f"{what}: the registry {self.host} answered {status}{suffix} "
                               f"after {self.retry.attempts} attempts", hint="try again later")
        if status == 400 and code in ("MANIFEST_INVALID", "UNSUPPORTED"):
            raise RegistryError(f"{what}: the registry does not accept this artifact{suffix}",
                                hint="the registry may not support OCI artifacts with custom media types")
        raise RegistryError(f"{what}: the registry {self.host} answered {status}{suffix}")


def read_error_body(resp: Response) -> bytes:
    """At most 64 KiB of an error answer's body; closes the response."""
    try:
        return resp.read(_MAX_ERROR_BODY)
    except TransportError:
        return b""
    finally:
        resp.close()


def error_code(body: bytes) -> str:
    """The first distribution error code of an error body (``""`` if there is none)."""
    with contextlib.suppress(ValueError, AttributeError, TypeError, IndexError, KeyError):
        return str(json.loads(body)["errors"][0].get("code", ""))
    return ""


class Reauthenticated(AuthError):
    """A 401/403 with a fresh challenge refused a streamed body; new credentials are in place.

    Raised by ``Registry.send`` when the body cannot be rewound; the upload code catches it and
    starts over (``HEAD`` first), anything else sees a plain AuthError.
    """


def one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _path(url: str) -> str:
    return "/" + redact_url(url).split("://", 1)[-1].partition("/")[2]


def _injected(options: RegistryOptions) -> Transport | None:
    """The transport a ``Client`` put into the options (``RegistryOptions`` sits below this layer,
    so it holds it untyped); checked against the protocol here, where the protocol is known."""
    found = options.transport
    if found is None:
        return None
    if not isinstance(found, Transport):
        raise UsageError(f"RegistryOptions.transport must be a Transport (a request() method), "
                         f"not {type(found).__name__}")
    return found
