"""docs/cli.md and the README's ``--help`` blocks must match the real ``--help`` output."""

from __future__ import annotations

import difflib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> ModuleType:
    name = "ocikit_gen_cli_docs"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "gen_cli_docs.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _diff(expected: str, actual: str, name: str) -> str:
    lines = difflib.unified_diff(
        actual.splitlines(keepends=True), expected.splitlines(keepends=True), f"{name} (committed)", "--help"
    )
    return "".join(lines)


def test_cli_reference_matches_the_real_help() -> None:
    expected = _generator().render()
    actual = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert actual == expected, (
        "docs/cli.md is out of date; run: python scripts/gen_cli_docs.py\n"
        + _diff(expected, actual, "docs/cli.md")
    )


def test_cli_reference_documents_every_command() -> None:
    gen = _generator()
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    documented = gen.found_names(text)
    assert documented == [name for name, _ in gen.commands()]
    assert len(documented) >= 1


# A README block documents help when its first line is "$ ocikit [COMMAND ...] --help".
_HELP_BLOCK = re.compile(r"```(?:text|console|shell)?\n\$ ocikit((?: [a-z][a-z-]*)*) --help\n(.*?)```", re.S)


def _readme_help_blocks() -> list[tuple[list[str], str]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return [(m.group(1).split(), m.group(2)) for m in _HELP_BLOCK.finditer(readme)]


def test_readme_help_blocks_match_the_real_help() -> None:
    gen = _generator()
    mismatches = [
        _diff(gen.help_text(args), shown, f"README block 'ocikit {' '.join(args)} --help'")
        for args, shown in _readme_help_blocks()
        if shown != gen.help_text(args)
    ]
    assert mismatches == [], "update the README's --help blocks:\n" + "\n".join(mismatches)


def test_help_block_pattern_finds_a_block() -> None:
    # The README check above must not silently match nothing because of a pattern bug.
    sample = "text\n```text\n$ ocikit pack --help\nUsage: ocikit pack\n```\n"
    assert [(m.group(1).split(), m.group(2)) for m in _HELP_BLOCK.finditer(sample)] == [
        (["pack"], "Usage: ocikit pack\n")
    ]
