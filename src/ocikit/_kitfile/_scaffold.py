"""``ocikit init``: draft a Kitfile for a directory and write it, with parameters and metrics.

What goes in which section is ``_classify`` (KitOps' detection rules) and ``_license``; this module
turns that draft into a validated :class:`Kitfile`, merges ``--params``/``--metrics`` files and an
MLflow run into ``model.parameters``, and writes the ``Kitfile`` atomically.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocikit._io._files import write_atomic
from ocikit._io._json import refuse_duplicate_keys
from ocikit._kitfile._classify import classify
from ocikit._kitfile._model import Kitfile, check_json
from ocikit._kitfile._yaml import MAX_KITFILE_BYTES, parse_parameters
from ocikit.errors import KitfileError, TargetExistsError

if TYPE_CHECKING:
    from ocikit._kitfile._mlflow import MlflowRun

__all__ = ["generate_kitfile", "init"]

log = logging.getLogger(__name__)


def generate_kitfile(
    directory: str | os.PathLike[str],
    *,
    name: str | None = None,
    description: str | None = None,
    author: str | None = None,
) -> Kitfile:
    """A Kitfile describing ``directory`` (paths relative to it), following kit's ``init`` rules."""
    root = Path(directory)
    if not root.is_dir():
        raise KitfileError(f"{root} is not a directory", hint="pass the project directory to initialise")
    draft = classify(root)
    license_id = draft.license_id

    package: dict[str, Any] = {"name": name or None, "description": description or None,
                               "authors": [author] if author else None}
    if license_id:
        if draft.model is not None:
            draft.model["license"] = license_id
        elif len(draft.datasets) == 1:
            draft.datasets[0]["license"] = license_id
        elif len(draft.code) == 1:
            draft.code[0]["license"] = license_id
        else:
            package["license"] = license_id

    doc: dict[str, Any] = {"manifestVersion": "1.0.0", "package": package, "model": draft.model,
                           "code": draft.code or None, "datasets": draft.datasets or None,
                           "docs": draft.docs or None, "prompts": draft.prompts or None,
                           "mcpServers": draft.mcp_servers or None}
    return Kitfile.from_dict(doc, source=f"generated Kitfile for {root}")


def _load_json_or_yaml(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_KITFILE_BYTES + 1)
    except OSError as e:
        raise KitfileError(f"{path}: cannot read: {e.strerror or e}") from e
    if len(data) > MAX_KITFILE_BYTES:
        raise KitfileError(f"{path}: larger than {MAX_KITFILE_BYTES // (1024 * 1024)} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise KitfileError(f"{path}: not UTF-8 text") from e
    if path.suffix.lower() == ".json":
        pairs = refuse_duplicate_keys(lambda message: KitfileError(f"{path}: {message}"))

        def constant(name: str) -> Any:
            raise KitfileError(f"{path}: {name} cannot be represented in a Kitfile")

        try:
            value = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
        except json.JSONDecodeError as e:
            raise KitfileError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from e
        except RecursionError as e:
            raise KitfileError(f"{path}: invalid JSON: nested too deeply") from e
        return check_json(value, str(path), ())
    return parse_parameters(text, str(path))


def _with_parameters(kitfile: Kitfile, params: Any, metrics: Any, *, has_metrics: bool,
                     run: MlflowRun | None = None) -> Kitfile:
    """Merge into ``model.parameters``: the MLflow run's params, then the --params file (wins);
    metrics under ``metrics`` (the run's, then the --metrics file: merged when both are mappings,
    else the file replaces them); the run's id under ``mlflow``."""
    from dataclasses import replace

    from ocikit._kitfile._elements import Model

    model = kitfile.model or Model()
    merged: dict[str, Any] = {}
    if isinstance(model.parameters, dict):
        merged.update(model.parameters)
    if run is not None:
        merged.update(run.params)
    if params is not None:
        if not isinstance(params, dict):
            raise KitfileError("the --params file must hold a mapping (key: value) at the top level")
        merged.update(params)
    if run is not None and run.metrics:
        merged["metrics"] = dict(run.metrics)
    if has_metrics:
        if isinstance(metrics, dict) and isinstance(merged.get("metrics"), dict):
            merged["metrics"] = {**merged["metrics"], **metrics}
        else:
            merged["metrics"] = metrics
    if run is not None:
        merged["mlflow"] = run.record()
    return replace(kitfile, model=replace(model, parameters=merged))


def init(
    directory: str | os.PathLike[str],
    *,
    name: str | None = None,
    description: str | None = None,
    author: str | None = None,
    force: bool = False,
    metrics_file: str | os.PathLike[str] | None = None,
    params_file: str | os.PathLike[str] | None = None,
    mlflow_run: str | None = None,
    mlflow_dir: str | os.PathLike[str] = "mlruns",
) -> Path:
    """Write ``<directory>/Kitfile`` generated from the directory; refuse to overwrite unless ``force``.

    ``name`` defaults to the directory's name. ``params_file`` (a JSON/YAML mapping) is merged into
    ``model.parameters``; ``metrics_file`` goes to ``model.parameters.metrics``. ``mlflow_run``
    reads that run's params and latest metrics from the MLflow file store ``mlflow_dir`` (no mlflow
    package needed, ``_mlflow``) into the same places, and records ``model.parameters.mlflow``
    (``run_id``, ``experiment_id``, ``run_name``); the files given explicitly win. Returns the path.
    """
    root = Path(directory)
    if not root.is_dir():
        raise KitfileError(f"{root} is not a directory", hint="pass the project directory to initialise")
    target = root / "Kitfile"
    if os.path.lexists(target) and not force:
        raise TargetExistsError(f"{target} already exists", hint="pass --force to replace it")
    params = _load_json_or_yaml(Path(params_file)) if params_file is not None else None
    metrics = _load_json_or_yaml(Path(metrics_file)) if metrics_file is not None else None
    run = None
    if mlflow_run is not None:
        from ocikit._kitfile._mlflow import read_run

        run = read_run(mlflow_run, mlflow_dir)
    kitfile = generate_kitfile(root, name=name or root.resolve().name, description=description, author=author)
    if not kitfile.layer_elements():
        raise KitfileError(f"{root} has no files to put in a ModelKit; no Kitfile was written",
                           hint="run 'ocikit init' in the project directory, next to the model's files")
    if params_file is not None or metrics_file is not None or run is not None:
        kitfile = _with_parameters(kitfile, params, metrics, has_metrics=metrics_file is not None, run=run)
    text = kitfile.to_yaml()
    Kitfile.loads(text, source=str(target))  # what we write must read back
    try:
        write_atomic(target, text.encode("utf-8"), mode=0o644, overwrite=force)
    except FileExistsError as e:  # appeared after the check above
        raise TargetExistsError(f"{target} already exists", hint="pass --force to replace it") from e
    log.info("wrote %s", target)
    return target
