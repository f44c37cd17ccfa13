"""Kitfile loading, validation, YAML/JSON forms, paths (docs/compatibility.md §2, §2.5)."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import pytest

from ocikit._io._digest import Digest
from ocikit._kitfile._elements import (
    Code,
    DataSet,
    Docs,
    LayerElement,
    LayerInfo,
    Model,
    ModelPart,
    Package,
    is_modelkit_reference,
)
from ocikit._kitfile._model import Kitfile, find_kitfile
from ocikit._kitfile._schema import SCHEMA_NAME, fast_check
from ocikit._kitfile._yaml import Converter, compose
from ocikit._schemas import load_schema, schema_path, validator
from ocikit.errors import KitfileError

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "schemas" / "examples"
GOLDENS = REPO / "tests" / "goldens"
VALID = sorted(EXAMPLES.glob("valid/*.yaml"))
INVALID = sorted(EXAMPLES.glob("invalid/*.yaml"))


def _header(path: Path, key: str) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"# {key}: "):
            return line[len(f"# {key}: "):]
    raise AssertionError(f"{path.name} has no '# {key}:' line")


# ---- conformance corpus ---------------------------------------------------------------------


def test_corpus_is_not_empty() -> None:
    assert len(VALID) >= 10 and len(INVALID) >= 20


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_example_config_json_is_exact(path: Path) -> None:
    kitfile = Kitfile.load(path)
    assert kitfile.to_config_json({}).decode("utf-8") == _header(path, "config")


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_example_round_trips(path: Path) -> None:
    kitfile = Kitfile.load(path)
    assert Kitfile.loads(kitfile.to_yaml()) == kitfile
    again, infos = Kitfile.from_config_json(kitfile.to_config_json({}))
    assert again == kitfile and infos == {}
    assert Kitfile.from_dict(kitfile.to_dict()) == kitfile


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_example_fails_with_expected_message(path: Path) -> None:
    expected = _header(path, "error")
    with pytest.raises(KitfileError) as info:
        Kitfile.loads(path.read_text(encoding="utf-8"), source="Kitfile")
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def _raw(path: Path) -> object:
    root = compose(path.read_text(encoding="utf-8"), "Kitfile")
    if root is None or root.kind != "map":
        raise KitfileError("not a Kitfile mapping")
    return Converter("Kitfile").raw(root, ())


def _reaches_schema(path: Path) -> bool:
    try:
        _raw(path)
    except KitfileError:
        return False  # refused at the YAML level: the schema never sees it
    return True


SCHEMA_LEVEL = [p for p in VALID + INVALID if _reaches_schema(p)]


def test_schema_level_examples_include_invalid_ones() -> None:
    assert len([p for p in SCHEMA_LEVEL if p in INVALID]) >= 8


@pytest.mark.parametrize("path", SCHEMA_LEVEL, ids=lambda p: p.stem)
def test_fast_check_agrees_with_jsonschema(path: Path) -> None:
    raw = _raw(path)
    fast = fast_check("kitfile.schema.json")
    assert fast is not None
    assert fast(raw) == validator("kitfile.schema.json").is_valid(raw)


@pytest.mark.parametrize("raw", [
    {"model": {"parts": [{"path": "p", "type": "x" * 64}]}},
    {"model": {"parts": [{"path": "p", "type": "x" * 65}]}},
    {"model": {"parts": [{"path": "p", "type": "é"}]}},
    {"package": {"authors": ["a", 1]}},
    {"code": [{"path": ""}]},
    {"code": [{}]},
    {"docs": [{"path": "a", "extra": 1}]},
    {"datasets": [{"path": "a", "parameters": {"any": [1, {"x": None}]}}]},
    {"manifestVersion": 1},
])
def test_fast_check_agrees_with_jsonschema_on_edge_values(raw: dict[str, object]) -> None:
    fast = fast_check("kitfile.schema.json")
    assert fast is not None
    assert fast(raw) == validator("kitfile.schema.json").is_valid(raw)


# ---- text preservation and parameters -------------------------------------------------------


def test_string_fields_keep_source_text() -> None:
    k = Kitfile.loads("manifestVersion: 1.0\npackage:\n  name: no\n  version: 1.10\n  license: 012\n")
    assert k.manifest_version == "1.0"
    assert k.package == Package(name="no", version="1.10", license="012")


def test_parameters_keep_json_types() -> None:
    k = Kitfile.loads(
        "model:\n  path: m\n  parameters:\n    a: 1\n    b: 1.5\n    c: true\n    d: 'true'\n"
        "    e: [1, x]\n    f: {g: null}\n    t: 2024-01-01T10:00:00Z\n    y: yes\n"
    )
    assert k.model is not None
    assert k.model.parameters == {"a": 1, "b": 1.5, "c": True, "d": "true", "e": [1, "x"], "f": {"g": None},
                                  "t": "2024-01-01T10:00:00Z", "y": "yes"}


def test_parameters_yaml_to_json_is_sorted_and_exact() -> None:
    k = Kitfile.loads("datasets:\n  - path: d\n    parameters:\n      z: 1\n      a: {c: 2, b: [1.0, 2.5]}\n")
    assert k.to_config_json({}) == (
        b'{"manifestVersion":"","package":{},"datasets":[{"path":"d","parameters":{"a":{"b":[1,2.5],"c":2},"z":1}}]}'
    )


def test_parameters_non_string_key_refused() -> None:
    with pytest.raises(KitfileError, match=r"Kitfile:4:5: model\.parameters: mapping key '2' is a integer"):
        Kitfile.loads("model:\n  path: m\n  parameters:\n    2: two\n")


def test_quoted_numeric_key_is_fine() -> None:
    k = Kitfile.loads("model:\n  path: m\n  parameters:\n    '2': two\n")
    assert k.model is not None and k.model.parameters == {"2": "two"}


def test_explicit_standard_tags() -> None:
    k = Kitfile.loads("model:\n  path: m\n  parameters:\n    a: !!str 12\n    b: !!float 1\n    c: !!int '7'\n")
    assert k.model is not None and k.model.parameters == {"a": "12", "b": 1.0, "c": 7}
    with pytest.raises(KitfileError, match="cannot read 'x' as !!int"):
        Kitfile.loads("model:\n  parameters:\n    a: !!int x\n")


# ---- errors name file, line and field --------------------------------------------------------


def test_error_names_file_line_column_and_field(tmp_path: Path) -> None:
    p = tmp_path / "Kitfile"
    p.write_text("manifestVersion: 1.0.0\ndatasets:\n  - path: a\n  - path: b\n    nmae: x\n")
    with pytest.raises(KitfileError) as info:
        Kitfile.load(p)
    assert str(info.value).startswith(f"{p}:5:5: datasets[1].nmae: unknown field 'nmae'")


def test_unknown_field_suggests_the_close_one() -> None:
    with pytest.raises(KitfileError, match=r"Kitfile:2:1: modle: unknown field 'modle' \(did you mean 'model'\?"):
        Kitfile.loads("manifestVersion: 1.0.0\nmodle:\n  path: m.bin\n")
    with pytest.raises(KitfileError, match=r"model\.frmework: unknown field 'frmework' \(did you mean 'framework'\?"):
        Kitfile.loads("model:\n  path: m.bin\n  frmework: torch\n")
    with pytest.raises(KitfileError) as info:  # nothing close: no guess
        Kitfile.loads("model:\n  path: m.bin\n  zzz: 1\n")
    assert "did you mean" not in str(info.value)


@pytest.mark.parametrize("text", [
    "package:\n\tname: x\n",  # a tab as the whole indentation
    "model:\n  path: m.bin\n  \tname: y\n",  # a tab after spaces
])
def test_tab_indentation_hint(text: str) -> None:
    with pytest.raises(KitfileError, match="invalid YAML") as info:
        Kitfile.loads(text)
    assert info.value.hint == "YAML indentation must use spaces, not tabs"


def test_several_errors_report_the_first_and_a_count() -> None:
    with pytest.raises(KitfileError) as info:
        Kitfile.loads("code:\n  - path: a\n    x: 1\n  - path: b\n    y: 2\n")
    assert str(info.value).startswith("Kitfile:3:5: code[0].x: unknown field 'x'")
    assert "(and 1 more problems)" in str(info.value)


def test_duplicate_key_reports_both_lines() -> None:
    with pytest.raises(KitfileError, match=r"Kitfile:3:3: package\.name: duplicate key \(first defined on line 2\)"):
        Kitfile.loads("package:\n  name: a\n  name: b\n")


def test_from_dict_validates() -> None:
    with pytest.raises(KitfileError, match=r"cfg: model\.version: expected a string, got number"):
        Kitfile.from_dict({"model": {"version": 1.1}}, source="cfg")
    with pytest.raises(KitfileError, match="NaN"):
        Kitfile.from_dict({"model": {"parameters": {"x": float("nan")}}})


# ---- YAML output -----------------------------------------------------------------------------


def test_to_yaml_style() -> None:
    k = Kitfile(
        manifest_version="1.0.0",
        package=Package(name="demo", version="1.10", authors=("Jane", "Bob")),
        model=Model(name="m", path="model.bin", parameters={"b": "yes", "a": 1}),
        code=(Code(path="src/"),),
    )
    assert k.to_yaml() == (
        "manifestVersion: 1.0.0\n"
        "package:\n  name: demo\n  version: '1.10'\n  authors: [Jane, Bob]\n"
        "model:\n  name: m\n  path: model.bin\n  parameters:\n    a: 1\n    b: 'yes'\n"
        "code:\n  - path: src/\n"
    )


def test_to_yaml_quotes_what_yaml_v3_would_retype() -> None:
    params = {"hex": "0x10", "under": "1_000", "dot": ".5", "multi": "a\nb\n", "null": "~", "t": "True"}
    k = Kitfile(model=Model(path="m", parameters=params))
    again = Kitfile.loads(k.to_yaml())
    assert again.model is not None and again.model.parameters == params


# ---- config JSON -----------------------------------------------------------------------------

_M = Digest.parse("sha256:141e8b1bad9f73a8ef23b8059e0a47b3799fc5c0b542a747e4c18e0e4d21d6c9")
_MD = Digest.parse("sha256:ca12f8f17b93761e9081b383a23f7aea48039c9fb05ca10f2851747adc260045")
_C = Digest.parse("sha256:c88c0a26c8946ddcb594f325113781a1ca33bdfd2d90725602b132c4aaef5465")
_D = Digest.parse("sha256:f254177d6dc233b78400657448761447320f473cbf27401dd10699c92ba6e476")

_BASIC = """manifestVersion: 1.0.0
package:
  name: test-basic
model:
  name: test-model
  path: ./model
code:
  - path: ./code
datasets:
  - name: test-dataset
    path: ./datasets
"""
_FULL = """manifestVersion: 1.0.0
package:
  name: full
  authors: [a]
model:
  name: m
  path: model.bin
  parts:
    - path: part.bin
      type: lora
  parameters:
    b: 2
    a: {y: 1, x: 0.5}
docs:
  - path: README.md
    description: Readme
"""


@pytest.mark.parametrize(("name", "text", "infos"), [
    ("kitfile-config-basic.json", _BASIC, {("model", 0): LayerInfo(_M, _MD), ("code", 0): LayerInfo(_C, _C),
                                           ("datasets", 0): LayerInfo(_D, _D)}),
    ("kitfile-config-full.json", _FULL, {("model", 0): LayerInfo(_M, _MD), ("parts", 0): LayerInfo(_C, _C),
                                         ("docs", 0): LayerInfo(_D, _D)}),
])
def test_config_json_golden(name: str, text: str, infos: dict[tuple[str, int], LayerInfo],
                            update_goldens: bool) -> None:
    data = Kitfile.loads(text).to_config_json(infos)
    golden = GOLDENS / name
    if update_goldens:
        golden.write_bytes(data)
    assert data == golden.read_bytes()
    kitfile, read_infos = Kitfile.from_config_json(data)
    assert kitfile == Kitfile.loads(text)
    assert read_infos == infos


def test_config_json_always_has_package_and_docs_path() -> None:
    k = Kitfile(docs=(Docs(path="a", description="x"),))
    assert k.to_config_json() == b'{"manifestVersion":"","package":{},"docs":[{"path":"a","description":"x"}]}'


def test_config_json_refuses_infos_for_non_layers() -> None:
    k = Kitfile(model=Model(path="acme/base:1"))
    with pytest.raises(ValueError, match="not layers"):
        k.to_config_json({("model", 0): LayerInfo(_M, _M)})


def test_from_config_json_tolerates_unknown_keys_written_by_newer_kit() -> None:
    data = json.dumps({
        "manifestVersion": "1.0.0", "package": {"name": "x"}, "skills": [{"path": "p"}],
        "datasets": [{"name": "d", "path": "d", "checksum": "s3://x", "digest": str(_D), "diffId": str(_D)}],
    }).encode()
    kitfile, infos = Kitfile.from_config_json(data)
    assert kitfile.datasets == (DataSet(name="d", path="d"),)
    assert infos == {("datasets", 0): LayerInfo(_D, _D)}


def test_from_config_json_reads_kit_117_prompts_mcp_servers_and_remote_datasets() -> None:
    data = json.dumps({
        "manifestVersion": "1.0.0", "package": {"name": "x"},
        "datasets": [{"name": "d", "path": "d", "remotePath": "s3://b/k", "remoteHash": "abc"}],
        "prompts": [{"name": "p", "path": "p.prompt.md", "digest": str(_D), "diffId": str(_D)}],
        "mcpServers": [{"name": "fs", "path": "fs.mcpb", "digest": str(_M), "diffId": str(_M)}],
    }).encode()
    kitfile, infos = Kitfile.from_config_json(data)
    assert kitfile.datasets == (DataSet(name="d", path="d", remote_path="s3://b/k", remote_hash="abc"),)
    assert [e.kind for e in kitfile.layer_elements()] == ["prompt", "mcpb"]  # a remote dataset has no layer
    assert infos == {("prompts", 0): LayerInfo(_D, _D), ("mcpServers", 0): LayerInfo(_M, _M)}
    assert kitfile.to_config_json(infos) == data.replace(b", ", b",").replace(b": ", b":")


@pytest.mark.parametrize(("data", "message"), [
    (b"[]", "must be a JSON object"),
    (b"{not json", "not valid JSON"),
    (b'{"model":{"name":1}}', r"model\.name: expected a string, got integer"),
    (b'{"code":{"path":"x"}}', r"code: expected a list"),
    (b'{"code":[{"path":"x","digest":"sha256:abc"}]}', r"code\[0\]\.digest: invalid digest"),
    (b'{"model":{"path":"m","parameters":{"x":NaN}}}', "invalid JSON number NaN"),
])
def test_from_config_json_type_errors(data: bytes, message: str) -> None:
    with pytest.raises(KitfileError, match=message):
        Kitfile.from_config_json(data)


def test_digest_is_sha256_of_canonical_bytes() -> None:
    k = Kitfile.loads(_BASIC)
    assert k.digest == Digest.of_bytes(k.canonical_bytes())
    assert Kitfile.loads(_BASIC.replace("test-basic", "other")).digest != k.digest


# ---- layer elements and references -----------------------------------------------------------


def test_layer_elements_in_manifest_order() -> None:
    k = Kitfile(
        model=Model(path="m", parts=(ModelPart(path="p0"), ModelPart(path="p1"))),
        code=(Code(path="c"),), datasets=(DataSet(path="d"),), docs=(Docs(path="r"),),
    )
    assert k.layer_elements() == [
        LayerElement("model", "model", 0, "m"), LayerElement("modelpart", "parts", 0, "p0"),
        LayerElement("modelpart", "parts", 1, "p1"), LayerElement("code", "code", 0, "c"),
        LayerElement("dataset", "datasets", 0, "d"), LayerElement("docs", "docs", 0, "r"),
    ]


@pytest.mark.parametrize("path", [None, "", "acme/base:1.0", "registry.example.com:5000/a/b@sha256:" + "0" * 64])
def test_model_without_layer(path: str | None) -> None:
    k = Kitfile(model=Model(path=path, parts=(ModelPart(path="p"),)))
    assert [e.kind for e in k.layer_elements()] == ["modelpart"]


@pytest.mark.parametrize(("path", "expected"), [
    ("acme/base:1.0", True), ("localhost/x:latest", True), ("x@sha256:" + "a" * 64, True),
    ("./model", False), ("model:v1/", False), ("C:/model", False), ("Model:1", False), ("a b:1", False),
])
def test_is_modelkit_reference(path: str, expected: bool) -> None:
    assert is_modelkit_reference(path) is expected


# ---- loading from files, directories, stdin ---------------------------------------------------


def test_load_directory_finds_default_names_in_order(tmp_path: Path) -> None:
    (tmp_path / ".kitfile").write_text("package:\n  name: hidden\n")
    assert Kitfile.load(tmp_path).package.name == "hidden"
    (tmp_path / "kitfile").write_text("package:\n  name: lower\n")
    assert find_kitfile(tmp_path).name in ("kitfile", "Kitfile")  # case-insensitive filesystems
    assert Kitfile.load(tmp_path).package.name == "lower"
    (tmp_path / "Kitfile").write_text("package:\n  name: upper\n")
    assert Kitfile.load(tmp_path).package.name == "upper"


def test_load_missing(tmp_path: Path) -> None:
    with pytest.raises(KitfileError, match="no Kitfile in"):
        Kitfile.load(tmp_path)
    with pytest.raises(KitfileError, match="no such file"):
        Kitfile.load(tmp_path / "nope.yaml")


def test_load_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stdin:
        buffer = io.BytesIO(b"package:\n  name: from-stdin\n")

    monkeypatch.setattr("sys.stdin", Stdin)
    assert Kitfile.load("-").package.name == "from-stdin"


def test_load_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "Kitfile"
    p.write_bytes(b"package:\n  name: \xff\n")
    with pytest.raises(KitfileError, match=":2: not UTF-8"):
        Kitfile.load(p)


# ---- check_paths -----------------------------------------------------------------------------


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    c = tmp_path / "ctx"
    (c / "model").mkdir(parents=True)
    (c / "model" / "w.bin").write_bytes(b"w")
    (c / "data").mkdir()
    (c / "README.md").write_text("r")
    return c


def test_check_paths_ok(ctx: Path) -> None:
    Kitfile.loads("model:\n  path: ./model/\ndatasets:\n  - path: data\ncode:\n  - path: .\n").check_paths(ctx)


@pytest.mark.parametrize(("text", "message"), [
    ("code:\n  - path: /etc\n", r"Kitfile:2: code\[0\]\.path: absolute path '/etc'"),
    ("code:\n  - path: ../x\n", r"code\[0\]\.path: path '../x' is outside the context"),
    ("code:\n  - path: data/../../x\n", "outside the context"),
    ("datasets:\n  - path: a\n  - path: missing\n", r"Kitfile:2: datasets\[0\]\.path: path 'a' does not exist"),
    ("docs:\n  - path: README.md\ncode:\n  - path: ./README.md\n",
     r"Kitfile:2: docs\[0\]\.path: path 'README.md' is also used by code\[0\]\.path"),
    ("model:\n  path: model\n  parts:\n    - path: model/\n",
     r"Kitfile:4: model\.parts\[0\]\.path: path 'model/' is also used by model\.path"),
])
def test_check_paths_refuses(ctx: Path, text: str, message: str) -> None:
    with pytest.raises(KitfileError, match=message):
        Kitfile.loads(text).check_paths(ctx)


def test_check_paths_symlink_out(ctx: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    (ctx / "link").symlink_to(outside)
    with pytest.raises(KitfileError, match="resolves outside the context directory"):
        Kitfile.loads("code:\n  - path: link\n").check_paths(ctx)
    (ctx / "inside").symlink_to(ctx / "data")
    Kitfile.loads("code:\n  - path: inside\n").check_paths(ctx)


def test_check_paths_model_reference_is_not_a_path(ctx: Path) -> None:
    Kitfile.loads("model:\n  path: acme/base:1.0\n  parts:\n    - path: model\n").check_paths(ctx)


def test_check_paths_missing_context(tmp_path: Path) -> None:
    with pytest.raises(KitfileError, match="does not exist"):
        Kitfile().check_paths(tmp_path / "nope")


# ---- scale -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_100k_entries_load_in_bounded_time_and_memory() -> None:
    import tracemalloc

    n = 100_000
    text = "manifestVersion: 1.0.0\ndatasets:\n" + "".join(f"  - name: d{i}\n    path: data/{i:06d}.csv\n" for i in range(n))
    start = time.perf_counter()
    k = Kitfile.loads(text)
    elapsed = time.perf_counter() - start
    assert len(k.datasets) == n and k.datasets[-1].path == f"data/{n - 1:06d}.csv"
    assert elapsed < 20, f"100k entries took {elapsed:.1f}s"  # ~2 s on the reference machine
    # Memory: measured on a smaller slice (tracemalloc slows everything ~5x); peak per entry bounded.
    tracemalloc.start()
    Kitfile.loads(text[: len(text) // 10])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 60 * 1024 * 1024, f"10k entries peaked at {peak / 1e6:.0f} MB"


# ---- schema shipping and documentation --------------------------------------------------------


def test_schema_is_found_and_is_the_repository_file() -> None:
    assert schema_path("kitfile.schema.json").read_text() == (REPO / "schemas" / "kitfile.schema.json").read_text()
    with pytest.raises(ValueError):
        schema_path("../pyproject.toml")


def _schema_fields(schema: dict[str, object], node: object, prefix: str) -> list[str]:
    out: list[str] = []
    if not isinstance(node, dict):
        return out
    if "$ref" in node:
        ref = str(node["$ref"])
        target: object = schema
        for part in ref[2:].split("/"):
            assert isinstance(target, dict)
            target = target[part]
        return _schema_fields(schema, target, prefix)
    if "items" in node:
        out += _schema_fields(schema, node["items"], prefix + "[]")
    props = node.get("properties")
    if isinstance(props, dict):
        for key, sub in props.items():
            path = f"{prefix}.{key}" if prefix else key
            out.append(path)
            out += _schema_fields(schema, sub, path)
    return out


def test_docs_document_every_schema_property() -> None:
    doc = (REPO / "docs" / "kitfile.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([A-Za-z.\[\]]+)`", doc))
    fields = _schema_fields(load_schema(SCHEMA_NAME), load_schema(SCHEMA_NAME), "")
    assert len(fields) > 25
    missing = [f for f in fields if f not in documented]
    assert not missing, f"docs/kitfile.md does not document: {missing}"
