"""Session fixtures that start a real CNCF distribution registry (see registry-test/).

``registry`` (plain HTTP), ``tls_registry`` (HTTPS with a test CA) and ``auth_registry`` (HTTPS +
htpasswd) each yield a :class:`TestRegistry` with ``.host`` (``127.0.0.1:PORT``), ``.options`` (a
:class:`~ocikit._config.RegistryOptions` that works for it), ``.ca_file``, ``.cert_dir`` (for
``skopeo --cert-dir``), ``.username``, ``.password``, ``.url``. One registry per variant per test
session; tests use unique repository names instead of fresh registries.

If the registry cannot start, tests are skipped locally but FAIL when ``require_registry()``
(``OCIKIT_REQUIRE_REGISTRY=1`` / CI) is true.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ocikit._config import RegistryOptions

__all__ = ["TestRegistry", "auth_registry", "registry", "tls_registry", "unique_repo"]

_REGISTRY_PY = Path(__file__).resolve().parent.parent / "registry-test" / "registry.py"
_counter = itertools.count()


def _registry_module() -> ModuleType:
    name = "ocikit_registry_test"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _REGISTRY_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class TestRegistry:
    __test__ = False  # not a test class, despite the name

    variant: str
    host: str
    url: str
    options: RegistryOptions
    ca_file: str | None
    cert_dir: str | None
    username: str | None
    password: str | None
    workdir: str
    log_file: str

    def ref(self, repository: str, tag: str = "latest") -> str:
        return f"{self.host}/{repository}:{tag}"

    @property
    def skopeo_tls_args(self) -> list[str]:
        """skopeo flags to talk to this registry (``--tls-verify=false`` or ``--cert-dir``)."""
        if self.variant == "plain":
            return ["--tls-verify=false"]
        return [f"--cert-dir={self.cert_dir}"]


def unique_repo(prefix: str = "test") -> str:
    """A repository name no other test in this session uses."""
    return f"{prefix}/r{next(_counter)}"


def _start(variant: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestRegistry]:
    from conftest import fail_or_skip  # type: ignore[import-not-found]

    mod = _registry_module()
    workdir = tmp_path_factory.mktemp(f"registry-{variant}")
    try:
        running: Any = mod.start(variant, workdir)
    except (mod.RegistryStartError, OSError) as e:
        fail_or_skip(f"the {variant} registry could not start: {e}")
    plain = variant == "plain"
    options = RegistryOptions(plain_http=True) if plain else RegistryOptions(ca_file=running.ca_file)
    try:
        yield TestRegistry(
            variant=variant,
            host=running.host,
            url=running.url,
            options=options,
            ca_file=running.ca_file,
            cert_dir=running.cert_dir,
            username=running.username,
            password=running.password,
            workdir=running.workdir,
            log_file=running.log_file,
        )
    finally:
        mod.stop(running)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestRegistry]:
    """A plain-HTTP registry without auth."""
    yield from _start("plain", tmp_path_factory)


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestRegistry]:
    """An HTTPS registry whose certificate is signed by ``.ca_file``."""
    yield from _start("tls", tmp_path_factory)


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestRegistry]:
    """An HTTPS registry with htpasswd basic auth (``.username`` / ``.password``)."""
    yield from _start("auth", tmp_path_factory)
