"""Streams that fail part-way, to interrupt an upload at a known byte."""

from __future__ import annotations

import io


class FailingStream(io.BytesIO):
    """A seekable stream over ``data`` whose reads raise ``exc`` once they start at ``at`` or later
    (``KeyboardInterrupt`` = Ctrl-C; a ``BaseException`` no handler catches = the process dying)."""

    def __init__(self, data: bytes, at: int, exc: type[BaseException]) -> None:
        super().__init__(data)
        self._at = at
        self._exc = exc

    def read(self, n: int | None = -1) -> bytes:
        if self.tell() >= self._at:
            raise self._exc
        return super().read(n)
