"""The CycloneDX document as ocikit writes and reads it: the names it uses (media type, file name,
property names), parsing one back, walking its components, and the files it lists.

Shared by every part of the SBOM (build, validation, referrers, parents, verify-files); imports
nothing of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from ocikit.errors import FileVerificationError, VerificationError

__all__ = [
    "EXECUTABLE_DESERIALIZATION",
    "MAX_SBOM_BYTES",
    "PROP_FILE_PATH",
    "SBOM_FILENAME",
    "SBOM_MEDIA_TYPE",
    "Expected",
    "P",
    "expected_files",
    "iter_components",
    "parse_sbom",
    "properties",
]

#: IANA media type of CycloneDX JSON. Used verbatim as the referrer's ``artifactType`` and layer
#: media type: Trivy compares the strings exactly, so no ``; version=1.6`` parameter.
SBOM_MEDIA_TYPE = "application/vnd.cyclonedx+json"
#: The name ``ocikit unpack`` gives the SBOM in the target directory (not a packed file).
SBOM_FILENAME = "SBOM.json"
#: Largest SBOM read back (about 500 bytes per file: a ModelKit with 400k files still fits).
MAX_SBOM_BYTES = 256 * 1024 * 1024

#: Property set on components whose bytes are deserialised by executing code (pickle and
#: formats built on it). Present only when true: a missing flag is never a claim of safety.
EXECUTABLE_DESERIALIZATION = "ocikit:security:executable-deserialization"

#: The prefix of every property ocikit sets, and the one naming a packed file's path.
P = "ocikit:"
PROP_FILE_PATH = "ocikit:file:path"


def parse_sbom(data: bytes, where: str) -> dict[str, Any]:
    """``data`` as a CycloneDX JSON document, or VerificationError naming ``where``."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise VerificationError(f"{where} is not valid JSON ({e})") from e
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise VerificationError(f"{where} is not a CycloneDX document (bomFormat is missing)")
    return doc


@dataclass(frozen=True)
class Expected:
    """A file the SBOM lists: its path, SHA-256 and (when recorded) size."""

    path: str
    sha256: str
    size: int | None


def iter_components(doc: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every component of ``doc``, nested ones and ``metadata.component`` included."""
    stack: list[Any] = list(doc.get("components") or [])
    meta = doc.get("metadata")
    if isinstance(meta, Mapping) and isinstance(meta.get("component"), Mapping):
        stack.append(meta["component"])
    while stack:
        comp = stack.pop()
        if isinstance(comp, Mapping):
            yield comp
            stack.extend(comp.get("components") or [])


def properties(component: Mapping[str, Any]) -> dict[Any, Any]:
    """A component's ``properties`` as ``{name: value}`` (entries that are not objects skipped)."""
    return {p.get("name"): p.get("value") for p in component.get("properties") or [] if isinstance(p, Mapping)}


def expected_files(doc: Mapping[str, Any], sbom_name: str) -> dict[str, Expected]:
    """The files ``doc`` lists (``ocikit:file:path``) by path; raises on an unsafe path, a missing
    hash or one path listed twice with two hashes."""
    out: dict[str, Expected] = {}
    for comp in iter_components(doc):
        props = properties(comp)
        path = props.get(PROP_FILE_PATH)
        if not isinstance(path, str):
            continue
        sha = next((h.get("content") for h in comp.get("hashes") or []
                    if isinstance(h, Mapping) and h.get("alg") == "SHA-256"), None)
        if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha):
            raise FileVerificationError(f"{sbom_name}: file {path!r} has no SHA-256 hash")
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts or "\\" in path or not pure.parts or path != pure.as_posix():
            raise FileVerificationError(f"{sbom_name} lists an unsafe file path {path!r}",
                                        hint="this SBOM is malformed or hostile; do not trust it")
        size_text = props.get(f"{P}file:size")
        size = int(size_text) if isinstance(size_text, str) and size_text.isdigit() else None
        entry = Expected(path, sha.lower(), size)
        if path in out and out[path].sha256 != entry.sha256:
            raise FileVerificationError(f"{sbom_name} lists {path!r} twice with different hashes")
        out[path] = entry
    return out
