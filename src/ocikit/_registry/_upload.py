"""Blobs up: upload sessions, one streamed ``PUT`` or ``PATCH`` chunks, and their recovery.

* Blobs up: ``POST`` then one streamed ``PUT ?digest=`` (``Content-Length``, file object body,
  never read whole); very large (≥ ``chunked_min_size``, 8 GiB by default) seekable blobs go in
  ``PATCH`` chunks whose offset comes from the ``Range`` reply (2.8 ignores ``Content-Range``), a
  broken ``PATCH`` is never replayed blindly (``GET <location>`` tells where the upload stands).
  Never the single-``POST`` form. ``?mount=&from=`` when the blob was seen in another repository
  of the same registry.
* Upload recovery (``docs/reliability.md``, "Registry faults"), at most ``UPLOAD_RESTARTS`` sessions per blob: after
  a broken request, a ``401`` with a fresh challenge on a streamed body (token expired mid-push:
  a new token is fetched first) or a ``404 BLOB_UPLOAD_UNKNOWN`` (session expired), the blob is
  ``HEAD``-ed (it may have landed) and otherwise sent again in a **new** session.
* Sessions of chunked uploads are recorded in ``UploadSessions`` (when the registry has a home),
  so the next run resumes an interrupted one.

What is sent is hashed on the way: a streamed ``PUT`` body is ``_io``'s ``HashingReader``, checked
before its last byte leaves; chunks, which may be sent again from an earlier offset after a broken
``PATCH``, go through a hasher that takes each byte once, checked before the final ``PUT``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, cast
from urllib.parse import quote, urljoin, urlsplit

from ocikit._io._digest import CHUNK, Digest, HashingReader, ReadStream, mismatch_error, truncated_error
from ocikit._oci._model import Descriptor
from ocikit._registry._host import Reauthenticated, RegistryHost, error_code, read_error_body
from ocikit._registry._http import Body, Response
from ocikit._registry._retry import MAX_RESUMES, body_start
from ocikit.errors import NetworkError, RegistryError, VerificationError

__all__ = ["UPLOAD_RESTARTS", "Uploader"]

log = logging.getLogger(__name__)

#: Upload sessions per blob (the first + 2 restarts) after a broken, expired or re-authenticated upload.
UPLOAD_RESTARTS = 3


class _UploadSessionLost(RegistryError):
    """The registry no longer knows the upload session (``404 BLOB_UPLOAD_UNKNOWN``)."""


class Uploader:
    """Blob uploads into one repository of a registry (what ``RegistryRepository.push_blob`` does).

    ``landed(desc)`` asks the registry whether the blob is there (an interrupted upload may have
    been committed after all).
    """

    def __init__(self, registry: RegistryHost, repository: str, landed: Callable[[Descriptor], bool]) -> None:
        self.registry = registry
        self.repository = repository
        self.name = f"{registry.host}/{repository}"
        self._push = (f"repository:{repository}:pull,push",)
        self._landed = landed

    def push(self, desc: Descriptor, stream: BinaryIO, mount_from: str | None) -> None:
        """Upload ``stream`` as ``desc``: resume a session an earlier run left open, or mount the
        blob from ``mount_from`` (another repository of this registry that holds it), or send it."""
        resumed = self._resumable(desc, stream)
        if resumed is not None:
            location, offset = resumed
        else:
            started = self._start(desc, mount_from)
            if started is None:  # mounted
                return
            location, offset = started, 0
        session = [location]  # the open upload session; _upload replaces it when it starts anew
        try:
            self._upload(desc, stream, session, offset)
        except KeyboardInterrupt:
            # Ctrl-C: do not leave an upload session (and its partial data) behind on the
            # registry; DELETE <Location> cancels it (distribution spec "Canceling an upload").
            self._cancel(session[0])
            self._forget(desc)
            raise
        except NetworkError:
            raise  # interrupted: the session stays recorded, the next push resumes it
        except (RegistryError, VerificationError):
            # a refusal, not an interruption: the session is of no use to a later run
            self._forget(desc)
            raise
        self._forget(desc)

    def status(self, location: str) -> tuple[int, str] | None:
        """Where an interrupted upload stands: (next offset, location), or None if it is gone."""
        try:
            resp = self.registry.send("GET", location, scopes=self._push)
        except NetworkError:
            return None
        resp.close()
        if resp.status not in (200, 204):
            return None
        return _range_end(resp.headers.get("Range")), urljoin(location, resp.headers.get("Location") or location)

    # -- sessions ------------------------------------------------------------------------------

    def _record(self, desc: Descriptor, location: str) -> None:
        if self.registry.sessions is not None:
            self.registry.sessions.put(self.registry.host, self.repository, desc.digest, location)

    def _forget(self, desc: Descriptor) -> None:
        if self.registry.sessions is not None:
            self.registry.sessions.forget(self.registry.host, self.repository, desc.digest)

    def _resumable(self, desc: Descriptor, stream: BinaryIO) -> tuple[str, int] | None:
        """An upload session an earlier run left open for this blob, and how far it got."""
        sessions = self.registry.sessions
        if sessions is None or body_start(cast(Body, stream)) is None \
                or desc.size < self.registry.chunked_min_size:
            return None
        location = sessions.get(self.registry.host, self.repository, desc.digest)
        if location is None or not self.registry.auth.same_origin(location):
            return None
        status = self.status(location)
        if status is None or not 0 < status[0] < desc.size:
            sessions.forget(self.registry.host, self.repository, desc.digest)
            if status is not None:
                self._cancel(status[1])
            return None
        log.info("resuming the upload of %s at byte %d of %d", desc.digest.short, status[0], desc.size)
        return status[1], status[0]

    def _start(self, desc: Descriptor, mount_from: str | None) -> str | None:
        """POST a new upload session; returns its Location, or None when the blob was mounted."""
        url = f"{self.registry.base}/v2/{self.repository}/blobs/uploads/"
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

    def _cancel(self, location: str) -> None:
        with contextlib.suppress(NetworkError, RegistryError):
            self.registry.send("DELETE", location, scopes=self._push).close()

    # -- sending -------------------------------------------------------------------------------

    def _upload(self, desc: Descriptor, stream: BinaryIO, session: list[str], resume_at: int) -> None:
        location = session[0]
        start = body_start(cast(Body, stream))
        chunked = start is not None and desc.size >= self.registry.chunked_min_size
        for restart in range(UPLOAD_RESTARTS):
            try:
                if chunked:
                    assert start is not None
                    self._record(desc, location)
                    self._chunked(desc, stream, start, location, resume_at if restart == 0 else 0)
                else:
                    self._monolithic(desc, stream, location)
                break
            except (NetworkError, Reauthenticated, _UploadSessionLost) as e:
                # Never replay blindly: maybe the registry committed it after all (a PUT that
                # timed out, or "upload unknown" because it was just committed, jib#4301).
                if self._landed(desc):
                    log.info("upload of %s was interrupted (%s) but the blob is there", desc.digest.short, e)
                    break
                if start is None or restart + 1 >= UPLOAD_RESTARTS:
                    raise
                if isinstance(e, Reauthenticated):
                    self._cancel(location)  # still open (the 401 came before any byte was taken)
                stream.seek(start)
                log.info("upload of %s: %s; starting a new upload session", desc.digest.short, e)
                fresh = self._start(desc, None)
                assert fresh is not None
                location = session[0] = fresh

    def _monolithic(self, desc: Descriptor, stream: BinaryIO, location: str) -> None:
        resp = self.registry.send(
            "PUT", _with_digest(location, desc.digest), scopes=self._push, idempotent=False,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(desc.size)},
            body=cast(BinaryIO, _VerifiedBody(stream, desc)),
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
            # session is gone; only a new one can help (docs/reliability.md, "Registry faults").
            code = error_code(read_error_body(resp)) or "404"
            raise _UploadSessionLost(f"{what}: the registry {self.registry.host} no longer knows the upload "
                                     f"session ({code})", hint="run the command again")
        self.registry.raise_for(resp, what)

    def _chunked(self, desc: Descriptor, stream: BinaryIO, start: int, location: str, resume_at: int) -> None:
        """PATCH the blob in chunks from ``resume_at``; each new session URL is recorded
        (distribution's carries the upload state, so only the latest one can be resumed)."""
        up = _Chunks(location, resume_at)
        up.feed_gap(stream, start, desc)  # a resumed session: hash what it holds
        first = True
        while up.offset < desc.size:
            length = min(self.registry.chunk_size, desc.size - up.offset)
            stream.seek(start + up.offset)
            window = _Window(stream, up.offset, length, up.hasher, desc)
            try:
                resp = self.registry.send(
                    "PATCH", up.location, scopes=self._push, idempotent=False, body=cast(BinaryIO, window),
                    headers={"Content-Type": "application/octet-stream", "Content-Length": str(length),
                             "Content-Range": f"{up.offset}-{up.offset + length - 1}"},
                )
            except (NetworkError, Reauthenticated) as e:
                if not self._continue_after(e, desc, stream, start, up):
                    raise
                continue
            if resp.status != 202:
                if first and resp.status in (400, 405, 416, 501):
                    self._unchunked(resp, desc, stream, start, up.location)
                    return
                self._raise_upload(resp, desc)
            first = False
            reported = resp.headers.get("Range")
            up.location = urljoin(up.location, resp.headers.get("Location") or up.location)
            resp.close()
            self._record(desc, up.location)
            up.offset = _range_end(reported) if reported else up.offset + length
            up.feed_gap(stream, start, desc)
        self._commit(desc, up)

    def _continue_after(self, e: Exception, desc: Descriptor, stream: BinaryIO, start: int, up: _Chunks) -> bool:
        """A broken PATCH, or one refused by a 401 before its body was taken (fresh token in hand
        now): ask where the session stands and continue from there (True); never replay the PATCH
        blindly. False when the session cannot tell or no longer moves: push starts over."""
        status = self.status(up.location)
        if status is None:
            return False
        up.offset, up.location = status
        self._record(desc, up.location)
        up.stalls = up.stalls + 1 if up.offset <= up.stalled_at else 1
        up.stalled_at = max(up.stalled_at, up.offset)
        if up.stalls > MAX_RESUMES:
            return False
        log.info("PATCH of %s interrupted (%s); the registry has %d bytes, continuing",
                 desc.digest.short, e, up.offset)
        up.feed_gap(stream, start, desc)
        if up.stalls > 1:
            self.registry.retry.sleep(self.registry.retry.delay(up.stalls - 2))
        return True

    def _unchunked(self, resp: Response, desc: Descriptor, stream: BinaryIO, start: int, location: str) -> None:
        """The registry refused the first PATCH: send the blob in one PUT, in a new session."""
        resp.close()
        log.info("%s refuses chunked uploads (%d); uploading in one request", self.registry.host, resp.status)
        self._cancel(location)
        stream.seek(start)
        fresh = self._start(desc, None)
        assert fresh is not None
        self._monolithic(desc, stream, fresh)

    def _commit(self, desc: Descriptor, up: _Chunks) -> None:
        """The final ``PUT ?digest=`` of a chunked upload, once what was sent is known to match."""
        if up.hasher.position != desc.size or up.hasher.digest != desc.digest:
            self._cancel(up.location)
            raise mismatch_error("blob", desc.digest, up.hasher.digest)
        resp = self.registry.send("PUT", _with_digest(up.location, desc.digest), scopes=self._push,
                                  headers={"Content-Length": "0"})
        if resp.status != 201:
            self._raise_upload(resp, desc)
        resp.close()


class _VerifiedBody(ReadStream):
    """A streamed ``PUT`` body: exactly ``desc.size`` bytes of ``stream``, hashed by a
    ``HashingReader`` and verified before the last of them is handed to the transport."""

    def __init__(self, stream: BinaryIO, desc: Descriptor) -> None:
        self._reader = HashingReader(stream, desc.digest, desc.size, what="blob")
        self._size = desc.size

    def read(self, n: int = -1) -> bytes:
        left = self._size - self._reader.count
        if left <= 0:
            return b""
        data = self._reader.read(left if n < 0 or n > left else n)  # b"" early: it raises
        if self._reader.count == self._size:
            self._reader.verify()
        return data


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


@dataclass
class _Chunks:
    """Where a chunked upload stands."""

    location: str
    offset: int
    hasher: _SequentialHasher = field(default_factory=_SequentialHasher)
    stalls: int = 0  # interruptions in a row that moved the upload no further
    stalled_at: int = -1

    def feed_gap(self, stream: BinaryIO, start: int, desc: Descriptor) -> None:
        """Hash bytes the registry has but we never read in order (it claims more than we sent)."""
        hasher = self.hasher
        if self.offset > hasher.position:
            stream.seek(start + hasher.position)
            while hasher.position < self.offset:
                data = stream.read(min(CHUNK, self.offset - hasher.position))
                if not data:
                    raise truncated_error("blob", desc.digest, hasher.position, desc.size)
                hasher.feed(hasher.position, data)


class _Window(ReadStream):
    """``length`` bytes of ``stream`` from its current position, hashed into ``hasher``."""

    def __init__(self, stream: BinaryIO, at: int, length: int, hasher: _SequentialHasher, desc: Descriptor) -> None:
        self._stream, self._at, self._left, self._hasher, self._desc = stream, at, length, hasher, desc

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n < 0 or n > self._left else n
        data = self._stream.read(n)
        if not data:
            raise truncated_error("blob", self._desc.digest, self._at, self._desc.size)
        self._hasher.feed(self._at, data)
        self._at += len(data)
        self._left -= len(data)
        return data


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
