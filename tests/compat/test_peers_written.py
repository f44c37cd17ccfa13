"""ocikit writes what kit 1.17 writes: ``pack --layers raw``, prompts and MCP bundles come out in the
layer shapes of the kit 1.17 fixture (peermake.kit_117_raw), and read back; ModelPack raw layers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compat.peermake import FILEPATH, METADATA, SUBTYPE, kit_117_raw
from ocikit._ops._pack import pack
from ocikit._ops._unpack import unpack
from ocikit.errors import PackError, UsageError

KITFILE = """manifestVersion: 1.0.0
package: {name: agent, version: 1.0.0}
model:
  name: tiny
  path: model.gguf
  format: gguf
  parts:
    - {name: tokenizer, path: tok/tokenizer.json, type: tokenizer}
prompts:
  - {name: summarise, path: summarise.prompt.md}
mcpServers:
  - {name: filesystem, path: filesystem.mcpb}
  - {name: postgres, path: postgres.mcpb, description: Postgres MCP}
"""


def _project(root: Path) -> Path:
    for name, data in kit_117_raw().files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "Kitfile").write_text(KITFILE)
    return root


def test_pack_layers_raw_writes_kits_raw_shapes(tmp_path: Path, home: Path) -> None:
    ctx = _project(tmp_path / "ctx")
    result = pack(ctx, tag="acme/agent:1", home=home, layer_format="raw")
    ours = json.loads(result.manifest.to_bytes())["layers"]
    kit = [dict(layer) for layer in kit_117_raw().manifest_json()["layers"]]
    kit[1]["mediaType"] = kit[1]["mediaType"].removesuffix("+gzip")  # the fixture's part is gzip
    assert [la["mediaType"] for la in ours] == [la["mediaType"] for la in kit]
    for mine, theirs in zip(ours, kit, strict=True):
        assert mine["annotations"].keys() == theirs["annotations"].keys()
        assert mine["annotations"][FILEPATH] == theirs["annotations"][FILEPATH]
        assert mine["annotations"].get(SUBTYPE) == theirs["annotations"].get(SUBTYPE)
        assert json.loads(mine["annotations"][METADATA]).keys() == json.loads(theirs["annotations"][METADATA]).keys()
        if theirs is not kit[1]:
            assert mine["digest"] == theirs["digest"]  # the blob is the file, byte for byte

    config = json.loads(result.kitfile.to_config_json())
    assert list(config) == ["manifestVersion", "package", "model", "prompts", "mcpServers"]

    out = tmp_path / "out"
    unpack("acme/agent:1", out, home=home)
    for name, data in kit_117_raw().files.items():
        assert (out / name).read_bytes() == data
    only = tmp_path / "only"
    unpack("acme/agent:1", only, home=home, filters=["mcpservers:postgres"])
    assert sorted(p.name for p in only.rglob("*")) == ["postgres.mcpb"]


def test_prompts_and_mcp_bundles_in_a_tar_pack(tmp_path: Path, home: Path) -> None:
    ctx = _project(tmp_path / "ctx")
    layers = json.loads(pack(ctx, tag="acme/agent:tar", home=home).manifest.to_bytes())["layers"]
    types = [la["mediaType"] for la in layers]
    assert types == ["application/vnd.kitops.modelkit.model.v1.tar", "application/vnd.kitops.modelkit.modelpart.v1.tar",
                     "application/vnd.kitops.modelkit.code.v1.tar", "application/vnd.kitops.modelkit.mcpb.v1.raw",
                     "application/vnd.kitops.modelkit.mcpb.v1.raw"]
    assert layers[2]["annotations"][SUBTYPE] == "prompt"


def test_pack_layers_raw_refuses_a_directory(tmp_path: Path, home: Path) -> None:
    ctx = tmp_path / "ctx"
    (ctx / "model").mkdir(parents=True)
    (ctx / "model" / "w.bin").write_bytes(b"w")
    (ctx / "Kitfile").write_text("manifestVersion: 1.0.0\nmodel: {path: model}\n")
    with pytest.raises(PackError, match="not one file"):
        pack(ctx, tag="acme/dir:1", home=home, layer_format="raw")


def test_modelpack_with_raw_layers(tmp_path: Path, home: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "w.safetensors").write_bytes(b"S" * 100)
    (ctx / "README.md").write_bytes(b"# r\n")
    (ctx / "Kitfile").write_text("manifestVersion: 1.0.0\nmodel: {path: w.safetensors}\ndocs: [{path: README.md}]\n")
    result = pack(ctx, tag="acme/mp:1", home=home, format="modelpack", layer_format="raw")
    layers = json.loads(result.manifest.to_bytes())["layers"]
    assert [la["mediaType"] for la in layers] == ["application/vnd.cncf.model.weight.v1.raw",
                                                  "application/vnd.cncf.model.doc.v1.raw"]
    assert layers[0]["annotations"][FILEPATH] == "w.safetensors"
    unpack("acme/mp:1", tmp_path / "out", home=home)
    assert (tmp_path / "out/w.safetensors").read_bytes() == b"S" * 100
    with pytest.raises(UsageError, match="cannot be compressed"):
        pack(ctx, tag="acme/mp:2", home=home, format="modelpack", layer_format="raw", compression="gzip")


def test_kit_raw_gzip_round_trip(tmp_path: Path, home: Path) -> None:
    ctx = _project(tmp_path / "ctx")
    layers = json.loads(pack(ctx, tag="acme/agent:gz", home=home, layer_format="raw",
                             compression="gzip").manifest.to_bytes())["layers"]
    assert layers[3]["mediaType"] == "application/vnd.kitops.modelkit.mcpb.v1.raw"  # bundles stay verbatim
    assert layers[3]["digest"] == kit_117_raw().manifest_json()["layers"][3]["digest"]
    unpack("acme/agent:gz", tmp_path / "out", home=home)
    assert (tmp_path / "out/tok/tokenizer.json").read_bytes() == kit_117_raw().files["tok/tokenizer.json"]


def test_init_detects_prompts_and_mcp_bundles(tmp_path: Path) -> None:
    from ocikit._kitfile._scaffold import generate_kitfile

    ctx = _project(tmp_path / "ctx")
    (ctx / "Kitfile").unlink()
    (ctx / "prompts").mkdir()
    (ctx / "prompts" / "review.md").write_text("Review this.\n")
    kitfile = generate_kitfile(ctx)
    assert [p.path for p in kitfile.prompts] == ["summarise.prompt.md", "prompts"]
    assert [(m.name, m.path) for m in kitfile.mcp_servers] == [("filesystem", "filesystem.mcpb"),
                                                                ("postgres", "postgres.mcpb")]
