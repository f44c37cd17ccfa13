"""A derived ModelKit's SBOM lists its parents' files too, so ``verify-files`` passes on what
``unpack`` writes (the parents' files beside the child's).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from ocikit._trust._sbom_doc import PROP_FILE_PATH, P, expected_files, iter_components, parse_sbom, properties
from ocikit._trust._sbom_validate import validate_sbom
from ocikit.errors import OcikitError

__all__ = ["inherit_parent_files"]

log = logging.getLogger(__name__)


def inherit_parent_files(sbom_bytes: bytes, parents: Sequence[tuple[str, bytes | None]]) -> bytes:
    """Add the files of a derived ModelKit's parents (``model.path`` references) to its SBOM.

    ``unpack`` writes the parents' files beside the child's, so ``verify-files`` must find them
    listed: each parent becomes one component (``ocikit:parent:reference``) holding a copy of the
    file components of the parent's own SBOM (which already include its ancestors' files).
    ``parents`` = (reference, parent SBOM bytes or None when it has none), nearest first; a
    path is listed once, from the nearest parent. Same inputs, same bytes.
    """
    doc = json.loads(sbom_bytes)
    listed = set(expected_files(doc, "the new SBOM"))
    added: list[dict[str, Any]] = []
    for i, (reference, parent_sbom) in enumerate(parents, start=1):
        if parent_sbom is None:
            log.warning("parent %s has no SBOM: its files are not listed in the new SBOM", reference)
            continue
        parent_doc = parse_sbom(parent_sbom, f"the SBOM of parent {reference}")
        files: list[dict[str, Any]] = []
        for comp in iter_components(parent_doc):
            path = properties(comp).get(PROP_FILE_PATH)
            if not isinstance(path, str) or path in listed:
                continue
            listed.add(path)
            copied = {k: v for k, v in comp.items() if k in ("hashes", "name", "properties", "type")}
            files.append({"bom-ref": f"parent-{i}:{comp.get('bom-ref', path)}", **copied})
        files.sort(key=lambda f: str(f["name"]))
        added.append({
            "bom-ref": f"parent-{i}",
            "components": files,
            "name": reference,
            "properties": [{"name": f"{P}parent:reference", "value": reference}],
            "type": "application",
        })
    if not added:
        return sbom_bytes
    doc.setdefault("components", []).extend(added)
    expected_files(doc, "the new SBOM")  # the same file never twice with two hashes
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    error = validate_sbom(text)
    if error is not None:
        raise OcikitError(f"internal error: the SBOM with the parents' files is not valid CycloneDX 1.6: {error}",
                          hint="this is a bug in ocikit; please report it with the Kitfile")
    return text.encode("utf-8")
