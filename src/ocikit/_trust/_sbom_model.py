"""What the weights' headers say about a model layer, in its SBOM component: ``ocikit:model:*``
properties and the ``modelCard``'s ``modelParameters`` (CycloneDX 1.6,
https://cyclonedx.org/docs/1.6/json/#components_items_modelCard_modelParameters).

The files are read where they were packed from (the context directory), headers only
(``_headers``); a file packed from elsewhere (no context) contributes nothing. A header that
does not add up is listed in ``ocikit:model:headerProblem`` and its counts are left out.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ocikit._io._json import refuse_duplicate_keys
from ocikit._layers._types import FileRecord
from ocikit._trust._headers import ModelHeader, combine, header_format, read_header
from ocikit._trust._sbom_doc import P

__all__ = ["PROPERTY_NAMES", "add_to_model_card", "header_properties", "layer_header", "summary_from_component"]

log = logging.getLogger(__name__)

#: ModelHeader field → property name (``ocikit:model:format`` is the Kitfile's ``model.format``).
PROPERTY_NAMES = {
    "format": f"{P}model:weightsFormat",
    "tensor_count": f"{P}model:tensorCount",
    "parameter_count": f"{P}model:parameterCount",
    "dtypes": f"{P}model:dtypes",
    "architecture": f"{P}model:architecture",
    "quantization": f"{P}model:quantization",
    "problems": f"{P}model:headerProblem",
}


def layer_header(records: Sequence[FileRecord], local_of: Callable[[str], str | None]) -> ModelHeader | None:
    """The combined header of the weights files among ``records`` (None when there are none);
    ``local_of`` maps a packed path to the file it was packed from, or None."""
    headers: dict[str, ModelHeader] = {}
    for rec in records:
        fmt = header_format(rec.path)
        local = local_of(rec.path) if fmt is not None else None
        if fmt is None or local is None:
            continue
        headers[rec.path] = read_header(local, fmt, expected_size=rec.size)
        if headers[rec.path].problems:
            log.warning("%s: the %s header is not trusted: %s", rec.path, fmt, "; ".join(headers[rec.path].problems))
    combined = combine(headers)
    config = _hf_config(records, local_of)
    if not config:
        return combined
    base = combined or ModelHeader("")
    return dataclasses.replace(base, extra=tuple(sorted({**dict(base.extra), **config}.items())))


#: The largest Hugging Face ``config.json`` read for ``model_type`` and ``architectures``.
_MAX_CONFIG = 1024 * 1024


def _hf_config(records: Sequence[FileRecord], local_of: Callable[[str], str | None]) -> dict[str, str]:
    """``model_type`` and the first of ``architectures`` from a Hugging Face ``config.json`` at the
    top of the layer (https://huggingface.co/docs/transformers/main_classes/configuration)."""
    found = [r for r in records if r.path.rpartition("/")[2] == "config.json" and r.size <= _MAX_CONFIG]
    if not found:
        return {}
    rec = min(found, key=lambda r: r.path.count("/"))
    local = local_of(rec.path)
    if local is None:
        return {}
    try:
        with open(local, "rb") as f:
            doc = json.loads(f.read(_MAX_CONFIG + 1), object_pairs_hook=refuse_duplicate_keys(ValueError))
    except (OSError, ValueError, RecursionError) as e:
        log.warning("%s: not read as a Hugging Face config: %s", rec.path, e)
        return {}
    out: dict[str, str] = {}
    if isinstance(doc, dict):
        if isinstance(doc.get("model_type"), str) and doc["model_type"]:
            out["modelType"] = doc["model_type"]
        archs = doc.get("architectures")
        if isinstance(archs, list) and archs and isinstance(archs[0], str) and archs[0]:
            out["modelArchitecture"] = archs[0]
    return out


def _dtypes_text(dtypes: Sequence[tuple[str, int]]) -> str:
    return ",".join(f"{name}:{n}" for name, n in dtypes)


def header_properties(header: ModelHeader | None) -> dict[str, str | None]:
    """The ``ocikit:model:*`` properties of ``header`` (none for None)."""
    if header is None:
        return {}
    return {
        PROPERTY_NAMES["format"]: header.format or None,
        PROPERTY_NAMES["tensor_count"]: None if header.tensor_count is None else str(header.tensor_count),
        PROPERTY_NAMES["parameter_count"]: None if header.parameter_count is None else str(header.parameter_count),
        PROPERTY_NAMES["dtypes"]: _dtypes_text(header.dtypes) or None,
        PROPERTY_NAMES["architecture"]: header.architecture,
        PROPERTY_NAMES["quantization"]: header.quantization,
        PROPERTY_NAMES["problems"]: "; ".join(header.problems) or None,
    }


def add_to_model_card(card: dict[str, Any], header: ModelHeader | None) -> None:
    """``modelParameters.architectureFamily`` from the header's architecture (GGUF
    ``general.architecture``) or a Hugging Face ``config.json``'s ``model_type``, and
    ``modelArchitecture`` from its ``architectures``, where the Kitfile did not name them."""
    if header is None:
        return
    extra = dict(header.extra)
    family = header.architecture if header.architecture and "," not in header.architecture else None
    for key, value in (("architectureFamily", family or extra.get("modelType")),
                       ("modelArchitecture", extra.get("modelArchitecture"))):
        if value:
            card.setdefault("modelParameters", {}).setdefault(key, value)


def summary_from_component(component: Mapping[str, Any]) -> dict[str, Any]:
    """The header facts an SBOM component records, by the last part of their property names
    (``weightsFormat``, ``parameterCount``, ...; the inverse of :func:`header_properties`)."""
    props = {p.get("name"): p.get("value") for p in component.get("properties") or [] if isinstance(p, Mapping)}
    out: dict[str, Any] = {}
    for key, name in PROPERTY_NAMES.items():
        value = props.get(name)
        if not isinstance(value, str):
            continue
        short = name.rpartition(":")[2]
        if key in ("tensor_count", "parameter_count") and value.isdigit():
            out[short] = int(value)
        elif key == "dtypes":
            out[short] = {d: int(n) for d, _, n in (item.rpartition(":") for item in value.split(",")) if n.isdigit()}
        elif key == "problems":
            out[short] = value.split("; ")
        else:
            out[short] = value
    return out
