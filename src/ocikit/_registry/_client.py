"""A repository on an OCI distribution registry, as a ``Storage``.

Spec: https://github.com/opencontainers/distribution-spec/blob/main/spec.md. Behaviour of the
registry we test against (distribution 2.8) is in ``registry-behaviour.md``; the faults handled
here are catalogued in ``reliability.md`` §1.5-1.8 and §3.

* Manifests: always an explicit OCI ``Accept`` (distribution answers 404 without one); at most
  4 MiB read; tags are resolved by ``GET`` and **our own hash** of the body (a
  ``Docker-Content-Digest`` that disagrees is logged, never used).
* Blobs up: ``POST`` then one streamed ``PUT ?digest=`` (``Content-Length``, file object body,
  never read whole); very large (≥ ``chunked_min_size``, 8 GiB by default) seekable blobs go in
  ``PATCH`` chunks whose offset comes from the ``Range`` reply (2.8 ignores ``Content-Range``), a
  broken ``PATCH`` is never replayed blindly (``GET <location>`` tells where the upload stands).
  Never the single-``POST`` form. ``?mount=&from=`` when the blob was seen in another repository
  of the same registry.
* Upload recovery (``reliability.md`` §3.1), at most ``_UPLOAD_RESTARTS`` sessions per blob: after
  a broken request, a ``401`` with a fresh challenge on a streamed body (token expired mid-push:
  a new token is fetched first) or a ``404 BLOB_UPLOAD_UNKNOWN`` (session expired), the blob is
  ``HEAD``-ed (it may have landed) and otherwise sent again in a **new** session.
* Existence checks: ``HEAD``; a registry answering ``405`` to ``HEAD`` gets a ``GET`` whose body is
  not read (``Range: bytes=0-0`` for blobs), and is remembered as such.
* Manifest ``PUT`` answered ``400 MANIFEST_BLOB_UNKNOWN`` right after its blobs were pushed is
  retried a few times with backoff (read-after-write lag of eventually consistent storage).
* Blobs down: raw bytes (``Accept-Encoding: identity``, no decoding), resumed with ``Range``
  after a reset or a short body.
* Retries: 408/429/5xx and connection resets, full-jitter exponential backoff, ``Retry-After``
  (seconds or HTTP-date) honoured up to a cap; only requests whose body can be rewound.
* Redirects are followed for GET/HEAD; ``Authorization`` is attached per request and only for
  the registry's exact origin, so it is dropped on a redirect to another host, port or scheme.
* Referrers: ``GET /v2/<name>/referrers/<digest>``; only a ``200`` with a valid OCI index counts
  as the API. ``None`` (no API, ``_referrers`` uses the fallback tag) on 404, on 400/405/406/501,
  on a redirect (GHCR has answered 303) and on a 200 that is not an index.
* ``delete_manifest`` deletes by digest: distribution then removes **every tag** pointing at it.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import logging
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast
from urllib.parse import quote, urljoin, urlsplit

from ocikit._config import RegistryOptions
from ocikit._io._digest import CHUNK, Digest, ReadStream
from ocikit._oci._model import DOCKER_LIST, DOCKER_MANIFEST, INDEX, MANIFEST, MAX_MANIFEST_BYTES, Descriptor, Index
from ocikit._registry._auth import Authenticator
from ocikit._registry._credentials import Credential
from ocikit._registry._http import Body, Response, Transport, TransportError, Urllib3Transport, redact_url
from ocikit._registry._upload_sessions import UploadSessions
from ocikit.errors import (
    AuthError,
    DigestMismatchError,
    NetworkError,
    NotFoundError,
    RegistryError,
    UnsupportedError,
    UsageError,
    VerificationError,
)

__all__ = ["Registry", "RegistryRepository", "RetryPolicy"]

log = logging.getLogger(__name__)

MANIFEST_ACCEPT = ", ".join([MANIFEST, INDEX, DOCKER_MANIFEST, DOCKER_LIST])
#: Seekable blobs at least this large are sent in chunks (resumable after a reset without
#: starting over); smaller ones in one streamed PUT, which is faster: on distribution 2.8 a 2 GiB
#: blob took 7.5-8.3 s in one PUT and 9.0-11.5 s in 64 MiB PATCHes (bench/transfer.sh machine).
CHUNKED_MIN_SIZE = 8 * 1024 * 1024 * 1024
#: Size of one PATCH (≥ 16 MiB: each request costs the registry a hash-state reload).
CHUNK_SIZE = 256 * 1024 * 1024
_MAX_ERROR_BODY = 64 * 1024
_MAX_TAG_LIST = 16 * 1024 * 1024
_MAX_REDIRECTS = 5
_MAX_RESUMES = 5
#: Upload sessions per blob (the first + 2 restarts) after a broken, expired or re-authenticated upload.
_UPLOAD_RESTARTS = 3
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
#: Answers to GET /referrers/ that mean "this registry has no referrers API".
_NO_REFERRERS_API = frozenset({400, 404, 405, 406, 501})

# "blob seen in repository X" per registry host: lets a push mount instead of upload.
_SEEN_LOCK = threading.Lock()
_SEEN: dict[str, OrderedDict[Digest, str]] = {}
_SEEN_MAX = 4096


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. ``sleep`` is injectable so tests run instantly."""

    attempts: int = 5
    base: float = 0.25
    cap: float = 8.0
    max_retry_after: float = 60.0
    #: Manifest PUTs answered MANIFEST_BLOB_UNKNOWN right after the blobs were pushed (eventual
    #: consistency): this many attempts, waiting ``settle_base * 2**n`` (capped) in between.
    settle_attempts: int = 5
    settle_base: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after:
            wait = _parse_retry_after(retry_after)
            if wait is not None:
                return min(max(wait, 0.0), self.max_retry_after)
        return random.uniform(0, min(self.cap, self.base * (2**attempt)))  # noqa: S311 - jitter

    def settle_delay(self, attempt: int) -> float:
        """Wait before re-trying something we just wrote and the registry does not see yet."""
        return float(min(self.cap, self.settle_base * (2**attempt)))


def _parse_retry_after(value: str) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _media_type(resp: Response) -> str | None:
    value = resp.headers.get("Content-Type")
    return value.split(";")[0].strip() if value else None


def _rewind(body: Body, start: int | None) -> bool:
    """Put a request body back at its start so it can be sent again; False if impossible."""
    if body is None or isinstance(body, bytes):
        return True
    if start is None:
        return False
    try:
        body.seek(start)
    except (OSError, ValueError, AttributeError):
        return False
    return True


def _start_of(body: Body) -> int | None:
    if body is None or isinstance(body, bytes):
        return 0
    try:
        if not body.seekable():
            return None
        return body.tell()
    except (OSError, ValueError, AttributeError):
        return None


class Registry:
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

    def repository(self, name: str) -> RegistryRepository:
        return RegistryRepository(self, name)

    # -- blob memory (for cross-repository mounts) ---------------------------------------------

    def remember_blob(self, digest: Digest, repository: str) -> None:
        with _SEEN_LOCK:
            seen = _SEEN.setdefault(self.host, OrderedDict())
            seen[digest] = repository
            seen.move_to_end(digest)
            while len(seen) > _SEEN_MAX:
                seen.popitem(last=False)

    def mount_source(self, digest: Digest, repository: str) -> str | None:
        """Another repository of this registry known to hold ``digest``, if any."""
        with _SEEN_LOCK:
            seen = _SEEN.get(self.host)
            found = seen.get(digest) if seen is not None else None
        return found if found is not None and found != repository else None

    # -- requests ------------------------------------------------------------------------------

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
        start = _start_of(body)
        attempt = auth_tries = redirects = 0
        while True:
            hdrs = {"User-Agent": _user_agent()}
            if headers:
                hdrs.update(headers)
            hdrs.update(self.auth.authorize(url, scopes))
            try:
                resp = self.transport.request(method, url, headers=hdrs, body=body)
            except TransportError as e:
                if e.kind in ("dns", "refused", "tls") or not idempotent or attempt + 1 >= self.retry.attempts:
                    raise self.network_error(e) from e
                if not _rewind(body, start):
                    raise self.network_error(e) from e
                wait = self.retry.delay(attempt)
                log.info("%s %s: %s; retrying in %.1fs", method, redact_url(url), e, wait)
                self.retry.sleep(wait)
                attempt += 1
                continue
            if resp.status in (401, 403) and self.auth.same_origin(url):
                challenge = resp.headers.get("WWW-Authenticate")
                if auth_tries < 2 and challenge:
                    resp.close()
                    if self.auth.on_challenge(resp.status, challenge, scopes, retried=auth_tries > 0,
                                              sent=hdrs.get("Authorization")):
                        auth_tries += 1
                        if _rewind(body, start):
                            continue
                        # A streamed upload body is spent: we hold fresh credentials now, but
                        # only the caller can send the body again (in a new upload session).
                        raise _Reauthenticated(
                            f"{method} {_path(url)}: the registry {self.host} asked for new credentials "
                            f"({resp.status}) during the upload",
                            hint="the token may have expired mid-push; run the command again")
                    self.raise_for(None, f"{method} {_path(url)}", status=resp.status)
                self.raise_for(resp, f"{method} {_path(url)}")
            if (resp.status in _RETRY_STATUS and idempotent and attempt + 1 < self.retry.attempts
                    and _rewind(body, start)):
                wait = self.retry.delay(attempt, resp.headers.get("Retry-After"))
                resp.close()
                log.info("%s %s answered %d; retrying in %.1fs", method, redact_url(url), resp.status, wait)
                self.retry.sleep(wait)
                attempt += 1
                continue
            if follow_redirects and resp.status in _REDIRECT_STATUS and resp.headers.get("Location"):
                if redirects >= _MAX_REDIRECTS:
                    resp.close()
                    raise RegistryError(f"{method} {_path(url)}: too many redirects")
                url = self._redirect_target(url, resp.headers["Location"])
                resp.close()
                redirects += 1
                continue
            return resp

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
            body = _read_error_body(resp)
        body = body or b""
        with contextlib.suppress(ValueError, AttributeError, TypeError, IndexError, KeyError):
            err = json.loads(body)["errors"][0]
            code, message = str(err.get("code", "")), str(err.get("message", ""))
        detail = _one_line(f"{code}: {message}" if code else message or body.decode("utf-8", "replace"))
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


def _read_error_body(resp: Response) -> bytes:
    """At most 64 KiB of an error answer's body; closes the response."""
    try:
        return resp.read(_MAX_ERROR_BODY)
    except TransportError:
        return b""
    finally:
        resp.close()


def _error_code(body: bytes) -> str:
    """The first distribution error code of an error body (``""`` if there is none)."""
    with contextlib.suppress(ValueError, AttributeError, TypeError, IndexError, KeyError):
        return str(json.loads(body)["errors"][0].get("code", ""))
    return ""


class _Reauthenticated(AuthError):
    """A 401/403 with a fresh challenge refused a streamed body; new credentials are in place.

    Raised by ``Registry.send`` when the body cannot be rewound; the upload code catches it and
    starts over (``HEAD`` first), anything else sees a plain AuthError.
    """


class _UploadSessionLost(RegistryError):
    """The registry no longer knows the upload session (``404 BLOB_UPLOAD_UNKNOWN``)."""


def _user_agent() -> str:
    from ocikit._version import __version__

    return f"ocikit/{__version__}"


def _path(url: str) -> str:
    return "/" + redact_url(url).split("://", 1)[-1].partition("/")[2]


class _SequentialHasher:
    """Hashes a blob sent in pieces that may be re-sent (seek back) after a broken PATCH."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.position = 0

    def feed(self, at: int, data: bytes) -> None:
        end = at + len(data)
        if end <= self.position:
            return
        if at > self.position:
            raise RegistryError("upload skipped bytes it never hashed; restarting")
        self._hash.update(data[self.position - at:])
        self.position = end

    @property
    def digest(self) -> Digest:
        return Digest.from_hash(self._hash)


class _Window(ReadStream):
    """``length`` bytes of ``stream`` from its current position, hashed into ``hasher``."""

    def __init__(self, stream: BinaryIO, at: int, length: int, hasher: _SequentialHasher) -> None:
        self._stream, self._at, self._left, self._hasher = stream, at, length, hasher

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n < 0 or n > self._left else n
        data = self._stream.read(n)
        if not data:
            raise DigestMismatchError("the blob being uploaded ended before its declared size")
        self._hasher.feed(self._at, data)
        self._at += len(data)
        self._left -= len(data)
        return data


class _CheckedBody(ReadStream):
    """A monolithic upload body: hashes and counts, refuses to send more or fewer bytes."""

    def __init__(self, stream: BinaryIO, desc: Descriptor) -> None:
        self._stream, self._desc = stream, desc
        self._hash = hashlib.sha256()
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        left = self._desc.size - self.count
        if left <= 0:
            return b""
        data = self._stream.read(left if n < 0 or n > left else n)
        if not data:
            raise DigestMismatchError(f"blob {self._desc.digest} ended after {self.count} bytes, "
                                      f"expected {self._desc.size}")
        self._hash.update(data)
        self.count += len(data)
        if self.count == self._desc.size and Digest.from_hash(self._hash) != self._desc.digest:
            raise DigestMismatchError(f"blob content does not match its digest {self._desc.digest} "
                                      f"(got {Digest.from_hash(self._hash)}); not uploading it")
        return data


class _BlobReader(ReadStream):
    """A blob download that resumes with ``Range`` after a reset or a short body."""

    def __init__(self, repo: RegistryRepository, desc: Descriptor, offset: int) -> None:
        self._repo, self._desc = repo, desc
        self.position = offset
        self._resumes = 0
        self._resp: Response | None = None
        if offset < desc.size:
            self._resp = repo._get_blob(desc, offset)

    def _resume(self, why: str) -> bool:
        if self._resumes >= _MAX_RESUMES or self.position >= self._desc.size:
            return False
        self._resumes += 1
        log.info("blob %s: %s at byte %d; resuming with Range", self._desc.digest.short, why, self.position)
        if self._resp is not None:
            with contextlib.suppress(TransportError):
                self._resp.close()
        self._repo.registry.retry.sleep(self._repo.registry.retry.delay(self._resumes - 1))
        self._resp = self._repo._get_blob(self._desc, self.position)
        return True

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        while True:
            if self._resp is None:
                return b""
            try:
                data = self._resp.read(n)
            except TransportError as e:
                if self._resume("connection broke"):
                    continue
                raise self._repo.registry.network_error(e) from e
            if not data and self.position < self._desc.size and self._resume("body ended early"):
                continue
            self.position += len(data)
            return data

    def close(self) -> None:
        if self._resp is not None:
            with contextlib.suppress(TransportError):
                self._resp.close()
            self._resp = None
        super().close()


class RegistryRepository:
    """One repository on a registry, implementing ``ocikit._store._storage.Storage``."""

    def __init__(self, registry: Registry, repository: str) -> None:
        self.registry = registry
        self.repository = repository
        self.name = f"{registry.host}/{repository}"
        self._pull = (f"repository:{repository}:pull",)
        self._push = (f"repository:{repository}:pull,push",)
        self._manifests: OrderedDict[Digest, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RegistryRepository({self.name!r})"

    def _url(self, kind: str, ref: str = "") -> str:
        tail = f"/{quote(ref, safe=':')}" if ref else ""
        return f"{self.registry.base}/v2/{self.repository}/{kind}{tail}"

    def _cache(self, digest: Digest, data: bytes) -> None:
        with self._lock:
            self._manifests[digest] = data
            while len(self._manifests) > 16:
                self._manifests.popitem(last=False)

    # -- manifests -------------------------------------------------------------------------

    def _get_manifest(self, identifier: str) -> tuple[bytes, str | None, str | None]:
        url = self._url("manifests", identifier)
        resp = self.registry.send("GET", url, scopes=self._pull, headers={"Accept": MANIFEST_ACCEPT},
                                  follow_redirects=True)
        if resp.status != 200:
            self.registry.raise_for(resp, f"{self.name}:{identifier}" if ":" not in identifier
                                    else f"{self.name}@{identifier}")
        try:
            length = resp.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > MAX_MANIFEST_BYTES:
                raise VerificationError(f"manifest {self.name}:{identifier} is {length} bytes, more than "
                                        f"the {MAX_MANIFEST_BYTES}-byte limit",
                                        hint="the registry serves something that is not a ModelKit manifest")
            data = b""
            while len(data) <= MAX_MANIFEST_BYTES:
                piece = resp.read(min(CHUNK, MAX_MANIFEST_BYTES + 1 - len(data)))
                if not piece:
                    break
                data += piece
        except TransportError as e:
            raise self.registry.network_error(e) from e
        finally:
            resp.close()
        if len(data) > MAX_MANIFEST_BYTES:
            raise VerificationError(f"manifest {self.name}:{identifier} is larger than the "
                                    f"{MAX_MANIFEST_BYTES}-byte limit",
                                    hint="the registry serves something that is not a ModelKit manifest")
        return data, _media_type(resp), resp.headers.get("Docker-Content-Digest")

    def resolve(self, identifier: str) -> Descriptor:
        data, media_type, header = self._get_manifest(identifier)
        digest = Digest.of_bytes(data)  # our hash; the header is only cross-checked
        if Digest.is_valid(identifier) and digest != Digest.parse(identifier):
            raise DigestMismatchError(f"manifest {self.name}@{identifier} does not match its digest (got {digest})")
        if header and header != str(digest):
            log.warning("%s:%s: the registry's Docker-Content-Digest %s differs from the content's "
                        "digest %s; using the content's", self.name, identifier, header[:80], digest)
        if media_type in (None, "", "application/json", "text/plain"):
            with contextlib.suppress(ValueError, AttributeError):
                body_type = json.loads(data).get("mediaType")
                media_type = body_type if isinstance(body_type, str) else MANIFEST
        self._cache(digest, data)
        return Descriptor(media_type or MANIFEST, digest, len(data))

    def fetch_manifest(self, desc: Descriptor) -> bytes:
        with self._lock:
            data = self._manifests.get(desc.digest)
        if data is None:
            data, _, _ = self._get_manifest(str(desc.digest))
        desc.digest.verify_bytes(data, size=desc.size, what=f"manifest of {self.name}")
        self._cache(desc.digest, data)
        return data

    def _exists(self, url: str, headers: Mapping[str, str], get_headers: Mapping[str, str] | None = None) -> Response:
        """``HEAD url``; on registries that answer ``HEAD`` with 405, a ``GET`` (with
        ``get_headers`` added) whose body is never read: it is closed unread, and ``_http`` drops
        such a connection instead of draining it. ``reliability.md`` §3.1 (containerd
        ``retryRequest``). The returned response is closed; only status and headers are used."""
        if self.registry._head_allowed:
            resp = self.registry.send("HEAD", url, scopes=self._pull, headers=headers, follow_redirects=True)
            resp.close()
            if resp.status != 405:
                return resp
            log.info("%s answers HEAD with 405; checking existence with GET", self.registry.host)
            self.registry._head_allowed = False
        resp = self.registry.send("GET", url, scopes=self._pull, headers={**headers, **(get_headers or {})},
                                  follow_redirects=True)
        resp.close()
        return resp

    def has_manifest(self, digest: Digest) -> bool:
        resp = self._exists(self._url("manifests", str(digest)), {"Accept": MANIFEST_ACCEPT})
        if resp.status == 200:
            return True
        if resp.status == 404:
            return False
        self.registry.raise_for(None, f"{self.name}@{digest}", status=resp.status)
        return False

    def push_manifest(self, data: bytes, media_type: str, tag: str | None = None) -> Descriptor:
        if len(data) > MAX_MANIFEST_BYTES:
            raise UsageError(f"manifest of {len(data)} bytes is larger than the {MAX_MANIFEST_BYTES}-byte limit")
        desc = Descriptor.for_bytes(media_type, data)
        ref = tag if tag is not None else str(desc.digest)
        retry = self.registry.retry
        for attempt in range(max(1, retry.settle_attempts)):
            resp = self.registry.send("PUT", self._url("manifests", ref), scopes=self._push,
                                      headers={"Content-Type": media_type, "Content-Length": str(len(data))},
                                      body=data)
            if resp.status in (200, 201, 202):
                break
            if resp.status == 400 and attempt + 1 < retry.settle_attempts:
                body = _read_error_body(resp)
                if _error_code(body) == "MANIFEST_BLOB_UNKNOWN":
                    # We pushed every blob before the manifest, so on an eventually consistent
                    # backend this is read-after-write lag (reliability.md §3.1): wait, retry.
                    wait = retry.settle_delay(attempt)
                    log.info("%s: the registry does not see a blob of the manifest yet; retrying in %.1fs",
                             self.name, wait)
                    retry.sleep(wait)
                    continue
                self.registry.raise_for(None, f"push manifest {self.name}:{ref}", status=400, body=body)
            self.registry.raise_for(resp, f"push manifest {self.name}:{ref}")
        header = resp.headers.get("Docker-Content-Digest")
        resp.close()
        if header and header != str(desc.digest):
            log.warning("%s: the registry reports digest %s for the manifest we pushed as %s",
                        self.name, header[:80], desc.digest)
        self._cache(desc.digest, data)
        return desc

    def tag(self, desc: Descriptor, tag: str) -> None:
        data = self.fetch_manifest(desc)
        self.push_manifest(data, desc.media_type, tag=tag)

    def untag(self, tag: str) -> None:
        resp = self.registry.send("DELETE", self._url("manifests", tag), scopes=self._push)
        if resp.status in (200, 202, 204):
            resp.close()
            return
        if resp.status in (400, 405):
            resp.close()
            raise UnsupportedError(
                f"{self.registry.host} cannot delete the tag {self.name}:{tag}: it deletes manifests only "
                "by digest, which removes every tag pointing at that manifest",
                hint="delete the manifest by digest if that is what you want (all its tags go with it)",
            )
        self.registry.raise_for(resp, f"{self.name}:{tag}")

    def tags(self) -> list[str]:
        out: list[str] = []
        url: str | None = f"{self._url('tags', 'list')}?n=1000"
        while url:
            resp = self.registry.send("GET", url, scopes=self._pull, headers={"Accept": "application/json"})
            if resp.status == 404:
                resp.close()
                return out
            if resp.status != 200:
                self.registry.raise_for(resp, f"tags of {self.name}")
            try:
                data = resp.read(_MAX_TAG_LIST + 1)
            finally:
                resp.close()
            if len(data) > _MAX_TAG_LIST:
                raise RegistryError(f"the tag list of {self.name} is larger than 16 MiB")
            try:
                tags = json.loads(data).get("tags") or []
            except (ValueError, AttributeError) as e:
                raise RegistryError(f"the tag list of {self.name} is not valid JSON") from e
            out.extend(t for t in tags if isinstance(t, str))
            url = _next_link(url, resp.headers.get("Link"))
            if url and not self.registry.auth.same_origin(url):
                break
        return out

    def delete_manifest(self, digest: Digest) -> None:
        """Delete by digest. On distribution this also removes every tag pointing at it."""
        resp = self.registry.send("DELETE", self._url("manifests", str(digest)), scopes=self._push)
        if resp.status in (200, 202, 204):
            resp.close()
            with self._lock:
                self._manifests.pop(digest, None)
            return
        if resp.status == 405:
            resp.close()
            raise RegistryError(f"{self.registry.host} does not allow deletes",
                                hint="enable storage.delete in the registry's configuration")
        self.registry.raise_for(resp, f"{self.name}@{digest}")

    def referrers(self, subject: Digest) -> list[Descriptor] | None:
        """The native referrers list, or None when the registry has no referrers API.

        Only a ``200`` carrying a valid OCI index counts as the API (distribution-spec "Listing
        Referrers"). A 404, 400/405/406/501, a redirect (GHCR has been seen answering 303) or a 200
        that is not an index all mean "no API": the caller uses the fallback tag.
        """
        if self.registry._referrers_api is False:
            return None
        what = f"referrers of {self.name}@{subject}"
        resp = self.registry.send("GET", self._url("referrers", str(subject)), scopes=self._pull,
                                  headers={"Accept": INDEX})
        if resp.status != 200 or _media_type(resp) != INDEX:
            resp.close()
            if resp.status in _NO_REFERRERS_API or resp.status in _REDIRECT_STATUS or resp.status == 200:
                log.info("%s: no referrers API (%d %s); using the fallback tag", self.registry.host,
                         resp.status, _media_type(resp) or "")
                self.registry._referrers_api = False
                return None
            self.registry.raise_for(None, what, status=resp.status)
        try:
            data = resp.read(MAX_MANIFEST_BYTES + 1)
        except TransportError as e:
            raise self.registry.network_error(e) from e
        finally:
            resp.close()
        try:
            index = Index.from_bytes(data, what)
        except VerificationError as e:
            log.warning("%s: the referrers endpoint answered something that is not a valid OCI index (%s); "
                        "using the fallback tag", self.registry.host, e)
            self.registry._referrers_api = False
            return None
        self.registry._referrers_api = True
        return list(index.manifests)

    # -- blobs ------------------------------------------------------------------------------

    def has_blob(self, desc: Descriptor) -> bool:
        # The Range only matters for the GET fallback (a HEAD has no body); it keeps that GET from
        # starting a multi-GB body. Servers ignoring it answer 200 and the body is left unread.
        resp = self._exists(self._url("blobs", str(desc.digest)), {},
                            {"Accept-Encoding": "identity", "Range": "bytes=0-0"})
        if resp.status in (206, 416):  # the GET fallback: the size is in Content-Range
            total = (resp.headers.get("Content-Range") or "").rpartition("/")[2].strip()
            if resp.status == 416 and not total.isdigit():
                self.registry.raise_for(None, f"blob {desc.digest} in {self.name}", status=resp.status)
            if total.isdigit() and int(total) != desc.size:
                log.warning("%s: blob %s has %s bytes on the registry, expected %d",
                            self.name, desc.digest.short, total, desc.size)
                return False
            self.registry.remember_blob(desc.digest, self.repository)
            return True
        if resp.status == 200:
            length = resp.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) != desc.size:
                log.warning("%s: blob %s has %s bytes on the registry, expected %d",
                            self.name, desc.digest.short, length, desc.size)
                return False
            self.registry.remember_blob(desc.digest, self.repository)
            return True
        if resp.status == 404:
            return False
        self.registry.raise_for(None, f"blob {desc.digest} in {self.name}", status=resp.status)
        return False

    def _get_blob(self, desc: Descriptor, offset: int) -> Response:
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        resp = self.registry.send("GET", self._url("blobs", str(desc.digest)), scopes=self._pull,
                                  headers=headers, follow_redirects=True)
        if resp.status == 206 and offset:
            content_range = resp.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {offset}-"):
                resp.close()
                raise RegistryError(f"blob {desc.digest}: asked for bytes from {offset}, the registry sent "
                                    f"{_one_line(content_range, 60)!r}")
        elif resp.status == 200:
            if offset:  # the server ignored Range: skip what we already have
                skipped = 0
                while skipped < offset:
                    piece = resp.read(min(CHUNK, offset - skipped))
                    if not piece:
                        break
                    skipped += len(piece)
        else:
            self.registry.raise_for(resp, f"blob {desc.digest} in {self.name}")
        self.registry.remember_blob(desc.digest, self.repository)
        return resp

    def open_blob(self, desc: Descriptor, offset: int = 0) -> BinaryIO:
        return cast(BinaryIO, _BlobReader(self, desc, offset))

    def push_blob(self, desc: Descriptor, stream: BinaryIO) -> None:
        resumed = self._resumable(desc, stream)
        if resumed is not None:
            location, offset = resumed
        else:
            source = self.registry.mount_source(desc.digest, self.repository)
            started = self._start_upload(desc, source)
            if started is None:  # mounted
                self.registry.remember_blob(desc.digest, self.repository)
                return
            location, offset = started, 0
        sessions = self.registry.sessions
        session = [location]  # the open upload session; _upload replaces it when it starts anew
        try:
            self._upload(desc, stream, session, offset, sessions)
        except KeyboardInterrupt:
            # Ctrl-C: do not leave an upload session (and its partial data) behind on the
            # registry; DELETE <Location> cancels it (distribution spec "Canceling an upload").
            self._cancel(session[0])
            if sessions is not None:
                sessions.forget(self.registry.host, self.repository, desc.digest)
            raise
        except NetworkError:
            raise  # interrupted: the session stays recorded, the next push resumes it
        except (RegistryError, VerificationError):
            # a refusal, not an interruption: the session is of no use to a later run
            if sessions is not None:
                sessions.forget(self.registry.host, self.repository, desc.digest)
            raise
        if sessions is not None:
            sessions.forget(self.registry.host, self.repository, desc.digest)
        self.registry.remember_blob(desc.digest, self.repository)

    def _resumable(self, desc: Descriptor, stream: BinaryIO) -> tuple[str, int] | None:
        """An upload session an earlier run left open for this blob, and how far it got."""
        sessions = self.registry.sessions
        if sessions is None or _start_of(cast(Body, stream)) is None \
                or desc.size < self.registry.chunked_min_size:
            return None
        location = sessions.get(self.registry.host, self.repository, desc.digest)
        if location is None or not self.registry.auth.same_origin(location):
            return None
        status = self._upload_status(location)
        if status is None or not 0 < status[0] < desc.size:
            sessions.forget(self.registry.host, self.repository, desc.digest)
            if status is not None:
                self._cancel(status[1])
            return None
        log.info("resuming the upload of %s at byte %d of %d", desc.digest.short, status[0], desc.size)
        return status[1], status[0]

    def _upload(self, desc: Descriptor, stream: BinaryIO, session: list[str], resume_at: int,
                sessions: UploadSessions | None) -> None:
        location = session[0]
        start = _start_of(cast(Body, stream))
        chunked = start is not None and desc.size >= self.registry.chunked_min_size
        for restart in range(_UPLOAD_RESTARTS):
            try:
                if chunked:
                    assert start is not None
                    def record(url: str) -> None:
                        if sessions is not None:
                            sessions.put(self.registry.host, self.repository, desc.digest, url)

                    record(location)
                    self._upload_chunked(desc, stream, start, location, resume_at if restart == 0 else 0,
                                         on_location=record)
                else:
                    self._upload_monolithic(desc, stream, location)
                break
            except (NetworkError, _Reauthenticated, _UploadSessionLost) as e:
                # Never replay blindly: maybe the registry committed it after all (a PUT that
                # timed out, or "upload unknown" because it was just committed, jib#4301).
                if self.has_blob(desc):
                    log.info("upload of %s was interrupted (%s) but the blob is there", desc.digest.short, e)
                    break
                if start is None or restart + 1 >= _UPLOAD_RESTARTS:
                    raise
                if isinstance(e, _Reauthenticated):
                    self._cancel(location)  # still open (the 401 came before any byte was taken)
                stream.seek(start)
                log.info("upload of %s: %s; starting a new upload session", desc.digest.short, e)
                fresh = self._start_upload(desc, None)
                assert fresh is not None
                location = session[0] = fresh

    def _start_upload(self, desc: Descriptor, mount_from: str | None) -> str | None:
        """POST a new upload session; returns its Location, or None when the blob was mounted."""
        url = f"{self._url('blobs', 'uploads')}/"
        scopes: tuple[str, ...] = self._push
        if mount_from is not None:
            url += f"?mount={desc.digest}&from={quote(mount_from, safe='/')}"
            scopes = (*self._push, f"repository:{mount_from}:pull")
        resp = self.registry.send("POST", url, scopes=scopes, headers={"Content-Length": "0"})
        if resp.status == 201 and mount_from is not None:
            resp.close()
            log.info("mounted %s from %s", desc.digest.short, mount_from)
            return None
        if resp.status != 202 or not resp.headers.get("Location"):
            self.registry.raise_for(resp, f"start upload to {self.name}")
        location = urljoin(url, resp.headers["Location"])
        resp.close()
        return location

    def _upload_monolithic(self, desc: Descriptor, stream: BinaryIO, location: str) -> None:
        body = _CheckedBody(stream, desc)
        resp = self.registry.send(
            "PUT", _with_digest(location, desc.digest), scopes=self._push, idempotent=False,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(desc.size)},
            body=cast(BinaryIO, body),
        )
        if resp.status != 201:
            self._raise_upload(resp, desc)
        resp.close()

    def _raise_upload(self, resp: Response, desc: Descriptor) -> None:
        """Raise for a refused PATCH/PUT of an upload; ``_UploadSessionLost`` on a 404."""
        what = f"upload blob {desc.digest} to {self.name}"
        if resp.status == 404:
            # BLOB_UPLOAD_UNKNOWN: the session expired or was purged (distribution's
            # uploadpurging), or another replica never saw it. Any 404 on the upload URL means the
            # session is gone; only a new one can help (reliability.md §3.1).
            code = _error_code(_read_error_body(resp)) or "404"
            raise _UploadSessionLost(f"{what}: the registry {self.registry.host} no longer knows the upload "
                                     f"session ({code})", hint="run the command again")
        self.registry.raise_for(resp, what)

    def _upload_status(self, location: str) -> tuple[int, str] | None:
        """Where an interrupted upload stands: (next offset, location), or None if it is gone."""
        try:
            resp = self.registry.send("GET", location, scopes=self._push)
        except NetworkError:
            return None
        resp.close()
        if resp.status not in (200, 204):
            return None
        return _range_end(resp.headers.get("Range")), urljoin(location, resp.headers.get("Location") or location)

    def _upload_chunked(self, desc: Descriptor, stream: BinaryIO, start: int, location: str,
                        resume_at: int = 0, on_location: Callable[[str], None] | None = None) -> None:
        """PATCH the blob in chunks from ``resume_at``; ``on_location`` sees each new session URL
        (distribution's carries the upload state, so only the latest one can be resumed)."""
        hasher = _SequentialHasher()
        offset = resume_at
        self._feed_gap(stream, start, hasher, offset)  # a resumed session: hash what it holds
        first = True
        stalls = 0  # interruptions in a row that moved the upload no further
        stalled_at = -1
        while offset < desc.size:
            length = min(self.registry.chunk_size, desc.size - offset)
            stream.seek(start + offset)
            window = _Window(stream, offset, length, hasher)
            try:
                resp = self.registry.send(
                    "PATCH", location, scopes=self._push, idempotent=False, body=cast(BinaryIO, window),
                    headers={"Content-Type": "application/octet-stream", "Content-Length": str(length),
                             "Content-Range": f"{offset}-{offset + length - 1}"},
                )
            except (NetworkError, _Reauthenticated) as e:
                # A broken PATCH, or one refused by a 401 before its body was taken (fresh token
                # in hand now): ask where the session stands and continue from there; never
                # replay the PATCH blindly. If the session cannot tell, push_blob starts over.
                status = self._upload_status(location)
                if status is None:
                    raise
                offset, location = status
                if on_location is not None:
                    on_location(location)
                stalls = stalls + 1 if offset <= stalled_at else 1
                stalled_at = max(stalled_at, offset)
                if stalls > _MAX_RESUMES:
                    raise
                log.info("PATCH of %s interrupted (%s); the registry has %d bytes, continuing",
                         desc.digest.short, e, offset)
                self._feed_gap(stream, start, hasher, offset)
                if stalls > 1:
                    self.registry.retry.sleep(self.registry.retry.delay(stalls - 2))
                continue
            if resp.status != 202:
                if first and resp.status in (400, 405, 416, 501):
                    resp.close()
                    log.info("%s refuses chunked uploads (%d); uploading in one request",
                             self.registry.host, resp.status)
                    self._cancel(location)
                    stream.seek(start)
                    fresh = self._start_upload(desc, None)
                    assert fresh is not None
                    self._upload_monolithic(desc, stream, fresh)
                    return
                self._raise_upload(resp, desc)
            first = False
            reported = resp.headers.get("Range")
            location = urljoin(location, resp.headers.get("Location") or location)
            resp.close()
            if on_location is not None:
                on_location(location)
            offset = _range_end(reported) if reported else offset + length
            self._feed_gap(stream, start, hasher, offset)
        if hasher.position != desc.size or hasher.digest != desc.digest:
            self._cancel(location)
            raise DigestMismatchError(f"blob content does not match its digest {desc.digest} "
                                      f"(got {hasher.digest}); not uploading it")
        resp = self.registry.send("PUT", _with_digest(location, desc.digest), scopes=self._push,
                                  headers={"Content-Length": "0"})
        if resp.status != 201:
            self._raise_upload(resp, desc)
        resp.close()

    @staticmethod
    def _feed_gap(stream: BinaryIO, start: int, hasher: _SequentialHasher, offset: int) -> None:
        """Hash bytes the registry has but we never read in order (it claims more than we sent)."""
        if offset > hasher.position:
            stream.seek(start + hasher.position)
            while hasher.position < offset:
                data = stream.read(min(CHUNK, offset - hasher.position))
                if not data:
                    raise DigestMismatchError("the blob being uploaded ended before its declared size")
                hasher.feed(hasher.position, data)

    def _cancel(self, location: str) -> None:
        with contextlib.suppress(NetworkError, RegistryError):
            self.registry.send("DELETE", location, scopes=self._push).close()


def _with_digest(location: str, digest: Digest) -> str:
    sep = "&" if urlsplit(location).query else "?"
    return f"{location}{sep}digest={digest}"


def _range_end(value: str | None) -> int:
    """``Range: 0-N`` → next offset ``N+1`` (``0-0`` is ambiguous in distribution: read as 0)."""
    m = re.fullmatch(r"\s*(?:bytes=)?0-(\d+)\s*", value or "")
    if not m:
        return 0
    end = int(m.group(1))
    return 0 if end == 0 else end + 1


def _next_link(url: str, link: str | None) -> str | None:
    if not link:
        return None
    m = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', link)
    return urljoin(url, m.group(1)) if m else None
