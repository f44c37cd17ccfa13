"""The public API type-checks in user code: mypy --strict sees real signatures, not ``Any``.

A user's script is checked the way a user's CI would check it. The facade imports every public
name under ``TYPE_CHECKING`` (at run time the names stay lazy); this test fails if that block is
missing, drifts from ``_EXPORTS``, or a signature loosens to ``Any``.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ocikit

REPO = Path(__file__).resolve().parents[2]

GOOD = '''\
from pathlib import Path

import ocikit


def release(project: Path) -> str:
    client = ocikit.Client(home=project / ".ocikit")
    plan: ocikit.PackPlan = client.plan_pack(project, compression="zstd")
    result: ocikit.PackResult = ocikit.pack(project, tag="acme/kit:1", compression="gzip", home=project)
    digest: ocikit.Digest = result.digest
    store = ocikit.MemoryStorage("acme/kit")
    copied: ocikit.TransferResult = ocikit.copy(store, "1", ocikit.MemoryStorage("mirror"), tags=["1"])
    event: ocikit.StageEvent = client.promote("acme/kit:1", "staging", reason="eval passed")
    return f"{plan} {digest} {copied} {event.stage}"
'''

BAD = '''\
import ocikit

ocikit.pack(123, nonsense=True)
ocikit.pack(".", compression="lz4")
ocikit.Client(home=".").push(42)
reveal_type(ocikit.unpack)
'''


def _mypy(tmp_path: Path) -> list[str]:
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "bad.py").write_text(BAD)
    env = {**os.environ, "MYPYPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--hide-error-context",
         "--cache-dir", str(REPO / ".mypy_cache" / "typed-api"), "good.py", "bad.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.slow
def test_user_code_type_checks_and_misuse_is_rejected(tmp_path: Path) -> None:
    lines = _mypy(tmp_path)
    assert [line for line in lines if line.startswith("good.py")] == []
    bad = "\n".join(line for line in lines if line.startswith("bad.py"))
    assert re.search(r'bad.py:3: error: Unexpected keyword argument "nonsense" for "pack"', bad), bad
    assert re.search(r'bad.py:3: error: Argument 1 to "pack" has incompatible type "int"', bad), bad
    assert re.search(r'bad.py:4: error: Argument "compression" to "pack" has incompatible type', bad), bad
    assert re.search(r'bad.py:5: error: Argument 1 to "push" of "Client" has incompatible type "int"', bad), bad
    revealed = re.search(r"bad.py:6: note: Revealed type is \"(.*)\"", bad)
    assert revealed and "UnpackResult" in revealed.group(1) and "Any" not in revealed.group(1).split("->")[0]


def _type_checking_imports() -> dict[str, str]:
    tree = ast.parse((REPO / "src" / "ocikit" / "__init__.py").read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.module.startswith("ocikit"):
                    for alias in stmt.names:
                        assert alias.asname == alias.name, f"re-export {alias.name} as itself"
                        found[alias.name] = stmt.module
    return found


def test_every_public_name_is_imported_for_type_checkers() -> None:
    exports = dict(ocikit._EXPORTS)
    assert _type_checking_imports() == exports


def test_every_lazy_export_resolves_to_the_module_it_names() -> None:
    for name, module in ocikit._EXPORTS.items():
        value = getattr(ocikit, name)
        assert getattr(value, "__module__", module) == module or name in {"Compression", "Format"}, name
