"""ModelKit indexes (kit 1.17 ``kit index``): exact bytes, hostile input, labels, selection, the local commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Cli  # type: ignore[import-not-found]
from fakes.modelkit import write_project
from ocikit._io._digest import Digest
from ocikit._modelkit._index import (
    ANNOTATION_ORIGINAL_TAG,
    ARTIFACT_TYPE_KIT_INDEX,
    MAX_INDEX_BYTES,
    ModelKitIndex,
    Variant,
    parse_label_changes,
    parse_selector,
)
from ocikit._oci._model import INDEX, MANIFEST, Descriptor
from ocikit._ops._pack import pack
from ocikit.errors import UsageError, VerificationError

GOLDEN = Path(__file__).resolve().parents[1] / "goldens" / "modelkit-index.json"
DIGEST_A = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
DIGEST_B = "sha256:da799e0122c7ed9ee7a934ef25c5e5b7a9bf896252e7215d9dfa9c8894b86bfc"


def _variant(digest: str, labels: tuple[str, ...] = (), tag: str | None = None) -> Variant:
    ann = {ANNOTATION_ORIGINAL_TAG: tag} if tag else {}
    meta = dict(parse_label_changes(labels))
    return Variant(Descriptor(MANIFEST, Digest.parse(digest), 649, ann), {k: v for k, v in meta.items() if v})


def _two() -> ModelKitIndex:
    return ModelKitIndex((
        _variant(DIGEST_A, ("quantization=q4_0", "vram=6GB", 'gpuArchs:=["sm_80", "sm_90"]',
                            "totalParameters:=7000000000"), "q4_0"),
        _variant(DIGEST_B, ("quantization=q8_0",), "q8_0"),
    ))


def test_index_bytes_match_the_golden(update_goldens: bool) -> None:
    data = _two().to_bytes()
    if update_goldens:
        GOLDEN.write_bytes(data)
    assert data == GOLDEN.read_bytes()
    # kit's struct order and its modelMetadata (sorted keys, values compact and verbatim)
    assert data.startswith(b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",'
                           b'"artifactType":"application/vnd.kitops.modelkit.index.v1+json","manifests":[')
    assert (b'"modelMetadata":{"gpuArchs":["sm_80","sm_90"],"quantization":"q4_0",'
            b'"totalParameters":7000000000,"vram":"6GB"}') in data


def test_empty_index_has_an_empty_list_not_null() -> None:
    assert b'"manifests":[]' in ModelKitIndex().to_bytes()


def test_parse_round_trips_byte_for_byte() -> None:
    data = GOLDEN.read_bytes()
    index = ModelKitIndex.from_bytes(data)
    assert index.to_bytes() == data
    assert index.variants[0].labels == {"gpuArchs": '["sm_80","sm_90"]', "quantization": "q4_0",
                                        "totalParameters": "7000000000", "vram": "6GB"}
    assert index.variants[0].to_dict()["labels"]["totalParameters"] == 7000000000


def test_add_replaces_by_digest_and_remove_drops() -> None:
    index = ModelKitIndex().with_variant(_variant(DIGEST_A)).with_variant(_variant(DIGEST_B))
    index = index.with_variant(_variant(DIGEST_A, ("quantization=q4_0",)))
    assert [str(v.descriptor.digest) for v in index.variants] == [DIGEST_A, DIGEST_B]
    assert index.variants[0].labels == {"quantization": "q4_0"}
    assert [str(v.descriptor.digest) for v in index.without(DIGEST_A).variants] == [DIGEST_B]
    with pytest.raises(UsageError, match="no ModelKit"):
        index.without("sha256:" + "0" * 64)


def test_select_exactly_one() -> None:
    index = _two()
    assert str(index.select({"quantization": "q8_0"}, "x").descriptor.digest) == DIGEST_B
    assert str(index.select({"quantization": "q4_0", "vram": "6GB"}, "x").descriptor.digest) == DIGEST_A
    with pytest.raises(UsageError, match="no ModelKit in the index has quantization=q4_0, vram=24GB") as e:
        index.select({"quantization": "q4_0", "vram": "24GB"}, "x")
    assert "q8_0  (quantization=q8_0)" in str(e.value) and e.value.exit_code == 2
    with pytest.raises(UsageError, match="2 ModelKits in the index match") as e:
        index.select({}, "x")
    assert "quantization=q4_0" in str(e.value) and "quantization=q8_0" in str(e.value)
    single = ModelKitIndex((_variant(DIGEST_A),))
    assert str(single.select({}, "x").descriptor.digest) == DIGEST_A
    with pytest.raises(UsageError, match="index contains no ModelKits"):
        ModelKitIndex().select({}, "x")


def test_label_grammar() -> None:
    assert parse_label_changes(["a=b", 'c:={"x": 1}', "d-", "e=f-"]) == [
        ("a", '"b"'), ("c", '{"x":1}'), ("d", None), ("e", '"f-"')]
    for bad in ("bad", "=x", "-"):
        with pytest.raises(UsageError, match="expected key=value to set, or key- to remove"):
            parse_label_changes([bad])
    with pytest.raises(UsageError, match="must be JSON"):
        parse_label_changes(["a:=not json"])
    assert parse_selector(["quantization=q4_0", "vram=6GB"]) == {"quantization": "q4_0", "vram": "6GB"}
    with pytest.raises(UsageError, match="each label can be specified only once"):
        parse_selector(["a=1", "a=2"])
    with pytest.raises(UsageError, match="expected key=value"):
        parse_selector(["a"])


def _doc(*entries: dict[str, object], **top: object) -> bytes:
    obj: dict[str, object] = {"schemaVersion": 2, "mediaType": INDEX, "artifactType": ARTIFACT_TYPE_KIT_INDEX,
                              "manifests": list(entries), **top}
    return json.dumps(obj).encode()


def _entry(digest: str = DIGEST_A, media_type: str = MANIFEST) -> dict[str, object]:
    return {"mediaType": media_type, "digest": digest, "size": 10}


@pytest.mark.parametrize(("data", "message"), [
    (_doc(_entry(media_type=INDEX)), "nested indexes are refused"),
    (_doc(_entry(), _entry()), "is listed twice"),
    (_doc(_entry(media_type="application/vnd.oci.image.layer.v1.tar")), "is not an OCI image manifest"),
    (_doc(_entry()).replace(b'"size": 10', b'"size": 10, "size": 11'), "duplicate key"),
    (_doc(_entry(), artifactType="application/vnd.other"), "not a ModelKit index"),
    (json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": []}).encode(), "not a ModelKit index"),
    (_doc(dict(_entry(), modelMetadata=[1])), "modelMetadata must be an object"),
    (_doc(*[_entry(f"sha256:{i:064x}") for i in range(1025)]), "at most 1024"),
    (b" " * (MAX_INDEX_BYTES + 1), "larger than"),
    (b"{" * 100_000, "not valid JSON"),
])
def test_hostile_indexes_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        ModelKitIndex.from_bytes(data)


def _variants(tmp_path: Path, home: Path) -> None:
    kitfile = "manifestVersion: 1.0.0\npackage: {name: idx}\nmodel: {path: model.bin}\n"
    for q in ("q4_0", "q8_0"):
        ctx = write_project(tmp_path / q, {"model.bin": f"weights-{q}".encode()}, kitfile)
        pack(ctx, tag=f"test/model:{q}", home=home)


def test_local_create_list_unpack_select(cli: Cli, tmp_path: Path, home: Path) -> None:
    _variants(tmp_path, home)
    run = cli
    run("index", "create", "test/model:all", "--add", "test/model:q4_0", "--label", "quantization=q4_0",
        "--label", "vram=6GB", "--add", "test/model:q8_0", "-l", "quantization=q8_0")
    listed = json.loads(run("index", "list", "test/model:all", "--json").stdout)
    assert [(v["tag"], v["labels"]) for v in listed["variants"]] == [
        ("q4_0", {"quantization": "q4_0", "vram": "6GB"}), ("q8_0", {"quantization": "q8_0"})]
    assert all(isinstance(v["size"], int) for v in listed["variants"])
    out = tmp_path / "out"
    run("unpack", "test/model:all", "-d", str(out), "--select", "quantization=q8_0")
    assert (out / "model.bin").read_bytes() == b"weights-q8_0"
    ambiguous = run("unpack", "test/model:all", "-d", str(tmp_path / "o2"), ok=False)
    assert ambiguous.exit_code == 2 and "q4_0  (quantization=q4_0, vram=6GB)" in ambiguous.stderr
    assert "q8_0  (quantization=q8_0)" in ambiguous.stderr
    none = run("unpack", "test/model:all", "-d", str(tmp_path / "o3"), "--select", "quantization=q2_k", ok=False)
    assert none.exit_code == 2 and "no ModelKit in the index has quantization=q2_k" in none.stderr
    on_kit = run("unpack", "test/model:q4_0", "-d", str(tmp_path / "o4"), "--select", "a=b", ok=False)
    assert on_kit.exit_code == 2 and "not a ModelKit index" in on_kit.stderr
    # relabel merges, key- removes; remove drops the entry but keeps the ModelKit
    run("index", "add", "test/model:all", "--add", "test/model:q4_0", "-l", "vram-")
    digest = listed["variants"][0]["digest"]
    after = json.loads(run("index", "list", "test/model:all", "--json").stdout)
    assert after["variants"][0]["labels"] == {"quantization": "q4_0"}
    run("index", "remove", "test/model:all", "--digest", digest)
    after = json.loads(run("index", "list", "test/model:all", "--json").stdout)
    assert [v["tag"] for v in after["variants"]] == ["q8_0"]
    run("unpack", "test/model:all", "-d", str(tmp_path / "o5"))  # one variant: no --select needed
    assert (tmp_path / "o5" / "model.bin").read_bytes() == b"weights-q8_0"
    run("fsck")
    run("gc")  # the index keeps its variants alive
    run("unpack", "test/model:q4_0", "-d", str(tmp_path / "o6"))


def test_sbom_of_an_index_is_the_selected_variants(cli: Cli, tmp_path: Path, home: Path) -> None:
    """``sbom --select`` picks a variant as ``unpack --select`` does; several variants need one."""
    _variants(tmp_path, home)
    cli("index", "create", "test/model:all", "--add", "test/model:q4_0", "-l", "quantization=q4_0",
        "--add", "test/model:q8_0", "-l", "quantization=q8_0")
    chosen = cli("sbom", "test/model:all", "--select", "quantization=q8_0").stdout
    assert chosen == cli("sbom", "test/model:q8_0").stdout
    assert chosen != cli("sbom", "test/model:q4_0").stdout
    ambiguous = cli("sbom", "test/model:all", ok=False)
    assert ambiguous.exit_code == 2 and "q4_0  (quantization=q4_0)" in ambiguous.stderr
    none = cli("sbom", "test/model:all", "--select", "quantization=q2_k", ok=False)
    assert none.exit_code == 2 and "no ModelKit in the index has quantization=q2_k" in none.stderr
