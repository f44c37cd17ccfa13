"""How ``ocikit init`` sorts a directory's contents into Kitfile sections: KitOps' detection rules.

Rules (``docs/compatibility.md`` §4.13; kit ``pkg/lib/kitfile/generate/generate.go``, v1.7):

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

Directory paths have no trailing ``/`` (``build``, as kit's ``filepath.Join`` gives them).
Deliberate differences from kit: symlinks and OS litter (``.DS_Store``, ``Thumbs.db``,
``desktop.ini``), ``.kitignore`` and VCS
directories (``.git``, ``.hg``, ``.svn``) are not classified, so they never force a catch-all layer.
License detection is a small heuristic over the file's text (``SPDX-License-Identifier`` or the
well-known license titles/phrases), used only when exactly one license matches, as kit does.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocikit._kitfile._license import detect_license
from ocikit._kitfile._model import DEFAULT_KITFILE_NAMES
from ocikit.errors import KitfileError

__all__ = ["Draft", "classify"]

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
class Draft:
    """The Kitfile sections found so far (entries in Kitfile YAML shape) and the license detected."""

    docs: list[dict[str, Any]] = field(default_factory=list)
    code: list[dict[str, Any]] = field(default_factory=list)
    datasets: list[dict[str, Any]] = field(default_factory=list)
    model: dict[str, Any] | None = None
    license_id: str | None = None
    #: kit 1.17 sections: Markdown files named <x>.prompt and a ``prompts`` directory; ``*.mcpb`` bundles
    prompts: list[dict[str, Any]] = field(default_factory=list)
    mcp_servers: list[dict[str, Any]] = field(default_factory=list)


def classify(root: Path) -> Draft:
    """Sort the files and directories directly in ``root`` into Kitfile sections, with kit's rules."""
    draft = Draft()
    files, dirs = _entries(root)
    model_files, metadata, catch_all = _classify_files(draft, root, files)
    unprocessed: list[str] = []
    metadata_dirs: list[str] = []
    for dir_name, dir_path in dirs:
        found, outcome = _classify_dir(draft, dir_name, dir_path)
        if outcome == _UNHANDLED:
            unprocessed.append(dir_name)
        elif outcome == _METADATA_DIR:
            metadata_dirs.append(dir_name)
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
    return draft


def _classify_files(draft: Draft, root: Path, files: list[_File]) -> tuple[list[_File], list[_File], bool]:
    """Top-level files: (model files, metadata files, whether a catch-all code layer is needed)."""
    model_files: list[_File] = []
    metadata: list[_File] = []
    catch_all = False
    for f in files:
        lower = f.name.lower()
        if lower.startswith("readme"):
            draft.docs.append({"path": f.path, "description": "Readme file"})
            continue
        if lower.startswith("license"):
            draft.docs.append({"path": f.path, "description": "License file"})
            draft.license_id = detect_license(root / f.path)
            continue
        if lower in DEPENDENCY_FILES:
            draft.code.append({"path": f.path})
            continue
        if lower.endswith(".mcpb"):  # an MCP bundle: one mcpServers entry, named after the file
            draft.mcp_servers.append({"name": f.name[: -len(".mcpb")] or f.name, "path": f.path})
            continue
        if lower.endswith(".prompt.md"):
            draft.prompts.append({"path": f.path})
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
    return model_files, metadata, catch_all


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


def _classify_dir(draft: Draft, name: str, path: Path) -> tuple[list[_File], int]:
    """Returns (model files found, outcome). Unhandled directories become code layers; a
    directory of metadata only (a tokenizer, a config set) becomes a model part when there is a
    model, else code (kit's rule)."""
    rel = name  # as filepath.Join gives it: no trailing "/"
    if name == "docs":
        draft.docs.append({"path": rel})
        return [], _HANDLED
    if name == "prompts":
        draft.prompts.append({"path": rel})
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

