"""Hostile Kitfiles and configs: code execution, resource exhaustion, path escapes (docs/reliability.md §H5)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ocikit._kitfile._model import Kitfile
from ocikit._kitfile._yaml import MAX_KITFILE_BYTES
from ocikit.errors import KitfileError


def _refused_quickly(text: str | bytes, match: str, limit: float = 2.0) -> None:
    start = time.perf_counter()
    with pytest.raises(KitfileError, match=match):
        Kitfile.loads(text)
    assert time.perf_counter() - start < limit


@pytest.mark.parametrize("payload", [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/new:os.system ['touch {marker}']",
    "!!python/name:os.system",
    "!!python/module:os",
    "!<tag:yaml.org,2002:python/object/apply:os.system> ['touch {marker}']",
])
@pytest.mark.parametrize("where", ["package:\n  name: {p}\n", "model:\n  parameters:\n    x: {p}\n", "code: {p}\n"])
def test_object_constructing_tags_refused_and_never_run(tmp_path: Path, payload: str, where: str) -> None:
    marker = tmp_path / "pwned"
    text = where.format(p=payload.format(marker=marker))
    with pytest.raises(KitfileError, match=r"YAML tag !!python/\w+.* is not allowed"):
        Kitfile.loads(text)
    assert not marker.exists()


def test_billion_laughs_refused_quickly() -> None:
    # docs/reliability.md §H5: &a [x×9], then levels of [*a×9]; 9^9 elements once expanded.
    lines = ["a0: &a0 [" + ",".join(["lol"] * 9) + "]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    text = "model:\n  parameters:\n" + "".join(f"    {line}\n" for line in lines)
    _refused_quickly(text, "expands to more than 1000000 nodes|more than 100 YAML aliases")


def test_doubling_alias_chain_under_alias_cap_refused_by_node_cap() -> None:
    # 40 aliases only, but each level doubles: 2^20 nodes after expansion.
    lines = ["l0: &l0 [x, x]"] + [f"l{i}: &l{i} [*l{i - 1}, *l{i - 1}]" for i in range(1, 21)]
    text = "model:\n  parameters:\n" + "".join(f"    {line}\n" for line in lines)
    _refused_quickly(text, "expands to more than 1000000 nodes")


def test_many_aliases_refused() -> None:
    text = "model:\n  parameters:\n    a: &a 1\n    b: [" + ",".join(["*a"] * 101) + "]\n"
    _refused_quickly(text, "more than 100 YAML aliases")


def test_a_few_aliases_are_fine() -> None:
    k = Kitfile.loads("model:\n  path: m\n  parameters:\n    base: &b {lr: 1}\n    copy: *b\n")
    assert k.model is not None and k.model.parameters == {"base": {"lr": 1}, "copy": {"lr": 1}}


def test_deep_nesting_refused_without_recursion_error() -> None:
    # Flow collections: libyaml itself stops at 1000 levels; block collections are ours to cap.
    depth = 50_000
    _refused_quickly("model:\n  parameters: " + "[" * depth + "]" * depth + "\n", "maximum nesting depth")
    block = "".join(" " * i + "- \n" for i in range(0, 400, 2)) + " " * 400 + "- x\n"
    _refused_quickly("model:\n  parameters:\n" + "".join("    " + line + "\n" for line in block.splitlines()),
                     "nested deeper than 100")


def test_oversized_input_refused_before_parsing(tmp_path: Path) -> None:
    big = "package:\n  description: " + "x" * (MAX_KITFILE_BYTES + 1) + "\n"
    _refused_quickly(big, "larger than 16 MiB")
    p = tmp_path / "Kitfile"
    p.write_text(big)
    with pytest.raises(KitfileError, match="larger than 16 MiB"):
        Kitfile.load(p)


def test_too_many_nodes_refused() -> None:
    # 1.2M tiny scalars in a flow list: under the byte cap, over the node cap.
    text = "model:\n  parameters: [" + ",".join(["1"] * 1_200_000) + "]\n"
    _refused_quickly(text, "expands to more than 1000000 nodes", limit=10)


def test_lone_surrogate_refused() -> None:
    # It could not be written as UTF-8 into the config blob.
    with pytest.raises(KitfileError, match="invalid Unicode"):
        Kitfile.loads('package:\n  name: "\\ud800"\n')
    with pytest.raises(KitfileError, match="lone surrogate"):
        Kitfile.from_dict({"model": {"parameters": {"x": "\ud800"}}})


def test_duplicate_keys_not_silently_merged() -> None:
    # With yaml.safe_load the second 'path' would silently win and pack something else.
    with pytest.raises(KitfileError, match=r"Kitfile:3:3: model\.path: duplicate key \(first defined on line 2\)"):
        Kitfile.loads("model:\n  path: ./model\n  path: /etc\n")


@pytest.mark.parametrize("path", ["/etc/passwd", "../../etc", "a/../../b", "C:\\Windows", "\\\\server\\share"])
def test_escaping_paths_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(KitfileError, match=r"absolute path|outside the context"):
        Kitfile.from_dict({"code": [{"path": path}]}).check_paths(tmp_path)


def test_nul_in_path_refused(tmp_path: Path) -> None:
    with pytest.raises(KitfileError, match="NUL"):
        Kitfile.from_dict({"code": [{"path": "a\x00b"}]}).check_paths(tmp_path)


def test_symlink_chain_out_of_context_refused(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a").symlink_to("b")
    (ctx / "b").symlink_to("../..")
    with pytest.raises(KitfileError, match="resolves outside the context"):
        Kitfile.from_dict({"datasets": [{"path": "a"}]}).check_paths(ctx)


def test_symlink_loop_refused(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(KitfileError, match=r"datasets\[0\]\.path"):
        Kitfile.from_dict({"datasets": [{"path": "loop"}]}).check_paths(tmp_path)


def test_hostile_config_blob() -> None:
    with pytest.raises(KitfileError, match="invalid digest"):
        Kitfile.from_config_json(b'{"code":[{"path":"x","digest":"sha256:../../../etc/passwd"}]}')
    deep = b'{"model":{"path":"m","parameters":' + b"[" * 200 + b"]" * 200 + b"}}"
    with pytest.raises(KitfileError, match="nested deeper than 100"):
        Kitfile.from_config_json(deep)
    with pytest.raises(KitfileError, match="larger than 16 MiB"):
        Kitfile.from_config_json(b" " * (MAX_KITFILE_BYTES + 1))
    # Python's json hits the recursion limit on absurd nesting: still a clean KitfileError.
    with pytest.raises(KitfileError, match="not valid JSON"):
        Kitfile.from_config_json(b"[" * 100_000 + b"]" * 100_000)


def test_config_unknown_keys_do_not_leak_into_yaml() -> None:
    data = json.dumps({"package": {"name": "x", "evil": "!!python/object"}, "model": {"path": "m", "x": 1}}).encode()
    k, _ = Kitfile.from_config_json(data)
    assert "evil" not in k.to_yaml() and Kitfile.loads(k.to_yaml()) == k
