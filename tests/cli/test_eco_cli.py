"""ocikit diff, lineage, completion and version through the real CLI (ModelKits packed for real)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Cli  # type: ignore[import-not-found]


def _project(root: Path, *, version: str, accuracy: float, rows: list[str], parent: str | None = None,
             extra_code: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "train.csv").write_text("text,label\n" + "".join(f"{r}\n" for r in rows))
    (root / "data" / "labels.txt").write_text("negative\npositive\n")
    (root / "train.py").write_text("print('train')\n")
    model_path = parent or "model.bin"
    if parent is None:
        (root / "model.bin").write_bytes(b"weights for " + version.encode())
    code = "code:\n  - path: train.py\n"
    if extra_code:
        (root / "evaluate.py").write_text("print('evaluate')\n")
        code += "  - path: evaluate.py\n"
    (root / "Kitfile").write_text(
        "manifestVersion: 1.0.0\n"
        f"package:\n  name: sentiment\n  version: {version}\n"
        f"model:\n  name: clf\n  path: {model_path}\n"
        f"  parameters:\n    metrics:\n      accuracy: {accuracy}\n"
        f"{code}"
        "datasets:\n  - name: reviews\n    path: data\n"
    )
    return root


@pytest.fixture
def two_versions(cli: Cli, tmp_path: Path) -> Cli:
    v1 = _project(tmp_path / "v1", version="1.0.0", accuracy=0.9, rows=["good,1", "bad,0"])
    v2 = _project(tmp_path / "v2", version="1.1.0", accuracy=0.95, rows=["good,1", "bad,0", "fine,1"],
                  extra_code=True)
    cli("pack", str(v1), "-t", "acme/sentiment:1.0.0")
    cli("pack", str(v2), "-t", "acme/sentiment:1.1.0")
    return cli


def test_diff_json_reports_fields_layers_and_files(two_versions: Cli) -> None:
    out = json.loads(two_versions("diff", "acme/sentiment:1.0.0", "acme/sentiment:1.1.0", "--json").stdout)
    assert out["identical"] is False
    assert out["sameConfig"] is False
    fields = {f["path"]: f for f in out["fields"]}
    assert fields["package.version"]["old"] == "1.0.0" and fields["package.version"]["new"] == "1.1.0"
    assert fields["model.parameters.metrics.accuracy"]["old"] == 0.9
    assert fields["model.parameters.metrics.accuracy"]["new"] == 0.95
    assert fields["code[evaluate.py].path"]["change"] == "added"
    layers = {(layer["kind"], layer["key"]): layer for layer in out["layers"]}
    assert layers[("code", "train.py")]["status"] == "same"
    assert layers[("code", "evaluate.py")]["status"] == "added"
    assert layers[("model", "model")]["status"] == "changed"
    dataset = layers[("dataset", "reviews")]
    assert dataset["status"] == "changed"
    # from the SBOMs pack attached: only the CSV changed, labels.txt did not
    assert dataset["files"] == {"added": [], "removed": [], "modified": ["data/train.csv"]}
    assert dataset["b"]["size"] >= dataset["a"]["size"]


def test_diff_table(two_versions: Cli) -> None:
    out = two_versions("diff", "acme/sentiment:1.0.0", "acme/sentiment:1.1.0").stdout
    assert "config: different" in out
    assert "model.parameters.metrics.accuracy" in out and "0.95" in out
    lines = out.splitlines()
    layer_rows = {line.split()[2]: line.split()[0] for line in lines
                  if line.strip().split(" ")[0] in ("same", "changed", "added", "removed")}
    assert layer_rows["evaluate.py"] == "added"
    assert layer_rows["train.py"] == "same"
    assert layer_rows["data"] == "changed"
    assert "modified  data/train.csv" in out


def test_diff_identical(two_versions: Cli) -> None:
    two_versions("tag", "acme/sentiment:1.0.0", "acme/sentiment:stable")
    out = two_versions("diff", "acme/sentiment:1.0.0", "acme/sentiment:stable").stdout
    assert "ModelKits are identical." in out
    data = json.loads(two_versions("diff", "acme/sentiment:1.0.0", "acme/sentiment:stable", "--json").stdout)
    assert data["identical"] is True and data["fields"] == []
    assert {layer["status"] for layer in data["layers"]} == {"same"}


def test_diff_missing_reference_is_exit_6(two_versions: Cli) -> None:
    result = two_versions("diff", "acme/sentiment:1.0.0", "acme/sentiment:9.9.9", ok=False)
    assert result.exit_code == 6
    assert "9.9.9" in result.stderr
    assert "Traceback" not in result.stderr


def test_diff_bad_reference_is_a_usage_error(cli: Cli) -> None:
    result = cli("diff", "Not A Reference", "acme/x:1", ok=False)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid reference")


def test_lineage_tree_and_json(cli: Cli, tmp_path: Path) -> None:
    cli("pack", str(_project(tmp_path / "v1", version="1.0.0", accuracy=0.9, rows=["a,1"])),
        "-t", "acme/sentiment:1.0.0")
    cli("pack", str(_project(tmp_path / "v2", version="2.0.0", accuracy=0.8, rows=["b,1"])),
        "-t", "acme/sentiment:2.0.0")
    # 1.1.0 derives from 1.0.0 (model.path is its reference) and keeps its dataset
    cli("pack", str(_project(tmp_path / "v11", version="1.1.0", accuracy=0.93, rows=["a,1"],
                             parent="acme/sentiment:1.0.0")), "-t", "acme/sentiment:1.1.0")

    data = json.loads(cli("lineage", "acme/sentiment", "--json").stdout)
    by_tag = {v["tags"][0]: v for v in data["versions"]}
    assert sorted(by_tag) == ["1.0.0", "1.1.0", "2.0.0"]
    assert by_tag["1.1.0"]["parent"] == "acme/sentiment:1.0.0"
    assert by_tag["1.1.0"]["parentDigest"] == by_tag["1.0.0"]["digest"]
    assert data["edges"] == [{"parent": by_tag["1.0.0"]["digest"], "child": by_tag["1.1.0"]["digest"]}]
    shared = {(s["kind"], s["key"]): set(s["versions"]) for s in data["shared"]}
    assert shared[("dataset", "reviews")] == {by_tag["1.0.0"]["digest"], by_tag["1.1.0"]["digest"]}
    assert shared[("code", "train.py")] == {v["digest"] for v in data["versions"]}

    out = cli("lineage", "acme/sentiment").stdout.splitlines()
    assert out[0] == "acme/sentiment"
    one = next(i for i, line in enumerate(out) if line.startswith(("├── 1.0.0", "└── 1.0.0")))
    assert out[one + 1].lstrip("│ ").startswith("└── 1.1.0")  # the child, indented under its parent
    assert any(line.startswith(("├── 2.0.0", "└── 2.0.0")) for line in out)
    assert "shared layers" in out


def test_lineage_wants_a_repository(cli: Cli) -> None:
    result = cli("lineage", "acme/sentiment:1.0.0", ok=False)
    assert result.exit_code == 2
    assert "without a tag" in result.stderr


def test_lineage_of_an_empty_repository(cli: Cli) -> None:
    out = cli("lineage", "acme/nothing").stdout
    assert "(no ModelKits)" in out


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(cli: Cli, shell: str) -> None:
    out = cli("completion", shell).stdout
    assert "_OCIKIT_COMPLETE" in out
    assert {"bash": "complete -o", "zsh": "#compdef ocikit", "fish": "complete --no-files"}[shell] in out


def test_completion_script_completes_commands_for_real() -> None:
    # What the bash script runs on <TAB>: the console entry point with the completion variable.
    env = {**os.environ, "COMP_WORDS": "ocikit lin", "COMP_CWORD": "1", "_OCIKIT_COMPLETE": "bash_complete"}
    done = subprocess.run([sys.executable, "-m", "ocikit"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["plain,lineage"]


def test_completion_rejects_unknown_shells(cli: Cli) -> None:
    result = cli("completion", "powershell", ok=False)
    assert result.exit_code == 2


def test_version(cli: Cli) -> None:
    import ocikit

    out = cli("version").stdout
    assert out.splitlines()[0] == f"ocikit {ocikit.__version__}"
    assert "python " in out
    data = json.loads(cli("version", "--json").stdout)
    assert data["version"] == ocikit.__version__
    assert data["dependencies"]["click"]
    assert cli("--version").stdout.strip().endswith(ocikit.__version__)
