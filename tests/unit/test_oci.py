from __future__ import annotations

import json

import pytest

from ocikit._io._digest import Digest
from ocikit._oci._gojson import go_float, go_json
from ocikit._oci._model import (
    INDEX,
    KITOPS_CONFIG,
    MANIFEST,
    MAX_MANIFEST_BYTES,
    Descriptor,
    Index,
    Manifest,
    parse_manifest_or_index,
)
from ocikit.errors import VerificationError

D = "sha256:" + "0" * 64


def test_go_json_escapes_like_go() -> None:
    assert go_json({"b": "<a&b>", "a": "é\u2028"}) == b'{"b":"\\u003ca\\u0026b\\u003e","a":"\xc3\xa9\\u2028"}'


@pytest.mark.parametrize(("value", "expected"), [
    (1200.0, "1200"), (12.3, "12.3"), (0.1, "0.1"), (1e-5, "0.00001"), (1e-6, "0.000001"),
    (1e-7, "1e-7"), (1.5e-7, "1.5e-7"), (1e20, "100000000000000000000"), (1e21, "1e+21"),
    (1.5e300, "1.5e+300"), (-0.0, "-0"), (0.0, "0"), (-2.5, "-2.5"), (1e-100, "1e-100"),
])
def test_go_float_format(value: float, expected: str) -> None:
    assert go_float(value) == expected


def test_go_json_is_one_encoder_for_nested_values() -> None:
    # Floats anywhere use Go's format; key order is the caller's; NaN and non-string keys are refused.
    assert go_json({"z": [1e-7, 1.0, {"b": 2.5, "a": None}], "a": (True, "x")}) == (
        b'{"z":[1e-7,1,{"b":2.5,"a":null}],"a":[true,"x"]}'
    )
    with pytest.raises(ValueError):
        go_json({"x": float("nan")})
    with pytest.raises(TypeError):
        go_json({1: "x"})


def test_manifest_roundtrip_and_key_order() -> None:
    cfg = Descriptor.for_bytes(KITOPS_CONFIG, b"{}")
    layer = Descriptor("application/vnd.kitops.modelkit.model.v1.tar", Digest.parse(D), 5)
    m = Manifest(cfg, (layer,), {"z": "1", "a": "2"}, artifact_type="x/y")
    data = m.to_bytes()
    assert list(json.loads(data)) == ["schemaVersion", "mediaType", "artifactType", "config", "layers", "annotations"]
    assert list(json.loads(data)["annotations"]) == ["a", "z"]
    assert Manifest.from_bytes(data) == m


def test_reads_kit_v17_manifest_without_media_type_and_null_layers() -> None:
    body = json.dumps({"schemaVersion": 2, "config": {"mediaType": KITOPS_CONFIG, "digest": D, "size": 2}, "layers": None})
    m = Manifest.from_bytes(body.encode())
    assert m.layers == () and m.media_type is None


@pytest.mark.parametrize(
    "obj",
    [
        {"schemaVersion": 2, "config": {"mediaType": "a", "digest": D, "size": 1}, "layers": [], "manifests": []},
        {"schemaVersion": 1, "config": {"mediaType": "a", "digest": D, "size": 1}, "layers": []},
        {"schemaVersion": 2, "config": {"mediaType": "a", "digest": "sha256:../../x", "size": 1}, "layers": []},
        {"schemaVersion": 2, "config": {"mediaType": "a", "digest": D, "size": -1}, "layers": []},
        {"schemaVersion": 2, "config": {"mediaType": "a", "digest": D, "size": True}, "layers": []},
        {"schemaVersion": 2, "config": {"mediaType": "a", "digest": D, "size": 1}, "layers": {}},
        {"schemaVersion": 2, "config": {"mediaType": "a", "digest": D, "size": 1}, "layers": [], "annotations": {"a": 1}},
    ],
    ids=["both-image-and-index", "schema1", "digest-path", "negative-size", "bool-size", "layers-object", "annotation-int"],
)
def test_hostile_manifests_refused(obj: dict[str, object]) -> None:
    with pytest.raises(VerificationError):
        parse_manifest_or_index(json.dumps(obj).encode(), None)


def test_huge_manifest_refused() -> None:
    with pytest.raises(VerificationError, match="limit"):
        Manifest.from_bytes(b" " * (MAX_MANIFEST_BYTES + 1))


def test_media_type_disagreement_refused() -> None:
    body = Index(()).to_bytes()
    with pytest.raises(VerificationError, match="served as"):
        parse_manifest_or_index(body, MANIFEST)
    assert isinstance(parse_manifest_or_index(body, INDEX), Index)


def test_descriptor_data_is_verified() -> None:
    good = {"mediaType": "x", "digest": str(Digest.of_bytes(b"{}")), "size": 2, "data": "e30="}
    assert Descriptor.from_dict(good).data == b"{}"
    with pytest.raises(VerificationError):
        Descriptor.from_dict({**good, "data": "W10="})
