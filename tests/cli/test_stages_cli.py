"""The stage commands end to end on the local store: exit codes, messages, tables and --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Cli  # type: ignore[import-not-found]
from fakes.stages import make_modelkits, without_settle
from ocikit._oci._model import Descriptor
from ocikit._store._layout import LocalStore

REPO = "acme/sentiment"


@pytest.fixture
def kits(home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Descriptor]:
    without_settle(monkeypatch)
    return make_modelkits(LocalStore.at_home(home).repository(f"localhost/{REPO}"))


def test_promote_stages_history_rollback(cli: Cli, kits: dict[str, Descriptor]) -> None:
    out = cli("promote", f"{REPO}:1.3.0", "--to", "staging", "--new-stage", "--reason", "nightly retrain", "--actor", "ci")
    assert "promoted staging" in out.stdout and "1.3.0" in out.stdout
    cli("promote", f"{REPO}:1.3.0", "--to", "production", "--new-stage", "--reason", "passed shadow", "--actor", "alice",
        "--require", "model.parameters.metrics.f1 >= 0.90")
    result = cli("promote", f"{REPO}:1.4.0", "--to", "production", "--reason", "better", "--actor", "bob",
                 "--require", "model.parameters.metrics.f1 >= 0.90", "--json")
    event = json.loads(result.stdout)
    assert event["stage"] == "production" and event["sequence"] == 2
    assert event["modelkit"] == {"digest": str(kits["1.4.0"].digest), "version": "1.4.0"}
    assert event["replaced"] == str(kits["1.3.0"].digest)
    assert event["gates"][0]["actual"] == 0.93
    assert event["time"] == "2023-11-14T22:13:20Z"  # SOURCE_DATE_EPOCH from the home fixture

    table = cli("stages", REPO).stdout.splitlines()
    assert table[0].split() == ["STAGE", "VERSION", "DIGEST", "SINCE", "BY", "LAST"]
    assert table[1].split()[:2] == ["production", "1.4.0"] and "bob" in table[1]
    assert table[2].split()[:2] == ["staging", "1.3.0"]
    listed = json.loads(cli("stages", REPO, "--json").stdout)
    assert [(s["stage"], s["digest"], s["actor"]) for s in listed] == [
        ("production", str(kits["1.4.0"].digest), "bob"),
        ("staging", str(kits["1.3.0"].digest), "ci"),
    ]

    back = json.loads(cli("rollback", REPO, "--stage", "production", "--reason", "f1 regression in 1.4.0",
                          "--actor", "carol", "--json").stdout)
    assert back["action"] == "rollback" and back["modelkit"]["digest"] == str(kits["1.3.0"].digest)

    hist = cli("history", REPO, "--stage", "production", "--verify")
    lines = hist.stdout.splitlines()
    assert lines[0].split()[:4] == ["SEQ", "TIME", "ACTION", "VERSION"]
    assert [line.split()[0] for line in lines[1:]] == ["3", "2", "1"]
    assert "carol" in lines[1] and "f1 regression in 1.4.0" in lines[1]
    assert "verified: 3 event(s)" in hist.stderr
    data = json.loads(cli("history", REPO, "--stage", "production", "--json").stdout)
    assert [e["actor"] for e in data["events"]] == ["carol", "bob", "alice"]
    assert data["events"][0]["previous"] == data["events"][1]["digest"]


def test_failed_gate_exits_3_and_changes_nothing(cli: Cli, kits: dict[str, Descriptor], home: Path) -> None:
    cli("promote", f"{REPO}:1.4.0", "--to", "production", "--new-stage", "--reason", "ok")
    index_before = (home / "store" / "index.json").read_bytes()
    result = cli("promote", f"{REPO}:1.5.0", "--to", "production", "--reason", "try",
                 "--require", "model.parameters.metrics.f1 >= 0.90", ok=False)
    assert result.exit_code == 3
    assert "model.parameters.metrics.f1 >= 0.9" in result.stderr and "0.85" in result.stderr
    assert "hint:" in result.stderr and "Traceback" not in result.stderr
    assert (home / "store" / "index.json").read_bytes() == index_before


def test_bad_expression_is_a_usage_error(cli: Cli, kits: dict[str, Descriptor]) -> None:
    result = cli("promote", f"{REPO}:1.4.0", "--to", "production", "--new-stage", "--reason", "x",
                 "--require", "model.f1 >= import os", ok=False)
    assert result.exit_code == 2
    assert "invalid gate expression" in result.stderr


def test_policy_forbids_skipping_staging(cli: Cli, kits: dict[str, Descriptor], tmp_path: Path) -> None:
    policy = tmp_path / "stages.yaml"
    policy.write_text("stages:\n  production:\n    from: staging\n")
    result = cli("promote", f"{REPO}:1.4.0", "--to", "production", "--reason", "skip", "--policy", str(policy),
                 ok=False)
    assert result.exit_code == 3 and "never held staging" in result.stderr
    cli("promote", f"{REPO}:1.4.0", "--to", "staging", "--new-stage", "--reason", "first", "--policy", str(policy))
    cli("promote", f"{REPO}:1.4.0", "--to", "production", "--reason", "then", "--policy", str(policy))


def test_history_of_unknown_stage_and_repository_with_tag(cli: Cli, kits: dict[str, Descriptor]) -> None:
    result = cli("history", REPO, "--stage", "production", ok=False)
    assert result.exit_code == 6 and "no history" in result.stderr
    result = cli("stages", f"{REPO}:1.4.0", ok=False)
    assert result.exit_code == 2 and "without a tag" in result.stderr
    result = cli("rollback", REPO, "--stage", "production", "--to", "nope", "--reason", "x", ok=False)
    assert result.exit_code == 2 and "not a digest" in result.stderr
    assert cli("stages", REPO, "--json").stdout.strip() == "[]"


def test_signed_history(cli: Cli, kits: dict[str, Descriptor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIKIT_PASSWORD", "")
    cli("keygen", "--output-prefix", str(tmp_path / "release"))
    cli("keygen", "--output-prefix", str(tmp_path / "other"))
    cli("promote", f"{REPO}:1.3.0", "--to", "production", "--new-stage", "--reason", "a", "--key", str(tmp_path / "release.key"))
    cli("promote", f"{REPO}:1.4.0", "--to", "production", "--reason", "b", "--key", str(tmp_path / "release.key"))
    data = json.loads(cli("history", REPO, "--stage", "production", "--verify", "--key",
                          str(tmp_path / "release.pub"), "--json").stdout)
    assert data["signaturesVerified"] and all(e["signatureVerified"] for e in data["events"])
    result = cli("history", REPO, "--stage", "production", "--verify", "--key", str(tmp_path / "other.pub"),
                 ok=False)
    assert result.exit_code == 3 and "event 2" in result.stderr


def test_promote_refuses_to_move_a_plain_tag(cli: Cli, kits: dict[str, Descriptor], home: Path) -> None:
    repo = LocalStore.at_home(home).repository(f"localhost/{REPO}")
    repo.tag(kits["1.3.0"], "latest")
    result = cli("promote", f"{REPO}:1.4.0", "--to", "latest", "--reason", "x", ok=False)
    assert result.exit_code == 2
    assert "tag 'latest' of acme/sentiment exists" in result.stderr and "--new-stage" in result.stderr
    assert repo.resolve("latest").digest == kits["1.3.0"].digest
    result = cli("promote", f"{REPO}:1.4.0", "--to", "staging", "--reason", "x", ok=False)
    assert result.exit_code == 2 and "'staging' is not a stage" in result.stderr
    cli("promote", f"{REPO}:1.4.0", "--to", "latest", "--new-stage", "--reason", "x")
    assert repo.resolve("latest").digest == kits["1.4.0"].digest


def test_rollback_to_the_short_digest_history_shows(cli: Cli, kits: dict[str, Descriptor]) -> None:
    cli("promote", f"{REPO}:1.3.0", "--to", "production", "--new-stage", "--reason", "a")
    cli("promote", f"{REPO}:1.4.0", "--to", "production", "--reason", "b")
    cli("promote", f"{REPO}:1.5.0", "--to", "production", "--reason", "c")
    rows = cli("history", REPO, "--stage", "production").stdout.splitlines()[1:]
    short = rows[-1].split()[4]
    assert short == kits["1.3.0"].digest.short
    back = json.loads(cli("rollback", REPO, "--stage", "production", "--to", short, "--reason", "r",
                          "--json").stdout)
    assert back["modelkit"]["digest"] == str(kits["1.3.0"].digest)
    result = cli("rollback", REPO, "--stage", "production", "--to", kits["1.5.0"].digest.hex[:9] + "x",
                 "--reason", "r", ok=False)
    assert result.exit_code == 2 and "not a digest" in result.stderr


def test_rollback_of_an_unknown_stage_hints_at_stages(cli: Cli, kits: dict[str, Descriptor]) -> None:
    result = cli("rollback", REPO, "--stage", "canary", "--reason", "x", ok=False)
    assert result.exit_code == 6 and "ocikit stages acme/sentiment" in result.stderr
    assert "ocikit list" not in result.stderr
