"""Start-up: ``ocikit --help`` imports neither click nor any command, and says what click would say."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from ocikit import __version__
from ocikit.cli import COMMANDS, SHORT_HELP, help_width, main
from ocikit.cli._group import cli, render_group_help
from ocikit.cli._help_text import GROUP_HELP

HELP_TEXT = Path(__file__).resolve().parents[2] / "src" / "ocikit" / "cli" / "_help_text.py"


def _write_help_text() -> None:
    lines = [
        '"""``ocikit --help`` pre-rendered by click at the widths terminals and pipes give (generated).\n\n'
        "Regenerate with ``pytest tests/cli/test_startup.py --update-goldens``; the test fails when\n"
        'this text differs from what click renders now.\n"""\n\nGROUP_HELP: dict[int, str] = {\n'
    ]
    for width in (78, 98):
        lines.append(f"    {width}: \"\\n\".join((\n")
        lines += [f"        {line!r},\n" for line in render_group_help(width).split("\n")]
        lines.append("    )),\n")
    lines.append("}\n")
    HELP_TEXT.write_text("".join(lines), encoding="utf-8")


def test_pre_rendered_help_is_what_click_renders(update_goldens: bool) -> None:
    if update_goldens:
        _write_help_text()
        return
    assert sorted(GROUP_HELP) == [78, 98]  # 80-column pipes/terminals, and >= 100 columns
    for width, text in GROUP_HELP.items():
        assert text == render_group_help(width), f"stale _help_text at width {width}; run with --update-goldens"


def test_short_help_table_matches_every_command() -> None:
    assert list(SHORT_HELP) == list(COMMANDS)
    for name, target in COMMANDS.items():
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        assert not command.hidden and not command.short_help and not command.deprecated
        for limit in (30, 45, 60, 200):
            expected = command.get_short_help_str(limit)
            assert click.Command(name, help=SHORT_HELP[name]).get_short_help_str(limit) == expected, name


def test_group_help_lists_commands_without_importing_them() -> None:
    code = (
        "import sys\n"
        "from ocikit.cli._group import render_group_help\n"
        "text = render_group_help(98)\n"
        "assert 'verify-files' in text, text\n"
        "loaded = [m for m in sys.modules if m.startswith('ocikit.cli._') and m not in "
        "('ocikit.cli._group', 'ocikit.cli._context')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--version"]])
def test_fast_path_imports_no_click(args: list[str]) -> None:
    code = (
        "import sys\n"
        "from ocikit.cli import main\n"
        f"rc = main({args!r})\n"
        "heavy = [m for m in ('click', 'typing', 'dataclasses', 'logging', 'ocikit.cli._group') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert rc == 0\n"
    )
    env = {**os.environ, "COLUMNS": "80"}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    if args == ["--version"]:
        assert out.stdout == f"ocikit, version {__version__}\n"
    else:
        assert out.stdout == GROUP_HELP[78] + "\n"


@pytest.mark.parametrize("columns", ["80", "130", "72", "40"])
def test_fast_and_click_paths_print_the_same(columns: str, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    # 80 and 130 columns are answered from the pre-rendered text, 72 and 40 by click itself
    assert main(["--help"]) in (0, None)
    fast = capsys.readouterr().out
    ctx = click.Context(cli, info_name="ocikit", **cli.context_settings)
    assert fast == ctx.get_help() + "\n"


def test_help_width_follows_click() -> None:
    os.environ.pop("FORCED_WIDTH", None)
    for columns, width in (("80", 78), ("100", 98), ("250", 98), ("30", 50)):
        os.environ["COLUMNS"] = columns
        try:
            assert help_width() == width
            assert click.formatting.HelpFormatter(max_width=100).width == width
        finally:
            del os.environ["COLUMNS"]
