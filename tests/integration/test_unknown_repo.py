"""A registry repository that does not exist is exit 6 with a hint for ``list`` and ``lineage``
(the registry answers 404 ``NAME_UNKNOWN`` on its tag list), not an empty, successful listing."""

from __future__ import annotations

from pathlib import Path

import pytest

from _registry_fixtures import TestRegistry, unique_repo
from conftest import Cli  # type: ignore[import-not-found]
from ocikit.errors import NotFoundError


@pytest.mark.registry
@pytest.mark.parametrize("command", ["list", "lineage"])
def test_an_unknown_repository_is_not_found(cli: Cli, registry: TestRegistry, command: str) -> None:
    repository = unique_repo("missing")
    result = cli(command, f"{registry.host}/{repository}", "--plain-http", ok=False)
    assert result.exit_code == 6, result.stderr
    assert f"error: repository {repository} not found on {registry.host}" in result.stderr
    assert "hint: check the repository name" in result.stderr
    assert result.stdout == ""


@pytest.mark.registry
def test_the_library_raises_not_found_and_an_existing_repository_still_lists(
        registry: TestRegistry, tmp_path: Path) -> None:
    import ocikit

    home = tmp_path / "home"
    with pytest.raises(NotFoundError, match="not found on"):
        ocikit.lineage(f"{registry.host}/{unique_repo('missing')}", home=home, options=registry.options)
    with pytest.raises(NotFoundError, match="not found on"):
        ocikit.list_modelkits(f"{registry.host}/{unique_repo('missing')}", home=home, options=registry.options)

    project = tmp_path / "p"
    project.mkdir()
    (project / "Kitfile").write_text("manifestVersion: 1.0.0\npackage:\n  name: x\nmodel:\n  path: m.bin\n")
    (project / "m.bin").write_bytes(b"weights")
    repository = unique_repo("present")
    ocikit.pack(project, tag=f"{repository}:1", home=home)
    ocikit.push(f"{repository}:1", f"{registry.host}/{repository}:1", home=home, options=registry.options)
    assert [m.tags for m in ocikit.list_modelkits(f"{registry.host}/{repository}", home=home,
                                                  options=registry.options)] == [("1",)]
    assert [v.tags for v in ocikit.lineage(f"{registry.host}/{repository}", home=home,
                                           options=registry.options).versions] == [("1",)]
