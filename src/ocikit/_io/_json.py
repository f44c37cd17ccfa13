"""Strict JSON decoding: the ``object_pairs_hook`` that refuses a duplicate key (``json`` keeps the last)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["refuse_duplicate_keys"]


def refuse_duplicate_keys(
    error: Callable[[str], Exception],
) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """An ``object_pairs_hook`` for :func:`json.loads` that raises ``error("duplicate key 'k'")``."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise error(f"duplicate key {k!r}")
            out[k] = v
        return out

    return hook
