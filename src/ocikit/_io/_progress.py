"""Progress reporting seam: the library calls a ``Progress``; only the CLI draws bars.

The default is :data:`SILENT`. Methods may be called from worker threads.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["SILENT", "Progress"]


class Progress(Protocol):
    def start(self, key: str, label: str, total: int) -> None:
        """A unit of work (one blob, one layer) begins; ``total`` bytes expected (0 if unknown)."""

    def advance(self, key: str, nbytes: int) -> None:
        """``nbytes`` more were done for ``key``."""

    def finish(self, key: str, *, skipped: bool = False) -> None:
        """``key`` is complete (``skipped``: nothing had to be transferred)."""


class _Silent:
    def start(self, key: str, label: str, total: int) -> None:
        pass

    def advance(self, key: str, nbytes: int) -> None:
        pass

    def finish(self, key: str, *, skipped: bool = False) -> None:
        pass


SILENT: Progress = _Silent()
