"""-v, -q and --home are accepted anywhere on the line, before or after the command (like kit,
docker and skopeo), and only where the command would not read the token itself."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from conftest import Cli  # type: ignore[import-not-found]
from ocikit.cli._group import cli as group
from ocikit.cli._group import hoist_global_options


def hoist(*args: str) -> list[str]:
    ctx = click.Context(group, info_name="ocikit")
    return hoist_global_options(group, ctx, list(args))


def test_verbose_after_a_registry_command_moves_before_it() -> None:
    """The line from the issue: `ocikit push SRC DST --ca-file CA -v`."""
    assert hoist("push", "a/b:1", "r.example/a/b:1", "--ca-file", "ca.pem", "-v") == [
        "-v", "push", "a/b:1", "r.example/a/b:1", "--ca-file", "ca.pem"]


@pytest.mark.parametrize(("line", "expected"), [
    (["list", "-q"], ["-q", "list"]),
    (["-v", "list", "-vv", "--quiet"], ["-v", "-vv", "--quiet", "list"]),
    (["list", "--home", "/h", "--json"], ["--home", "/h", "list", "--json"]),
    (["list", "--home=/h"], ["--home=/h", "list"]),
    (["--home", "/a", "list", "--home", "/b"], ["--home", "/a", "--home", "/b", "list"]),  # the last wins
    # a value of the command's own option stays where it is
    (["pack", ".", "-t", "-v"], ["pack", ".", "-t", "-v"]),
    (["init", ".", "--name", "-q", "-v"], ["-v", "init", ".", "--name", "-q"]),
    # after '--' nothing is an option
    (["list", "--", "-v"], ["list", "--", "-v"]),
    # --home last without its value is left for click to report
    (["list", "--home"], ["list", "--home"]),
    # unknown commands and no command at all are left alone
    (["nope", "-v"], ["nope", "-v"]),
    (["-v"], ["-v"]),
])
def test_hoisting(line: list[str], expected: list[str]) -> None:
    assert hoist(*line) == expected


def test_a_command_defining_the_option_itself_keeps_it() -> None:
    @click.command("own-q")
    @click.option("-q", "quick", is_flag=True)
    def own() -> None:
        pass

    group.add_command(own)
    try:
        assert hoist("own-q", "-q", "-v") == ["-v", "own-q", "-q"]
    finally:
        group.commands.pop("own-q", None)


def make_project(root: Path) -> Path:
    root.mkdir()
    (root / "Kitfile").write_text("manifestVersion: 1.0.0\npackage:\n  name: x\nmodel:\n  path: m.bin\n")
    (root / "m.bin").write_bytes(b"weights")
    return root


def test_home_after_the_command_is_the_store_used(cli: Cli, tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    other = tmp_path / "other-home"
    cli("pack", str(project), "-t", "x/y:1", "--home", str(other), "-q")
    assert "x/y " in cli("--home", str(other), "list").stdout
    assert "x/y " not in cli("list").stdout  # the fixture's own home is untouched
    assert "x/y " in cli("list", "--home", str(other), "-v").stdout


def test_quiet_after_the_command_silences_progress(cli: Cli, tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    loud = cli("pack", str(project), "-t", "x/y:1")
    quiet = cli("pack", str(project), "-t", "x/y:2", "-q")
    assert quiet.stderr == "" and quiet.stdout == loud.stdout.replace("x/y:1", "x/y:2")
