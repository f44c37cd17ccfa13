"""Strict JSON decoding: refuse a duplicate key (``json`` keeps the last) and measure nesting before parsing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["max_depth", "refuse_duplicate_keys"]


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


def max_depth(data: bytes) -> int:
    """The deepest bracket nesting of JSON ``data`` (brackets in strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest
