"""Shared fixtures. Registry fixtures live in _registry_fixtures.py (real registry from registry-test/)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from click.testing import CliRunner

from _registry_fixtures import *  # noqa: F403  (registry, tls_registry, auth_registry fixtures)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", help="rewrite files in tests/goldens/")


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh OCIKIT_HOME for each test."""
    h = tmp_path / "ocikit-home"
    monkeypatch.setenv("OCIKIT_HOME", str(h))
    monkeypatch.delenv("OCIKIT_VERIFY_KEY", raising=False)
    monkeypatch.delenv("OCIKIT_PASSWORD", raising=False)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    return h


@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Cli:
    """Runs ``ocikit.cli.main`` in-process: the real error boundary (one error line, exit codes)."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def __call__(self, *args: str, input: str | None = None, ok: bool = True) -> Run:
        from ocikit.cli import main

        with CliRunner().isolation(input=input) as streams:
            try:
                rv = main(["--home", str(self.home), *args])
                code = rv if isinstance(rv, int) else 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            out, err = streams[0].getvalue().decode(), streams[1].getvalue().decode()
        if ok and code != 0:
            raise AssertionError(f"ocikit {' '.join(args)} exited {code}\nstdout:\n{out}\nstderr:\n{err}")
        if code != 0 and not any(a.startswith("-v") or a == "--verbose" for a in args):
            assert "Traceback" not in err, err  # errors are one line plus a hint, never a traceback
        return Run(code, out, err)


@pytest.fixture
def cli(home: Path) -> Iterator[Cli]:
    yield Cli(home)


def require_registry() -> bool:
    """True when a registry that cannot start must fail the run (make test / CI)."""
    return os.environ.get("OCIKIT_REQUIRE_REGISTRY") == "1" or os.environ.get("CI") == "true"


def fail_or_skip(message: str) -> NoReturn:
    """Something a test needs is missing: a failure where the suite must be whole (make test, CI),
    a skip on a developer's machine."""
    if require_registry():
        pytest.fail(message)
    pytest.skip(message)


def require_tool(name: str) -> str:
    """The path of the peer tool ``name`` (skopeo, oras, ...), or :func:`fail_or_skip`."""
    path = shutil.which(name)
    if path is None:
        fail_or_skip(f"{name} is not installed (run registry-test/install-deps.sh)")
    return path
