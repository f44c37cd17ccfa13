"""A repository on an OCI distribution registry, as a ``Storage``: manifests, tags, referrers,
blob existence; blob transfers are ``_download`` and ``_upload``.

* Manifests: always an explicit OCI ``Accept`` (distribution answers 404 without one); at most
  4 MiB read; tags are resolved by ``GET`` and **our own hash** of the body (a
  ``Docker-Content-Digest`` that disagrees is logged, never used).
* Existence checks: ``HEAD``; a registry answering ``405`` to ``HEAD`` gets a ``GET`` whose body is
  not read (``Range: bytes=0-0`` for blobs), and is remembered as such.
* Manifest ``PUT`` answered ``400 MANIFEST_BLOB_UNKNOWN`` right after its blobs were pushed is
  retried a few times with backoff (read-after-write lag of eventually consistent storage).
* Referrers: ``GET /v2/<name>/referrers/<digest>``; only a ``200`` with a valid OCI index counts
  as the API. ``None`` (no API, ``_referrers`` uses the fallback tag) on 404, on 400/405/406/501,
  on a redirect (GHCR has answered 303) and on a 200 that is not an index.
* ``delete_manifest`` deletes by digest: distribution then removes **every tag** pointing at it.
* Blobs seen in a repository are remembered per registry host (in this process), so a push to
  another repository of the same registry mounts instead of uploading.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import BinaryIO, cast
from urllib.parse import quote, urljoin

from ocikit._io._digest import CHUNK, Digest
from ocikit._oci._model import DOCKER_LIST, DOCKER_MANIFEST, INDEX, MANIFEST, MAX_MANIFEST_BYTES, Descriptor, Index
from ocikit._registry._download import BlobReader, get_blob
from ocikit._registry._host import REDIRECT_STATUS, RegistryHost, error_code, read_error_body
from ocikit._registry._http import Response, TransportError
from ocikit._registry._upload import Uploader
from ocikit.errors import DigestMismatchError, RegistryError, UnsupportedError, UsageError, VerificationError

__all__ = ["MANIFEST_ACCEPT", "RegistryRepository", "mount_source", "remember_blob"]

log = logging.getLogger(__name__)

MANIFEST_ACCEPT = ", ".join([MANIFEST, INDEX, DOCKER_MANIFEST, DOCKER_LIST])
_MAX_TAG_LIST = 16 * 1024 * 1024
#: Answers to GET /referrers/ that mean "this registry has no referrers API".
_NO_REFERRERS_API = frozenset({400, 404, 405, 406, 501})

# "blob seen in repository X" per registry host: lets a push mount instead of upload.
_SEEN_LOCK = threading.Lock()
_SEEN: dict[str, OrderedDict[Digest, str]] = {}
_SEEN_MAX = 4096


def remember_blob(host: str, digest: Digest, repository: str) -> None:
    """Note that ``repository`` of ``host`` holds ``digest``: a later push of it elsewhere mounts."""
    with _SEEN_LOCK:
        seen = _SEEN.setdefault(host, OrderedDict())
        seen[digest] = repository
        seen.move_to_end(digest)
        while len(seen) > _SEEN_MAX:
            seen.popitem(last=False)


def mount_source(host: str, digest: Digest, repository: str) -> str | None:
    """Another repository of ``host`` known to hold ``digest``, if any."""
    with _SEEN_LOCK:
        seen = _SEEN.get(host)
        found = seen.get(digest) if seen is not None else None
    return found if found is not None and found != repository else None


class RegistryRepository:
    """One repository on a registry, implementing ``ocikit._store._storage.Storage``."""

    def __init__(self, registry: RegistryHost, repository: str) -> None:
        self.registry = registry
        self.repository = repository
        self.name = f"{registry.host}/{repository}"
        self._pull = (f"repository:{repository}:pull",)
        self._push = (f"repository:{repository}:pull,push",)
        self._manifests: OrderedDict[Digest, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._uploader = Uploader(registry, repository, self.has_blob)

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
        such a connection instead of draining it. ``docs/reliability.md``, "Registry faults" (containerd
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
                body = read_error_body(resp)
                if error_code(body) == "MANIFEST_BLOB_UNKNOWN":
                    # We pushed every blob before the manifest, so on an eventually consistent
                    # backend this is read-after-write lag (docs/reliability.md, "Registry faults"): wait, retry.
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

    def tags(self, *, missing_ok: bool = True) -> list[str]:
        """Every tag, all pages. A repository the registry does not know (404, ``NAME_UNKNOWN``)
        has none, or is a :class:`~ocikit.errors.NotFoundError` when not ``missing_ok``."""
        out: list[str] = []
        url: str | None = f"{self._url('tags', 'list')}?n=1000"
        while url:
            resp = self.registry.send("GET", url, scopes=self._pull, headers={"Accept": "application/json"})
            if resp.status == 404:
                if missing_ok or out:
                    resp.close()
                    return out
                self.registry.raise_for(resp, f"repository {self.name}")
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
            if resp.status in _NO_REFERRERS_API or resp.status in REDIRECT_STATUS or resp.status == 200:
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
            size = (resp.headers.get("Content-Range") or "").rpartition("/")[2].strip()
            if resp.status == 416 and not size.isdigit():
                self.registry.raise_for(None, f"blob {desc.digest} in {self.name}", status=resp.status)
        elif resp.status == 200:
            size = resp.headers.get("Content-Length") or ""
        elif resp.status == 404:
            return False
        else:
            self.registry.raise_for(None, f"blob {desc.digest} in {self.name}", status=resp.status)
            return False
        if size.isdigit() and int(size) != desc.size:
            log.warning("%s: blob %s has %s bytes on the registry, expected %d",
                        self.name, desc.digest.short, size, desc.size)
            return False
        self._remember(desc)
        return True

    def _get_blob(self, desc: Descriptor, offset: int) -> Response:
        resp = get_blob(self.registry, self._url("blobs", str(desc.digest)), self._pull, desc, offset, self.name)
        self._remember(desc)
        return resp

    def open_blob(self, desc: Descriptor, offset: int = 0) -> BinaryIO:
        return cast(BinaryIO, BlobReader(self.registry, lambda at: self._get_blob(desc, at), desc, offset))

    def open_blob_range(self, desc: Descriptor, offset: int, length: int) -> BinaryIO:
        """Bytes ``offset`` to ``offset + length`` of the blob only, by a bounded ``Range`` (resumed too)."""
        end = offset + length
        url = self._url("blobs", str(desc.digest))
        return cast(BinaryIO, BlobReader(
            self.registry, lambda at: get_blob(self.registry, url, self._pull, desc, at, self.name, end=end),
            Descriptor(desc.media_type, desc.digest, end), offset))

    def push_blob(self, desc: Descriptor, stream: BinaryIO) -> None:
        self._uploader.push(desc, stream, mount_source(self.registry.host, desc.digest, self.repository))
        self._remember(desc)

    def _remember(self, desc: Descriptor) -> None:
        """Note that this repository holds ``desc`` (a later push elsewhere can mount it)."""
        remember_blob(self.registry.host, desc.digest, self.repository)


def _media_type(resp: Response) -> str | None:
    value = resp.headers.get("Content-Type")
    return value.split(";")[0].strip() if value else None


def _next_link(url: str, link: str | None) -> str | None:
    if not link:
        return None
    m = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', link)
    return urljoin(url, m.group(1)) if m else None
