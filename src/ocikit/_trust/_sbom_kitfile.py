"""Kitfile values as CycloneDX wants them: optional fields read leniently, parameter values as
strings, and the ``modelCard`` (model parameters, datasets, metrics) built from the Kitfile model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ocikit._trust._sbom_doc import P

__all__ = ["get_attr", "metrics", "model_card", "scalar", "str_or_none"]

_APPROACHES = {"supervised", "unsupervised", "reinforcement-learning", "semi-supervised", "self-supervised"}


def get_attr(obj: Any, name: str) -> Any:
    """``obj.name``, or None when ``obj`` is None or has no such field."""
    return getattr(obj, name, None) if obj is not None else None


def str_or_none(value: Any) -> str | None:
    """``value`` as stripped text; None for None and for blank text."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def scalar(value: Any) -> str:
    """A Kitfile parameter value as the string CycloneDX wants (metrics values are strings)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def model_card(model: Any, bom_refs: Iterable[str]) -> dict[str, Any]:
    """``modelCard`` (CycloneDX 1.6 ``modelCard``) from the Kitfile model and its parameters."""
    raw = get_attr(model, "parameters")
    params: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    mp: dict[str, Any] = {}
    approach = str_or_none(params.get("approach"))
    if approach is not None and approach in _APPROACHES:
        mp["approach"] = {"type": approach}
    for key, names in (
        ("task", ("task",)),
        ("architectureFamily", ("architectureFamily", "architecture_family", "architecture")),
        ("modelArchitecture", ("modelArchitecture", "model_architecture")),
    ):
        for n in names:
            value = str_or_none(params.get(n)) if not isinstance(params.get(n), (dict, list)) else None
            if value:
                mp[key] = value
                break
    datasets = [{"ref": ref} for ref in bom_refs if ref.startswith("dataset-")]
    if datasets:
        mp["datasets"] = datasets
    for key in ("inputs", "outputs"):
        io = params.get(key)
        items = io if isinstance(io, list) else [io] if isinstance(io, str) else []
        formats = [{"format": scalar(i.get("format") if isinstance(i, dict) else i)}
                   for i in items if i is not None]
        if formats:
            mp[key] = formats
    card: dict[str, Any] = {}
    if mp:
        card["modelParameters"] = mp
    performance = metrics(params.get("metrics"))
    if performance:
        card["quantitativeAnalysis"] = {"performanceMetrics": performance}
    props = [
        {"name": f"{P}model:{k}", "value": v}
        for k, v in (("framework", str_or_none(get_attr(model, "framework"))),
                     ("format", str_or_none(get_attr(model, "format"))))
        if v is not None
    ]
    if props:
        card["properties"] = props
    return card


def metrics(raw: Any) -> list[dict[str, Any]]:
    """``parameters.metrics`` as CycloneDX ``performanceMetrics`` (every value a string).

    Accepts ``{accuracy: 0.93}``, ``{accuracy: {value: 0.93, slice: test, lowerBound: …}}`` and
    ``[{type|name: accuracy, value: 0.93, slice: test}]``.
    """
    items: list[tuple[str, Any]] = []
    if isinstance(raw, Mapping):
        items = [(str(k), v) for k, v in sorted(raw.items(), key=lambda kv: str(kv[0]))]
    elif isinstance(raw, list):
        for entry in raw:
            if isinstance(entry, Mapping) and (entry.get("type") or entry.get("name")) is not None:
                items.append((str(entry.get("type") or entry.get("name")), entry))
    out = []
    for name, value in items:
        metric: dict[str, Any] = {"type": name}
        if isinstance(value, Mapping):
            if value.get("value") is not None:
                metric["value"] = scalar(value["value"])
            if value.get("slice") is not None:
                metric["slice"] = scalar(value["slice"])
            lo = value.get("lowerBound", value.get("lower_bound"))
            hi = value.get("upperBound", value.get("upper_bound"))
            if lo is not None or hi is not None:
                metric["confidenceInterval"] = {
                    k: scalar(v) for k, v in (("lowerBound", lo), ("upperBound", hi)) if v is not None
                }
        elif value is not None:
            metric["value"] = scalar(value)
        out.append(metric)
    return out
