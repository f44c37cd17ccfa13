"""Validation of a generated SBOM against the strict CycloneDX 1.6 JSON schema, in views small
enough that the schema's ``uniqueItems`` checks stay fast on ModelKits with many files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ocikit._trust._sbom_doc import iter_components

__all__ = ["validate_sbom", "validation_views"]


@lru_cache(maxsize=1)
def _validator() -> Any:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    return JsonStrictValidator(SchemaVersion.V1_6)


#: Components (and dependency entries) per validation view; see :func:`validation_views`.
_VIEW_SIZE = 50


def validation_views(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Copies of ``doc`` with at most :data:`_VIEW_SIZE` leaf components per list, covering all.

    The schema marks ``components`` and ``dependencies`` ``uniqueItems``; jsonschema checks that
    pairwise for objects (``jsonschema._utils.uniq``), which is quadratic: 5000 files in one layer
    took 6 s. Each view keeps every component that has children (so every leaf keeps its full
    parent chain) and one slice of the leaves, so every component is validated by the strict
    validator in some view. Uniqueness across views is the caller's check: distinct bom-refs.
    """
    split: dict[int, tuple[list[Any], list[list[Any]]]] = {}  # id(list) → (containers, leaf chunks)

    def prepare(items: list[Any]) -> int:
        containers = [c for c in items if isinstance(c, dict) and c.get("components")]
        leaves = [c for c in items if not (isinstance(c, dict) and c.get("components"))]
        chunks = [leaves[i:i + _VIEW_SIZE] for i in range(0, len(leaves), _VIEW_SIZE)] or [[]]
        split[id(items)] = (containers, chunks)
        return max([len(chunks), *(prepare(c["components"]) for c in containers)])

    def view(items: list[Any], i: int) -> list[Any]:
        containers, chunks = split[id(items)]
        return [{**c, "components": view(c["components"], i)} for c in containers] + chunks[i % len(chunks)]

    components = doc.get("components") or []
    dependencies = doc.get("dependencies") or []
    total = max(prepare(components), -(-len(dependencies) // _VIEW_SIZE), 1)
    if total == 1:
        return [doc]
    out = []
    for i in range(total):
        v = dict(doc)
        if components:
            v["components"] = view(components, i)
        if dependencies:
            start = (i % max(1, -(-len(dependencies) // _VIEW_SIZE))) * _VIEW_SIZE
            v["dependencies"] = dependencies[start:start + _VIEW_SIZE]
        out.append(v)
    return out


def validate_sbom(text: str) -> str | None:
    """None when ``text`` is valid CycloneDX 1.6 JSON (strict schema), else the first error.

    Large documents are validated in views (:func:`validation_views`) plus a bom-ref
    uniqueness check, which together imply the ``uniqueItems`` constraints the views split up.
    """
    doc = json.loads(text)
    views = validation_views(doc) if isinstance(doc, dict) else [doc]
    if len(views) > 1:
        refs = [c.get("bom-ref") for c in iter_components(doc)]
        if len(refs) != len(set(refs)) or None in refs:
            return "bom-refs are missing or not unique"
        dep_refs = [d.get("ref") for d in doc.get("dependencies") or [] if isinstance(d, Mapping)]
        if len(dep_refs) != len(set(dep_refs)):
            return "dependencies list a ref twice"
    for v in views:
        error = _validator().validate_str(text if v is doc else json.dumps(v))
        if error is None:
            continue
        data = getattr(error, "data", None)
        where = "/".join(str(p) for p in getattr(data, "absolute_path", []) or [])
        message = getattr(data, "message", None) or str(error)
        return f"{message} (at /{where})" if where else str(message)
    return None
