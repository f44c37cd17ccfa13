"""Gate expressions (parsed by hand, never eval'd) and the stage policy file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocikit._stages._event import check_stage_name
from ocikit._stages._gates import evaluate, load_policy, parse_expression
from ocikit.errors import GateError, UsageError

CONFIG = {
    "manifestVersion": "1.0.0",
    "package": {"name": "sentiment", "version": "1.4.0"},
    "model": {
        "name": "clf",
        "path": "model.joblib",
        "parameters": {"metrics": {"f1": 0.93, "auc": "0.97", "loss": -0.5, "ok": True, "note": None}},
    },
    "datasets": [{"name": "reviews", "path": "data.csv"}],
}


@pytest.mark.parametrize(
    ("text", "path", "op", "value"),
    [
        ("model.parameters.metrics.f1 >= 0.90", ("model", "parameters", "metrics", "f1"), ">=", 0.9),
        ("model.parameters.metrics.f1>=0.9", ("model", "parameters", "metrics", "f1"), ">=", 0.9),
        ("package.version == '1.4.0'", ("package", "version"), "==", "1.4.0"),
        ('package.version != "it\\"s"', ("package", "version"), "!=", 'it"s'),
        ("datasets.0.name == 'reviews'", ("datasets", "0", "name"), "==", "reviews"),
        ("model.parameters.metrics.loss < -0.1", ("model", "parameters", "metrics", "loss"), "<", -0.1),
        ("a.b <= 1e3", ("a", "b"), "<=", 1000.0),
        ("a > 3", ("a",), ">", 3),
        ("a.ok == true", ("a", "ok"), "==", True),
        ("a.n != null", ("a", "n"), "!=", None),
        ("my-metric.x == 1", ("my-metric", "x"), "==", 1),
    ],
)
def test_parse(text: str, path: tuple[str, ...], op: str, value: object) -> None:
    expr = parse_expression(text)
    assert expr.path == path
    assert expr.op == op
    assert expr.value == value and type(expr.value) is type(value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("model.f1", "operator"),
        ("model.f1 >=", "expected a number"),
        ("model.f1 => 0.9", "operator"),
        ("model.f1 >= 0.9 and 1", "unexpected"),
        ("__import__('os').system('x') == 1", "expected an operator"),
        ("model.f1 >= abc", "expected a number"),
        ("model.f1 == 'open", "unterminated"),
        ("package.version > '1.0'", "needs a number"),
        ("a.ok < true", "needs a number"),
        (".a == 1", "config path"),
        ("a..b == 1", "config path"),
        ("a == 1e999", "out of range"),
    ],
)
def test_parse_refuses(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_expression(text)
    assert fragment in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "passed", "actual"),
    [
        ("model.parameters.metrics.f1 >= 0.90", True, 0.93),
        ("model.parameters.metrics.f1 >= 0.95", False, 0.93),
        ("model.parameters.metrics.f1 > 0.93", False, 0.93),
        ("model.parameters.metrics.f1 == 0.93", True, 0.93),
        ("model.parameters.metrics.auc >= 0.95", True, "0.97"),  # a quoted number still compares
        ("model.parameters.metrics.loss < 0", True, -0.5),
        ("package.version == '1.4.0'", True, "1.4.0"),
        ("package.version != '1.4.0'", False, "1.4.0"),
        ("datasets.0.name == 'reviews'", True, "reviews"),
        ("model.parameters.metrics.ok == true", True, True),
        ("model.parameters.metrics.ok == 1", False, True),  # a boolean is not a number
        ("model.parameters.metrics.note == null", True, None),
        ("package.version >= 1", False, "1.4.0"),  # not a decimal number
    ],
)
def test_evaluate(text: str, passed: bool, actual: object) -> None:
    result = evaluate(parse_expression(text), CONFIG)
    assert result.passed is passed, result.detail
    assert result.actual == actual
    assert result.gate == parse_expression(text).text


def test_missing_path_fails_and_says_so() -> None:
    result = evaluate(parse_expression("model.parameters.metrics.recall >= 0.5"), CONFIG)
    assert not result.passed
    assert result.actual is None
    assert "not set" in result.detail
    result = evaluate(parse_expression("datasets.3.name == 'x'"), CONFIG)
    assert not result.passed and "not set" in result.detail
    result = evaluate(parse_expression("model.parameters >= 1"), CONFIG)
    assert not result.passed and "an object" in result.detail


def test_policy_file(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    path = tmp_path / "stages.yaml"
    path.write_text(
        "version: 1\n"
        "allow_unlisted: false\n"
        "stages:\n"
        "  staging:\n"
        "    require: model.parameters.metrics.f1 >= 0.8\n"
        "  production:\n"
        "    require:\n"
        "      - model.parameters.metrics.f1 >= 0.9\n"
        "      - package.version != '0.0.0'\n"
        "    from: [staging, shadow]\n"
        "    signed_by: keys/release.pub\n"
        "  shadow: {}\n"
    )
    policy = load_policy(path, stage_name_check=check_stage_name)
    prod = policy.for_stage("production")
    assert prod is not None
    assert [e.text for e in prod.require] == ["model.parameters.metrics.f1 >= 0.9", "package.version != '0.0.0'"]
    assert prod.from_stages == ("staging", "shadow")
    assert prod.signed_by == (tmp_path / "keys" / "release.pub",)
    staging = policy.for_stage("staging")
    assert staging is not None and len(staging.require) == 1
    with pytest.raises(GateError, match="does not allow stage 'canary'"):
        policy.for_stage("canary")


def test_policy_allows_unlisted_by_default(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("stages:\n  production:\n    from: staging\n")
    assert load_policy(path).for_stage("canary") is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("stages: [a]\n", "stages must map"),
        ("stagez: {}\n", "unknown key 'stagez'"),
        ("version: 2\n", "version must be 1"),
        ("stages:\n  production:\n    requires: x\n", "unknown key 'requires'"),
        ("stages:\n  production:\n    require: ['f1 >>= 1']\n", "stages.production.require[0]"),
        ("stages:\n  Production: {}\n", "invalid stage name 'Production'"),
        ("stages:\n  production:\n    from: [Staging]\n", "invalid stage name 'Staging'"),
        ("stages:\n  production:\n    from: 3\n", "from must be a string or a list"),
        ("stages: {a: [\n", "not valid YAML"),
        ("- 1\n", "top level must be a mapping"),
        # the hardened loader: a second 'production' must not silently replace the first
        ("stages:\n  production:\n    require: ['f1 >= 0.9']\n  production: {}\n", "duplicate key"),
        ("stages: !!python/object:os.system {}\n", "not valid YAML"),
    ],
)
def test_policy_refuses(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        load_policy(path, stage_name_check=check_stage_name)
    assert fragment in str(info.value)
    assert str(path) in str(info.value)


def test_policy_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read policy file"):
        load_policy(tmp_path / "nope.yaml")
