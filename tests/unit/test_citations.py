"""Every spec citation in a comment or docstring of ``src/`` resolves.

A citation of a ``*.md`` file must be part of an ``http(s)://`` URL, or name a page under ``docs/``
that exists (``docs/compatibility.md``). A section sign after a page (``docs/compatibility.md §3.1``,
``§1.2, §2.2``, ``§3.1-3.2``, ``docs/reliability.md §H1``) must name a section of that page; a
quoted title right after a page (``docs/performance.md, "Durability of unpacked files"``) must be
one of its headings or bold paragraph leads. A section sign with no page before it in the same
comment or docstring is an error too: the reader could not tell which page it means.

How pages number their sections: a heading whose first word is the number, ``## 3. Layer tars``
→ §3, ``### 3.1 Entry names`` → §3.1, ``### H1. Tar entry names`` → §H1.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
DOCS = ROOT / "docs"

_URL = re.compile(r"https?://[^\s`'\"<>)\]]+")
#: a file name ending in .md, with an optional relative directory in front
_MD = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md)(?![\w])")
_SECTION_ID = r"[A-Z]?\d+(?:\.\d+)*"
_SECTION = re.compile(rf"§\s?({_SECTION_ID})(?:\s?[-–]\s?({_SECTION_ID}))?")
#: RFC sections are not pages of ours
_RFC_BEFORE = re.compile(r"RFC\s?\d+\s*,?\s*$")
_TITLE_AFTER = re.compile(r"""^[`'"]*\s*[,(]?\s*["“]([^"”\n]+)["”]""")
_HEADING_ID = re.compile(rf"^#{{1,6}}\s+({_SECTION_ID})[.\s]")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
NL = "\n"


def page_sections(text: str) -> set[str]:
    """The section numbers of a page (``## 3. Title`` → ``3``, ``### H1. Title`` → ``H1``)."""
    return {m.group(1) for line in text.splitlines() if (m := _HEADING_ID.match(line))}


def page_titles(text: str) -> list[str]:
    """Heading texts and bold paragraph leads: what a quoted title may name."""
    titles = [m.group(1) for line in text.splitlines() if (m := _HEADING.match(line))]
    return titles + _BOLD.findall(text)


def text_chunks(source: str) -> Iterator[tuple[int, str]]:
    """(first line, text) of every docstring-like string statement and every block of comments."""
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)):
            yield node.lineno, node.value.value
    block: list[str] = []
    start = last = 0
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        line = tok.start[0]
        if block and line != last + 1:
            yield start, "\n".join(block)
            block = []
        if not block:
            start = line
        block.append(tok.string.lstrip("#:").strip())
        last = line
    if block:
        yield start, "\n".join(block)


def check_text(text: str, where: str, first_line: int | None = None, docs: Path = DOCS) -> list[str]:
    """Problems with the citations in one comment block or docstring (``first_line``: where it starts
    in its file, so that each problem names its own line)."""
    problems: list[str] = []
    # Blank URLs out (same length, so positions keep their order): a .md inside a URL is fine.
    text = _URL.sub(lambda m: " " * len(m.group()), text)
    events = sorted([(m.start(), "page", m) for m in _MD.finditer(text)]
                    + [(m.start(), "section", m) for m in _SECTION.finditer(text)], key=lambda e: e[0])
    page: Path | None = None
    bad_page = False  # the sections after a page that does not resolve are not reported again
    for pos, kind, m in events:
        at = where if first_line is None else f"{where}:{first_line + text.count(NL, 0, pos)}"
        if kind == "page":
            name = m.group(1)
            path = ROOT / name if name.startswith("docs/") else None
            if path is None or path.parent != docs or not path.is_file():
                problems.append(f"{at}: cites {name!r}, which is neither a URL nor a page under docs/")
                page, bad_page = None, True
                continue
            page, bad_page = path, False
            title = _TITLE_AFTER.match(text[m.end():])
            if title and title.group(1) not in " ".join(page_titles(path.read_text(encoding="utf-8"))):
                problems.append(f"{at}: {name} has no heading or bold lead {title.group(1)!r}")
        else:
            if page is None:
                if bad_page or _RFC_BEFORE.search(text[:m.start()]):
                    continue
                problems.append(f"{at}: {m.group()!r} names no page (write docs/<page>.md {m.group()})")
                continue
            known = page_sections(page.read_text(encoding="utf-8"))
            for number in filter(None, m.groups()):
                if number not in known:
                    problems.append(f"{at}: docs/{page.name} has no section §{number}")
    return problems


def check_source(source: str, where: str, docs: Path = DOCS) -> list[str]:
    try:
        ast.parse(source)
    except SyntaxError as e:
        return [f"{where}: cannot be parsed ({e})"]
    problems: list[str] = []
    for line, text in text_chunks(source):
        problems += check_text(text, where, line, docs)
    return problems


def test_every_citation_in_src_resolves() -> None:
    problems: list[str] = []
    for path in sorted([*SRC.rglob("*.py"), *(ROOT / "tests").rglob("*.py")]):
        if path.name == Path(__file__).name:  # its own examples of bad citations
            continue
        problems += check_source(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert not problems, "unresolved citations:\n" + "\n".join(problems)


def test_compatibility_page_is_numbered() -> None:
    sections = page_sections((DOCS / "compatibility.md").read_text(encoding="utf-8"))
    assert {"1", "1.1", "3", "3.1", "7"} <= sections


BAD = '''\
"""Module docstring citing kitops-format.md §3.1 and docs/compatibility.md §99."""

# Go marshals a nil slice as null (docs/compatibility.md §1.2), see also §42.
# Fine: https://github.com/opencontainers/image-spec/blob/v1.1.0/descriptor.md and docs/reliability.md §H1.


def f() -> None:
    """Also bad: docs/nowhere.md, ``descriptor.md``, docs/performance.md "No such heading"."""


def g() -> None:
    """A section of which page? §2.1."""
'''


def test_checker_catches_bad_citations() -> None:
    problems = check_source(BAD, "bad.py")
    text = "\n".join(problems)
    assert "'kitops-format.md'" in text
    assert "no section §99" in text
    assert "no section §42" in text  # bound to the page cited earlier in the same comment block
    assert "'docs/nowhere.md'" in text
    assert "'descriptor.md'" in text
    assert "'No such heading'" in text
    assert "'§2.1' names no page" in text
    assert len(problems) == 7, text  # the URL, §1.2 and §H1 are fine


@pytest.mark.parametrize("good", [
    "docs/compatibility.md §3.1-3.2",
    "``docs/compatibility.md`` §1.2, §2.2",
    "docs/reliability.md §H1-H2",
    'docs/performance.md, "Durability of unpacked files"',
    'docs/reliability.md "Registry faults"',
    "https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md",
    "RFC 9110 §15.4",
])
def test_checker_accepts_good_citations(good: str) -> None:
    assert check_text(good, "good") == []
