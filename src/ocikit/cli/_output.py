"""Rendering: tables for people, JSON for scripts. The only module that formats for a terminal."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Columns padded with three spaces, like kit's tabwriter output."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for row in cells:
        click.echo("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def format_bytes(n: int) -> str:
    """kit's FormatBytes: ``0 B``, ``1023 B``, ``1.0 KiB`` … one decimal, rounded down."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024
        if value < 1024 or unit == "PiB":
            return f"{int(value * 10) / 10:.1f} {unit}"
    raise AssertionError("unreachable")


def status(message: str) -> None:
    """A progress/status line on stderr (so stdout stays parseable)."""
    from ocikit.cli._context import get_context

    if not get_context().quiet:
        click.echo(message, err=True)
