"""CNCF ModelPack: pack --format modelpack, and unpack/inspect/list/diff of ModelPacks (ours and foreign).

Spec strings are written out here on purpose (docs/compatibility.md §5.2, model-spec @d78bf32), not
imported from the code under test.
"""

from __future__ import annotations

import io
import json
import tarfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from fakes.modelkit import write_project
from ocikit._io._digest import Digest
from ocikit._kitfile._model import Kitfile
from ocikit._modelkit._modelpack import check_filepath, created_at, layer_kind, modelpack_media_type
from ocikit._modelkit._raw import RawAsTar
from ocikit._oci._model import MANIFEST, Descriptor, Manifest
from ocikit._ops._catalog import inspect, list_modelkits
from ocikit._ops._diff import diff
from ocikit._ops._pack import pack
from ocikit._ops._unpack import unpack
from ocikit._store._layout import LocalStore
from ocikit._store._storage import read_blob, read_manifest
from ocikit.errors import DigestMismatchError, UnsafeArchiveError, UsageError, VerificationError

MP_MANIFEST = "application/vnd.cncf.model.manifest.v1+json"
MP_CONFIG = "application/vnd.cncf.model.config.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
FILEPATH = "org.cncf.model.filepath"
KITFILE_ANNOTATION = "ml.kitops.modelkit.kitfile"

KITFILE = """manifestVersion: 1.0.0
package:
  name: sentiment
  version: 1.2.0
  description: Sentiment classifier
  license: Apache-2.0
  authors: [ML team, Ops]
model:
  name: clf
  path: ./model/
  license: MIT
  format: safetensors
  parts:
    - name: tok
      path: tokenizer
datasets:
  - name: train
    path: data/train
    license: CC-BY-4.0
code:
  - path: src
    license: MIT
docs:
  - path: README.md
"""

FILES = {
    "model/w.safetensors": b"weights",
    "tokenizer/t.json": b'{"vocab": 3}',
    "data/train/a.csv": b"text,label\nok,1\n",
    "src/serve.py": b"print('hi')\n",
    "README.md": b"# sentiment\n",
}


def _project(root: Path, kitfile: str = KITFILE, files: dict[str, bytes] = FILES) -> Path:
    return write_project(root, files, kitfile)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _stored(home: Path, repo: str, tag: str) -> tuple[Manifest, bytes]:
    storage = LocalStore.at_home(home).repository(f"localhost/{repo}")
    _, manifest = read_manifest(storage, tag)
    return manifest, read_blob(storage, manifest.config, what="config")


# ------------------------------------------------------------------------------------------ writing


def test_modelpack_manifest_config_and_layers_follow_the_spec(home: Path, tmp_path: Path) -> None:
    ctx = _project(tmp_path / "p")
    result = pack(ctx, tag="acme/sentiment:1", home=home, sbom=False, format="modelpack")
    manifest, config_bytes = _stored(home, "acme/sentiment", "1")
    raw = json.loads(manifest.to_bytes())

    assert raw["mediaType"] == OCI_MANIFEST
    assert raw["artifactType"] == MP_MANIFEST
    assert raw["config"]["mediaType"] == MP_CONFIG
    assert [layer["mediaType"] for layer in raw["layers"]] == [
        "application/vnd.cncf.model.weight.v1.tar",
        "application/vnd.cncf.model.weight.config.v1.tar",
        "application/vnd.cncf.model.code.v1.tar",
        "application/vnd.cncf.model.dataset.v1.tar",
        "application/vnd.cncf.model.doc.v1.tar",
    ]
    # cleaned Kitfile paths (./model/ → model)
    assert [layer["annotations"][FILEPATH] for layer in raw["layers"]] == [
        "model", "tokenizer", "src", "data/train", "README.md"]

    # the Kitfile rides along as JSON: the same bytes a KitOps config blob would have
    kit_json = raw["annotations"][KITFILE_ANNOTATION]
    kitfile, infos = Kitfile.from_config_json(kit_json.encode())
    assert kitfile == Kitfile.loads(KITFILE)
    assert [str(infos[k].digest) for k in (("model", 0), ("parts", 0), ("code", 0), ("datasets", 0), ("docs", 0))] \
        == [layer["digest"] for layer in raw["layers"]]
    assert raw["annotations"]["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"

    config = json.loads(config_bytes)
    assert list(config) == ["descriptor", "modelfs", "config"]
    assert config["descriptor"] == {
        "createdAt": "2023-11-14T22:13:20Z",  # SOURCE_DATE_EPOCH=1700000000 (home fixture)
        "authors": ["ML team", "Ops"],
        "name": "sentiment",
        "version": "1.2.0",
        "licenses": ["Apache-2.0", "CC-BY-4.0", "MIT"],
        "title": "sentiment",
        "description": "Sentiment classifier",
    }
    assert config["modelfs"] == {"type": "layers", "diffIds": [str(la.diff_id) for la in result.layers]}
    assert config["config"] == {"format": "safetensors"}


@pytest.mark.parametrize("compression,suffix", [("gzip", "tar+gzip"), ("gzip-fastest", "tar+gzip"),
                                                ("zstd", "tar+zstd")])
def test_compressed_modelpack_round_trips(home: Path, tmp_path: Path, compression: str, suffix: str) -> None:
    ctx = _project(tmp_path / "p")
    result = pack(ctx, tag="acme/c:1", home=home, sbom=False, format="modelpack", compression=compression)
    manifest, config_bytes = _stored(home, "acme/c", "1")
    assert manifest.layers[0].media_type == f"application/vnd.cncf.model.weight.v1.{suffix}"
    diff_ids = json.loads(config_bytes)["modelfs"]["diffIds"]
    assert diff_ids == [str(la.diff_id) for la in result.layers]
    assert all(d != str(la.digest) for d, la in zip(diff_ids, manifest.layers, strict=True))
    out = tmp_path / "out"
    unpack("acme/c:1", out, home=home)
    assert {k: v for k, v in _files(out).items() if k != "Kitfile"} == FILES


def test_round_trip_writes_the_files_and_the_kitfile(home: Path, tmp_path: Path) -> None:
    ctx = _project(tmp_path / "p")
    pack(ctx, tag="acme/rt:1", home=home, sbom=False, format="modelpack")
    out = tmp_path / "out"
    result = unpack("acme/rt:1", out, home=home)
    files = _files(out)
    assert Kitfile.loads(files.pop("Kitfile")) == Kitfile.loads(KITFILE)
    assert files == FILES
    assert result.kitfile_written
    # filters select by Kitfile element, as for ModelKits
    only = tmp_path / "only"
    unpack("acme/rt:1", only, home=home, filters=["datasets:train", "docs"])
    assert sorted(_files(only)) == ["README.md", "data/train/a.csv"]


def test_created_at_is_reproducible_with_source_date_epoch_and_now_without(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _project(tmp_path / "p")
    a = pack(ctx, tag="acme/r:a", home=home, sbom=False, format="modelpack")
    b = pack(ctx, tag="acme/r:b", home=home, sbom=False, format="modelpack")
    assert a.digest == b.digest

    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    before = datetime.now(tz=timezone.utc).replace(microsecond=0)
    pack(ctx, tag="acme/r:now", home=home, sbom=False, format="modelpack")
    _, config_bytes = _stored(home, "acme/r", "now")
    created = datetime.strptime(json.loads(config_bytes)["descriptor"]["createdAt"], "%Y-%m-%dT%H:%M:%SZ")
    assert before <= created.replace(tzinfo=timezone.utc) <= datetime.now(tz=timezone.utc)


def test_created_at_refuses_an_out_of_range_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "99999999999999999999")  # an int, but no datetime
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        created_at()


def test_kitops_layers_carry_the_filepath_annotation_too(home: Path, tmp_path: Path) -> None:
    ctx = _project(tmp_path / "p")
    pack(ctx, tag="acme/k:1", home=home, sbom=False)
    manifest, _ = _stored(home, "acme/k", "1")
    assert manifest.artifact_type == "application/vnd.kitops.modelkit.manifest.v1+json"
    assert [la.annotations[FILEPATH] for la in manifest.layers] == [
        "model", "tokenizer", "src", "data/train", "README.md"]
    assert KITFILE_ANNOTATION not in manifest.annotations


def test_the_same_project_in_both_formats_has_the_same_layers(home: Path, tmp_path: Path) -> None:
    ctx = _project(tmp_path / "p")
    pack(ctx, tag="acme/both:kit", home=home, sbom=False)
    pack(ctx, tag="acme/both:mp", home=home, sbom=False, format="modelpack")
    result = diff("acme/both:kit", "acme/both:mp", home=home)
    assert not result.same_config
    assert {c.status for c in result.layers} == {"same"}
    assert result.fields == ()
    assert [c.path for c in result.annotations] == []  # the Kitfile annotation is compared as fields


def test_media_type_helpers() -> None:
    assert modelpack_media_type("modelpart", "none") == "application/vnd.cncf.model.weight.config.v1.tar"
    assert modelpack_media_type("docs", "zstd") == "application/vnd.cncf.model.doc.v1.tar+zstd"
    assert layer_kind("application/vnd.cncf.model.weight.config.v1.tar+gzip") == ("modelpart", "gzip", False)
    assert layer_kind("application/vnd.cncf.model.dataset.v1.raw") == ("dataset", "none", True)
    assert layer_kind("application/vnd.kitops.modelkit.code.v1.tar+zstd") == ("code", "zstd", False)
    with pytest.raises(UnsafeArchiveError, match="raw layer cannot be compressed"):
        layer_kind("application/vnd.cncf.model.weight.v1.raw+gzip")
    with pytest.raises(UnsafeArchiveError):
        layer_kind("application/vnd.cncf.model.weights.v1.tar")
    assert check_filepath("./a//b/", "x") == "a/b"
    for bad in ("", "/etc/passwd", "../x", "a/../../x", "C:evil", "a\\b", "a\x00b"):
        with pytest.raises(UnsafeArchiveError):
            check_filepath(bad, "layer 0")


def test_raw_as_tar_is_a_one_entry_tar() -> None:
    body = b"x" * 1000
    data = RawAsTar(io.BytesIO(body), "dir/f.bin", 0o755, len(body)).read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        (member,) = tar.getmembers()
        assert (member.name, member.size, member.mode & 0o777) == ("dir/f.bin", 1000, 0o755)
        f = tar.extractfile(member)
        assert f is not None and f.read() == body
    with pytest.raises(UnsafeArchiveError, match="before its declared size"):
        RawAsTar(io.BytesIO(b"short"), "f", 0o644, 10).read()


# ------------------------------------------------------------------------------ foreign ModelPacks


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _push_foreign(home: Path, repo: str, tag: str, layers: list[tuple[str, bytes, dict[str, str]]],
                  *, version: str = "1.0", annotations: dict[str, str] | None = None) -> Digest:
    """A ModelPack as other tools (modctl) write it: no Kitfile annotation; context-relative tar
    names; raw layers; filepath annotations."""
    storage = LocalStore.at_home(home).repository(f"localhost/{repo}")
    descs = []
    for media_type, data, ann in layers:
        desc = Descriptor.for_bytes(media_type, data, annotations=ann)
        storage.push_blob(desc, io.BytesIO(data))
        descs.append(desc)
    config = json.dumps({
        "descriptor": {"createdAt": "2025-01-01T00:00:00Z", "authors": ["Vendor"], "family": "llama",
                       "name": "tiny-llm", "version": version, "licenses": ["Apache-2.0"]},
        "modelfs": {"type": "layers", "diffIds": [str(d.digest) for d in descs]},
        "config": {"architecture": "transformer", "format": "safetensors", "paramSize": "1M"},
    }).encode()
    config_desc = Descriptor.for_bytes(MP_CONFIG, config)
    storage.push_blob(config_desc, io.BytesIO(config))
    manifest = Manifest(config_desc, tuple(descs), annotations or {}, MP_MANIFEST, None, MANIFEST)
    return storage.push_manifest(manifest.to_bytes(), MANIFEST, tag=tag).digest


def _foreign_layers(train: bytes = b"a,b\n1,2\n") -> list[tuple[str, bytes, dict[str, str]]]:
    return [
        ("application/vnd.cncf.model.weight.v1.raw", b"GGUF-weights",
         {FILEPATH: "model.gguf",
          "org.cncf.model.file.metadata+json": json.dumps({"name": "model.gguf", "mode": 420, "size": 12})}),
        ("application/vnd.cncf.model.weight.config.v1.tar", _tar({"config.json": b"{}"}), {FILEPATH: "config.json"}),
        ("application/vnd.cncf.model.code.v1.tar", _tar({"src/app.py": b"run()\n"}), {FILEPATH: "src"}),
        ("application/vnd.cncf.model.dataset.v1.raw", train, {FILEPATH: "data/train.csv"}),
        ("application/vnd.cncf.model.doc.v1.tar", _tar({"README.md": b"# tiny\n"}), {FILEPATH: "README.md"}),
    ]


def test_foreign_modelpack_unpacks_by_filepath_with_a_synthesised_kitfile(home: Path, tmp_path: Path) -> None:
    _push_foreign(home, "vendor/tiny", "1.0", _foreign_layers())
    out = tmp_path / "out"
    result = unpack("vendor/tiny:1.0", out, home=home)
    files = _files(out)
    kitfile = Kitfile.loads(files.pop("Kitfile"))
    assert files == {"model.gguf": b"GGUF-weights", "config.json": b"{}", "src/app.py": b"run()\n",
                     "data/train.csv": b"a,b\n1,2\n", "README.md": b"# tiny\n"}
    assert kitfile.package.name == "tiny-llm" and kitfile.package.version == "1.0"
    assert kitfile.package.authors == ("Vendor",) and kitfile.package.license == "Apache-2.0"
    assert kitfile.model is not None
    assert (kitfile.model.path, kitfile.model.format) == ("model.gguf", "safetensors")
    assert [p.path for p in kitfile.model.parts] == ["config.json"]
    assert [c.path for c in kitfile.code] == ["src"]
    assert [d.path for d in kitfile.datasets] == ["data/train.csv"]
    assert [d.path for d in kitfile.docs] == ["README.md"]
    assert [la.kind for la in result.layers] == ["model", "modelpart", "code", "dataset", "docs"]

    only_model = tmp_path / "model-only"
    unpack("vendor/tiny:1.0", only_model, home=home, filters=["model"])
    assert sorted(_files(only_model)) == ["config.json", "model.gguf"]


def test_foreign_modelpack_in_inspect_list_and_diff(home: Path, tmp_path: Path) -> None:
    first = _push_foreign(home, "vendor/tiny", "1.0", _foreign_layers())
    _push_foreign(home, "vendor/tiny", "1.1", _foreign_layers(train=b"a,b\n3,4\n"), version="1.1")

    info = inspect("vendor/tiny:1.0", home=home)
    doc = info.to_dict()
    assert doc["format"] == "modelpack" and doc["kitfileSource"] == "synthesised"
    assert doc["digest"] == str(first)
    assert doc["modelpackConfig"]["descriptor"]["family"] == "llama"
    assert doc["kitfile"]["model"]["path"] == "model.gguf"
    assert doc["manifest"]["artifactType"] == MP_MANIFEST

    kits = {k.tags: k for k in list_modelkits(home=home)}
    assert kits[("1.0",)].name == "tiny-llm" and kits[("1.0",)].author == "Vendor"
    assert kits[("1.1",)].repository == "vendor/tiny"

    result = diff("vendor/tiny:1.0", "vendor/tiny:1.1", home=home)
    assert [(c.path, c.old, c.new) for c in result.fields] == [("package.version", "1.0", "1.1")]
    changed = [(c.kind, c.key) for c in result.layers if c.status == "changed"]
    assert changed == [("dataset", "data/train.csv")]
    assert {c.status for c in result.layers if c.kind != "dataset"} == {"same"}


@pytest.mark.parametrize("filepath", ["../outside.bin", "/etc/evil", "a/../../x"])
def test_foreign_filepath_leaving_the_target_is_refused(home: Path, tmp_path: Path, filepath: str) -> None:
    _push_foreign(home, "evil/mp", "1", [("application/vnd.cncf.model.weight.v1.raw", b"x", {FILEPATH: filepath})])
    out = tmp_path / "t" / "out"
    with pytest.raises(UnsafeArchiveError, match=r"org\.cncf\.model\.filepath"):
        unpack("evil/mp:1", out, home=home)
    assert not out.exists()
    assert not (tmp_path / "t" / "outside.bin").exists()
    assert list_modelkits(home=home) == []  # skipped (with a warning), not a crash


def test_foreign_layer_without_filepath_is_refused(home: Path, tmp_path: Path) -> None:
    _push_foreign(home, "nofp/mp", "1", [("application/vnd.cncf.model.weight.v1.tar", _tar({"w": b"1"}), {})])
    with pytest.raises(VerificationError, match=r"no org\.cncf\.model\.filepath"):
        unpack("nofp/mp:1", tmp_path / "out", home=home)


def test_raw_layer_whose_bytes_do_not_match_is_refused(home: Path, tmp_path: Path) -> None:
    digest = _push_foreign(home, "bad/raw", "1", _foreign_layers())
    storage = LocalStore.at_home(home).repository("localhost/bad/raw")
    _, manifest = read_manifest(storage, str(digest))
    path = LocalStore.at_home(home).blob_path(manifest.layers[0].digest)
    path.chmod(0o644)
    path.write_bytes(b"GGUF-weightz")  # same size, other bytes
    out = tmp_path / "out"
    with pytest.raises(DigestMismatchError):
        unpack("bad/raw:1", out, home=home)
    assert not out.exists()


def test_modelpack_with_kitfile_annotation_uses_it(home: Path, tmp_path: Path) -> None:
    kit: dict[str, Any] = {"manifestVersion": "1.0.0", "package": {"name": "annotated"},
                           "model": {"name": "m", "path": "weights"}}
    _push_foreign(home, "ann/mp", "1",
                  [("application/vnd.cncf.model.weight.v1.tar", _tar({"weights/w.bin": b"w"}), {FILEPATH: "weights"})],
                  annotations={KITFILE_ANNOTATION: json.dumps(kit)})
    result = inspect("ann/mp:1", home=home)
    assert result.kitfile_source == "annotation"
    assert result.kitfile.package.name == "annotated"  # not tiny-llm from the config
    out = tmp_path / "out"
    unpack("ann/mp:1", out, home=home)
    assert _files(out)["weights/w.bin"] == b"w"


def test_cli_pack_format_modelpack_and_help(cli: Any, tmp_path: Path) -> None:
    ctx = _project(tmp_path / "p")
    cli("pack", str(ctx), "-t", "acme/cli:1", "--format", "modelpack", "--no-sbom")
    out = json.loads(cli("inspect", "acme/cli:1").stdout)
    assert out["format"] == "modelpack" and out["manifest"]["artifactType"] == MP_MANIFEST
    listed = cli("list").stdout
    assert "acme/cli" in listed and "sentiment" in listed
    help_text = " ".join(cli("pack", "--help").stdout.split())
    assert "SOURCE_DATE_EPOCH when set, otherwise now" in help_text
