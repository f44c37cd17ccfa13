"""State shared by all commands: the global options, resolved once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from ocikit._config import home_dir


@dataclass(frozen=True)
class CliContext:
    home_option: str | None
    verbose: int
    quiet: bool

    @property
    def home(self) -> Path:
        return home_dir(self.home_option)


def get_context() -> CliContext:
    ctx = click.get_current_context()
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):  # invoked without the group (tests calling a command)
        obj = CliContext(None, 0, False)
        ctx.find_root().obj = obj
    return obj
