"""ocikit._ops._diff and ocikit._ops._lineage on ModelKits built in a MemoryStorage."""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import pytest

from ocikit._io._digest import Digest
from ocikit._kitfile._elements import LayerInfo
from ocikit._kitfile._model import Kitfile
from ocikit._layers._types import layer_media_type
from ocikit._modelkit._view import read_modelkit
from ocikit._oci._model import KITOPS_CONFIG, MANIFEST, Descriptor, Manifest
from ocikit._oci._reference import Reference
from ocikit._ops._diff import FieldChange, diff_storages, field_changes
from ocikit._ops._lineage import lineage_of
from ocikit._store._storage import MemoryStorage
from ocikit._trust._sbom import SBOM_MEDIA_TYPE, attach_sbom
from ocikit.errors import NotAModelKitError

BASE: dict[str, Any] = {
    "manifestVersion": "1.0.0",
    "package": {"name": "sentiment", "version": "1.0.0", "authors": ["ml team"]},
    "model": {
        "name": "clf",
        "path": "model/weights.safetensors",
        "framework": "scikit-learn",
        "parts": [{"name": "vocabulary", "path": "model/vocab.json"}],
        "parameters": {"C": 4, "metrics": {"accuracy": 0.9, "f1": 0.88}},
    },
    "code": [{"path": "train.py"}],
    "datasets": [{"name": "reviews", "path": "data/reviews"}, {"name": "holdout", "path": "data/holdout.csv"}],
    "docs": [{"path": "README.md"}],
}

#: (section, index) → {file path in the layer: content}
BASE_FILES: dict[tuple[str, int], dict[str, bytes]] = {
    ("model", 0): {"model/weights.safetensors": b"weights-v1"},
    ("parts", 0): {"model/vocab.json": b'["a","b"]'},
    ("code", 0): {"train.py": b"print('train')\n"},
    ("datasets", 0): {"data/reviews/a.csv": b"a,1\n", "data/reviews/b.csv": b"b,0\n"},
    ("datasets", 1): {"data/holdout.csv": b"x,1\n"},
    ("docs", 0): {"README.md": b"# readme\n"},
}

_KINDS = {"model": "model", "parts": "modelpart", "code": "code", "datasets": "dataset", "docs": "docs"}


def _layer_blob(files: dict[str, bytes]) -> bytes:
    # diff never reads layer bytes; a stable stand-in that changes with the files is enough.
    return json.dumps({p: c.decode() for p, c in sorted(files.items())}, sort_keys=True).encode()


def _sbom(layers: dict[tuple[str, int], Descriptor], files: dict[tuple[str, int], dict[str, bytes]]) -> bytes:
    """A minimal CycloneDX document shaped like ocikit's: layer components holding file components."""
    components = []
    for key, desc in layers.items():
        children = [
            {
                "type": "file",
                "name": path,
                "hashes": [{"alg": "SHA-256", "content": Digest.of_bytes(content).hex}],
                "properties": [{"name": "ocikit:file:path", "value": path}],
            }
            for path, content in sorted(files[key].items())
        ]
        components.append({
            "type": "data",
            "name": f"{key[0]}-{key[1]}",
            "properties": [{"name": "ocikit:layer:digest", "value": str(desc.digest)}],
            "components": children,
        })
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": components}).encode()


def put_modelkit(
    storage: MemoryStorage,
    tag: str | None,
    kitfile: dict[str, Any],
    files: dict[tuple[str, int], dict[str, bytes]],
    *,
    sbom: bool = True,
    annotations: dict[str, str] | None = None,
) -> Descriptor:
    kf = Kitfile.from_dict(kitfile)
    layers: dict[tuple[str, int], Descriptor] = {}
    infos = {}
    for element in kf.layer_elements():
        key = (element.section, element.index)
        blob = _layer_blob(files[key])
        desc = Descriptor.for_bytes(layer_media_type(_KINDS[element.section]), blob)
        storage.push_blob(desc, io.BytesIO(blob))
        layers[key] = desc
        infos[key] = LayerInfo(desc.digest, desc.digest)
    config = kf.to_config_json(infos)
    config_desc = Descriptor.for_bytes(KITOPS_CONFIG, config)
    storage.push_blob(config_desc, io.BytesIO(config))
    manifest = Manifest(config_desc, tuple(layers.values()), annotations or {})
    desc = storage.push_manifest(manifest.to_bytes(), MANIFEST, tag=tag)
    if sbom:
        attach_sbom(storage, desc, _sbom(layers, files))
    return desc


def _v2() -> tuple[dict[str, Any], dict[tuple[str, int], dict[str, bytes]]]:
    """1.1.0: new metrics, one dataset file changed and one added, the holdout set dropped, a new code file."""
    kit = copy.deepcopy(BASE)
    kit["package"]["version"] = "1.1.0"
    kit["model"]["parameters"]["metrics"]["accuracy"] = 0.95
    kit["model"]["parameters"]["C"] = 2
    kit["datasets"] = [{"name": "reviews", "path": "data/reviews", "license": "CC0-1.0"}]
    kit["code"] = [{"path": "train.py"}, {"path": "evaluate.py"}]
    files = copy.deepcopy(BASE_FILES)
    del files[("datasets", 1)]
    files[("datasets", 0)] = {"data/reviews/a.csv": b"a,1\n", "data/reviews/b.csv": b"b,1\n",
                              "data/reviews/c.csv": b"c,0\n"}
    files[("code", 1)] = {"evaluate.py": b"print('eval')\n"}
    files[("model", 0)] = {"model/weights.safetensors": b"weights-v2"}
    return kit, files


def _ref(tag: str) -> Reference:
    return Reference.parse(f"registry.example/acme/sentiment:{tag}")


# ---------------------------------------------------------------------------------------- diff


def test_identical_modelkits() -> None:
    storage = MemoryStorage()
    put_modelkit(storage, "1.0.0", BASE, BASE_FILES)
    storage.tag(storage.resolve("1.0.0"), "latest")
    result = diff_storages(storage, _ref("1.0.0"), storage, _ref("latest"))
    assert result.identical and result.same_config
    assert result.fields == ()
    assert {c.status for c in result.layers} == {"same"}
    assert len(result.layers) == 6


def test_kitfile_field_changes_are_dotted_paths_keyed_by_element_name() -> None:
    storage = MemoryStorage()
    put_modelkit(storage, "1.0.0", BASE, BASE_FILES)
    put_modelkit(storage, "1.1.0", *_v2())
    result = diff_storages(storage, _ref("1.0.0"), storage, _ref("1.1.0"))
    assert not result.identical and not result.same_config
    changes = {c.path: c for c in result.fields}
    assert changes["package.version"] == FieldChange("package.version", "1.0.0", "1.1.0", "changed")
    assert changes["model.parameters.metrics.accuracy"].old == 0.9
    assert changes["model.parameters.metrics.accuracy"].new == 0.95
    assert "model.parameters.metrics.f1" not in changes  # unchanged
    assert changes["model.parameters.C"].change == "changed"
    assert changes["datasets[reviews].license"] == FieldChange("datasets[reviews].license", None, "CC0-1.0", "added")
    assert changes["datasets[holdout].path"].change == "removed"
    assert changes["code[evaluate.py].path"].change == "added"
    # no digests in the field diff: they are the layer section's business
    assert not any("digest" in path.lower() or "diffid" in path.lower() for path in changes)


def test_layers_added_removed_changed_with_sizes_and_files_from_the_sbom() -> None:
    storage = MemoryStorage()
    put_modelkit(storage, "1.0.0", BASE, BASE_FILES)
    put_modelkit(storage, "1.1.0", *_v2())
    result = diff_storages(storage, _ref("1.0.0"), storage, _ref("1.1.0"))
    layers = {(c.kind, c.key): c for c in result.layers}
    assert layers[("modelpart", "vocabulary")].status == "same"
    assert layers[("code", "train.py")].status == "same"
    assert layers[("docs", "README.md")].status == "same"
    assert layers[("code", "evaluate.py")].status == "added"
    assert layers[("code", "evaluate.py")].a is None
    assert layers[("dataset", "holdout")].status == "removed"

    reviews = layers[("dataset", "reviews")]
    assert reviews.status == "changed"
    assert reviews.a is not None and reviews.b is not None
    assert reviews.a.digest != reviews.b.digest
    assert reviews.b.size > reviews.a.size
    assert reviews.files is not None
    assert reviews.files.added == ("data/reviews/c.csv",)
    assert reviews.files.modified == ("data/reviews/b.csv",)
    assert reviews.files.removed == ()

    model = layers[("model", "model")]
    assert model.status == "changed"
    assert model.files is not None and model.files.modified == ("model/weights.safetensors",)
    # order: model, parts, code, datasets, docs
    kinds = [c.kind for c in result.layers]
    assert kinds == sorted(kinds, key=["model", "modelpart", "code", "dataset", "docs"].index)


def test_without_sboms_the_changed_files_are_unknown_not_empty() -> None:
    storage = MemoryStorage()
    put_modelkit(storage, "1.0.0", BASE, BASE_FILES, sbom=False)
    put_modelkit(storage, "1.1.0", *_v2(), sbom=False)
    result = diff_storages(storage, _ref("1.0.0"), storage, _ref("1.1.0"))
    reviews = next(c for c in result.layers if c.key == "reviews")
    assert reviews.status == "changed"
    assert reviews.files is None
    assert reviews.to_dict()["files"] is None


def test_sides_in_different_storages_and_json_shape() -> None:
    a, b = MemoryStorage("local/acme"), MemoryStorage("remote/acme", referrers_api=True)
    put_modelkit(a, "1.0.0", BASE, BASE_FILES)
    put_modelkit(b, "1.1.0", *_v2())
    result = diff_storages(a, _ref("1.0.0"), b, _ref("1.1.0"))
    data = json.loads(json.dumps(result.to_dict()))
    assert data["identical"] is False
    assert data["a"]["digest"] == str(a.resolve("1.0.0").digest)
    assert data["b"]["digest"] == str(b.resolve("1.1.0").digest)
    statuses = {layer["key"]: layer["status"] for layer in data["layers"]}
    assert statuses["reviews"] == "changed"
    reviews = next(layer for layer in data["layers"] if layer["key"] == "reviews")
    assert reviews["files"]["added"] == ["data/reviews/c.csv"]
    assert any(f["path"] == "model.parameters.metrics.accuracy" for f in data["fields"])


def test_annotations_are_compared() -> None:
    storage = MemoryStorage()
    put_modelkit(storage, "a", BASE, BASE_FILES, annotations={"org.opencontainers.image.created": "2024-01-01"})
    put_modelkit(storage, "b", BASE, BASE_FILES, annotations={"org.opencontainers.image.created": "2024-02-01"})
    result = diff_storages(storage, _ref("a"), storage, _ref("b"))
    assert not result.identical and result.same_config
    assert result.fields == ()
    assert [c.path for c in result.annotations] == ["org.opencontainers.image.created"]


def test_not_a_modelkit_is_refused() -> None:
    storage = MemoryStorage()
    config = b"{}"
    cdesc = Descriptor.for_bytes("application/vnd.oci.image.config.v1+json", config)
    storage.push_blob(cdesc, io.BytesIO(config))
    storage.push_manifest(Manifest(cdesc, ()).to_bytes(), MANIFEST, tag="image")
    put_modelkit(storage, "1.0.0", BASE, BASE_FILES)
    with pytest.raises(NotAModelKitError, match="image"):
        diff_storages(storage, _ref("1.0.0"), storage, _ref("image"))


def test_field_changes_numbers_and_booleans() -> None:
    assert field_changes({"x": 1}, {"x": 1.0}) == []
    assert [c.change for c in field_changes({"x": 1}, {"x": True})] == ["changed"]
    assert [c.change for c in field_changes({"x": [1, 2]}, {"x": [2, 1]})] == ["changed"]
    assert field_changes({"x": {"y": None}}, {"x": {"y": None}}) == []
    # two elements with the same name are told apart by position, not merged
    same_name_a = {"d": [{"name": "x", "path": "a"}, {"name": "x", "path": "b"}]}
    same_name_b = {"d": [{"name": "x", "path": "a"}, {"name": "x", "path": "c"}]}
    assert field_changes(same_name_a, same_name_b) == [FieldChange("d[#1].path", "b", "c", "changed")]


def test_two_datasets_with_the_same_name_are_two_layers() -> None:
    storage = MemoryStorage()
    kit = copy.deepcopy(BASE)
    kit["datasets"][1]["name"] = "reviews"
    put_modelkit(storage, "1.0.0", kit, BASE_FILES)
    files = copy.deepcopy(BASE_FILES)
    files[("datasets", 1)] = {"data/holdout.csv": b"x,0\n"}
    put_modelkit(storage, "1.0.1", kit, files)
    result = diff_storages(storage, _ref("1.0.0"), storage, _ref("1.0.1"))
    datasets = [(c.key, c.status) for c in result.layers if c.kind == "dataset"]
    assert datasets == [("#1", "changed"), ("reviews", "same")]


def test_read_modelkit_ties_every_layer_to_its_element() -> None:
    storage = MemoryStorage()
    put_modelkit(storage, "1.0.0", BASE, BASE_FILES)
    view = read_modelkit(storage, "1.0.0", _ref("1.0.0"))
    assert [(layer.kind, layer.key) for layer in view.layers] == [
        ("model", "model"), ("modelpart", "vocabulary"), ("code", "train.py"),
        ("dataset", "reviews"), ("dataset", "holdout"), ("docs", "README.md"),
    ]
    assert {layer.digest for layer in view.layers} == {layer.digest for layer in view.manifest.layers}


# ------------------------------------------------------------------------------------- lineage


def _version(kit: dict[str, Any], version: str, **model: Any) -> dict[str, Any]:
    out = copy.deepcopy(kit)
    out["package"]["version"] = version
    out["model"].update(model)
    return out


def test_lineage_parents_shared_layers_and_stages() -> None:
    storage = MemoryStorage("registry.example/acme/sentiment")
    v1 = put_modelkit(storage, "1.0.0", BASE, BASE_FILES)
    kit2, files2 = _v2()
    v2 = put_modelkit(storage, "1.1.0", kit2, files2)
    # 1.2.0 is a fine-tune of 1.1.0: its model.path names the parent; it adds an adapter part.
    kit3 = _version(kit2, "1.2.0", path="acme/sentiment:1.1.0",
                    parts=[{"name": "adapter", "path": "model/adapter.bin"}])
    files3 = {k: v for k, v in files2.items() if k[0] != "model" and k[0] != "parts"}
    files3[("parts", 0)] = {"model/adapter.bin": b"adapter"}
    v3 = put_modelkit(storage, "1.2.0", kit3, files3)
    # stages: production holds 1.0.0, staging 1.2.0; heads and referrer tags are bookkeeping
    storage.tag(v1, "production")
    storage.tag(v3, "staging")
    for stage in ("production", "staging"):
        storage.push_manifest(Manifest(Descriptor.for_bytes("application/vnd.oci.empty.v1+json", b"{}",
                                                            data=b"{}"), ()).to_bytes(),
                              MANIFEST, tag=f"stage.{stage}")

    result = lineage_of(storage, Reference.parse("registry.example/acme/sentiment", default_tag=None))
    by_tag = {v.tags[0]: v for v in result.versions}
    assert sorted(by_tag) == ["1.0.0", "1.1.0", "1.2.0"]
    assert result.skipped == ()
    assert by_tag["1.0.0"].stages == ("production",)
    assert by_tag["1.2.0"].stages == ("staging",)
    assert by_tag["1.1.0"].stages == ()
    assert by_tag["1.2.0"].parent == "acme/sentiment:1.1.0"
    assert by_tag["1.2.0"].parent_digest == v2.digest
    assert by_tag["1.0.0"].parent_digest is None
    assert [v.digest for v in result.roots()] == [v1.digest, v2.digest]
    assert [v.digest for v in result.children(v2.digest)] == [v3.digest]

    shared = {(s.kind, s.key): s for s in result.shared}
    # train.py is the same bytes in all three; the changed reviews dataset is shared by 1.1.0 and 1.2.0
    assert set(shared[("code", "train.py")].versions) == {v1.digest, v2.digest, v3.digest}
    assert set(shared[("dataset", "reviews")].versions) == {v2.digest, v3.digest}
    assert ("dataset", "holdout") not in shared  # only in 1.0.0
    assert all(s.kind in ("dataset", "code") for s in result.shared)

    data = json.loads(json.dumps(result.to_dict()))
    assert {"parent": str(v2.digest), "child": str(v3.digest)} in data["edges"]
    assert len(data["edges"]) == 1


def test_lineage_ignores_bookkeeping_tags_and_lists_foreign_artifacts_as_skipped() -> None:
    storage = MemoryStorage("registry.example/acme/sentiment")
    v1 = put_modelkit(storage, "1.0.0", BASE, BASE_FILES)  # its SBOM adds a sha256-<hex> fallback tag
    assert any(t.startswith("sha256-") for t in storage.tags())
    config = b"{}"
    cdesc = Descriptor.for_bytes("application/vnd.oci.image.config.v1+json", config)
    storage.push_blob(cdesc, io.BytesIO(config))
    storage.push_manifest(Manifest(cdesc, ()).to_bytes(), MANIFEST, tag="base-image")
    storage.tag(v1, "latest")
    result = lineage_of(storage, Reference.parse("registry.example/acme/sentiment", default_tag=None))
    assert len(result.versions) == 1
    assert result.versions[0].tags == ("1.0.0", "latest")
    assert result.skipped == ("base-image",)
    assert result.shared == ()


def test_sbom_referrer_is_found_through_the_native_api_too() -> None:
    storage = MemoryStorage(referrers_api=True)
    put_modelkit(storage, "1.0.0", BASE, BASE_FILES)
    put_modelkit(storage, "1.1.0", *_v2())
    assert not any(t.startswith("sha256-") for t in storage.tags())
    listed = storage.referrers(storage.resolve("1.0.0").digest)
    assert listed is not None and [d.artifact_type for d in listed] == [SBOM_MEDIA_TYPE]
    result = diff_storages(storage, _ref("1.0.0"), storage, _ref("1.1.0"))
    reviews = next(c for c in result.layers if c.key == "reviews")
    assert reviews.files is not None and reviews.files.modified == ("data/reviews/b.csv",)
