""".kitignore follows moby's patternmatcher (dockerignore), not gitignore (docs/compatibility.md §3.3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocikit._kitfile._ignore import IgnoreMatcher, load_kitignore, parse_patterns


def _m(*lines: str) -> IgnoreMatcher:
    return IgnoreMatcher(parse_patterns(lines))


@pytest.mark.parametrize("patterns,path,ignored", [
    (["*.md"], "README.md", True),
    (["*.md"], "docs/README.md", False),  # anchored at the root: gitignore would match this
    (["**/*.md"], "docs/deep/README.md", True),
    (["**/*.md"], "README.md", True),  # ** matches zero directories
    (["dir4/*/x"], "dir4/a/x", True),
    (["dir4/*/x"], "dir4/x", False),
    (["dir4/*/x"], "dir4/a/b/x", False),
    (["ignored-?.txt"], "ignored-1.txt", True),
    (["ignored-?.txt"], "ignored-10.txt", False),
    (["**/ignored"], "a/b/ignored/file", True),  # a matching parent excludes its children
    (["dir1"], "dir1/sub/file", True),
    (["/dir1/"], "dir1/file", True),  # leading '/' dropped, cleaned
    (["dir1/**"], "dir1/x/y", True),
    (["**/*.md", "!dir5/not-ignored.md"], "dir5/not-ignored.md", False),
    (["**/*.md", "!dir5/not-ignored.md"], "dir5/other.md", True),
    (["dir1", "!dir1/keep"], "dir1/keep", False),
    (["dir1", "!dir1/keep", "dir1/keep"], "dir1/keep", True),  # last match wins
    (["# comment", "", "  spaced.txt  "], "spaced.txt", True),
    (["[ab].txt"], "b.txt", True),
    (["[ab].txt"], "c.txt", False),
    (["a\\*b"], "a*b", True),
    (["a.b"], "axb", False),  # '.' is literal
    (["model"], "model-v2/x", False),
])
def test_dockerignore_semantics(patterns: list[str], path: str, ignored: bool) -> None:
    assert _m(*patterns).ignored(path) is ignored


def test_kitfile_and_kitignore_always_ignored_at_root(tmp_path: Path) -> None:
    (tmp_path / ".kitignore").write_text("!Kitfile\n")
    matcher = load_kitignore(tmp_path)
    assert matcher.ignored("Kitfile") and matcher.ignored(".kitignore") and matcher.ignored("kitfile")
    assert not matcher.ignored("sub/Kitfile")


def test_matching_pattern_reports_the_decider() -> None:
    m = _m("**/*.md", "!keep.md")
    assert m.matching_pattern("a/b.md") == "**/*.md"
    assert m.matching_pattern("keep.md") is None


def test_vcs_directories_are_left_out_unless_kitignore_brings_them_back(tmp_path: Path) -> None:
    from ocikit._kitfile._ignore import load_kitignore

    matcher = load_kitignore(tmp_path)
    for path in (".git", ".git/config", "sub/.git/HEAD", ".hg/store", ".svn/entries"):
        assert matcher.ignored(path), path
    assert not matcher.ignored("src/git.py") and not matcher.ignored(".gitignore")
    (tmp_path / ".kitignore").write_text("!.git\n!.git/**\n")
    assert not load_kitignore(tmp_path).ignored(".git/config")
