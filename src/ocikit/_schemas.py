"""JSON Schemas shipped with ocikit (``schemas/`` in the source tree, ``ocikit/schemas/`` in the wheel).

The wheel force-includes the repository's ``schemas/`` directory as ``ocikit/schemas``
(``pyproject.toml``); an editable or source checkout has no such package directory, so we fall back
to ``<repo>/schemas``. One loader for every schema (Kitfile, stage events, ...), cached.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["load_schema", "schema_path", "schema_text", "validator"]

_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.json$")


def _check(name: str) -> None:
    if not _NAME.match(name) or name.startswith("."):
        raise ValueError(f"invalid schema name {name!r}")


def schema_path(name: str) -> Path:
    """A filesystem path to the schema ``name`` (e.g. ``kitfile.schema.json``).

    Tries the installed package first, then the source tree. Raises ``FileNotFoundError``.
    """
    _check(name)
    packaged = resources.files("ocikit") / "schemas" / name
    if isinstance(packaged, Path) and packaged.is_file():
        return packaged
    source = Path(__file__).resolve().parents[2] / "schemas" / name
    if source.is_file():
        return source
    raise FileNotFoundError(f"schema {name} is not installed (looked in the package and {source.parent})")


@cache
def schema_text(name: str) -> str:
    """The schema's JSON text (works for zipped installs too)."""
    _check(name)
    packaged = resources.files("ocikit") / "schemas" / name
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return schema_path(name).read_text(encoding="utf-8")


def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema. A fresh copy each call, so callers may not corrupt the cache."""
    value = json.loads(schema_text(name))
    if not isinstance(value, dict):
        raise ValueError(f"schema {name} is not a JSON object")
    return value


@cache
def validator(name: str) -> Any:
    """A cached ``jsonschema`` validator for the schema (jsonschema is imported lazily: it is heavy)."""
    import jsonschema

    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)
