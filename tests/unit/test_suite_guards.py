"""In CI a missing registry or peer tool fails the run; only a developer's machine may skip."""

from __future__ import annotations

import pytest

from conftest import fail_or_skip, require_tool  # type: ignore[import-not-found]


@pytest.mark.parametrize("env", [{"CI": "true"}, {"OCIKIT_REQUIRE_REGISTRY": "1"}])
def test_missing_peer_fails_where_the_suite_must_be_whole(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("OCIKIT_REQUIRE_REGISTRY", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match="skopeo is not installed"):
        require_tool("skopeo")
    with pytest.raises(pytest.fail.Exception, match="registry could not start"):
        fail_or_skip("the plain registry could not start")


def test_missing_peer_skips_on_a_developer_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("OCIKIT_REQUIRE_REGISTRY", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.skip.Exception, match="oras is not installed"):
        require_tool("oras")
