"""Progress for the CLI: rich bars on a terminal, plain lines otherwise, nothing with ``--quiet``.

Implements ``ocikit._io._progress.Progress`` (called from worker threads). On a TTY: one bar per blob
and an overall bar, on stderr. Not a TTY (CI logs): one line per blob when it is done. ``NO_COLOR``
turns colours off (https://no-color.org/).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from ocikit._io._progress import SILENT, Progress
from ocikit.cli._output import format_bytes

__all__ = ["LineProgress", "RichProgress", "progress_ui"]


class LineProgress:
    """One line per finished blob, for logs: ``  pushed  model.bin  12.0 MiB``."""

    def __init__(self, verb: str, stream: Any = None) -> None:
        self._verb = verb
        self._stream = stream
        self._lock = threading.Lock()
        self._items: dict[str, tuple[str, int]] = {}

    def start(self, key: str, label: str, total: int) -> None:
        with self._lock:
            self._items[key] = (label, total)

    def advance(self, key: str, nbytes: int) -> None:
        pass

    def finish(self, key: str, *, skipped: bool = False) -> None:
        with self._lock:
            label, total = self._items.pop(key, (key, 0))
            word = "exists" if skipped else self._verb
            click.echo(f"  {word:<7} {label}  {format_bytes(total)}", err=True, file=self._stream)


class RichProgress:
    """Bars per blob plus an overall bar (rich is imported only when used)."""

    def __init__(self, verb: str, console: Any = None) -> None:
        import rich.console
        import rich.progress as rp

        no_color = "NO_COLOR" in os.environ
        if console is None:
            console = rich.console.Console(stderr=True, no_color=no_color, highlight=False)
        # Each row must fit the terminal, or every refresh wraps and scrolls: the label gets what
        # the fixed columns (size ~21, speed ~11, time ~8, spacing, a 10-cell bar) leave, and the
        # bar takes the rest (bar_width=None) instead of a fixed 40 cells.
        self._label_width = max(8, console.width - 2 - 62)
        self._bar = rp.Progress(
            rp.TextColumn("{task.description}", markup=False),
            rp.BarColumn(bar_width=None),
            rp.DownloadColumn(binary_units=True),
            rp.TransferSpeedColumn(),
            rp.TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._verb = verb
        self._lock = threading.Lock()
        self._tasks: dict[str, Any] = {}
        self._overall = self._bar.add_task(f"{verb} total", total=0)

    def __enter__(self) -> RichProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def start(self, key: str, label: str, total: int) -> None:
        with self._lock:
            limit = self._label_width
            short = label if len(label) <= limit else label[:limit - 1] + "…"
            self._tasks[key] = self._bar.add_task(f"  {short}", total=total or None)
            overall = self._bar.tasks[self._overall].total or 0
            self._bar.update(self._overall, total=overall + total)

    def advance(self, key: str, nbytes: int) -> None:
        task = self._tasks.get(key)
        if task is not None:
            self._bar.advance(task, nbytes)
            self._bar.advance(self._overall, nbytes)

    def finish(self, key: str, *, skipped: bool = False) -> None:
        with self._lock:
            task = self._tasks.get(key)
            if task is None:
                return
            t = self._bar.tasks[task]
            remaining = (t.total or 0) - t.completed
            if skipped:
                self._bar.update(task, description=f"{t.description} (exists)", completed=t.total or 0)
            else:
                self._bar.update(task, completed=t.total or 0)
            if remaining > 0:
                self._bar.advance(self._overall, remaining)


@contextmanager
def progress_ui(verb: str, *, quiet: bool) -> Iterator[Progress]:
    """The right Progress for this terminal: SILENT with --quiet, bars on a TTY, lines otherwise."""
    if quiet:
        yield SILENT
        return
    if sys.stderr.isatty() and os.environ.get("TERM") != "dumb":
        with RichProgress(verb) as bars:
            yield bars
        return
    yield LineProgress(verb)
