"""Checks of a Kitfile's element paths against its context directory, before anything is packed.

Refused, as kit's ``validate.go`` refuses them (on cleaned paths, as newer kit does): empty,
absolute and NUL-bearing paths, paths escaping the context (``..`` or a symlink resolving outside),
missing paths, and a path used by two layers. Every problem names the file, line and field.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

from ocikit._kitfile._elements import KitfileContent, LayerElement
from ocikit.errors import KitfileError

__all__ = ["check_paths"]


def check_paths(kitfile: KitfileContent, context_dir: str | os.PathLike[str]) -> None:
    """Raise :class:`KitfileError` naming the first problem (and how many more) with any element path."""
    ctx_given = Path(context_dir)
    try:
        ctx = ctx_given.resolve(strict=True)
    except OSError as e:
        raise KitfileError(f"context directory {ctx_given} does not exist",
                           hint="pass an existing directory as the context") from e
    if not ctx.is_dir():
        raise KitfileError(f"context {ctx_given} is not a directory")
    problems: list[str] = []
    seen: dict[str, LayerElement] = {}
    for el in kitfile.layer_elements():
        problem = _problem(el, ctx, ctx_given, seen)
        if problem is not None:
            problems.append(f"{_where(kitfile, el)}: {problem}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise KitfileError(problems[0] + more,
                           hint="fix the paths in the Kitfile; they are relative to the context directory")


def _problem(el: LayerElement, ctx: Path, ctx_given: Path, seen: dict[str, LayerElement]) -> str | None:
    """What is wrong with ``el.path``, or None (then it is recorded in ``seen``)."""
    path = el.path
    if not path:
        return "empty path"
    if "\x00" in path:
        return "path contains a NUL character"
    if path.startswith(("/", "\\")) or os.path.isabs(path) or re.match(r"^[A-Za-z]:[\\/]", path):
        return f"absolute path {path!r} is not allowed; use a path relative to the context directory"
    clean = posixpath.normpath(path.replace("\\", "/"))
    if clean == ".." or clean.startswith("../"):
        return f"path {path!r} is outside the context directory"
    target = ctx / clean
    try:
        resolved = target.resolve(strict=False)
    except (OSError, RuntimeError) as e:  # symlink loops
        return f"cannot resolve path {path!r}: {e}"
    if resolved != ctx and not resolved.is_relative_to(ctx):
        return f"path {path!r} resolves outside the context directory (through a symlink)"
    if not os.path.lexists(target) or not resolved.exists():
        return f"path {path!r} does not exist in {ctx_given}"
    other = seen.get(clean)
    if other is not None:
        return f"path {path!r} is also used by {other.field}.path ({other.path!r}); each layer needs its own path"
    seen[clean] = el
    return None


def _where(kitfile: KitfileContent, el: LayerElement) -> str:
    line = kitfile.path_lines.get((el.section, el.index))
    loc = f"{kitfile.source}:{line}" if line else kitfile.source
    return f"{loc}: {el.field}.path"
