"""Kitfile generation (`ocikit init`), ported from kit's testing/testdata/kitfile-generation cases
and the rules in docs/compatibility.md §4.13."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ocikit._kitfile._license import detect_license
from ocikit._kitfile._model import Kitfile
from ocikit._kitfile._scaffold import generate_kitfile, init
from ocikit.errors import KitfileError, TargetExistsError

APACHE = "                                 Apache License\n                           Version 2.0, January 2004\n"
MIT = ("MIT License\n\nCopyright (c) 2024 Someone\n\nPermission is hereby granted, free of charge, to any person "
       "obtaining a copy\nof this software and associated documentation files (the \"Software\"), to deal\n")


def make(root: Path, files: dict[str, int | str]) -> Path:
    """Create files: an int is a size in bytes, a str is the content."""
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, int):
            p.write_bytes(b"x" * content)
        else:
            p.write_text(content)
    return root


def shape(k: Kitfile) -> dict[str, object]:
    return k.to_dict()


def test_an_empty_directory_is_refused_and_no_kitfile_written(tmp_path: Path) -> None:
    (tmp_path / ".DS_Store").write_text("litter")
    with pytest.raises(KitfileError, match="has no files to put in a ModelKit"):
        init(tmp_path)
    assert not (tmp_path / "Kitfile").exists()


def test_type_detect(tmp_path: Path) -> None:
    """kit test_type-detect.yaml (v1.7 rules: unknown top-level files → one catch-all '.')."""
    make(tmp_path, {n: 0 for n in [
        "a-model.gguf", "b-model.safetensors", "c-model.pkl", "d-model.pb", "a-dataset.tar", "b-dataset.csv",
        "c-dataset.zip", "a-docs.md", "b-docs.adoc", "c-docs.pdf", "README.md", "LICENSE", "test.sh", "main.sh",
    ]})
    k = generate_kitfile(tmp_path, name="test-model-detect", description="Detects type of files based on extension")
    assert shape(k) == {
        "manifestVersion": "1.0.0",
        "package": {"name": "test-model-detect", "description": "Detects type of files based on extension"},
        "model": {"path": "a-model.gguf", "parts": [
            {"path": "b-model.safetensors"}, {"path": "c-model.pkl"}, {"path": "d-model.pb"}]},
        "code": [{"path": "."}],
        "datasets": [{"path": "a-dataset.tar"}, {"path": "b-dataset.csv"}, {"path": "c-dataset.zip"}],
        "docs": [{"path": "LICENSE", "description": "License file"}, {"path": "README.md", "description": "Readme file"},
                 {"path": "a-docs.md"}, {"path": "b-docs.adoc"}, {"path": "c-docs.pdf"}],
    }
    k.check_paths(tmp_path)


def test_directory_handling(tmp_path: Path) -> None:
    """kit test_directory-handling.yaml."""
    make(tmp_path, {n: 0 for n in [
        "src/test-file.sh", "pkg/test-file.sh", "lib/test-file.sh", "build/test-file.sh", "docs/documentation-file",
        "model-contents/my-model1.gguf", "model-contents/my-model2.gguf", "model-contents/z-metadata.json",
        "dataset-contents/dataset-001.zip", "dataset-contents/dataset-002.zip", "dataset-contents/z-metadata.json",
        "my-files/doc1.md", "my-files/doc2.md", "my-files/new.pdf",
        "mixed-contents/documentation.md", "mixed-contents/dataset.csv", "mixed-contents/meta.json",
    ]})
    k = generate_kitfile(tmp_path, name="test-directory-handling")
    d = shape(k)
    assert d["model"] == {"path": "model-contents/my-model1.gguf", "parts": [
        {"path": "model-contents/my-model2.gguf"}, {"path": "model-contents/z-metadata.json"}]}
    assert d["datasets"] == [{"path": "dataset-contents"}]
    assert d["docs"] == [{"path": "docs"}, {"path": "my-files"}]
    # v1.7 order: named code dirs as met, then unclassifiable dirs.
    assert d["code"] == [{"path": "build"}, {"path": "lib"}, {"path": "pkg"}, {"path": "src"},
                         {"path": "mixed-contents"}]
    k.check_paths(tmp_path)


def test_model_only_single_file_is_named_after_it(tmp_path: Path) -> None:
    make(tmp_path, {"model.safetensors": 10})
    k = generate_kitfile(tmp_path)
    assert shape(k) == {"manifestVersion": "1.0.0", "model": {"name": "model", "path": "model.safetensors"}}


def test_dataset_only_metadata_becomes_datasets(tmp_path: Path) -> None:
    make(tmp_path, {"train.csv": 1, "schema.json": 1})
    assert shape(generate_kitfile(tmp_path))["datasets"] == [{"path": "train.csv"}, {"path": "schema.json"}]


def test_metadata_becomes_parts_when_there_is_a_model(tmp_path: Path) -> None:
    make(tmp_path, {"config.json": 1, "model.onnx": 1, "vocab.txt": 1})
    assert shape(generate_kitfile(tmp_path))["model"] == {
        "name": "model", "path": "model.onnx", "parts": [{"path": "config.json"}, {"path": "vocab.txt"}]}


def test_largest_model_file_wins_when_much_larger(tmp_path: Path) -> None:
    make(tmp_path, {"adapter-a.safetensors": 10, "adapter-b.safetensors": 10, "base.safetensors": 1000})
    assert shape(generate_kitfile(tmp_path))["model"] == {
        "name": "base", "path": "base.safetensors",
        "parts": [{"path": "adapter-a.safetensors"}, {"path": "adapter-b.safetensors"}]}


def test_similar_sized_model_files_first_is_model_without_name(tmp_path: Path) -> None:
    make(tmp_path, {"shard-2.safetensors": 100, "shard-1.safetensors": 120, "shard-3.safetensors": 90})
    assert shape(generate_kitfile(tmp_path))["model"] == {
        "path": "shard-1.safetensors", "parts": [{"path": "shard-2.safetensors"}, {"path": "shard-3.safetensors"}]}


def test_unknown_file_makes_catch_all_replacing_code_dirs(tmp_path: Path) -> None:
    make(tmp_path, {"train.py": 1, "src/a.py": 1, "model.pkl": 1})
    d = shape(generate_kitfile(tmp_path))
    assert d["code"] == [{"path": "."}]
    Kitfile.from_dict(d).check_paths(tmp_path)


def test_more_than_five_unknown_dirs_make_catch_all(tmp_path: Path) -> None:
    make(tmp_path, {f"d{i}/x.sh": 1 for i in range(6)})
    assert shape(generate_kitfile(tmp_path))["code"] == [{"path": "."}]
    make(tmp_path / "five", {f"d{i}/x.sh": 1 for i in range(5)})
    assert shape(generate_kitfile(tmp_path / "five"))["code"] == [{"path": f"d{i}"} for i in range(5)]


def test_readme_and_license_docs_and_license_goes_to_model(tmp_path: Path) -> None:
    make(tmp_path, {"README": "r", "LICENSE.txt": APACHE, "m.gguf": 1})
    d = shape(generate_kitfile(tmp_path))
    assert d["docs"] == [{"path": "LICENSE.txt", "description": "License file"},
                         {"path": "README", "description": "Readme file"}]
    assert d["model"] == {"name": "m", "path": "m.gguf", "license": "Apache-2.0"}


@pytest.mark.parametrize(("files", "where"), [
    ({"data.csv": 1}, ("datasets", 0)),
    ({"run.sh": 1}, ("code", 0)),
    ({"a.csv": 1, "b.csv": 1}, ("package", None)),
])
def test_license_placement(tmp_path: Path, files: dict[str, int | str], where: tuple[str, int | None]) -> None:
    make(tmp_path, {"LICENSE": MIT, **files})
    d = shape(generate_kitfile(tmp_path))
    section, index = where
    target = d[section] if index is None else d[section][index]  # type: ignore[index]
    assert target["license"] == "MIT"  # type: ignore[index]


@pytest.mark.parametrize(("text", "expected"), [
    (APACHE, "Apache-2.0"), (MIT, "MIT"),
    ("# SPDX-License-Identifier: BSD-3-Clause\n", "BSD-3-Clause"),
    ("GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\n", "GPL-3.0"),
    ("GNU LESSER GENERAL PUBLIC LICENSE\nVersion 2.1, February 1999\n", "LGPL-2.1"),
    ("All rights reserved. Ask us.\n", None),
    (APACHE + MIT, None),  # two matches: kit uses a license only when exactly one matches
])
def test_detect_license(tmp_path: Path, text: str, expected: str | None) -> None:
    p = tmp_path / "LICENSE"
    p.write_text(text)
    assert detect_license(p) == expected


def test_kitfile_symlinks_vcs_and_os_files_ignored(tmp_path: Path) -> None:
    make(tmp_path, {"Kitfile": "package: {}\n", ".git/HEAD": "x", ".DS_Store": 1, "m.onnx": 1})
    (tmp_path / "link.sh").symlink_to(tmp_path / "m.onnx")
    assert shape(generate_kitfile(tmp_path)) == {"manifestVersion": "1.0.0",
                                                 "model": {"name": "m", "path": "m.onnx"}}


def test_package_fields(tmp_path: Path) -> None:
    k = generate_kitfile(tmp_path, name="n", description="d", author="Jane <j@example.com>")
    assert shape(k)["package"] == {"name": "n", "description": "d", "authors": ["Jane <j@example.com>"]}


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(KitfileError, match="is not a directory"):
        generate_kitfile(tmp_path / "missing")


# ---- init: writing ---------------------------------------------------------------------------


def test_init_writes_kitfile_named_after_directory(tmp_path: Path) -> None:
    project = make(tmp_path / "my-project", {"model.pkl": 3, "README.md": "r"})
    path = init(project)
    assert path == project / "Kitfile"
    text = path.read_text()
    assert text.startswith("manifestVersion: 1.0.0\npackage:\n  name: my-project\n")
    k = Kitfile.load(project)
    assert k.model is not None and k.model.path == "model.pkl"
    k.check_paths(project)
    assert [p.name for p in project.iterdir() if p.name.startswith(".Kitfile")] == []


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    make(tmp_path, {"Kitfile": "mine\n", "m.gguf": 1})
    with pytest.raises(TargetExistsError, match="already exists") as info:
        init(tmp_path, name="x")
    assert "--force" in info.value.hint
    assert (tmp_path / "Kitfile").read_text() == "mine\n"
    init(tmp_path, name="x", force=True)
    assert Kitfile.load(tmp_path).package.name == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Kitfile", "m.gguf"]


def test_init_merges_params_and_metrics(tmp_path: Path) -> None:
    project = make(tmp_path / "p", {"m.joblib": 1})
    params = tmp_path / "params.yaml"
    params.write_text("lr: 0.01\nlayers: [64, 32]\nname: no\n")
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"accuracy": 0.93, "f1": 0.9}))
    init(project, name="p", params_file=params, metrics_file=metrics)
    k = Kitfile.load(project)
    assert k.model is not None
    assert k.model.parameters == {"lr": 0.01, "layers": [64, 32], "name": "no",
                                  "metrics": {"accuracy": 0.93, "f1": 0.9}}
    assert b'"parameters":{"layers":[64,32],"lr":0.01,"metrics":{"accuracy":0.93,"f1":0.9},"name":"no"}' in \
        k.to_config_json()


def test_init_metrics_without_model_creates_model_section(tmp_path: Path) -> None:
    project = make(tmp_path / "p", {"data.csv": 1})
    metrics = tmp_path / "m.yaml"
    metrics.write_text("auc: 0.8\n")
    init(project, metrics_file=metrics)
    k = Kitfile.load(project)
    assert k.model is not None and k.model.path is None and k.model.parameters == {"metrics": {"auc": 0.8}}
    assert [e.kind for e in k.layer_elements()] == ["dataset"]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("p.json", '{"a": 1, "a": 2}', "duplicate key 'a'"),
    ("p.json", '{"a": NaN}', "NaN cannot be represented"),
    ("p.json", "{oops", r"p\.json:1:2: invalid JSON"),
    ("p.yaml", "- a\n- b\n", "must hold a mapping"),
    ("p.yaml", "x: !!python/object/apply:os.system [id]\n", "YAML tag !!python/object/apply:os.system is not allowed"),
])
def test_init_bad_params_file(tmp_path: Path, name: str, content: str, message: str) -> None:
    project = make(tmp_path / "p", {"m.pkl": 1})
    params = tmp_path / name
    params.write_text(content)
    with pytest.raises(KitfileError, match=message):
        init(project, params_file=params)
    assert not (project / "Kitfile").exists()


def test_a_realistic_project_dependencies_tokenizer_and_data(tmp_path: Path) -> None:
    """kit classes requirements.txt as a model part, tokenizer/ as code and data/ of JSONL as
    code; these obvious cases follow what the files are."""
    make(tmp_path, {"model/model.safetensors": 4000, "requirements.txt": "numpy\n",
                    "tokenizer/tokenizer.json": "{}", "tokenizer/tokenizer.model": 10,
                    "tokenizer/vocab.txt": "a\n", "data/train.jsonl": "{}\n", "data/notes.bin.lock": 3,
                    "scripts/train.py": "print(1)\n", "configs/run.yaml": "a: 1\n", "configs/extra.sh": "x"})
    kf = generate_kitfile(tmp_path, name="rp")
    assert kf.model is not None and kf.model.path == "model/model.safetensors"
    assert [p.path for p in kf.model.parts] == ["tokenizer"]
    assert sorted(c.path for c in kf.code) == ["configs", "requirements.txt", "scripts"]
    assert [d.path for d in kf.datasets] == ["data"]


def test_a_metadata_directory_without_a_model_stays_code(tmp_path: Path) -> None:
    make(tmp_path, {"configs/a.yaml": "a: 1\n", "train.csv": "a,b\n"})
    kf = generate_kitfile(tmp_path, name="x")
    assert kf.model is None and [c.path for c in kf.code] == ["configs"]
