"""Writing one file as one raw layer, as kit 1.17 writes it (``pack --layers raw``, ``mcpServers``).

kit's ``saveContentLayerAsRaw`` (``pkg/lib/filesystem/raw.go``): the blob is the file's bytes
(compressed for ``+gzip``/``+zstd``), the diffId the digest of the uncompressed file, and the
descriptor carries ``org.cncf.model.filepath`` (the cleaned Kitfile path, forward slashes) and
``org.cncf.model.file.metadata+json`` (``fillDescAnnotations``: name, mode = permission bits,
uid 0, gid 0, size, mtime, typeflag). A raw layer holds exactly one regular file: a Kitfile path
naming a directory is refused. A ModelPack raw layer is never compressed (model-spec).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ocikit._io._digest import Digest
from ocikit._layers._compress import Sink, Writable
from ocikit._layers._types import FileRecord
from ocikit._layers._writer import WrittenLayer
from ocikit._oci._gojson import go_json
from ocikit.errors import PackError

__all__ = ["file_metadata", "single_file", "write_raw"]

_CHUNK = 1 << 20


def single_file(entries: Sequence[Any], path: str, clean_path: str, section: str) -> Any:
    """The one regular-file entry of a raw layer; PackError for a directory or several files."""
    files = [e for e in entries if not e.is_dir]
    if len(files) != 1 or files[0].name != clean_path:
        raise PackError(f"the {section} layer with path {path} is not one file, so it cannot be a raw layer",
                        hint="a raw layer holds one file: name files in the Kitfile, or pack with --layers tar")
    return files[0]


def file_metadata(name: str, st: os.stat_result) -> str:
    """``org.cncf.model.file.metadata+json`` the way kit marshals ``modelspecv1.FileMetadata``.

    mtime: the file's, in RFC 3339 with nanoseconds as Go's ``time.Time`` marshals (UTC here);
    typeflag: ``tar.FileInfoHeader``'s for a regular file, ``'0'`` (48).
    """
    seconds, nanos = divmod(st.st_mtime_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f".{nanos:09d}".rstrip("0") if nanos else ""
    meta = {"name": os.path.basename(name), "mode": st.st_mode & 0o777, "uid": 0, "gid": 0,
            "size": st.st_size, "mtime": f"{moment}{frac}Z", "typeflag": 48}
    return go_json(meta).decode("utf-8")


def write_raw(entry: Any, out: Writable, *, compression: str = "none") -> tuple[WrittenLayer, os.stat_result]:
    """Write ``entry``'s file as a raw layer to ``out``; the digests, one FileRecord, and its stat."""
    sink = Sink(out, compression)
    file_hash = hashlib.sha256()
    fd = os.open(entry.source, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        left = entry.size
        while left > 0:
            chunk = os.read(fd, min(_CHUNK, left))
            if not chunk:
                raise PackError(f"{entry.source} shrank while it was packed", hint="pack it again")
            file_hash.update(chunk)
            sink.write(chunk)
            left -= len(chunk)
        if os.read(fd, 1):
            raise PackError(f"{entry.source} grew while it was packed", hint="pack it again")
    finally:
        os.close(fd)
    sink.close()
    record = FileRecord(entry.name, entry.size, file_hash.hexdigest(), entry.mode)
    assert Digest.from_hash(file_hash) == sink.diff_id
    return WrittenLayer(sink.digest, sink.size, sink.diff_id, (record,)), st
