"""Shared fixtures. Registry fixtures live in _registry_fixtures.py (real registry from registry-test/)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

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


class Cli:
    """Runs the real CLI entry point in-process and returns click's Result."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def __call__(self, *args: str, input: str | None = None, ok: bool = True) -> Result:
        from ocikit.cli import cli

        runner = CliRunner()
        result = runner.invoke(cli, ["--home", str(self.home), *args], input=input, catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        if ok and result.exit_code != 0:
            raise AssertionError(
                f"ocikit {' '.join(args)} exited {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result


@pytest.fixture
def cli(home: Path) -> Iterator[Cli]:
    yield Cli(home)


def require_registry() -> bool:
    """True when a registry that cannot start must fail the run (make test / CI)."""
    return os.environ.get("OCIKIT_REQUIRE_REGISTRY") == "1" or os.environ.get("CI") == "true"
