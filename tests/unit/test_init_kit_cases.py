"""Every case of kit's Kitfile-generation suite, run against ``generate_kitfile``.

The cases are kit's own (files created with kit's content, ``testing: <name>``, so sizes match),
copied from https://github.com/kitops-ml/kitops/tree/main/testing/testdata/kitfile-generation and
compared with the expected Kitfile field by field. Rules: docs/compatibility.md §4.13.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ocikit._kitfile._scaffold import generate_kitfile

CASES: dict[str, tuple[str, list[str], dict[str, Any]]] = {
    "test_directory-handling": ("Handles directories", [
        "src/test-file.sh", "pkg/test-file.sh", "lib/test-file.sh", "build/test-file.sh", "docs/documentation-file",
        "model-contents/my-model1.gguf", "model-contents/my-model2.gguf", "model-contents/z-metadata.json",
        "dataset-contents/dataset-001.zip", "dataset-contents/dataset-002.zip", "dataset-contents/dataset-003.zip",
        "dataset-contents/z-metadata.json", "my-files/doc1.md", "my-files/doc2.md", "my-files/new.pdf",
        "mixed-contents/documentation.md", "mixed-contents/dataset.csv", "mixed-contents/meta.json",
    ], {
        "model": {"path": "model-contents/my-model1.gguf", "parts": [
            {"path": "model-contents/my-model2.gguf"}, {"path": "model-contents/z-metadata.json"}]},
        "datasets": [{"path": "dataset-contents"}],
        "docs": [{"path": "docs"}, {"path": "my-files"}],
        "code": [{"path": "build"}, {"path": "lib"}, {"path": "pkg"}, {"path": "src"}, {"path": "mixed-contents"}],
    }),
    "test_empty-directory": ("Generates empty Kitfile in empty directory", [], {}),
    "test_existing-Kitfile": ("Handles existing Kitfiles", ["test-model.npy", "Kitfile", "kitfile", ".kitfile"], {
        "model": {"name": "test-model", "path": "test-model.npy"},
    }),
    "test_metadata-files-dataset": ("Attaches metadata files to datasets when no model", [
        "a-dataset.tar", "b-dataset.csv", "c-dataset.zip", "x-metadata.json", "y-metadata.yaml", "z-metadata.xml",
    ], {
        "datasets": [{"path": "a-dataset.tar"}, {"path": "b-dataset.csv"}, {"path": "c-dataset.zip"},
                     {"path": "x-metadata.json"}, {"path": "y-metadata.yaml"}, {"path": "z-metadata.xml"}],
    }),
    "test_metadata-files-model": ("Attaches metadata files to Model when present", [
        "a-model.gguf", "b-model.safetensors", "c-model.pkl", "d-model.pb", "a-dataset.tar", "b-dataset.csv",
        "c-dataset.zip", "x-metadata.json", "y-metadata.yaml", "z-metadata.xml",
    ], {
        "model": {"path": "a-model.gguf", "parts": [
            {"path": "b-model.safetensors"}, {"path": "c-model.pkl"}, {"path": "d-model.pb"},
            {"path": "x-metadata.json"}, {"path": "y-metadata.yaml"}, {"path": "z-metadata.xml"}]},
        "datasets": [{"path": "a-dataset.tar"}, {"path": "b-dataset.csv"}, {"path": "c-dataset.zip"}],
    }),
    "test_model-and-adaptor": ("Handles models with an adaptor", [
        "model-adaptor1.gguf", "model-adaptor2.gguf", "zzzzzzz-main-model-larger-than-normal-files.gguf",
    ], {
        "model": {"name": "zzzzzzz-main-model-larger-than-normal-files",
                  "path": "zzzzzzz-main-model-larger-than-normal-files.gguf",
                  "parts": [{"path": "model-adaptor1.gguf"}, {"path": "model-adaptor2.gguf"}]},
    }),
    "test_multi-part-models": ("Handles multi-part models", [
        "model-0005.safetensors", "model-0004.safetensors", "model-0003.safetensors", "model-0002.safetensors",
        "model-0001.safetensors",
    ], {
        "model": {"path": "model-0001.safetensors", "parts": [
            {"path": "model-0002.safetensors"}, {"path": "model-0003.safetensors"},
            {"path": "model-0004.safetensors"}, {"path": "model-0005.safetensors"}]},
    }),
    "test_type-detect": ("Detects type of files based on extension", [
        "a-model.gguf", "b-model.safetensors", "c-model.pkl", "d-model.pb", "a-dataset.tar", "b-dataset.csv",
        "c-dataset.zip", "a-docs.md", "b-docs.adoc", "c-docs.pdf", "README.md", "LICENSE", "test.sh", "bootstrap.sh",
    ], {
        "model": {"path": "a-model.gguf", "parts": [
            {"path": "b-model.safetensors"}, {"path": "c-model.pkl"}, {"path": "d-model.pb"}]},
        "datasets": [{"path": "a-dataset.tar"}, {"path": "b-dataset.csv"}, {"path": "c-dataset.zip"}],
        "docs": [{"path": "LICENSE", "description": "License file"}, {"path": "README.md", "description": "Readme file"},
                 {"path": "a-docs.md"}, {"path": "b-docs.adoc"}, {"path": "c-docs.pdf"}],
        "code": [{"path": "."}],
    }),
}


def setup_files(root: Path, files: list[str]) -> None:
    """kit's ``setupFiles``: each file holds ``testing: <name>``."""
    for rel in files:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("testing: " + rel)


@pytest.mark.parametrize("case", sorted(CASES))
def test_kit_generation_case(tmp_path: Path, case: str) -> None:
    description, files, sections = CASES[case]
    model_name = {"test_directory-handling": "test-directory-handling", "test_empty-directory": "test-empty",
                  "test_existing-Kitfile": "test-existing-kitfile", "test_metadata-files-dataset":
                  "test-dataset-metadata", "test_metadata-files-model": "test-model-metadata",
                  "test_model-and-adaptor": "test-model-and-adaptor", "test_multi-part-models": "test-multipart",
                  "test_type-detect": "test-model-detect"}[case]
    setup_files(tmp_path, files)
    kitfile = generate_kitfile(tmp_path, name=model_name, description=description)
    expected = {"manifestVersion": "1.0.0", "package": {"name": model_name, "description": description}, **sections}
    assert kitfile.to_dict() == expected
    kitfile.check_paths(tmp_path)


def test_directory_paths_have_no_trailing_slash_in_the_written_kitfile(tmp_path: Path) -> None:
    """kit's generator writes a directory as ``filepath.Join`` gives it: ``build``, never ``build/``."""
    setup_files(tmp_path, ["build/x.sh", "tokenizer/vocab.json", "w.safetensors", "data/a.jsonl", "odd/x.sh"])
    text = generate_kitfile(tmp_path, name="p").to_yaml()
    assert "/\n" not in text and "build" in text and "tokenizer" in text and "odd" in text
