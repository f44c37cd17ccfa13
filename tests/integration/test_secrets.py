"""No password and no bearer token in any output: stdout, stderr, logs (-v / -vv), exception text.

Authenticated push/pull against the htpasswd registry (``auth_registry``) through the real CLI in
subprocesses, plus a wrong password (error path), plus bearer tokens issued by the fault proxy's
token realm in front of the plain registry (a token challenge mid-push). Everything captured is
grepped for the password, its Basic ``user:pass`` base64 form and every token value.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _registry_fixtures import TestRegistry, unique_repo
from fakes.fault_proxy import FaultProxy, Rule
from fakes.kits import put_kit
from ocikit._config import RegistryOptions
from ocikit._store._layout import LocalStore
from ocikit.errors import OcikitError

pytestmark = pytest.mark.registry


def _run(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OCIKIT_HOME=str(home))
    env.pop("OCIKIT_PASSWORD", None)
    return subprocess.run([sys.executable, "-m", "ocikit", "--home", str(home), *args], input=stdin,
                          capture_output=True, text=True, timeout=120, env=env)


def _secrets_of(username: str, password: str) -> list[str]:
    basic = base64.b64encode(f"{username}:{password}".encode()).decode()
    return [password, basic]


def _assert_clean(texts: list[str], secrets: list[str]) -> None:
    joined = "\n".join(texts)
    for secret in secrets:
        assert secret not in joined, "a secret leaked into the output"


def test_authenticated_push_pull_leaks_nothing(auth_registry: TestRegistry, tmp_path: Path) -> None:
    assert auth_registry.username and auth_registry.password
    home = tmp_path / "home"
    repo = unique_repo("secrets")
    put_kit(LocalStore.at_home(home), f"localhost/{repo}", "1", "s", [b"secret model " * 1000])
    tls = ["--ca-file", str(auth_registry.ca_file)]
    outputs: list[str] = []
    wrong = _run(home, "-vv", "login", auth_registry.host, "-u", auth_registry.username, "--password-stdin", *tls,
                 stdin="not-the-password\n")
    assert wrong.returncode == 5, wrong.stderr
    outputs += [wrong.stdout, wrong.stderr]
    steps = [
        _run(home, "-vv", "login", auth_registry.host, "-u", auth_registry.username, "--password-stdin", *tls,
             stdin=auth_registry.password + "\n"),
        _run(home, "-vv", "push", f"{repo}:1", f"{auth_registry.host}/{repo}:1", *tls),
        _run(home, "-v", "pull", f"{auth_registry.host}/{repo}:1", *tls),
        _run(home, "-vv", "pull", f"{auth_registry.host}/{repo}:missing", *tls),  # error path
    ]
    for i, step in enumerate(steps):
        outputs += [step.stdout, step.stderr]
        if i < 3:
            assert step.returncode == 0, step.stderr
    assert steps[3].returncode == 6
    assert any("DEBUG" in o for o in outputs), "-vv produced no debug log; the test would see nothing"
    _assert_clean(outputs, _secrets_of(auth_registry.username, auth_registry.password))
    # the credentials file holds them (mode 0600) — the only place they may be
    creds = [p for p in home.iterdir() if p.name.startswith("credentials")]
    assert creds and oct(creds[0].stat().st_mode & 0o777) == "0o600"


def test_bearer_tokens_and_exceptions_leak_nothing(registry: TestRegistry, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from ocikit._ops._transfer import pull, push
    from ocikit._registry._client import Registry

    home = tmp_path / "home"
    repo = unique_repo("tokens")
    put_kit(LocalStore.at_home(home), f"localhost/{repo}", "1", "t", [b"w" * 5000])
    caplog.set_level(logging.DEBUG, logger="ocikit")
    errors: list[str] = []
    with FaultProxy(registry.host) as proxy:
        opts = RegistryOptions(plain_http=True)
        proxy.rules += [Rule("challenge", "HEAD", r"/blobs/", times=2), Rule("challenge", "PUT", r"/manifests/"),
                        Rule("challenge", "GET", r"/manifests/")]
        push(f"{repo}:1", f"{proxy.host}/{repo}:1", home=home, options=opts)
        pull(f"{proxy.host}/{repo}:1", home=tmp_path / "other", options=opts)
        try:
            Registry(proxy.host, opts).repository(repo).resolve("no-such-tag")
        except OcikitError as e:
            errors += [str(e), repr(e), e.hint]
        assert proxy.tokens_issued >= 1, "no bearer token was issued; the test would prove nothing"
        tokens = [f"proxy-token-{n}" for n in range(1, proxy.tokens_issued + 1)]
    captured = capsys.readouterr()
    texts = [captured.out, captured.err, caplog.text, *errors, *(repr(r.args) for r in caplog.records)]
    assert caplog.text, "no log captured"
    _assert_clean(texts, tokens)
