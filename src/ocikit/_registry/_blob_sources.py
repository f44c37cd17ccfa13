"""Which registry repositories are known to hold a blob, remembered across runs for mounts.

A registry mounts a blob into a repository from another one it already has it in (``POST
/v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>``, distribution spec "Mounting a blob from
another repository": https://github.com/opencontainers/distribution-spec/blob/main/spec.md).
``_registry`` remembers that within one process; this file keeps it between runs, so pushing a
pulled or already pushed ModelKit to a second repository of the same registry sends no layer.

It is a hint cache: ``<home>/blob-sources.json`` (``{"host": {"sha256:...": "repo"}}``), bounded,
written atomically; a lost or unreadable file only costs a full upload.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from ocikit._io._digest import Digest
from ocikit._io._files import write_atomic

__all__ = ["known_sources", "remember"]

log = logging.getLogger(__name__)

_FILE = "blob-sources.json"
#: Entries kept per registry host (oldest dropped first); a few MiB at most.
MAX_PER_HOST = 20_000
_MAX_BYTES = 16 * 1024 * 1024


def _read(home: Path) -> dict[str, dict[str, str]]:
    path = home / _FILE
    try:
        if path.stat().st_size > _MAX_BYTES:
            return {}
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {h: {d: r for d, r in m.items() if isinstance(r, str) and Digest.is_valid(d)}
            for h, m in data.items() if isinstance(h, str) and isinstance(m, dict)}


def known_sources(home: Path, host: str, digests: Iterable[Digest]) -> dict[Digest, str]:
    """For each digest, a repository of ``host`` it was last pushed to or pulled from."""
    seen = _read(home).get(host, {})
    return {d: seen[str(d)] for d in digests if str(d) in seen}


def remember(home: Path, host: str, repository: str, digests: Iterable[Digest]) -> None:
    """Record that ``host/repository`` holds ``digests`` (after a push or pull succeeded)."""
    data = _read(home)
    seen = data.setdefault(host, {})
    for d in digests:
        seen.pop(str(d), None)
        seen[str(d)] = repository  # re-inserted last: the most recent source survives trimming
    while len(seen) > MAX_PER_HOST:
        seen.pop(next(iter(seen)))
    try:
        home.mkdir(parents=True, exist_ok=True)
        write_atomic(home / _FILE, json.dumps(data, separators=(",", ":")).encode(), mode=0o600)
    except OSError as e:  # a hint cache: never fail a transfer for it
        log.debug("cannot record blob sources in %s: %s", home, e)
