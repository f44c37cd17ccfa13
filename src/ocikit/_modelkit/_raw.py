"""``.raw`` layers (one file, no tar; ModelPack, kit 1.17 and Docker model artifacts): the file is
placed at the layer's ``org.cncf.model.filepath`` (checked like a tar entry's name); :class:`RawAsTar`
presents it to the strict tar extractor as a one-entry tar so it gets every check a tar entry gets
(no ``..``, no absolute name, no collision with another layer's file, no link on the way).

kit 1.17 may compress a raw layer (``.v1.raw+gzip``); then the file's size comes from the
``org.cncf.model.file.metadata+json`` annotation kit writes (``pkg/lib/filesystem/raw.go``), and the
layer's diffId (the uncompressed file's digest) is checked after the blob's own digest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ocikit._layers._format import BLOCK, tar_header
from ocikit.errors import UnsafeArchiveError

__all__ = ["ANNOTATION_FILE_METADATA", "RawAsTar", "raw_mode", "raw_size", "raw_target"]

#: modctl 0.2.x's pre-CNCF name of it (modctl pkg/backend/build/legacy.go at v0.2.2).
LEGACY_FILE_METADATA = "org.cnai.model.file.metadata+json"
#: model-spec (docs/compatibility.md §5.2): JSON {name, mode, uid, gid, size, mtime, typeflag} of a raw layer's file.
ANNOTATION_FILE_METADATA = "org.cncf.model.file.metadata+json"


def _metadata(annotations: Mapping[str, str]) -> dict[str, Any]:
    text = annotations.get(ANNOTATION_FILE_METADATA) or annotations.get(LEGACY_FILE_METADATA)
    if not text or len(text) > 64 * 1024:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def raw_size(annotations: Mapping[str, str]) -> int | None:
    """The file size ``org.cncf.model.file.metadata+json`` records, if it records a sane one."""
    size = _metadata(annotations).get("size")
    if isinstance(size, int) and not isinstance(size, bool) and 0 <= size <= 1 << 50:
        return size
    return None


def raw_target(annotations: Mapping[str, str], element_path: str | None, where: str) -> str:
    """Where a raw layer's file goes: its ``org.cncf.model.filepath`` (what kit and modctl write), else
    the Kitfile element's path; checked as a relative path that stays inside the target."""
    from ocikit._modelkit._modelpack import check_filepath
    from ocikit._oci._model import ANNOTATION_FILEPATH, LEGACY_ANNOTATION_FILEPATH

    path = annotations.get(ANNOTATION_FILEPATH) or annotations.get(LEGACY_ANNOTATION_FILEPATH) or element_path or ""
    cleaned = check_filepath(path, where)
    if cleaned in (".", ""):
        raise UnsafeArchiveError(f"{where}: a raw layer needs a file path, got {path!r}")
    return cleaned


def raw_mode(annotations: Mapping[str, str]) -> int:
    """The file mode from ``org.cncf.model.file.metadata+json`` (0644 if absent or unreadable)."""
    text = annotations.get(ANNOTATION_FILE_METADATA)
    if text:
        try:
            mode = json.loads(text).get("mode")
        except (ValueError, AttributeError):
            mode = None
        if isinstance(mode, int) and not isinstance(mode, bool) and 0 <= mode <= 0o7777:
            return mode
    return 0o644


class RawAsTar:
    """A raw layer's bytes presented as a one-file tar (header, body, padding, end blocks), so the
    strict tar extractor places and checks it like any tar entry. ``body`` yields exactly ``size``
    bytes (a verifying reader)."""

    def __init__(self, body: Any, name: str, mode: int, size: int) -> None:
        self._parts: list[Any] = [tar_header(name, mode & 0o777, size, is_dir=False)]
        self._body = body
        self._left = size
        self._tail = bytes((-size) % BLOCK) + bytes(2 * BLOCK)
        self._stage = 0  # 0 header, 1 body, 2 tail, 3 done
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        out = bytearray()
        while (n < 0 or len(out) < n) and self._stage < 3:
            want = (n - len(out)) if n >= 0 else 1 << 20
            if self._stage == 0:
                header = self._parts[0]
                out += header[:want]
                self._parts[0] = header[want:]
                if not self._parts[0]:
                    self._stage = 1 if self._left else 2
                    if not self._left and self._body.read(1):
                        raise UnsafeArchiveError("raw layer holds more bytes than its declared file size")
            elif self._stage == 1:
                chunk = self._body.read(min(want, self._left))
                if not chunk:
                    raise UnsafeArchiveError("raw layer ended before its declared size")
                out += chunk
                self._left -= len(chunk)
                if not self._left:
                    if self._body.read(1):  # a file longer than its metadata says: never truncate it
                        raise UnsafeArchiveError("raw layer holds more bytes than its declared file size")
                    self._stage = 2
            else:
                out += self._tail[:want]
                self._tail = self._tail[want:]
                if not self._tail:
                    self._stage = 3
        return bytes(out)
