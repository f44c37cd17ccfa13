"""What a layer is: the layer kinds and media types, and the value types shared with pack, unpack and the
SBOM (``FileRecord``, ``PackedLayer``) and the read limits (``Limits``); see docs/architecture.md.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ocikit._io._digest import Digest
from ocikit._oci._model import Descriptor
from ocikit.errors import UnsafeArchiveError, UsageError

#: Kitfile section → layer kind (the ``<base>`` of the KitOps media type).
KINDS = ("model", "modelpart", "code", "dataset", "docs")


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One regular file inside a layer, as packed (``path`` is the tar entry name)."""

    path: str
    size: int
    sha256: str  # lowercase hex of the file content
    mode: int


@dataclass(frozen=True)
class PackedLayer:
    """One layer as written: which Kitfile element it came from and what it holds."""

    kind: str  # one of KINDS
    section: str  # Kitfile section: "model", "parts", "code", "datasets", "docs"
    index: int  # position within the section (0 for model)
    path: str  # the Kitfile path, verbatim
    descriptor: Descriptor
    diff_id: Digest  # sha256 of the uncompressed tar
    files: tuple[FileRecord, ...]


# ------------------------------------------------------------------------------------------------
# media types and compression

MEDIA_PREFIX = "application/vnd.kitops.modelkit."
COMPRESSIONS = ("none", "gzip", "gzip-fastest", "zstd")
_SUFFIX = {"none": "", "gzip": "+gzip", "gzip-fastest": "+gzip", "zstd": "+zstd"}
_MEDIA_RE = re.compile(r"^application/vnd\.kitops\.modelkit\.(\w+)\.v1\.tar(?:\+(\w+))?$")

#: Kitfile section → layer kind.
SECTION_KIND = {"model": "model", "parts": "modelpart", "code": "code", "datasets": "dataset", "docs": "docs"}


def layer_media_type(kind: str, compression: str = "none") -> str:
    """``application/vnd.kitops.modelkit.<kind>.v1.tar[+gzip|+zstd]`` (docs/compatibility.md §1.1)."""
    if kind not in KINDS:
        raise ValueError(f"unknown layer kind {kind!r}")
    if compression not in _SUFFIX:
        raise UsageError(
            f"invalid compression {compression!r}: must be one of {', '.join(COMPRESSIONS)}"
        )
    return f"{MEDIA_PREFIX}{kind}.v1.tar{_SUFFIX[compression]}"


def parse_layer_media_type(media_type: str) -> tuple[str, str]:
    """``(kind, codec)`` with codec ``none``, ``gzip`` or ``zstd``; refuses anything else."""
    m = _MEDIA_RE.match(media_type)
    if m is None or m.group(1) not in KINDS:
        raise UnsafeArchiveError(
            f"layer media type {media_type!r} is not a ModelKit tar layer",
            hint="only application/vnd.kitops.modelkit.<kind>.v1.tar[+gzip|+zstd] layers are read",
        )
    codec = m.group(2) or "none"
    if codec not in ("none", "gzip", "zstd"):
        raise UnsafeArchiveError(f"layer media type {media_type!r}: unknown compression {codec!r}")
    return m.group(1), codec



@dataclass(frozen=True)
class Limits:
    """Caps applied while reading a layer (docs/reliability.md §H2). Override with env variables."""

    #: decompressed bytes may exceed ``max(min_allowance, max_ratio × compressed size)``
    max_ratio: int = 1000
    min_allowance: int = 64 * 1024 * 1024
    max_entries: int = 1_000_000
    max_name_bytes: int = 4096
    max_pax_bytes: int = 1024 * 1024

    @classmethod
    def from_env(cls) -> Limits:
        def get(name: str, default: int) -> int:
            raw = os.environ.get(name)
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError as e:
                raise UsageError(f"{name}={raw!r} is not a whole number") from e
            if value <= 0:
                raise UsageError(f"{name} must be positive, got {value}")
            return value

        d = cls()
        return cls(
            max_ratio=get("OCIKIT_UNPACK_MAX_RATIO", d.max_ratio),
            min_allowance=d.min_allowance,
            max_entries=get("OCIKIT_UNPACK_MAX_ENTRIES", d.max_entries),
        )

