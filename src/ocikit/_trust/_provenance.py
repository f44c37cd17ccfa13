"""Where packed bytes came from and what loading them does: the git commit of the context directory,
and whether a file is a pickle-based format (which runs code when it is loaded).
"""

from __future__ import annotations

import logging
import os
import re
import stat
import subprocess
import zipfile
from pathlib import Path

__all__ = ["PICKLE_FORMATS", "git_provenance", "pickle_kind"]

log = logging.getLogger(__name__)

_GIT_TIMEOUT = 10.0

#: Extensions of formats that unpickle on load (docs/reliability.md §H6). ``.bin`` is too generic to
#: flag by name (it is flagged by content, e.g. a PyTorch zip holding ``data.pkl``).
_PICKLE_EXTENSIONS = {
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".joblib": "joblib",
    ".pt": "pytorch",
    ".pth": "pytorch",
    ".ckpt": "pytorch",
}
#: Kitfile ``model.format`` values that name a pickle-based format.
PICKLE_FORMATS = {"pickle", "pkl", "joblib", "pytorch", "torch", "pt", "pth", "ckpt"}


def git_provenance(context_dir: Path) -> dict[str, str]:
    """``{commit, dirty}`` of the checkout holding ``context_dir``; ``{}`` without git or a repo.

    ``core.fsmonitor`` is forced off: a repository's own config could otherwise make ``git status``
    run a command of its choosing. ``dirty`` is scoped to ``context_dir`` (what was packed).
    """
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    base = ["git", "-c", "core.fsmonitor=false", "-C", str(context_dir)]
    try:
        head = subprocess.run(
            [*base, "rev-parse", "--verify", "--quiet", "HEAD^{commit}"],
            capture_output=True, text=True, timeout=_GIT_TIMEOUT, env=env, check=False,
        )
        if head.returncode != 0:
            return {}
        commit = head.stdout.strip()
        if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit):
            return {}
        status = subprocess.run(
            [*base, "status", "--porcelain", "--", "."],
            capture_output=True, text=True, timeout=_GIT_TIMEOUT, env=env, check=False,
        )
    except (OSError, subprocess.SubprocessError) as e:  # no git binary, timeout, ...
        log.info("no git provenance for %s: %s", context_dir, e)
        return {}
    out = {"commit": commit}
    if status.returncode == 0:
        out["dirty"] = "true" if status.stdout.strip() else "false"
    return out


def _suffix(path: str) -> str:
    """``PurePosixPath(path).suffix`` without building a path object (called once per file)."""
    name = path.rstrip("/").rpartition("/")[2]
    i = name.rfind(".")
    return name[i:] if 0 < i < len(name) - 1 else ""


def pickle_kind(path: str, local: str | os.PathLike[str] | None) -> tuple[str, str] | None:
    """``(format, how)`` if the file is a pickle-based format, by extension and by content magic.

    Content checks are cheap: the first two bytes (pickle protocol 2+ starts with ``0x80 <proto>``,
    https://github.com/python/cpython/blob/main/Lib/pickletools.py) and, for zip files, the central
    directory (PyTorch's ``torch.save`` zip holds ``<name>/data.pkl``).
    """
    ext = _suffix(path).lower()
    by_name = None if ext == ".safetensors" else _PICKLE_EXTENSIONS.get(ext)
    if local is not None:
        try:
            if stat.S_ISREG(os.lstat(local).st_mode):
                # os-level open/read: this runs once per packed file, and a buffered file object
                # costs several syscalls and microseconds more per file (docs/performance.md)
                fd = os.open(local, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                try:
                    head = os.read(fd, 4)
                finally:
                    os.close(fd)
                if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
                    return (by_name or "pickle", "content")
                if head == b"PK\x03\x04":
                    with zipfile.ZipFile(local) as zf:
                        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in zf.namelist()):
                            return ("pytorch", "content")
        except (OSError, zipfile.BadZipFile, ValueError) as e:
            log.debug("could not look inside %s: %s", local, e)
    if by_name is not None:
        return (by_name, "extension")
    return None
