"""Params and metrics of one run in a local MLflow *file* tracking store, without the mlflow package.

The file store (mlflow/store/tracking/file_store.py) keeps a run at
``<mlruns>/<experiment_id>/<run_id>/`` with:

* ``meta.yaml`` — ``run_id``, ``experiment_id``, ``run_name``, ``lifecycle_stage``, ...
* ``params/<key>`` — the parameter's value, verbatim (MLflow params are strings).
* ``metrics/<key>`` — one line per logged value: ``<timestamp ms> <value> <step>`` (files written by
  MLflow before 1.0 have no step; it counts as 0).
* ``tags/<key>`` — tag values (``mlflow.runName`` names the run).

Keys may contain ``/`` (MLflow stores them as subdirectories); we keep them as one flat key
(``train/loss``). A metric's value is the one with the highest step, then the latest timestamp,
then the last line — what the MLflow UI shows as the latest value. Non-finite values (``nan``,
``inf``) cannot be written in a Kitfile's JSON and are kept as the strings MLflow wrote.

Metric files are read line by line (a long training run logs many values); params are small and
read whole up to :data:`MAX_VALUE_BYTES`. Nothing is followed outside the store: the run id must be
a plain name, and symbolic links inside the run directory are not followed.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocikit.errors import KitfileError, NotFoundError, UsageError

__all__ = ["MlflowRun", "read_run"]

log = logging.getLogger(__name__)

#: a param value is at most 6000 characters in MLflow; anything much larger is not a param
MAX_VALUE_BYTES = 1024 * 1024
#: a run with more keys than this is not something to put in a Kitfile
MAX_KEYS = 10_000
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,255}$")
_META_BYTES = 1024 * 1024


@dataclass(frozen=True)
class MlflowRun:
    run_id: str
    experiment_id: str
    run_name: str | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)  # float, or "nan"/"inf" as written

    def record(self) -> dict[str, Any]:
        """What goes into ``model.parameters.mlflow``."""
        out: dict[str, Any] = {"run_id": self.run_id, "experiment_id": self.experiment_id}
        if self.run_name:
            out["run_name"] = self.run_name
        return out


def _store_root(mlruns: str | os.PathLike[str]) -> Path:
    text = os.fspath(mlruns)
    if text.startswith("file://"):
        text = text[len("file://"):]
    elif text.startswith("file:"):
        text = text[len("file:"):]
    root = Path(text)
    if not root.is_dir():
        raise NotFoundError(f"MLflow tracking directory {root} does not exist",
                            hint="pass the mlruns directory with --mlflow-dir (file store only, not a server URI)")
    return root


def _find_run(root: Path, run_id: str) -> Path:
    found = []
    for experiment in sorted(root.iterdir(), key=lambda p: p.name):
        if experiment.name.startswith(".") or not experiment.is_dir():  # .trash holds deleted runs
            continue
        candidate = experiment / run_id
        if candidate.is_dir() and not candidate.is_symlink() and (candidate / "meta.yaml").is_file():
            found.append(candidate)
    if not found:
        raise NotFoundError(f"MLflow run {run_id} not found in {root}",
                            hint="check the run id (mlflow runs list) and --mlflow-dir")
    if len(found) > 1:
        raise UsageError(f"MLflow run id {run_id} appears in several experiments of {root}: "
                         + ", ".join(p.parent.name for p in found))
    return found[0]


def _read_small(path: Path, what: str) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    with open(fd, "rb") as f:
        data = f.read(MAX_VALUE_BYTES + 1)
    if len(data) > MAX_VALUE_BYTES:
        raise KitfileError(f"{path}: {what} is larger than {MAX_VALUE_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise KitfileError(f"{path}: {what} is not UTF-8 text") from e


def _files(directory: Path) -> Iterator[tuple[str, Path]]:
    """(key, file) below ``directory``; keys with ``/`` are subdirectories. Links are not followed."""
    if not directory.is_dir() or directory.is_symlink():
        return
    stack = [(directory, "")]
    count = 0
    while stack:
        current, prefix = stack.pop()
        for entry in sorted(os.scandir(current), key=lambda e: e.name, reverse=True):
            key = f"{prefix}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                stack.append((Path(entry.path), key + "/"))
            elif entry.is_file(follow_symlinks=False):
                count += 1
                if count > MAX_KEYS:
                    raise KitfileError(f"{directory}: more than {MAX_KEYS} entries")
                yield key, Path(entry.path)
            else:
                log.warning("skipping %s: not a regular file", entry.path)


def _metric_value(text: str) -> Any:
    value = float(text)
    if math.isfinite(value):
        return value
    return text.strip().lower()


def _last_metric(path: Path) -> Any:
    """The value with the highest (step, timestamp); the last such line wins."""
    best: tuple[int, int] | None = None
    value: Any = None
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    with open(fd, encoding="utf-8", errors="strict") as f:
        for number, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                if len(parts) not in (2, 3):
                    raise ValueError("expected 'timestamp value step'")
                timestamp = int(parts[0])
                current = _metric_value(parts[1])
                step = int(parts[2]) if len(parts) == 3 else 0
            except ValueError as e:
                raise KitfileError(f"{path}:{number}: not an MLflow metric line ({e})") from e
            if best is None or (step, timestamp) >= best:
                best, value = (step, timestamp), current
    return value


def _meta(path: Path) -> dict[str, Any]:
    from ocikit._kitfile._yaml import parse_parameters

    # the same hardened YAML loader as Kitfiles and policy files (duplicate keys are errors)
    meta = parse_parameters(_read_small(path, "meta.yaml")[:_META_BYTES], str(path / "meta.yaml"))
    return meta if isinstance(meta, dict) else {}


def read_run(run_id: str, mlruns: str | os.PathLike[str] = "mlruns") -> MlflowRun:
    """Params and latest metrics of ``run_id`` in the file store at ``mlruns``."""
    if not _RUN_ID.match(run_id):
        raise UsageError(f"{run_id!r} is not an MLflow run id", hint="run ids are hex strings like 3f2a...")
    root = _store_root(mlruns)
    run_dir = _find_run(root, run_id)
    meta = _meta(run_dir / "meta.yaml")
    if meta.get("lifecycle_stage") == "deleted":
        log.warning("MLflow run %s is marked deleted", run_id)
    params = {key: _read_small(path, f"param {key}") for key, path in _files(run_dir / "params")}
    metrics = {key: _last_metric(path) for key, path in _files(run_dir / "metrics")}
    run_name = meta.get("run_name")
    if not isinstance(run_name, str) or not run_name:
        tag = run_dir / "tags" / "mlflow.runName"
        run_name = _read_small(tag, "tag mlflow.runName") if tag.is_file() and not tag.is_symlink() else None
    log.info("read MLflow run %s: %d params, %d metrics", run_id, len(params), len(metrics))
    return MlflowRun(run_id, run_dir.parent.name, run_name or None, dict(sorted(params.items())),
                     dict(sorted(metrics.items())))
