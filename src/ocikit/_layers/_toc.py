"""The table of contents of an uncompressed tar layer: where each file's bytes are in the blob.

A TOC lets a client fetch one file out of a huge layer with an HTTP ``Range`` GET (the
distribution registry answers 206, docs/performance.md) and check it against the sha256 recorded
at pack time. It is an extra, ignorable document beside the layer: the layer stays byte-for-byte
what kit writes and reads. It travels as a referrer of the ModelKit (artifactType
:data:`ARTIFACT_TYPE`), not as a layer annotation, because an annotation would change the bytes
of the ModelKit manifest (``tests/goldens/pack_tiny_project.json`` pins it).

Everything in a TOC read back is untrusted: paths are checked as tar member names are, every
range must lie inside the layer, and a fetched range counts only if its sha256 matches.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from ocikit._io._digest import Digest
from ocikit._io._json import refuse_duplicate_keys
from ocikit._layers._extract import check_member_name
from ocikit._layers._format import BLOCK
from ocikit._layers._types import FileRecord
from ocikit._oci._gojson import go_json
from ocikit.errors import DigestMismatchError, UnsafeArchiveError

__all__ = ["ARTIFACT_TYPE", "MAX_TOC_BYTES", "Toc", "TocEntry", "build_toc", "parse_toc", "verify_range"]

ARTIFACT_TYPE = "application/vnd.ocikit.toc.v1+json"
MAX_TOC_BYTES = 64 * 1024 * 1024  # ~300 bytes per file: room for 200,000 files
_HEX = re.compile(r"[0-9a-f]{64}")
_ZERO_BLOCK = bytes(BLOCK)


@dataclass(frozen=True)
class TocEntry:
    """One regular file: its bytes are ``blob[offset:offset + size]`` and hash to ``sha256``."""

    path: str
    offset: int
    size: int
    sha256: str


@dataclass(frozen=True)
class Toc:
    """The files of one uncompressed layer (``layer`` is its digest, ``size`` its blob size)."""

    layer: Digest
    size: int
    entries: tuple[TocEntry, ...]

    def find(self, path: str) -> TocEntry | None:
        wanted = path.strip("/").removeprefix("./")
        return next((e for e in self.entries if e.path == wanted), None)

    def to_bytes(self) -> bytes:
        """``go_json`` of the document, built per entry (the generic walk of 100,000 dicts took
        0.6 s of a pack; this ~0.15 s; tests/unit/test_toc.py checks the bytes are the same)."""
        head = go_json({"mediaType": ARTIFACT_TYPE, "layer": str(self.layer), "size": self.size})[:-1]
        files = ",".join(f'{{"path":{go_json(e.path).decode()},"offset":{e.offset},"size":{e.size},'
                         f'"sha256":"{e.sha256}"}}' for e in self.entries)
        return head + b',"files":[' + files.encode() + b"]}"


def _octal(field: bytes, what: str) -> int:
    text = field.split(b"\0", 1)[0].strip(b" ")
    try:
        return int(text or b"0", 8)
    except ValueError as e:
        raise UnsafeArchiveError(f"{what}: bad size field {field!r} in a tar header") from e


class _Window:
    """512-byte blocks at any offset of a blob, read 256 KiB at a time: the headers of many small
    files come from one read (100,000 files of 4 KiB: 0.35 s with one read per header, less here).
    """

    _SIZE = 256 * 1024

    def __init__(self, blob: BinaryIO) -> None:
        self._blob = blob
        self._start = 0
        self._data = b""
        try:
            self._fd: int | None = blob.fileno()
        except (AttributeError, OSError):  # io.UnsupportedOperation is an OSError
            self._fd = None

    def block(self, pos: int) -> bytes:
        if not self._start <= pos <= self._start + len(self._data) - BLOCK:
            if self._fd is not None:
                self._data = os.pread(self._fd, self._SIZE, pos)
            else:
                self._blob.seek(pos)
                self._data = self._blob.read(self._SIZE)
            self._start = pos
        at = pos - self._start
        return self._data[at:at + BLOCK]


def build_toc(blob: BinaryIO, layer: Digest, size: int, files: Sequence[FileRecord]) -> Toc:
    """Walk the headers of the uncompressed tar ``blob`` (seeking over the bodies) and pair each
    regular file, in order, with the :class:`FileRecord` the pack wrote for it.

    The record's size is the truth for the body length (a header of a file over 8 GiB carries 0
    and the real size in a PAX record, as Go writes); extended headers are skipped.
    """
    entries: list[TocEntry] = []
    pos = 0
    taken = 0
    window = _Window(blob)
    while pos + BLOCK <= size:
        header = window.block(pos)
        if len(header) < BLOCK or header == _ZERO_BLOCK:
            break
        typeflag = header[156:157]
        if typeflag in (b"0", b"\0") and taken < len(files):
            record = files[taken]
            taken += 1
            if _octal(header[124:136], "layer") not in (record.size, 0):
                raise UnsafeArchiveError(f"layer: tar header of {record.path!r} does not match what was packed")
            entries.append(TocEntry(record.path, pos + BLOCK, record.size, record.sha256))
            body = record.size
        else:
            body = _octal(header[124:136], "layer")
        pos += BLOCK + body + (-body) % BLOCK
    if taken < len(files):
        raise UnsafeArchiveError(f"layer: {len(files) - taken} packed file(s) not found in the tar")
    return Toc(layer, size, tuple(entries))


def _field(obj: dict[str, Any], key: str, kind: type, what: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise UnsafeArchiveError(f"{what}: {key!r} is missing or not a {kind.__name__}")
    return value


def _entry(raw: Any, blob_size: int, what: str) -> TocEntry:
    if not isinstance(raw, dict):
        raise UnsafeArchiveError(f"{what}: a file entry is not an object")
    path = check_member_name(_field(raw, "path", str, what), what)
    offset = _field(raw, "offset", int, what)
    size = _field(raw, "size", int, what)
    digest = _field(raw, "sha256", str, what)
    if offset < BLOCK or size < 0 or offset + size > blob_size:
        raise UnsafeArchiveError(f"{what}: {path!r} claims bytes {offset}+{size}, outside the {blob_size}-byte layer")
    if not _HEX.fullmatch(digest):
        raise UnsafeArchiveError(f"{what}: {path!r} has a malformed sha256")
    return TocEntry(path, offset, size, digest)


def parse_toc(data: bytes, layer: Digest, blob_size: int) -> Toc:
    """A TOC read back (untrusted): bounded, strict JSON, every entry checked; for ``layer`` only."""
    what = f"table of contents of {layer.short}"
    if len(data) > MAX_TOC_BYTES:
        raise UnsafeArchiveError(f"{what}: {len(data)} bytes is too large")
    try:
        doc = json.loads(data, object_pairs_hook=refuse_duplicate_keys(UnsafeArchiveError))
    except (ValueError, RecursionError) as e:
        raise UnsafeArchiveError(f"{what}: not valid JSON ({e})") from e
    if not isinstance(doc, dict) or doc.get("mediaType") != ARTIFACT_TYPE:
        raise UnsafeArchiveError(f"{what}: not an {ARTIFACT_TYPE} document")
    if doc.get("layer") != str(layer) or doc.get("size") != blob_size:
        raise UnsafeArchiveError(f"{what}: it describes another layer")
    files = doc.get("files")
    if not isinstance(files, list):
        raise UnsafeArchiveError(f"{what}: 'files' is not a list")
    entries = tuple(_entry(f, blob_size, what) for f in files)
    if len({e.path for e in entries}) != len(entries):
        raise UnsafeArchiveError(f"{what}: a path is listed twice")
    return Toc(layer, blob_size, entries)


def verify_range(entry: TocEntry, data: bytes) -> bytes:
    """``data`` if it is exactly the file the entry describes, else :class:`DigestMismatchError`."""
    if len(data) != entry.size:
        raise DigestMismatchError(f"{entry.path}: got {len(data)} bytes for a {entry.size}-byte file")
    got = hashlib.sha256(data).hexdigest()
    if got != entry.sha256:
        raise DigestMismatchError(f"{entry.path}: content hashes to sha256:{got}, the table of contents says "
                                  f"sha256:{entry.sha256}")
    return data
