"""Rendering ``ocikit inspect --summary``: a ModelKit's model on one screen, as text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ocikit._ops._summary import ModelSummary

__all__ = ["format_count", "render_summary"]


def format_count(n: int) -> str:
    """``1234567`` → ``1.23M`` (parameters are read as 7B, 1.1M, 350K)."""
    for factor, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if n >= factor:
            return f"{n / factor:.3g}{suffix}"
    return str(n)


def _weights(entry: Mapping[str, Any]) -> list[str]:
    lines = []
    fmt = entry.get("weightsFormat")
    if fmt is not None:
        params, tensors = entry.get("parameterCount"), entry.get("tensorCount")
        if isinstance(params, int) and isinstance(tensors, int):
            short = format_count(params)
            exact = f" ({params:,})" if short != str(params) else ""
            counts = f"{short} parameters{exact} in {tensors:,} tensors"
        else:
            counts = "counts not trusted"
        lines.append(f"  weights    {fmt}: {counts}")
        dtypes = entry.get("dtypes") or {}
        if dtypes:
            lines.append("  dtypes     " + ", ".join(f"{d} ×{n}" for d, n in dtypes.items()))
        arch = [f"architecture {entry['architecture']}"] if entry.get("architecture") else []
        arch += [f"quantization {entry['quantization']}"] if entry.get("quantization") else []
        if arch:
            lines.append("  " + "  ".join(arch))
    for problem in entry.get("headerProblem") or []:
        lines.append(f"  ! header   {problem}")
    if entry.get("pickle"):
        lines.append(f"  ! pickle   {entry['pickle']} (loading it runs code)")
    return lines


def render_summary(summary: ModelSummary) -> str:
    """The summary as text lines (no trailing newline)."""
    lines = [f"{summary.reference}  {summary.digest}"]
    pkg = summary.package
    if pkg:
        line = " ".join(str(pkg[k]) for k in ("name", "version") if k in pkg)
        if "license" in pkg:
            line += f"  ({pkg['license']})"
        if pkg.get("authors"):
            line += "  by " + ", ".join(pkg["authors"])
        lines.append(f"package      {line}")
    for i, entry in enumerate(summary.models):
        label = "model " if i == 0 else "part  "
        facts = [str(entry.get("name") or entry.get("path") or "")]
        facts += [f"{k} {entry[k]}" for k in ("path", "type", "format", "framework", "version") if entry.get(k)]
        lines.append(f"{label}       " + "  ".join(facts))
        lines += _weights(entry)
    if summary.metrics:
        shown = [f"{k} {v if not isinstance(v, (dict, list)) else json.dumps(v, sort_keys=True)}"
                 for k, v in sorted(summary.metrics.items())]
        lines.append("metrics      " + ", ".join(shown))
    if not summary.has_sbom:
        lines.append("(no SBOM attached: nothing is known from the weights' headers)")
    return "\n".join(lines)
