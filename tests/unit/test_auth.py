"""Challenges, realm checks, the Docker-compatible credential store, login and logout."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from fakes.registry import FakeNetwork, FakeRegistry
from ocikit._config import RegistryOptions, credentials_path
from ocikit._registry import _credentials as _credentials
from ocikit._registry._auth import check_realm, parse_challenges
from ocikit._registry._credentials import Credential, lookup
from ocikit._registry._login import login, logout
from ocikit.errors import AuthError


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "docker"
    d.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(d))
    return d / "config.json"


def test_parse_bearer_and_basic_challenges() -> None:
    [c] = parse_challenges('Bearer realm="https://auth.example/token",service="reg",'
                           'scope="repository:a/b:pull,push",error="insufficient_scope"')
    assert c.scheme == "bearer"
    assert c.params == {"realm": "https://auth.example/token", "service": "reg",
                        "scope": "repository:a/b:pull,push", "error": "insufficient_scope"}
    both = parse_challenges('Basic realm="x", Bearer realm="https://q",service=s')
    assert [c.scheme for c in both] == ["basic", "bearer"]
    assert both[1].params == {"realm": "https://q", "service": "s"}


@pytest.mark.parametrize("realm,registry", [
    ("https://auth.docker.io/token", "https://registry-1.docker.io"),  # another host over https: allowed
    ("http://127.0.0.1:5000/token", "http://127.0.0.1:5000"),  # plain-http registry, same host
    ("https://127.0.0.1:9999/token", "https://127.0.0.1:5000"),  # loopback equal to the registry host
])
def test_allowed_realms(realm: str, registry: str) -> None:
    check_realm(realm, registry)


@pytest.mark.parametrize("realm", [
    "https://169.254.169.254/token", "https://[::ffff:169.254.169.254]/token", "https://0.0.0.0/t",
    "http://auth.example/token", "https://u:p@auth.example/token", "file:///etc/passwd",
    "https://192.168.1.1/token", "https://127.0.0.1/token", "https://metadata.google.internal/x", "",
])
def test_refused_realms(realm: str) -> None:
    with pytest.raises(AuthError):
        check_realm(realm, "https://registry.example")


def test_credential_repr_hides_secrets() -> None:
    c = Credential("alice", "pa55word", "tok3n")
    assert "pa55word" not in repr(c) and "tok3n" not in str(c) and "alice" in repr(c)


def test_lookup_reads_docker_config_auth_forms(tmp_path: Path, docker_config: Path) -> None:
    docker_config.write_text(json.dumps({"auths": {
        "a.example": {"auth": base64.b64encode(b"alice:pw:with:colons").decode()},
        "https://b.example": {"username": "bob", "password": "bpw"},
        "c.example": {"identitytoken": "refresh"},
    }}))
    home = tmp_path / "home"
    assert lookup("a.example", home=home) == Credential("alice", "pw:with:colons")
    assert lookup("b.example", home=home) == Credential("bob", "bpw")
    assert lookup("c.example", home=home) == Credential(identity_token="refresh")
    assert lookup("d.example", home=home) is None


def test_ocikit_file_wins_over_docker(tmp_path: Path, docker_config: Path) -> None:
    docker_config.write_text(json.dumps({"auths": {"r.example": {"username": "docker", "password": "d"}}}))
    home = tmp_path / "home"
    _credentials.store("r.example", Credential("mine", "m"), home=home)
    assert lookup("r.example", home=home) == Credential("mine", "m")


def _helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, reply: dict[str, str] | None) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / f"{name}.log"
    script = bin_dir / f"docker-credential-{name}"
    body = f"echo '{json.dumps(reply)}'" if reply else "echo 'credentials not found in native keychain'; exit 1"
    script.write_text(f"#!/bin/sh\n[ \"$1\" = get ] || exit 3\ncat > {log}\n{body}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return log


def test_cred_helpers_and_creds_store(tmp_path: Path, docker_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = _helper(tmp_path, monkeypatch, "fake", {"ServerURL": "h.example", "Username": "hu", "Secret": "hs"})
    _helper(tmp_path, monkeypatch, "tok", {"ServerURL": "t.example", "Username": "<token>", "Secret": "idt"})
    _helper(tmp_path, monkeypatch, "none", None)
    docker_config.write_text(json.dumps({"credHelpers": {"h.example": "fake", "n.example": "none"},
                                         "credsStore": "tok"}))
    home = tmp_path / "home"
    assert lookup("h.example", home=home) == Credential("hu", "hs")
    assert log.read_text() == "h.example"  # the protocol: server on stdin
    assert lookup("t.example", home=home) == Credential(identity_token="idt")
    # a helper without an entry falls through to credsStore
    assert lookup("n.example", home=home) == Credential(identity_token="idt")


def test_store_is_0600_atomic_and_erase(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = _credentials.store("r.example", Credential("u", "p"), home=home)
    assert path == credentials_path(home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert base64.b64decode(data["auths"]["r.example"]["auth"]) == b"u:p"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left
    assert _credentials.erase("r.example", home=home)
    assert not _credentials.erase("r.example", home=home)
    assert json.loads(path.read_text())["auths"] == {}


def test_options_credentials_file_is_used(tmp_path: Path) -> None:
    opts = RegistryOptions(credentials_file=str(tmp_path / "elsewhere.json"))
    _credentials.store("r.example", Credential("u", "p"), home=tmp_path / "home", options=opts)
    assert (tmp_path / "elsewhere.json").exists()
    assert lookup("r.example", home=tmp_path / "home", options=opts) == Credential("u", "p")


def test_login_checks_before_saving_and_logout(tmp_path: Path, docker_config: Path) -> None:
    net = FakeNetwork()
    net.add("r.example", FakeRegistry("r.example", basic_users={"alice": "right"}))
    home = tmp_path / "home"
    with pytest.raises(AuthError) as e:
        login("r.example", "alice", "wrong-pass", RegistryOptions(), home, transport=net)
    assert "wrong-pass" not in f"{e.value} {e.value.hint}"
    assert not credentials_path(home).exists()
    path = login("r.example", "alice", "right", RegistryOptions(), home, transport=net)
    assert lookup("r.example", home=home) == Credential("alice", "right")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert logout("r.example", None, home)
    assert lookup("r.example", home=home) is None
