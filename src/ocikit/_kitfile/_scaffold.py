"""Generate a Kitfile from a directory's contents (``ocikit init``), with KitOps' detection rules.

Rules (``kitops-format.md`` §4.13; kit ``pkg/lib/kitfile/generate/generate.go``, v1.7):

* Top-level files: ``Kitfile``/``kitfile``/``.kitfile`` skipped; names starting (case-insensitive)
  with ``readme`` → docs "Readme file"; with ``license`` → docs "License file" + license detection.
* Otherwise by suffix, in this order: model weights; metadata (``.json .yaml .xml .txt``) → model
  parts if any model file exists, else datasets; docs; datasets; anything else → one catch-all
  ``code`` layer ``.`` that replaces every other code entry.
* Top-level directories: ``docs`` → docs; ``src``, ``pkg``, ``lib``, ``build`` → code; otherwise
  classified by their immediate files (sub-directories count as unknown): only model files (plus
  metadata) → the files become model files; only datasets → dataset; only docs → docs; anything
  else → code. More than 5 such code directories → the catch-all ``.`` instead.
* Several model files: the largest becomes ``model.path`` (named after it) if it is more than 1.5×
  the average size, the rest parts; otherwise the first one is the model (no name) and the rest
  parts, in order. A single model file: ``name`` = its path without the extension.
* A detected license goes to the model, else the single dataset, else the single code layer, else
  the package.

Deliberate additions to kit's rules, for the obvious cases kit gets wrong: dependency manifests
(``requirements.txt``, ``pyproject.toml``, ``environment.yml``, ...) are code; a directory holding
only metadata files (a ``tokenizer/``, SentencePiece ``tokenizer.model`` included) is a model part
when there is a model; ``data/``, ``dataset/``, ``datasets/`` and files ``.jsonl .tsv .arrow
.feather .avro .orc`` are datasets.

Directory paths get a trailing ``/`` (as current kit writes them). Deliberate differences from kit:
symlinks and OS litter (``.DS_Store``, ``Thumbs.db``, ``desktop.ini``), ``.kitignore`` and VCS
directories (``.git``, ``.hg``, ``.svn``) are not classified, so they never force a catch-all layer.
License detection is a small heuristic over the file's text (``SPDX-License-Identifier`` or the
well-known license titles/phrases), used only when exactly one license matches, as kit does.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocikit._io._files import write_atomic
from ocikit._kitfile._model import DEFAULT_KITFILE_NAMES, MAX_KITFILE_BYTES, Kitfile, _check_json, parse_parameters
from ocikit.errors import KitfileError, TargetExistsError

if TYPE_CHECKING:
    from ocikit._kitfile._mlflow import MlflowRun

__all__ = ["detect_license", "generate_kitfile", "init"]

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (
    ".safetensors", ".pkl", ".joblib",
    ".bin", ".pth", ".pt", ".mar", ".pt2", ".ptl",  # PyTorch
    ".pb", ".ckpt", ".tflite", ".tfrecords",  # TensorFlow
    ".npy", ".npz",  # NumPy
    ".keras", ".h5", ".caffemodel", ".pmml", ".coreml",
    ".gguf", ".ggml", ".ggmf", ".llamafile", ".onnx",
)
METADATA_SUFFIXES = (".json", ".yaml", ".xml", ".txt")
DOCS_SUFFIXES = (".md", ".adoc", ".html", ".pdf")
DATASET_SUFFIXES = (".tar", ".zip", ".parquet", ".csv")
CODE_DIRS = ("src", "pkg", "lib", "build")
# Deliberate additions to kit's rules (see the module docstring).
#: Dependency manifests: code, never a model part or a dataset.
DEPENDENCY_FILES = frozenset({"requirements.txt", "requirements-dev.txt", "constraints.txt", "environment.yml",
                              "environment.yaml", "conda.yaml", "pyproject.toml", "setup.py", "setup.cfg",
                              "pipfile", "pipfile.lock", "poetry.lock", "uv.lock"})
#: Tokenizer files that are not JSON or text: metadata, like tokenizer.json.
TOKENIZER_FILES = frozenset({"tokenizer.model", "spiece.model", "sentencepiece.bpe.model"})
#: Tabular and record formats kit does not list; directories named like data: datasets.
EXTRA_DATASET_SUFFIXES = (".jsonl", ".tsv", ".arrow", ".feather", ".avro", ".orc")
DATASET_DIRS = ("data", "dataset", "datasets")
_SKIP_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", ".kitignore", *DEFAULT_KITFILE_NAMES})
_SKIP_DIRS = frozenset({".git", ".hg", ".svn"})

# File types, in kit's enumeration order (the order matters for directory classification).
MODEL, DATASET, CODE, DOCS, METADATA, UNKNOWN = range(6)


def _file_type(name: str) -> int:
    if name.lower() in TOKENIZER_FILES:
        return METADATA
    if name.endswith(EXTRA_DATASET_SUFFIXES):
        return DATASET
    if name.endswith(MODEL_SUFFIXES):
        return MODEL
    if name.endswith(METADATA_SUFFIXES):
        return METADATA
    if name.endswith(DOCS_SUFFIXES):
        return DOCS
    if name.endswith(DATASET_SUFFIXES):
        return DATASET
    return UNKNOWN


@dataclass(frozen=True)
class _File:
    name: str
    path: str  # relative to the context, '/'-separated
    size: int


@dataclass
class _Draft:
    docs: list[dict[str, Any]] = field(default_factory=list)
    code: list[dict[str, Any]] = field(default_factory=list)
    datasets: list[dict[str, Any]] = field(default_factory=list)
    model: dict[str, Any] | None = None


def _entries(directory: Path) -> tuple[list[_File], list[tuple[str, Path]]]:
    """Regular files and directories directly in ``directory``, sorted by name (as Go's ReadDir)."""
    files: list[_File] = []
    dirs: list[tuple[str, Path]] = []
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        raise KitfileError(f"cannot read directory {directory}: {e.strerror or e}") from e
    for entry in entries:
        if entry.is_symlink():
            continue
        if entry.is_dir(follow_symlinks=False):
            if entry.name not in _SKIP_DIRS:
                dirs.append((entry.name, Path(entry.path)))
        elif entry.is_file(follow_symlinks=False) and entry.name not in _SKIP_FILES:
            files.append(_File(entry.name, entry.name, entry.stat(follow_symlinks=False).st_size))
    return files, dirs


def _go_ext(name: str) -> str:
    """Go ``filepath.Ext``: from the last dot of the base name."""
    i = name.rfind(".")
    return name[i:] if i >= 0 else ""


def _model_entry(files: list[_File]) -> dict[str, Any]:
    if len(files) == 1:
        f = files[0]
        return {"name": f.path[: len(f.path) - len(_go_ext(f.name))], "path": f.path}
    largest = max(files, key=lambda f: f.size)  # first of the largest, as kit's strict '>' loop
    average = sum(f.size for f in files) // len(files)
    if largest.size > average + average // 2:
        return {"name": largest.path[: len(largest.path) - len(_go_ext(largest.name))], "path": largest.path,
                "parts": [{"path": f.path} for f in files if f is not largest]}
    return {"path": files[0].path, "parts": [{"path": f.path} for f in files[1:]]}


_UNHANDLED, _HANDLED, _METADATA_DIR = range(3)


def _classify_dir(draft: _Draft, name: str, path: Path) -> tuple[list[_File], int]:
    """Returns (model files found, outcome). Unhandled directories become code layers; a
    directory of metadata only (a tokenizer, a config set) becomes a model part when there is a
    model, else code (kit's rule)."""
    rel = name + "/"
    if name == "docs":
        draft.docs.append({"path": rel})
        return [], _HANDLED
    if name in CODE_DIRS:
        draft.code.append({"path": rel})
        return [], _HANDLED
    if name.lower() in DATASET_DIRS:
        draft.datasets.append({"path": rel})
        return [], _HANDLED
    files, subdirs = _entries(path)
    contents: list[list[str]] = [[] for _ in range(UNKNOWN + 1)]
    for sub, _ in subdirs:
        contents[UNKNOWN].append(sub)
    model_files: list[_File] = []
    metadata: list[_File] = []
    for f in files:
        f = _File(f.name, f"{name}/{f.name}", f.size)
        t = _file_type(f.name)
        if t == MODEL:
            model_files.append(f)
        elif t == METADATA:
            metadata.append(f)
        contents[t].append(f.path)
    overall = UNKNOWN
    mixed = False
    for t, entries in enumerate(contents):
        if entries and t != METADATA:
            if overall != UNKNOWN:
                mixed = True
            overall = t
    if mixed:
        return model_files, _UNHANDLED
    if overall == MODEL:
        return model_files + metadata, _HANDLED
    if overall == DATASET:
        draft.datasets.append({"path": rel})
        return model_files, _HANDLED
    if overall == DOCS:
        draft.docs.append({"path": rel})
        return model_files, _HANDLED
    if metadata and not contents[UNKNOWN]:  # no sub-directories, no unknown files
        return [], _METADATA_DIR
    return model_files, _UNHANDLED


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
    draft = _Draft()
    catch_all = False
    unprocessed: list[str] = []
    model_files: list[_File] = []
    metadata: list[_File] = []
    license_id: str | None = None

    files, dirs = _entries(root)
    for f in files:
        lower = f.name.lower()
        if lower.startswith("readme"):
            draft.docs.append({"path": f.path, "description": "Readme file"})
            continue
        if lower.startswith("license"):
            draft.docs.append({"path": f.path, "description": "License file"})
            license_id = detect_license(root / f.path)
            continue
        if lower in DEPENDENCY_FILES:
            draft.code.append({"path": f.path})
            continue
        t = _file_type(f.name)
        if t == MODEL:
            model_files.append(f)
        elif t == METADATA:
            metadata.append(f)
        elif t == DOCS:
            draft.docs.append({"path": f.path})
        elif t == DATASET:
            draft.datasets.append({"path": f.path})
        else:
            log.debug("%s is code or of unknown type: adding the catch-all code layer", f.path)
            catch_all = True
    metadata_dirs: list[str] = []
    for dir_name, dir_path in dirs:
        found, outcome = _classify_dir(draft, dir_name, dir_path)
        if outcome == _UNHANDLED:
            unprocessed.append(dir_name + "/")
        elif outcome == _METADATA_DIR:
            metadata_dirs.append(dir_name + "/")
        model_files.extend(found)

    if model_files:
        draft.model = _model_entry(model_files)
        draft.model.setdefault("parts", []).extend({"path": f.path} for f in metadata)
        draft.model["parts"].extend({"path": d} for d in metadata_dirs)
    else:
        unprocessed.extend(metadata_dirs)
        draft.datasets.extend({"path": f.path} for f in metadata)

    if catch_all or len(unprocessed) > 5:
        draft.code = [{"path": "."}]  # replaces 'src/' etc.: '.' holds them already
    else:
        draft.code.extend({"path": p} for p in unprocessed)

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
                           "docs": draft.docs or None}
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

        def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for k, v in items:
                if k in out:
                    raise KitfileError(f"{path}: duplicate key {k!r}")
                out[k] = v
            return out

        def constant(name: str) -> Any:
            raise KitfileError(f"{path}: {name} cannot be represented in a Kitfile")

        try:
            value = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
        except json.JSONDecodeError as e:
            raise KitfileError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from e
        except RecursionError as e:
            raise KitfileError(f"{path}: invalid JSON: nested too deeply") from e
        return _check_json(value, str(path), ())
    return parse_parameters(text, str(path))


def detect_license(path: str | os.PathLike[str]) -> str | None:
    """SPDX id of a license file, if exactly one well-known license matches; else None."""
    try:
        with open(path, "rb") as f:
            text = f.read(64 * 1024).decode("utf-8", errors="replace")
    except OSError:
        return None
    spdx = re.search(r"SPDX-License-Identifier:\s*([A-Za-z0-9.+-]+(?:\s+(?:OR|AND|WITH)\s+[A-Za-z0-9.+-]+)*)", text)
    if spdx:
        return spdx.group(1)
    flat = " ".join(text.lower().split())
    head = flat[:400]
    matches = {lic for lic, test in _LICENSE_RULES if test(flat, head)}
    if len(matches) == 1:
        return matches.pop()
    log.debug("license detection for %s: %s", path, sorted(matches) or "no match")
    return None


def _gpl_family(head: str) -> str | None:
    if "gnu affero general public license" in head:
        return "AGPL-3.0"
    if "gnu lesser general public license" in head:
        return "LGPL-3.0" if "version 3" in head else "LGPL-2.1"
    if "gnu general public license" in head:
        return "GPL-3.0" if "version 3" in head else "GPL-2.0"
    return None


_LICENSE_RULES: tuple[tuple[str, Any], ...] = (
    ("Apache-2.0", lambda t, h: "apache license" in h and "version 2.0" in h),
    ("MIT", lambda t, h: "permission is hereby granted, free of charge, to any person obtaining a copy" in t),
    ("BSD-3-Clause", lambda t, h: "redistribution and use in source and binary forms" in t
     and "neither the name" in t),
    ("BSD-2-Clause", lambda t, h: "redistribution and use in source and binary forms" in t
     and "neither the name" not in t and "gnu" not in h),
    ("MPL-2.0", lambda t, h: "mozilla public license" in h and "2.0" in h),
    ("Unlicense", lambda t, h: "this is free and unencumbered software released into the public domain" in t),
    ("ISC", lambda t, h: "permission to use, copy, modify, and/or distribute this software for any purpose" in t),
    ("BSL-1.0", lambda t, h: "boost software license" in h),
    ("CC-BY-4.0", lambda t, h: "attribution 4.0 international" in h and "sharealike" not in h
     and "noncommercial" not in h),
    ("CC-BY-SA-4.0", lambda t, h: "attribution-sharealike 4.0 international" in h),
    ("CC0-1.0", lambda t, h: "cc0 1.0 universal" in h),
    ("AGPL-3.0", lambda t, h: _gpl_family(h) == "AGPL-3.0"),
    ("LGPL-3.0", lambda t, h: _gpl_family(h) == "LGPL-3.0"),
    ("LGPL-2.1", lambda t, h: _gpl_family(h) == "LGPL-2.1"),
    ("GPL-3.0", lambda t, h: _gpl_family(h) == "GPL-3.0"),
    ("GPL-2.0", lambda t, h: _gpl_family(h) == "GPL-2.0"),
)


def _with_parameters(kitfile: Kitfile, params: Any, metrics: Any, *, has_metrics: bool,
                     run: MlflowRun | None = None) -> Kitfile:
    """Merge into ``model.parameters``: the MLflow run's params, then the --params file (wins);
    metrics under ``metrics`` (the run's, then the --metrics file: merged when both are mappings,
    else the file replaces them); the run's id under ``mlflow``."""
    from dataclasses import replace

    from ocikit._kitfile._model import Model

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
