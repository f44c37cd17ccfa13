"""Blobs down: one ``GET`` (with ``Range`` from an offset) and a reader that resumes it.

* Blobs down: raw bytes (``Accept-Encoding: identity``, no decoding), resumed with ``Range``
  after a reset or a short body.

The bytes are not verified here: the caller wraps the stream in ``_io``'s ``HashingReader``
(``_store._storage.open_verified``), which checks size and digest as they are read.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence

from ocikit._io._digest import CHUNK, ReadStream
from ocikit._oci._model import Descriptor
from ocikit._registry._host import RegistryHost, one_line
from ocikit._registry._http import Response, TransportError
from ocikit._registry._retry import MAX_RESUMES
from ocikit.errors import RegistryError

__all__ = ["BlobReader", "get_blob"]

log = logging.getLogger(__name__)


def get_blob(registry: RegistryHost, url: str, scopes: Sequence[str], desc: Descriptor, offset: int,
             what: str, *, end: int | None = None) -> Response:
    """``GET`` the blob at ``url`` from byte ``offset`` (to ``end``, exclusive, when given: a bounded
    ``Range``); the answer's body starts there. A server that ignores ``Range`` sends it all."""
    headers = {"Accept-Encoding": "identity"}
    if end is not None:
        headers["Range"] = f"bytes={offset}-{end - 1}"
    elif offset:
        headers["Range"] = f"bytes={offset}-"
    resp = registry.send("GET", url, scopes=scopes, headers=headers, follow_redirects=True)
    if resp.status == 206 and "Range" in headers:
        content_range = resp.headers.get("Content-Range", "")
        if not content_range.startswith(f"bytes {offset}-"):
            resp.close()
            raise RegistryError(f"blob {desc.digest}: asked for bytes from {offset}, the registry sent "
                                f"{one_line(content_range, 60)!r}")
    elif resp.status == 200:
        if offset:  # the server ignored Range: skip what we already have
            skipped = 0
            while skipped < offset:
                piece = resp.read(min(CHUNK, offset - skipped))
                if not piece:
                    break
                skipped += len(piece)
    else:
        registry.raise_for(resp, f"blob {desc.digest} in {what}")
    return resp


class BlobReader(ReadStream):
    """A blob download that resumes with ``Range`` after a reset or a short body.

    ``get(offset)`` sends the ``GET`` (:func:`get_blob`) for the bytes from ``offset`` on.
    """

    def __init__(self, registry: RegistryHost, get: Callable[[int], Response], desc: Descriptor,
                 offset: int) -> None:
        self._registry, self._get, self._desc = registry, get, desc
        self.position = offset
        self._resumes = 0
        self._resp: Response | None = None
        if offset < desc.size:
            self._resp = get(offset)

    def _resume(self, why: str) -> bool:
        if self._resumes >= MAX_RESUMES or self.position >= self._desc.size:
            return False
        self._resumes += 1
        log.info("blob %s: %s at byte %d; resuming with Range", self._desc.digest.short, why, self.position)
        if self._resp is not None:
            with contextlib.suppress(TransportError):
                self._resp.close()
        self._registry.retry.sleep(self._registry.retry.delay(self._resumes - 1))
        self._resp = self._get(self.position)
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
                raise self._registry.network_error(e) from e
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
