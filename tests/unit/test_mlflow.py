"""Reading an MLflow file store (no mlflow package) and `ocikit init --mlflow-run/--params/--metrics`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ocikit._kitfile._mlflow import read_run
from ocikit._kitfile._model import Kitfile
from ocikit._kitfile._scaffold import init
from ocikit.errors import KitfileError, NotFoundError, UsageError

RUN = "3f2a9c0d1e2b4a5f8c7d6e5f4a3b2c1d"


def _mlruns(root: Path, run_id: str = RUN, experiment: str = "1", *, name: str | None = "brave-owl-42") -> Path:
    """A file store as MLflow 2.x writes it."""
    exp = root / experiment
    exp.mkdir(parents=True, exist_ok=True)
    (exp / "meta.yaml").write_text(f"experiment_id: '{experiment}'\nname: sentiment\nlifecycle_stage: active\n")
    run = exp / run_id
    (run / "params").mkdir(parents=True)
    (run / "metrics" / "train").mkdir(parents=True)
    (run / "tags").mkdir()
    meta = f"run_id: {run_id}\nexperiment_id: '{experiment}'\nstatus: 3\nlifecycle_stage: active\n"
    if name:
        meta += f"run_name: {name}\n"
    (run / "meta.yaml").write_text(meta)
    (run / "params" / "C").write_text("4")
    (run / "params" / "optimizer").write_text("adam")
    (run / "params" / "note").write_text("two words: yes")
    # steps out of order: the highest step wins, not the last line
    (run / "metrics" / "accuracy").write_text(
        "1700000000000 0.80 0\n1700000003000 0.91 2\n1700000002000 0.85 1\n")
    # same step twice: the newer timestamp wins
    (run / "metrics" / "f1").write_text("1700000005000 0.70 3\n1700000004000 0.60 3\n")
    (run / "metrics" / "train" / "loss").write_text("1700000000000 1.5 0\n1700000001000 0.25 1\n")
    (run / "metrics" / "old").write_text("1500000000000 7\n1500000001000 8\n")  # MLflow < 1.0: no step
    (run / "metrics" / "diverged").write_text("1700000000000 nan 0\n")
    (run / "tags" / "mlflow.runName").write_text(name or "from-tag")
    return root


def test_read_run_params_and_latest_metrics(tmp_path: Path) -> None:
    run = read_run(RUN, _mlruns(tmp_path / "mlruns"))
    assert run.params == {"C": "4", "note": "two words: yes", "optimizer": "adam"}
    assert run.metrics == {"accuracy": 0.91, "diverged": "nan", "f1": 0.70, "old": 8.0, "train/loss": 0.25}
    assert run.record() == {"run_id": RUN, "experiment_id": "1", "run_name": "brave-owl-42"}


def test_run_name_from_the_tag_when_meta_has_none(tmp_path: Path) -> None:
    run = read_run(RUN, _mlruns(tmp_path / "mlruns", name=None))
    assert run.run_name == "from-tag"


def test_errors_name_the_run_and_the_store(tmp_path: Path) -> None:
    store = _mlruns(tmp_path / "mlruns")
    with pytest.raises(NotFoundError, match="MLflow run 0123 not found"):
        read_run("0123", store)
    with pytest.raises(NotFoundError, match="does not exist"):
        read_run(RUN, tmp_path / "nowhere")
    for bad in ("../1", "a/b", "", ".hidden"):
        with pytest.raises(UsageError, match="not an MLflow run id"):
            read_run(bad, store)
    (store / "1" / RUN / "metrics" / "broken").write_text("1700000000000 0.5 0\nnot a metric\n")
    with pytest.raises(KitfileError, match=r"broken:2: not an MLflow metric line"):
        read_run(RUN, store)


def test_trash_is_ignored_and_ambiguous_ids_are_refused(tmp_path: Path) -> None:
    store = _mlruns(tmp_path / "mlruns")
    _mlruns(store / ".trash", experiment="9")  # deleted experiment: not a candidate
    assert read_run(RUN, store).experiment_id == "1"
    _mlruns(store, experiment="2")
    with pytest.raises(UsageError, match="several experiments"):
        read_run(RUN, store)


def test_file_uri_is_accepted(tmp_path: Path) -> None:
    store = _mlruns(tmp_path / "mlruns")
    assert read_run(RUN, f"file://{store}").params["C"] == "4"


def test_symlinked_param_is_not_followed(tmp_path: Path) -> None:
    store = _mlruns(tmp_path / "mlruns")
    secret = tmp_path / "secret"
    secret.write_text("do not read")
    (store / "1" / RUN / "params" / "leak").symlink_to(secret)
    assert "leak" not in read_run(RUN, store).params


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "model.onnx").write_bytes(b"onnx")
    return project


def test_init_records_the_run_and_files_win_on_clashes(tmp_path: Path) -> None:
    store = _mlruns(tmp_path / "mlruns")
    project = _project(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text("C: 8\nbatch: 32\n")
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"accuracy": 0.95, "auc": 0.97}))
    path = init(project, mlflow_run=RUN, mlflow_dir=store, params_file=params, metrics_file=metrics)
    kitfile = Kitfile.load(path)
    assert kitfile.model is not None
    parameters: dict[str, Any] = kitfile.model.parameters
    assert parameters["C"] == 8 and parameters["batch"] == 32 and parameters["optimizer"] == "adam"
    assert parameters["metrics"] == {"accuracy": 0.95, "auc": 0.97, "diverged": "nan", "f1": 0.7, "old": 8.0,
                                     "train/loss": 0.25}
    assert parameters["mlflow"] == {"run_id": RUN, "experiment_id": "1", "run_name": "brave-owl-42"}


def test_cli_init_mlflow_and_the_documented_flag_names(cli: Any, tmp_path: Path) -> None:
    store = _mlruns(tmp_path / "mlruns")
    project = _project(tmp_path)
    cli("init", str(project), "--mlflow-run", RUN, "--mlflow-dir", str(store))
    kitfile = Kitfile.load(project / "Kitfile")
    assert kitfile.model is not None
    assert kitfile.model.parameters["mlflow"]["run_id"] == RUN
    assert kitfile.model.parameters["metrics"]["accuracy"] == 0.91

    metrics = tmp_path / "m.yaml"
    metrics.write_text("accuracy: 0.5\n")
    params = tmp_path / "p.json"
    params.write_text('{"lr": 0.1}')
    cli("init", str(project), "--metrics", str(metrics), "--params", str(params), "--force")
    parameters = Kitfile.load(project / "Kitfile").model.parameters  # type: ignore[union-attr]
    assert parameters == {"lr": 0.1, "metrics": {"accuracy": 0.5}}

    # the old names still work, are hidden, and cannot be combined with the new ones
    cli("init", str(project), "--metrics-file", str(metrics), "--force")
    help_text = cli("init", "--help").stdout
    assert "--metrics FILE" in help_text and "--mlflow-run RUN_ID" in help_text
    assert "--metrics-file" not in help_text
    # errors go through the CLI's one error boundary (exit code from the class, no traceback)
    both = cli("init", str(project), "--metrics", str(metrics), "--metrics-file", str(metrics), "--force", ok=False)
    assert both.exit_code == UsageError.exit_code and "give only one" in both.stderr
    missing = cli("init", str(project), "--mlflow-run", "abc123", "--mlflow-dir", str(store), "--force", ok=False)
    assert missing.exit_code == NotFoundError.exit_code and "MLflow run abc123 not found" in missing.stderr


def test_a_meta_yaml_with_a_duplicate_key_is_refused(tmp_path: Path) -> None:
    """meta.yaml goes through the hardened loader: a repeated run_name is an error, not 'last wins'."""
    root = tmp_path / "mlruns"
    (root / "0" / "abc123").mkdir(parents=True)
    (root / "0" / "abc123" / "meta.yaml").write_text("run_id: abc123\nrun_name: a\nrun_name: b\n")
    with pytest.raises(KitfileError, match="duplicate key"):
        read_run("abc123", root)
