"""The one error boundary: every failure is one 'error:' line plus a 'hint:' and a deliberate code."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from conftest import Cli  # type: ignore[import-not-found]
from ocikit.cli._group import cli as group


@pytest.fixture
def failing_command() -> Iterator[str]:
    """A command that fails the way the environment does (disk full), added through click's API."""

    @click.command("disk-full-probe")
    def probe() -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "/store/blobs/sha256/x")

    group.add_command(probe)
    try:
        yield "disk-full-probe"
    finally:
        group.commands.pop("disk-full-probe", None)


def test_an_unwrapped_os_error_is_one_line_not_a_traceback(cli: Cli, failing_command: str) -> None:
    result = cli(failing_command, ok=False)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines == [
        "error: No space left on device: /store/blobs/sha256/x",
        "hint: check the path, its permissions and the free disk space",
    ]


def test_verbose_shows_the_traceback_for_an_os_error(cli: Cli, failing_command: str) -> None:
    result = cli("-v", failing_command, ok=False)
    assert result.exit_code == 1 and "Traceback" in result.stderr


def test_verbose_after_the_command_shows_the_traceback_too(cli: Cli, failing_command: str) -> None:
    result = cli(failing_command, "-v", ok=False)
    assert result.exit_code == 1 and "Traceback" in result.stderr


def test_home_last_without_its_value_gets_a_hint(cli: Cli) -> None:
    result = cli("list", "--home", ok=False)
    assert result.exit_code == 2
    assert "hint: --home takes a directory: --home DIR" in result.stderr


def test_an_unwritable_home_names_the_store_and_suggests_another(cli: Cli, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    project = tmp_path / "p"
    project.mkdir()
    (project / "Kitfile").write_text("manifestVersion: 1.0.0\npackage:\n  name: x\nmodel:\n  path: m.bin\n")
    (project / "m.bin").write_bytes(b"weights")
    result = cli("--home", str(blocker / "home"), "pack", str(project), "-t", "x/y:1", ok=False)
    assert result.exit_code == 1
    assert "cannot create the local store" in result.stderr
    assert "hint: use a writable location (--home or OCIKIT_HOME)" in result.stderr
