"""Remote datasets (kit 1.17 ``datasets[].remotePath``/``remoteHash``): checked at pack time, fetched
only on ``unpack --include-remote``, and always verified against their hash before they land.

kit (``pkg/artifact/kitfile.go`` ``Validate``) accepts an ``s3://`` URL, which needs ``remoteHash``
(an S3 ETag), or a ModelKit reference; a ``remoteHash`` without ``remotePath`` is an error. ocikit
also accepts ``https://``, ``http://`` and ``file://`` URLs with a ``sha256:<hex>`` hash (kit refuses
them, so pack warns). Fetching: http(s) and file URLs are streamed into the unpack's staging
directory through a SHA-256 check (nothing lands unless the hash matches); ``s3://`` objects and
ModelKit references cannot be fetched by ocikit and are refused with that said, not skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

from ocikit._kitfile._elements import is_modelkit_reference
from ocikit._kitfile._filters import FilterSet
from ocikit._modelkit._modelpack import check_filepath
from ocikit.errors import DigestMismatchError, KitfileError, NetworkError, UsageError

if TYPE_CHECKING:
    from ocikit._kitfile._elements import KitfileContent

__all__ = ["check_remote_datasets", "fetch_remote_datasets"]

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")
_ETAG = re.compile(r'^"?[0-9a-fA-F]{32}(-[0-9]+)?"?$')
_CHUNK = 1 << 20
_TIMEOUT = 60


def check_remote_datasets(kitfile: KitfileContent, source: str = "Kitfile") -> None:
    """Refuse remote datasets kit would refuse, and hashes ocikit could not check."""
    for i, ds in enumerate(kitfile.datasets):
        where = f"{source}: datasets[{i}]"
        if not ds.remote_path:
            if ds.remote_hash:
                raise KitfileError(f"{where}: remoteHash is only applicable when remotePath is set")
            continue
        if is_modelkit_reference(ds.remote_path):
            continue
        scheme = urllib.parse.urlsplit(ds.remote_path).scheme
        if scheme not in ("s3", "https", "http", "file"):
            raise KitfileError(f"{where}: remotePath {ds.remote_path!r} must be an s3://, https:// or file:// URL "
                               "or a ModelKit reference")
        if not ds.remote_hash:
            raise KitfileError(f"{where}: remoteHash is required when remotePath is set ({ds.remote_path})")
        if scheme == "s3" and not (_ETAG.match(ds.remote_hash) or _SHA256.match(ds.remote_hash)):
            raise KitfileError(f"{where}: remoteHash {ds.remote_hash!r} is neither an S3 ETag nor sha256:<hex>")
        if scheme != "s3":
            if not _SHA256.match(ds.remote_hash):
                raise KitfileError(f"{where}: remoteHash of a {scheme} URL must be sha256:<64 lowercase hex>")
            log.warning("%s: kit 1.17 accepts only s3:// remote datasets; it will refuse this Kitfile", where)
        check_filepath(ds.path or "", where)


def fetch_remote_datasets(kitfile: KitfileContent, filters: FilterSet, staging_fd: int) -> list[str]:
    """Fetch the selected remote datasets into the staging directory, each checked against its
    sha256 hash on the way; returns their paths. UsageError for what cannot be fetched."""
    fetched = []
    for i, ds in enumerate(kitfile.datasets):
        if not ds.remote_path or not filters.matches("datasets", ds.name, ds.path or ""):
            continue
        where = f"datasets[{i}] ({ds.remote_path})"
        scheme = urllib.parse.urlsplit(ds.remote_path).scheme
        if is_modelkit_reference(ds.remote_path) or scheme == "s3":
            raise UsageError(f"{where}: ocikit cannot fetch {'ModelKit references' if scheme != 's3' else 's3://'} "
                             "remote datasets",
                             hint="fetch it with kit or the AWS CLI, or unpack without --include-remote")
        if not ds.remote_hash or not _SHA256.match(ds.remote_hash):
            raise UsageError(f"{where}: only a sha256:<hex> remoteHash can be checked, got {ds.remote_hash!r}")
        path = check_filepath(ds.path or "", where)
        _fetch_one(ds.remote_path, ds.remote_hash, path, staging_fd, where)
        fetched.append(path)
    return fetched


def _open(url: str, where: str) -> Any:
    try:
        if url.startswith("file://"):
            return open(urllib.request.url2pathname(urllib.parse.urlsplit(url).path), "rb")
        return urllib.request.urlopen(url, timeout=_TIMEOUT)  # noqa: S310 (scheme checked: http/https)
    except OSError as e:
        raise NetworkError(f"{where}: cannot fetch: {e}") from e


def _fetch_one(url: str, expected: str, path: str, staging_fd: int, where: str) -> None:
    parent, _, name = path.rpartition("/")
    dir_fd = _staging_dirs(staging_fd, parent)
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd)
        h = hashlib.sha256()
        ok = False
        try:
            with open(fd, "wb") as out, contextlib.closing(_open(url, where)) as src:
                while chunk := src.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
            if f"sha256:{h.hexdigest()}" != expected:
                raise DigestMismatchError(f"{where}: fetched content has sha256:{h.hexdigest()}, "
                                          f"the Kitfile's remoteHash says {expected}")
            ok = True
        finally:
            if not ok:  # the staging directory goes anyway; leave no partial file even there
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def _staging_dirs(root_fd: int, rel: str) -> int:
    fd = os.dup(root_fd)
    for part in rel.split("/") if rel else ():
        with contextlib.suppress(FileExistsError):
            os.mkdir(part, 0o755, dir_fd=fd)
        try:
            nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        finally:
            os.close(fd)
        fd = nfd
    return fd
