"""``.raw`` ModelPack layers (one uncompressed file, no tar): the file is placed at the layer's
``org.cncf.model.filepath``; :class:`RawAsTar` presents it to the strict tar extractor as a
one-entry tar so it gets every check a tar entry gets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ocikit._layers._format import BLOCK, tar_header
from ocikit.errors import UnsafeArchiveError

__all__ = ["ANNOTATION_FILE_METADATA", "RawAsTar", "raw_mode"]

#: model-spec (docs/compatibility.md §5.2): JSON {name, mode, uid, gid, size, mtime, typeflag} of a raw layer's file.
ANNOTATION_FILE_METADATA = "org.cncf.model.file.metadata+json"


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
            elif self._stage == 1:
                chunk = self._body.read(min(want, self._left))
                if not chunk:
                    raise UnsafeArchiveError("raw layer ended before its declared size")
                out += chunk
                self._left -= len(chunk)
                if not self._left:
                    self._stage = 2
            else:
                out += self._tail[:want]
                self._tail = self._tail[want:]
                if not self._tail:
                    self._stage = 3
        return bytes(out)
