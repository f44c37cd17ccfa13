"""Layer tars: deterministic writer (hash while writing) and safe extractor.

(Value types below are the shared contract; see docs/architecture.md.)
"""

from __future__ import annotations

from dataclasses import dataclass

from ocikit._digest import Digest
from ocikit._oci import Descriptor

#: Kitfile section → layer kind (the ``<base>`` of the KitOps media type).
KINDS = ("model", "modelpart", "code", "dataset", "docs")


@dataclass(frozen=True)
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
