"""The SBOM of a model: what the weights' headers say, as ``ocikit:model:*`` properties and in the
``modelCard``; a lying header reported; pickle still flagged; pack → SBOM → ``inspect --summary``."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
from safetensors.numpy import save_file

from _sbom_kits import Kitfile, Model, Package, check_sbom, iter_components, manifest_for, pack_layers, props
from conftest import Cli  # type: ignore[import-not-found]
from ocikit._kitfile._elements import ModelPart
from ocikit._trust._sbom import EXECUTABLE_DESERIALIZATION, build_sbom


@pytest.fixture(autouse=True)
def _reproducible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")


def _project(root: Path) -> Path:
    """Two safetensors shards and an index (the model), a GGUF adapter (a part), a pickle."""
    (root / "model").mkdir(parents=True)
    save_file({"embed": np.zeros((100, 8), dtype=np.float32)}, str(root / "model/model-00001-of-00002.safetensors"))
    save_file({"head": np.zeros((8, 2), dtype=np.float16), "bias": np.zeros((2,), dtype=np.float16)},
              str(root / "model/model-00002-of-00002.safetensors"))
    (root / "model/model.safetensors.index.json").write_text(json.dumps({"weight_map": {}}))
    (root / "model/extra.pkl").write_bytes(b"\x80\x04K\x01.")
    (root / "adapter").mkdir()
    w = gguf.GGUFWriter(str(root / "adapter/lora.gguf"), "llama")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_tensor("lora_a", np.zeros((4, 16), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return root


def _kitfile(**params: Any) -> Kitfile:
    return Kitfile(package=Package(name="tiny"), model=Model(
        name="tiny", path="model", format="safetensors", parts=(ModelPart(name="lora", path="adapter"),),
        parameters=params or None))


def _sbom(root: Path, kitfile: Kitfile) -> dict[str, Any]:
    layers, _ = pack_layers(root, kitfile)
    _, mdesc, _ = manifest_for(layers)
    return check_sbom(build_sbom(kitfile, layers, mdesc, None, root))


def _by_ref(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["bom-ref"]: c for c in iter_components(doc)}


def test_the_model_and_part_components_carry_the_headers_facts(tmp_path: Path) -> None:
    doc = _by_ref(_sbom(_project(tmp_path / "p"), _kitfile(metrics={"accuracy": 0.9})))
    model, part = props(doc["model"]), props(doc["part-0"])
    assert model["ocikit:model:parameterCount"] == str(800 + 16 + 2)
    assert model["ocikit:model:tensorCount"] == "3"
    assert model["ocikit:model:dtypes"] == "F16:2,F32:1"
    assert model["ocikit:model:weightsFormat"] == "safetensors"
    assert "ocikit:model:headerProblem" not in model
    assert model[EXECUTABLE_DESERIALIZATION] == "true"  # the pickle beside them is still flagged
    assert part["ocikit:model:parameterCount"] == "64" and part["ocikit:model:dtypes"] == "F16:1"
    assert (part["ocikit:model:architecture"], part["ocikit:model:quantization"]) == ("llama", "MOSTLY_F16")
    card = doc["model"]["modelCard"]
    assert card["quantitativeAnalysis"]["performanceMetrics"] == [{"type": "accuracy", "value": "0.9"}]


def test_the_model_card_takes_the_architecture_from_a_gguf_model(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    kf = Kitfile(package=Package(name="tiny"), model=Model(name="tiny", path="adapter"))
    card = _by_ref(_sbom(root, kf))["model"]["modelCard"]
    assert card["modelParameters"]["architectureFamily"] == "llama"
    kf = Kitfile(package=Package(name="tiny"),
                 model=Model(name="tiny", path="adapter", parameters={"architecture": "from-kitfile"}))
    card = _by_ref(_sbom(root, kf))["model"]["modelCard"]
    assert card["modelParameters"]["architectureFamily"] == "from-kitfile"  # the Kitfile wins


def test_a_lying_header_is_reported_and_its_counts_left_out(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    shard = root / "model/model-00002-of-00002.safetensors"
    data = shard.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header["head"]["shape"] = [8, 4000]  # claims far more than its bytes
    raw = json.dumps(header).encode()
    shard.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n:])
    model = props(_by_ref(_sbom(root, _kitfile()))["model"])
    assert "ocikit:model:parameterCount" not in model and "ocikit:model:tensorCount" not in model
    assert model["ocikit:model:headerProblem"].startswith("model/model-00002-of-00002.safetensors: tensor 'head'")


def test_no_weights_files_no_model_properties(tmp_path: Path) -> None:
    (tmp_path / "p/model").mkdir(parents=True)
    (tmp_path / "p/model/weights.bin").write_bytes(b"\0" * 16)
    kf = Kitfile(package=Package(name="tiny"), model=Model(name="tiny", path="model"))
    model = props(_by_ref(_sbom(tmp_path / "p", kf))["model"])
    assert not [k for k in model if k.startswith("ocikit:model:")]


def test_pack_then_inspect_summary_shows_the_model(tmp_path: Path, home: Path) -> None:
    root = _project(tmp_path / "p")
    (root / "Kitfile").write_text(
        "manifestVersion: 1.0.0\npackage:\n  name: tiny\n  license: MIT\n"
        "model:\n  name: tiny\n  path: model\n  format: safetensors\n"
        "  parameters:\n    metrics:\n      accuracy: 0.9\n"
        "  parts:\n    - name: lora\n      path: adapter\n")
    cli = Cli(home)
    cli("pack", str(root), "-t", "acme/tiny:1")
    sbom = json.loads(cli("sbom", "acme/tiny:1").stdout)
    assert props(_by_ref(sbom)["model"])["ocikit:model:parameterCount"] == "818"
    summary = json.loads(cli("inspect", "--summary", "--json", "acme/tiny:1").stdout)
    model, part = summary["models"]
    assert (model["parameterCount"], model["tensorCount"], model["dtypes"]) == (818, 3, {"F16": 2, "F32": 1})
    assert model["pickle"] == "pickle" and part["architecture"] == "llama"
    assert summary["metrics"] == {"accuracy": 0.9} and summary["sbom"] is True
    text = cli("inspect", "--summary", "acme/tiny:1").stdout
    assert "818 parameters in 3 tensors" in text and "F16 ×2" in text
    assert "architecture llama" in text and "! pickle" in text
    assert len(text.splitlines()) <= 24  # one screen
    from ocikit.cli._summary_render import format_count

    assert [format_count(n) for n in (7_241_732_096, 1_100_000, 350_000, 999)] == ["7.24B", "1.1M", "350K", "999"]
    plain = json.loads(cli("inspect", "acme/tiny:1").stdout)
    assert set(plain) == {"digest", "cliVersion", "format", "kitfile", "manifest"}  # unchanged by default
    out = tmp_path / "out"
    cli("unpack", "acme/tiny:1", "-d", str(out))
    cli("verify-files", str(out))  # the round trip: every file as its SBOM lists it
    unpacked = json.loads((out / "SBOM.json").read_text())
    assert props(_by_ref(unpacked)["model"])["ocikit:model:dtypes"] == "F16:2,F32:1"
    assert (out / "model/model-00002-of-00002.safetensors").read_bytes() == (
        root / "model/model-00002-of-00002.safetensors").read_bytes()


def test_a_hugging_face_config_names_the_architecture_in_the_model_card(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    (root / "model/config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    params = _by_ref(_sbom(root, _kitfile()))["model"]["modelCard"]["modelParameters"]
    assert (params["architectureFamily"], params["modelArchitecture"]) == ("llama", "LlamaForCausalLM")
    (root / "model/config.json").write_text('{"model_type": "llama", "model_type": "gpt2"}')
    model = _by_ref(_sbom(root, _kitfile()))["model"]
    assert "architectureFamily" not in model["modelCard"].get("modelParameters", {})  # duplicate keys: not read
    assert props(model)["ocikit:model:parameterCount"] == "818"
