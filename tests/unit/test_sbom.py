"""The CycloneDX SBOM: content, determinism, pickle flags, attach/find, verify-files."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from packageurl import PackageURL

from _sbom_kits import (
    PROJECT_FILES,
    Kitfile,
    Model,
    Package,
    check_sbom,
    iter_components,
    manifest_for,
    pack_layers,
    props,
    sample_kitfile,
    unpack_files,
    write_project,
)
from ocikit._io._digest import Digest
from ocikit._oci._model import EMPTY_CONFIG, MANIFEST, Descriptor, Manifest
from ocikit._oci._reference import Reference
from ocikit._store._referrers import list_referrers
from ocikit._store._storage import MemoryStorage
from ocikit._trust import _sbom_build as _sbom_build
from ocikit._trust._provenance import pickle_kind
from ocikit._trust._sbom import (
    EXECUTABLE_DESERIALIZATION,
    SBOM_MEDIA_TYPE,
    attach_sbom,
    build_sbom,
    find_sbom,
    verify_files,
)
from ocikit.errors import FileVerificationError, OcikitError, PackError, UsageError, VerificationError

GOLDEN = Path(__file__).resolve().parent.parent / "goldens" / "sbom-sentiment.cdx.json"
REF = Reference.parse("registry.example:5000/acme/sentiment:1.0.0")


@pytest.fixture(autouse=True)
def _no_git_above(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the project dirs live in tmp; never let git find a checkout above them
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "project")


def build(project: Path, kitfile: Any = None, **kw: Any) -> tuple[bytes, list[Any], Descriptor, dict[str, bytes]]:
    kitfile = kitfile or sample_kitfile()
    layers, blobs = pack_layers(project, kitfile)
    _, mdesc, _ = manifest_for(layers)
    data = build_sbom(kitfile, layers, mdesc, kw.pop("reference", REF), project, **kw)
    return data, layers, mdesc, blobs


def by_ref(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["bom-ref"]: c for c in iter_components(doc)}


# -- content ---------------------------------------------------------------------------------


def test_sbom_is_valid_cyclonedx_16_and_describes_the_modelkit(project: Path) -> None:
    data, _, mdesc, _ = build(project)
    doc = check_sbom(data)
    meta = doc["metadata"]
    kit = meta["component"]
    assert kit["type"] == "container" and kit["name"] == "sentiment" and kit["version"] == "1.0.0"
    assert [a["name"] for a in kit["authors"]] == ["Ada Lovelace", "ML Team"]
    assert kit["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    assert kit["hashes"] == [{"alg": "SHA-256", "content": mdesc.digest.hex}]
    purl = PackageURL.from_string(kit["purl"])
    assert (purl.type, purl.name, purl.version) == ("oci", "sentiment", str(mdesc.digest))
    assert purl.qualifiers == {"repository_url": "registry.example:5000/acme/sentiment", "tag": "1.0.0"}
    assert {"name": "ocikit", "type": "application", "version": _version()} in meta["tools"]["components"]
    assert meta["timestamp"].startswith("2023-11-14T22:13:20")
    assert props(kit)["ocikit:manifest:digest"] == str(mdesc.digest)


def _version() -> str:
    import ocikit

    return ocikit.__version__


def test_every_file_and_layer_hash_is_the_real_one(project: Path) -> None:
    data, layers, _, blobs = build(project)
    doc = check_sbom(data)
    files = {props(c)["ocikit:file:path"]: c for c in iter_components(doc) if "ocikit:file:path" in props(c)}
    assert set(files) == set(PROJECT_FILES)
    for path, comp in files.items():
        real = hashlib.sha256((project / path).read_bytes()).hexdigest()
        assert comp["hashes"] == [{"alg": "SHA-256", "content": real}], path
        assert props(comp)["ocikit:file:size"] == str((project / path).stat().st_size)
    elements = by_ref(doc)
    for layer in layers:
        ref = "model" if layer.section == "model" else {
            "parts": "part", "code": "code", "datasets": "dataset", "docs": "docs"}[layer.section] + f"-{layer.index}"
        comp = elements[ref]
        blob_hex = hashlib.sha256(blobs[str(layer.descriptor.digest)]).hexdigest()
        assert comp["hashes"] == [{"alg": "SHA-256", "content": blob_hex}]
        assert props(comp)["ocikit:layer:digest"] == f"sha256:{blob_hex}"
        assert props(comp)["ocikit:layer:diffId"] == str(layer.diff_id)
        assert props(comp)["ocikit:layer:mediaType"] == layer.descriptor.media_type


def test_model_card_dataset_data_and_component_types(project: Path) -> None:
    doc = check_sbom(build(project)[0])
    comps = by_ref(doc)
    model = comps["model"]
    assert model["type"] == "machine-learning-model" and model["name"] == "sentiment-model"
    card = model["modelCard"]
    assert card["modelParameters"]["task"] == "text-classification"
    assert card["modelParameters"]["approach"] == {"type": "supervised"}
    assert card["modelParameters"]["datasets"] == [{"ref": "dataset-0"}]
    assert card["quantitativeAnalysis"]["performanceMetrics"] == [
        {"type": "accuracy", "value": "0.93"},
        {"type": "f1", "value": "0.91", "slice": "test"},
    ]
    assert {"name": "ocikit:model:framework", "value": "scikit-learn"} in card["properties"]
    assert comps["part-0"]["type"] == "machine-learning-model"
    assert props(comps["part-0"])["ocikit:part:type"] == "lora-adapter"
    dataset = comps["dataset-0"]
    assert dataset["type"] == "data"
    assert dataset["data"] == [{"type": "dataset", "name": "reviews", "description": "labelled reviews"}]
    assert json.loads(props(dataset)["ocikit:parameters"]) == {"rows": 2}
    assert comps["code-0"]["type"] == "application" and comps["docs-0"]["type"] == "file"
    graph = {d["ref"]: set(d.get("dependsOn", [])) for d in doc["dependencies"]}
    assert graph["modelkit"] == {"model", "part-0", "code-0", "dataset-0", "docs-0"}
    assert graph["model"] == {"part-0"}


def test_python_dependencies_from_the_code_layer(project: Path) -> None:
    doc = check_sbom(build(project)[0])
    comps = by_ref(doc)
    graph = {d["ref"]: set(d.get("dependsOn", [])) for d in doc["dependencies"]}
    # requirements.txt pins numpy and requests; uv.lock pins scikit-learn (replacing ">=1.3")
    assert graph["code-0"] == {"pkg:pypi/numpy@1.26.4", "pkg:pypi/requests@2.32.3", "pkg:pypi/scikit-learn@1.5.2"}
    numpy = comps["pkg:pypi/numpy@1.26.4"]
    assert numpy["purl"] == "pkg:pypi/numpy@1.26.4" and numpy["type"] == "library"
    assert props(numpy)["ocikit:dependency:pinned"] == "true"
    assert props(comps["pkg:pypi/requests@2.32.3"])["ocikit:dependency:extras"] == "socks"
    assert "sentiment" not in {c["name"] for c in comps.values() if c["type"] == "library"}


def test_unpinned_dependency_is_flagged_without_a_purl(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"model/m.safetensors": b"x", "code/requirements.txt": b"torch>=2\n"})
    kf = Kitfile(package=Package(name="p"), model=Model(path="model"),
                 code=(sample_kitfile().code[0],))
    doc = check_sbom(build(root, kf)[0])
    torch = by_ref(doc)["unpinned:pypi/torch"]
    assert "purl" not in torch and "version" not in torch
    assert props(torch)["ocikit:dependency:pinned"] == "false"
    assert props(torch)["ocikit:dependency:specifier"] == ">=2"


def test_include_env_lists_the_packing_environment(project: Path) -> None:
    doc = check_sbom(build(project, include_env=True)[0])
    comps = by_ref(doc)
    env = comps["packing-environment"]
    assert env["type"] == "platform"
    import platform

    assert env["version"] == platform.python_version()
    graph = {d["ref"]: set(d.get("dependsOn", [])) for d in doc["dependencies"]}
    from importlib.metadata import version

    assert f"pkg:pypi/click@{version('click')}" in graph["packing-environment"]
    assert "packing-environment" not in graph["modelkit"]  # what we packed in, not what we ship


# -- pickle ------------------------------------------------------------------------------------


def test_pickle_formats_flagged_and_safetensors_not(project: Path) -> None:
    doc = check_sbom(build(project)[0])
    files = {props(c)["ocikit:file:path"]: props(c) for c in iter_components(doc) if "ocikit:file:path" in props(c)}
    assert files["model/classifier.pkl"][EXECUTABLE_DESERIALIZATION] == "true"
    assert files["model/classifier.pkl"]["ocikit:security:format"] == "pickle"
    assert files["adapter/lora.pt"][EXECUTABLE_DESERIALIZATION] == "true"
    # a .bin says nothing by name; its content (a zip with data.pkl) gives it away
    assert files["model/checkpoint.bin"]["ocikit:security:format"] == "pytorch"
    assert files["model/checkpoint.bin"]["ocikit:security:detectedBy"] == "content"
    for safe in ("model/weights.safetensors", "data/train.csv", "code/train.py"):
        assert EXECUTABLE_DESERIALIZATION not in files[safe], safe
    comps = by_ref(doc)
    assert props(comps["model"])[EXECUTABLE_DESERIALIZATION] == "true"
    assert EXECUTABLE_DESERIALIZATION not in props(comps["dataset-0"])


def test_pickle_detection_by_extension_and_content(tmp_path: Path) -> None:
    raw = tmp_path / "weights.data"
    raw.write_bytes(b"\x80\x04\x95" + b"\x00" * 10)  # pickle protocol 4 under an innocent name
    assert pickle_kind("weights.data", raw) == ("pickle", "content")
    assert pickle_kind("m.joblib", None) == ("joblib", "extension")
    assert pickle_kind("M.PTH", None) == ("pytorch", "extension")
    text = tmp_path / "notes.bin"
    text.write_bytes(b"hello")
    assert pickle_kind("notes.bin", text) is None
    assert pickle_kind("m.safetensors", None) is None


def test_only_safetensors_model_is_not_flagged(tmp_path: Path) -> None:
    from _sbom_kits import safetensors

    root = write_project(tmp_path / "p", {"model/m.safetensors": safetensors()})
    kf = Kitfile(package=Package(name="p"), model=Model(path="model", format="safetensors"))
    doc = check_sbom(build(root, kf, reference=None)[0])
    assert all(EXECUTABLE_DESERIALIZATION not in props(c) for c in iter_components(doc))


def test_kitfile_format_pickle_flags_the_model(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"model/m.dat": b"opaque"})
    kf = Kitfile(package=Package(name="p"), model=Model(path="model", format="joblib"))
    doc = check_sbom(build(root, kf, reference=None)[0])
    assert props(by_ref(doc)["model"])[EXECUTABLE_DESERIALIZATION] == "true"


# -- determinism and provenance ------------------------------------------------------------


def test_same_inputs_same_bytes_and_golden(project: Path, update_goldens: bool) -> None:
    first, _, mdesc, _ = build(project)
    second, _, _, _ = build(project)
    assert first == second
    doc = json.loads(first)
    import uuid

    assert doc["serialNumber"] == f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'ocikit:sbom:{mdesc.digest}')}"
    if update_goldens:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_bytes(first)
    assert first == GOLDEN.read_bytes(), "SBOM changed; review and refresh with pytest --update-goldens"


def test_timestamp_only_from_source_date_epoch(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    data, _, _, _ = build(project)
    assert "timestamp" not in check_sbom(data)["metadata"]
    assert build(project)[0] == data
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        build(project)


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def test_git_commit_and_dirty_flag(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GIT_CEILING_DIRECTORIES")
    _git(project, "init", "-q")
    _git(project, "add", ".")
    _git(project, "commit", "-q", "-m", "init")
    head = _git(project, "rev-parse", "HEAD").strip()
    kit = props(check_sbom(build(project)[0])["metadata"]["component"])
    assert kit["ocikit:git:commit"] == head and kit["ocikit:git:dirty"] == "false"
    (project / "docs" / "README.md").write_bytes(b"# changed\n")
    kit = props(check_sbom(build(project)[0])["metadata"]["component"])
    assert kit["ocikit:git:dirty"] == "true"


def test_no_git_no_property(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(project))  # no git binary on PATH
    kit = props(check_sbom(build(project)[0])["metadata"]["component"])
    assert not any(k.startswith("ocikit:git:") for k in kit)


def test_kitfile_digest_recorded_when_given(project: Path) -> None:
    kf = sample_kitfile()
    layers, _ = pack_layers(project, kf)
    _, mdesc, config = manifest_for(layers)
    cdesc = Descriptor.for_bytes("application/vnd.kitops.modelkit.config.v1+json", config)
    doc = check_sbom(build_sbom(kf, layers, mdesc, REF, project, config=cdesc))
    assert props(doc["metadata"]["component"])["ocikit:kitfile:digest"] == str(cdesc.digest)


def test_dependency_file_changed_after_packing_is_an_error(project: Path) -> None:
    kf = sample_kitfile()
    layers, _ = pack_layers(project, kf)
    _, mdesc, _ = manifest_for(layers)
    (project / "code" / "requirements.txt").write_bytes(b"evil==6.6.6\n")
    with pytest.raises(PackError, match=re.escape("code/requirements.txt changed while packing")):
        build_sbom(kf, layers, mdesc, REF, project)


def test_invalid_sbom_is_never_returned(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = _sbom_build._Builder._patch

    def corrupt(self: Any, doc: dict[str, Any], files: Any) -> None:
        original(self, doc, files)
        doc["components"][0]["type"] = "not-a-type"

    monkeypatch.setattr(_sbom_build._Builder, "_patch", corrupt)
    with pytest.raises(OcikitError, match=re.escape("not valid CycloneDX 1.6")):
        build(project)


@pytest.mark.parametrize("position", [0, -1], ids=["in-the-schema-sample", "beyond-the-sample"])
def test_malformed_file_hash_is_never_output(tmp_path: Path, position: int) -> None:
    import dataclasses

    root = write_project(tmp_path / "p", {f"data/f{i:03d}.txt": b"%d" % i for i in range(30)})
    kf = Kitfile(package=Package(name="p"), datasets=(sample_kitfile().datasets[0],))
    layers, _ = pack_layers(root, kf)
    _, mdesc, _ = manifest_for(layers)
    files = list(layers[0].files)
    files[position] = dataclasses.replace(files[position], sha256="not-hex")
    layers[0] = dataclasses.replace(layers[0], files=tuple(files))
    with pytest.raises(OcikitError, match=re.escape("not valid CycloneDX 1.6")):
        build_sbom(kf, layers, mdesc, None, None)


def test_many_files_are_all_validated_and_listed(tmp_path: Path) -> None:
    files = {f"data/f{i:04d}.txt": b"%d" % i for i in range(600)}
    root = write_project(tmp_path / "p", files)
    kf = Kitfile(package=Package(name="p"), datasets=(sample_kitfile().datasets[0],))
    doc = check_sbom(build(root, kf, reference=None)[0])
    listed = [c for c in iter_components(doc) if "ocikit:file:path" in props(c)]
    assert sorted(props(c)["ocikit:file:path"] for c in listed) == sorted(files)


def test_no_context_dir_still_valid(project: Path) -> None:
    kf = sample_kitfile()
    layers, _ = pack_layers(project, kf)
    _, mdesc, _ = manifest_for(layers)
    doc = check_sbom(build_sbom(kf, layers, mdesc, None, None))
    assert not [c for c in iter_components(doc) if c["type"] == "library"]  # no files read
    purl = PackageURL.from_string(doc["metadata"]["component"]["purl"])
    assert purl.name == "sentiment" and not purl.qualifiers


# -- attach / find -------------------------------------------------------------------------


def _subject(storage: MemoryStorage) -> Descriptor:
    config = Descriptor.for_bytes("application/vnd.kitops.modelkit.config.v1+json", b"{}")
    storage.push_blob(config, io.BytesIO(b"{}"))
    return storage.push_manifest(Manifest(config, ()).to_bytes(), MANIFEST, tag="1.0.0")


@pytest.mark.parametrize("api", [False, True], ids=["fallback-tag", "referrers-api"])
def test_attach_then_find(project: Path, api: bool) -> None:
    storage = MemoryStorage(referrers_api=api)
    subject = _subject(storage)
    data = build(project)[0]
    check_sbom(data)
    entry = attach_sbom(storage, subject, data)
    assert entry.artifact_type == SBOM_MEDIA_TYPE
    manifest = Manifest.from_bytes(storage.manifests[entry.digest][1])
    assert manifest.artifact_type == SBOM_MEDIA_TYPE
    assert manifest.config.media_type == EMPTY_CONFIG and manifest.config.size == 2
    assert storage.blobs[manifest.config.digest] == b"{}"
    assert [layer.media_type for layer in manifest.layers] == [SBOM_MEDIA_TYPE]
    assert manifest.layers[0].digest == Digest.of_bytes(data)
    assert manifest.subject is not None and manifest.subject.digest == subject.digest
    assert [d.digest for d in list_referrers(storage, subject.digest, artifact_type=SBOM_MEDIA_TYPE)] == [entry.digest]
    assert find_sbom(storage, subject.digest) == data
    # attaching the same SBOM again adds nothing
    attach_sbom(storage, subject, data)
    assert len(list_referrers(storage, subject.digest)) == 1


def test_find_sbom_none_when_absent() -> None:
    storage = MemoryStorage()
    assert find_sbom(storage, _subject(storage).digest) is None


def test_find_sbom_refuses_a_tampered_blob(project: Path) -> None:
    storage = MemoryStorage()
    subject = _subject(storage)
    data = build(project)[0]
    attach_sbom(storage, subject, data)
    storage.blobs[Digest.of_bytes(data)] = data.replace(b"sentiment", b"sentimenT")
    with pytest.raises(VerificationError):
        find_sbom(storage, subject.digest)


def test_find_sbom_skips_a_malformed_referrer_for_a_good_one(project: Path) -> None:
    from ocikit._store._referrers import push_referrer

    storage = MemoryStorage()
    subject = _subject(storage)
    data = build(project)[0]
    attach_sbom(storage, subject, data)
    # a later "SBOM" with two layers: not the shape Trivy or we accept
    layer = Descriptor.for_bytes(SBOM_MEDIA_TYPE, b"{}")
    storage.push_blob(layer, io.BytesIO(b"{}"))
    empty = Descriptor.for_bytes(EMPTY_CONFIG, b"{}")
    push_referrer(storage, Manifest(empty, (layer, layer), artifact_type=SBOM_MEDIA_TYPE,
                                    subject=Descriptor(MANIFEST, subject.digest, subject.size)))
    assert len(list_referrers(storage, subject.digest, artifact_type=SBOM_MEDIA_TYPE)) == 2
    assert find_sbom(storage, subject.digest) == data


# -- verify-files --------------------------------------------------------------------------


@pytest.fixture
def unpacked(project: Path, tmp_path: Path) -> Path:
    data, layers, _, _ = build(project)
    target = tmp_path / "serve"
    unpack_files(project, layers, target)
    (target / "Kitfile").write_text("manifestVersion: 1.0.0\n")
    (target / "SBOM.json").write_bytes(data)
    return target


def test_verify_files_ok(unpacked: Path) -> None:
    result = verify_files(unpacked, unpacked / "SBOM.json")
    assert result.files == len(PROJECT_FILES)
    assert result.bytes == sum(len(b) for b in PROJECT_FILES.values())
    assert result.subject is not None and result.subject.startswith("pkg:oci/sentiment@sha256:")
    assert verify_files(unpacked).files == result.files  # SBOM.json is the default


def test_verify_files_extra(unpacked: Path) -> None:
    (unpacked / "model" / "backdoor.pkl").write_bytes(b"\x80\x04.")
    with pytest.raises(FileVerificationError, match=r"1 extra\): extra model/backdoor.pkl$") as e:
        verify_files(unpacked, unpacked / "SBOM.json")
    assert e.value.exit_code == 3


def test_verify_files_missing(unpacked: Path) -> None:
    (unpacked / "code" / "train.py").unlink()
    with pytest.raises(FileVerificationError, match=r"1 missing\): missing code/train.py$") as e:
        verify_files(unpacked, unpacked / "SBOM.json")
    assert e.value.exit_code == 3


def test_verify_files_modified_same_size(unpacked: Path) -> None:
    path = unpacked / "data" / "train.csv"
    path.write_bytes(path.read_bytes().replace(b"good,1", b"good,0"))  # same size, other bytes
    with pytest.raises(FileVerificationError, match=r"1 modified\): modified data/train.csv \(sha256 ") as e:
        verify_files(unpacked, unpacked / "SBOM.json")
    assert e.value.exit_code == 3
    data = path.read_bytes()
    assert e.value.modified == [{
        "path": "data/train.csv",
        "size": len(data),
        "expectedSize": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "expectedSha256": hashlib.sha256(PROJECT_FILES["data/train.csv"]).hexdigest(),
    }]


def test_verify_files_modified_size_and_not_regular_are_objects(unpacked: Path, tmp_path: Path) -> None:
    (unpacked / "data" / "train.csv").write_bytes(b"short")
    readme = unpacked / "docs" / "README.md"
    readme.unlink()
    readme.symlink_to(tmp_path / "elsewhere.md")
    with pytest.raises(FileVerificationError, match=re.escape("data/train.csv (5 bytes, expected ")) as e:
        verify_files(unpacked, unpacked / "SBOM.json")
    assert e.value.modified == [
        {"path": "data/train.csv", "size": 5, "expectedSize": len(PROJECT_FILES["data/train.csv"]),
         "sha256": None, "expectedSha256": hashlib.sha256(PROJECT_FILES["data/train.csv"]).hexdigest()},
        {"path": "docs/README.md", "size": None, "expectedSize": len(PROJECT_FILES["docs/README.md"]),
         "sha256": None, "expectedSha256": hashlib.sha256(PROJECT_FILES["docs/README.md"]).hexdigest()},
    ]
    assert e.value.missing == [] and e.value.extra == []


def test_verify_files_symlink_instead_of_file(unpacked: Path, tmp_path: Path) -> None:
    target = unpacked / "docs" / "README.md"
    outside = tmp_path / "outside.md"
    outside.write_bytes(target.read_bytes())
    target.unlink()
    target.symlink_to(outside)
    with pytest.raises(FileVerificationError, match=re.escape("docs/README.md (not a regular file)")):
        verify_files(unpacked, unpacked / "SBOM.json")


def test_verify_files_sbom_outside_dir_makes_sbom_json_extra(unpacked: Path, tmp_path: Path) -> None:
    outside = tmp_path / "bom.json"
    outside.write_bytes((unpacked / "SBOM.json").read_bytes())
    assert verify_files(unpacked, outside).files == len(PROJECT_FILES)  # unpack's SBOM.json is expected
    (unpacked / "notes.txt").write_text("x")
    with pytest.raises(FileVerificationError, match=re.escape("extra notes.txt")):
        verify_files(unpacked, outside)


def test_verify_files_refuses_hostile_paths(unpacked: Path) -> None:
    doc = json.loads((unpacked / "SBOM.json").read_bytes())
    comp = doc["components"][0]["components"][0]
    for p in comp["properties"]:
        if p["name"] == "ocikit:file:path":
            p["value"] = "../../etc/passwd"
    (unpacked / "SBOM.json").write_text(json.dumps(doc))
    with pytest.raises(FileVerificationError, match=re.escape("unsafe file path '../../etc/passwd'")):
        verify_files(unpacked)


def test_verify_files_bad_sbom(unpacked: Path) -> None:
    (unpacked / "SBOM.json").write_text("{not json")
    with pytest.raises(FileVerificationError, match="not valid JSON") as e:
        verify_files(unpacked)
    assert "ocikit sbom" in e.value.hint  # not "the files on disk differ": the SBOM is the problem
    (unpacked / "SBOM.json").write_text(json.dumps({"bomFormat": "SPDX"}))
    with pytest.raises(FileVerificationError, match="not a CycloneDX document") as e:
        verify_files(unpacked)
    assert "ocikit sbom" in e.value.hint
    (unpacked / "SBOM.json").write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6"}))
    with pytest.raises(FileVerificationError, match="lists no files"):
        verify_files(unpacked)


def test_model_from_another_modelkit_has_no_layer_but_is_described(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"code/train.py": b"x\n"})
    kf = Kitfile(package=Package(name="p"), model=Model(path="registry.example/acme/base:1.0"),
                 code=(sample_kitfile().code[0],))
    doc = check_sbom(build(root, kf, reference=None)[0])
    model = by_ref(doc)["model"]
    assert props(model)["ocikit:model:reference"] == "registry.example/acme/base:1.0"
    assert "hashes" not in model and "components" not in model
