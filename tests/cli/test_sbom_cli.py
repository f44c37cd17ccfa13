"""``ocikit sbom`` and ``ocikit verify-files`` through the real CLI entry point (error boundary)."""

from __future__ import annotations

import hashlib
import io
import json
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from _sbom_kits import (
    PROJECT_FILES,
    PROJECT_SECTIONS_YAML,
    check_sbom,
    manifest_for,
    pack_layers,
    sample_kitfile,
    unpack_files,
    write_project,
)
from conftest import Cli, Run  # type: ignore[import-not-found]
from ocikit._oci._model import KITOPS_CONFIG, MANIFEST, Descriptor, Manifest
from ocikit._oci._reference import Reference
from ocikit._store._layout import LocalStore
from ocikit._trust._sbom import attach_sbom, build_sbom

REF = "localhost/acme/sentiment:1.0.0"


def run(home: Path, *args: str) -> Run:
    """``ocikit.cli.main`` in-process: one error line, a hint, the class's exit code."""
    return Cli(home)(*args, ok=False)


@dataclass
class Kit:
    project: Path
    sbom: bytes
    layers: list


@pytest.fixture
def kit(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Kit:
    """A ModelKit in the local store with its SBOM attached (built without the packer)."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    project = write_project(tmp_path / "project")
    kitfile = sample_kitfile()
    layers, blobs = pack_layers(project, kitfile)
    manifest, _, config = manifest_for(layers)
    repo = LocalStore.at_home(home).repository(Reference.parse(REF).name)
    repo.push_blob(Descriptor.for_bytes(KITOPS_CONFIG, config), io.BytesIO(config))
    for layer in layers:
        repo.push_blob(layer.descriptor, io.BytesIO(blobs[str(layer.descriptor.digest)]))
    desc = repo.push_manifest(manifest, MANIFEST, tag="1.0.0")
    data = build_sbom(kitfile, layers, desc, Reference.parse(REF), project)
    attach_sbom(repo, desc, data)
    return Kit(project, data, layers)


def test_sbom_to_stdout(home: Path, kit: Kit) -> None:
    result = run(home, "sbom", REF)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.encode() == kit.sbom
    check_sbom(result.stdout.encode())


def test_sbom_to_file(home: Path, kit: Kit, tmp_path: Path) -> None:
    out = tmp_path / "bom.json"
    result = run(home, "sbom", "acme/sentiment:1.0.0", "-o", str(out))  # short form of localhost/...
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert out.read_bytes() == kit.sbom
    assert "wrote" in result.stderr and "bom.json" in result.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".bom.json")] == []
    # An SBOM is meant to be shared: readable by others like a Kitfile, not 0600 like a key.
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_sbom_to_unwritable_place_leaves_nothing(home: Path, kit: Kit, tmp_path: Path) -> None:
    result = run(home, "sbom", REF, "-o", str(tmp_path / "missing-dir" / "bom.json"))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot write") and "Traceback" not in result.stderr
    assert not (tmp_path / "missing-dir").exists()


def test_sbom_missing_is_not_found(home: Path, kit: Kit) -> None:
    result = run(home, "sbom", "localhost/acme/sentiment:2.0.0")
    assert result.exit_code == 6
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_modelkit_without_sbom_is_not_found(home: Path) -> None:
    other = LocalStore.at_home(home).repository("localhost/acme/other")
    other.push_blob(Descriptor.for_bytes(KITOPS_CONFIG, b"{}"), io.BytesIO(b"{}"))
    other.push_manifest(Manifest(Descriptor.for_bytes(KITOPS_CONFIG, b"{}"), ()).to_bytes(), MANIFEST, tag="1")
    result = run(home, "sbom", "localhost/acme/other:1")
    assert result.exit_code == 6
    assert "has no SBOM attached" in result.stderr
    assert "hint: " in result.stderr


@pytest.fixture
def unpacked(kit: Kit, tmp_path: Path) -> Path:
    target = tmp_path / "serve"
    unpack_files(kit.project, kit.layers, target)
    (target / "Kitfile").write_text("manifestVersion: 1.0.0\n")
    (target / "SBOM.json").write_bytes(kit.sbom)
    return target


def test_verify_files_ok_text_and_json(home: Path, unpacked: Path) -> None:
    result = run(home, "verify-files", str(unpacked), "--sbom", str(unpacked / "SBOM.json"))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"verified {len(PROJECT_FILES)} files")
    result = run(home, "verify-files", str(unpacked), "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["ok"] is True and out["files"] == len(PROJECT_FILES)
    assert out["bytes"] == sum(len(b) for b in PROJECT_FILES.values())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: (d / "extra.txt").write_text("surprise"), "extra extra.txt"),
        (lambda d: (d / "model" / "weights.safetensors").unlink(), "missing model/weights.safetensors"),
        (lambda d: (d / "code" / "train.py").write_bytes(b"print('pwned')\n"), "modified code/train.py"),
    ],
    ids=["extra", "missing", "modified"],
)
def test_verify_files_failures_exit_3(home: Path, unpacked: Path, change, message: str) -> None:
    change(unpacked)
    result = run(home, "verify-files", str(unpacked), "--sbom", str(unpacked / "SBOM.json"))
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ") and message in lines[0]
    assert lines[1] == "hint: the files on disk differ from what the SBOM records"
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_verify_files_json_lists_every_difference(home: Path, unpacked: Path) -> None:
    (unpacked / "extra.txt").write_text("surprise")
    (unpacked / "model" / "weights.safetensors").unlink()
    (unpacked / "code" / "train.py").write_bytes(b"print('pwned')\n")
    result = run(home, "verify-files", str(unpacked), "--json")
    assert result.exit_code == 3
    out = json.loads(result.stdout)
    assert out["ok"] is False
    assert out["extra"] == ["extra.txt"]
    assert out["missing"] == ["model/weights.safetensors"]
    pwned = b"print('pwned')\n"
    original = PROJECT_FILES["code/train.py"]
    assert out["modified"] == [{
        "path": "code/train.py",
        "size": len(pwned),
        "expectedSize": len(original),
        "sha256": hashlib.sha256(pwned).hexdigest(),  # same size as the original: hashed
        "expectedSha256": hashlib.sha256(original).hexdigest(),
    }]
    assert result.stderr.startswith("error: ")
    assert "modified code/train.py (" in result.stderr  # the human message keeps its prose


def test_verify_files_json_modified_other_size_is_not_hashed(home: Path, unpacked: Path) -> None:
    path = unpacked / "code" / "train.py"
    original = path.read_bytes()
    path.write_bytes(original + b"import os\n")
    result = run(home, "verify-files", str(unpacked), "--json")
    assert result.exit_code == 3
    out = json.loads(result.stdout)
    assert out["modified"] == [{
        "path": "code/train.py",
        "size": len(original) + 10,
        "expectedSize": len(original),
        "sha256": None,
        "expectedSha256": hashlib.sha256(original).hexdigest(),
    }]
    assert out["missing"] == [] and out["extra"] == []
    assert f"modified code/train.py ({len(original) + 10} bytes, expected {len(original)})" in result.stderr


def test_verify_files_without_sbom(home: Path, tmp_path: Path) -> None:
    result = run(home, "verify-files", str(tmp_path))
    assert result.exit_code == 6
    assert "SBOM.json does not exist" in result.stderr


KITFILE = """\
manifestVersion: 1.0.0
package:
  name: sentiment
  version: 1.0.0
  authors: [Ada Lovelace]
  license: Apache-2.0
model:
  name: sentiment-model
  path: model
  framework: scikit-learn
  format: safetensors
  parts:
    - name: lora
      path: adapter
      type: lora-adapter
  parameters:
    task: text-classification
    metrics:
      accuracy: 0.93
""" + PROJECT_SECTIONS_YAML


def test_end_to_end_pack_sbom_unpack_verify_files(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ocikit._ops._pack import pack
    from ocikit._ops._unpack import unpack

    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    project = write_project(tmp_path / "project")
    (project / "Kitfile").write_text(KITFILE)
    packed = pack(project, tag="localhost/acme/e2e:1.0.0", home=home)
    assert packed.sbom_digest is not None

    result = run(home, "sbom", "localhost/acme/e2e:1.0.0")
    assert result.exit_code == 0, result.stderr
    doc = check_sbom(result.stdout.encode())
    assert doc["metadata"]["component"]["hashes"][0]["content"] == packed.digest.hex
    card = next(c for c in doc["components"] if c["bom-ref"] == "model")["modelCard"]
    assert card["quantitativeAnalysis"]["performanceMetrics"] == [{"type": "accuracy", "value": "0.93"}]
    kit_props = {p["name"]: p["value"] for p in doc["metadata"]["component"]["properties"]}
    assert kit_props["ocikit:kitfile:digest"] == str(packed.manifest.config.digest)

    target = tmp_path / "serve"
    unpack("localhost/acme/e2e:1.0.0", target, home=home)
    assert (target / "SBOM.json").read_bytes() == result.stdout.encode()
    ok = run(home, "verify-files", str(target), "--sbom", str(target / "SBOM.json"))
    assert ok.exit_code == 0, ok.stderr
    assert ok.stdout.startswith(f"verified {len(PROJECT_FILES)} files")

    (target / "model" / "classifier.pkl").write_bytes(b"\x80\x04N.")
    bad = run(home, "verify-files", str(target))
    assert bad.exit_code == 3 and "modified model/classifier.pkl" in bad.stderr
