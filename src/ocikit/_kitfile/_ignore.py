""".kitignore: ``.dockerignore`` semantics, as kit implements them (docs/compatibility.md §3.3).

kit reads the file with moby's ``ignorefile.ReadAll`` and matches with moby's
``patternmatcher.MatchesOrParentMatches``. This module ports those two functions
(github.com/moby/patternmatcher ``patternmatcher.go``, ``ignorefile/ignorefile.go``).

Why not ``pathspec``'s gitwildmatch flavour: gitignore and dockerignore disagree on the cases the
KitOps tests rely on. In gitignore a pattern without a slash (``*.md``, ``ignored-?.txt``) matches
at any depth; in dockerignore every pattern is anchored at the context root, so ``*.md`` matches
only root-level files and ``**/*.md`` is needed for all of them. gitignore also treats a trailing
``/`` as "directories only" and refuses to re-include a file whose parent directory is excluded;
dockerignore does neither.

Rules (all paths relative to the context, ``/``-separated):

* blank lines and lines starting with ``#`` are skipped; surrounding whitespace is trimmed;
  patterns are cleaned like Go's ``filepath.Clean`` and a leading ``/`` is dropped;
* ``*`` matches any run of characters except ``/``; ``?`` one character except ``/``;
  ``[...]`` a character class; ``\\`` escapes the next character;
* ``**`` matches any number of directories, including none (``**/x`` matches ``x``);
* ``!pattern`` re-includes; the last matching pattern wins;
* a pattern that matches a directory also matches everything below it.

kit always appends ``Kitfile``, ``kitfile``, ``.kitfile`` and ``.kitignore`` (root level only).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ocikit.errors import PackError

__all__ = ["ALWAYS_IGNORED", "VCS_IGNORED", "IgnoreMatcher", "load_kitignore"]

#: kit appends these to every ignore list (they are not packed from the context root).
ALWAYS_IGNORED = ("Kitfile", "kitfile", ".kitfile", ".kitignore")

#: Version-control directories, anywhere in the context, are left out by default (a ``code: .``
#: layer would otherwise carry the whole repository history). They come *before* the
#: ``.kitignore`` lines, so a ``!.git`` line there brings them back.
VCS_IGNORED = (".git", "**/.git", ".hg", "**/.hg", ".svn", "**/.svn")

_ESCAPE = set(".+(){}|^$")


@dataclass(frozen=True)
class _Pattern:
    text: str  # cleaned pattern, without the leading "!"
    exclusion: bool
    kind: str  # "exact", "prefix", "suffix", "regexp"
    regexp: re.Pattern[str] | None

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])  # "dir/**" → "dir/"
        if self.kind == "suffix":
            suffix = self.text[2:]  # "**/x" → "/x", "**x" → "x"
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]
        assert self.regexp is not None
        return self.regexp.match(path) is not None


def _compile(text: str, exclusion: bool) -> _Pattern:
    """moby's Pattern.compile: translate to a regexp, noting cheaper exact/prefix/suffix forms."""
    out = "^"
    kind = "exact"
    i = 0
    n = len(text)
    index = 0  # position counter of the scanner loop (for the "starts with **" rule)
    while i < n:
        ch = text[i]
        i += 1
        if ch == "*":
            if i < n and text[i] == "*":
                i += 1
                if i < n and text[i] == "/":
                    i += 1
                if i >= n:
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        out += ".*"
                        kind = "regexp"
                else:
                    out += "(.*/)?"
                    kind = "regexp"
                if index == 0:
                    kind = "suffix"
            else:
                out += "[^/]*"
                kind = "regexp"
        elif ch == "?":
            out += "[^/]"
            kind = "regexp"
        elif ch in _ESCAPE:
            out += "\\" + ch
        elif ch == "\\":
            if i < n:
                out += "\\" + text[i]
                i += 1
                kind = "regexp"
            else:
                out += "\\\\"
        elif ch in "[]":
            out += ch
            kind = "regexp"
        else:
            out += re.escape(ch) if ch in "*?[]\\" else ch
        index += 1
    if kind != "regexp":
        return _Pattern(text, exclusion, kind, None)
    out += "$"
    try:
        regexp = re.compile(out, re.DOTALL)
    except re.error as e:
        raise PackError(f".kitignore: invalid pattern {text!r} ({e})") from e
    return _Pattern(text, exclusion, "regexp", regexp)


def _clean(pattern: str) -> str:
    """Go's filepath.Clean (POSIX), which ReadAll applies to every pattern."""
    cleaned = posixpath.normpath(pattern)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def parse_patterns(lines: Iterable[str]) -> list[str]:
    """moby's ignorefile.ReadAll: comments, whitespace, '!' handling, cleaning, leading '/'."""
    out: list[str] = []
    for number, raw in enumerate(lines):
        line = raw
        if number == 0:
            line = line.removeprefix("\ufeff")
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = _clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        out.append("!" + line if invert else line)
    return out


class IgnoreMatcher:
    """``ignored(path)`` = moby's ``MatchesOrParentMatches`` over the parsed patterns."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns: tuple[str, ...] = tuple(patterns)
        compiled = []
        for p in self.patterns:
            exclusion = p.startswith("!")
            text = p[1:] if exclusion else p
            if not text:
                raise PackError(".kitignore: a '!' line needs a pattern after it")
            compiled.append(_compile(text, exclusion))
        self._compiled = tuple(compiled)
        self.has_exclusions = any(p.exclusion for p in self._compiled)

    def ignored(self, path: str) -> bool:
        matched = False
        parent = posixpath.dirname(path) or "."
        parents = parent.split("/")
        for pattern in self._compiled:
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(path)
            if not hit and parent != ".":
                for i in range(len(parents)):
                    if pattern.match("/".join(parents[: i + 1])):
                        hit = True
                        break
            if hit:
                matched = not pattern.exclusion
        return matched

    def matching_pattern(self, path: str) -> str | None:
        """The last pattern that decided ``path`` is ignored (for dry-run reports)."""
        decided: str | None = None
        matched = False
        parent = posixpath.dirname(path) or "."
        parents = parent.split("/")
        for raw, pattern in zip(self.patterns, self._compiled, strict=True):
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(path) or (
                parent != "." and any(pattern.match("/".join(parents[: i + 1])) for i in range(len(parents)))
            )
            if hit:
                matched = not pattern.exclusion
                decided = raw if matched else None
        return decided if matched else None


def load_kitignore(context: Path) -> IgnoreMatcher:
    """The context's ``.kitignore`` (if any) plus kit's always-ignored names."""
    path = context / ".kitignore"
    lines: list[str] = []
    if path.is_file():
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise PackError(f"cannot read {path}: {e}", hint="the .kitignore must be UTF-8 text") from e
    return IgnoreMatcher([*VCS_IGNORED, *parse_patterns(lines), *ALWAYS_IGNORED])
