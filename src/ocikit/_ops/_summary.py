"""A one-screen summary of a ModelKit's model (``ocikit inspect --summary``): the Kitfile's package and
model, and for the model and each part what its SBOM recorded from the weights' headers
(``_trust._sbom_model``): format, parameters, tensors, dtypes, architecture, quantisation, the
header problems and the pickle flag. Reads the manifest, config and SBOM only, never a layer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ocikit._config import RegistryOptions
from ocikit._oci._reference import Reference

__all__ = ["ModelSummary", "model_summary"]


@dataclass(frozen=True)
class ModelSummary:
    """What ``inspect --summary`` shows."""

    reference: str
    digest: str
    package: dict[str, Any]
    #: one entry per model component (the model first, then its parts): Kitfile and header facts
    models: tuple[dict[str, Any], ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)
    has_sbom: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest, "package": self.package,
                "models": list(self.models), "metrics": self.metrics, "sbom": self.has_sbom}


def model_summary(
    reference: str | Reference,
    *,
    remote: bool = False,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
) -> ModelSummary:
    """The model summary of the ModelKit at ``reference`` (see :func:`ocikit._ops._catalog.inspect`
    for where it is read; the SBOM is looked up in the same place, and may be missing)."""
    from ocikit._ops._catalog import inspect
    from ocikit._ops._repos import locate, open_registry_repository
    from ocikit._trust._sbom import find_sbom
    from ocikit._trust._sbom_doc import parse_sbom

    result = inspect(reference, remote=remote, home=home, options=options)
    storage = (open_registry_repository(result.reference, home=home, options=options) if remote
               else locate(result.reference, home=home, options=options))
    sbom = find_sbom(storage, result.digest)
    doc = parse_sbom(sbom, f"the SBOM of {result.reference.display}") if sbom is not None else None
    kf = result.kitfile
    package = {k: v for k, v in (("name", kf.package.name), ("version", kf.package.version),
                                 ("license", kf.package.license), ("authors", list(kf.package.authors)))
               if v}
    models, metrics = _models(kf, doc)
    return ModelSummary(result.reference.display, str(result.digest), package, tuple(models), metrics,
                        doc is not None)


def _models(kf: Any, doc: Mapping[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from ocikit._trust._sbom_doc import EXECUTABLE_DESERIALIZATION, properties
    from ocikit._trust._sbom_model import summary_from_component

    model = kf.model
    if model is None:
        return [], {}
    components = {c.get("bom-ref"): c for c in (doc or {}).get("components") or [] if isinstance(c, Mapping)}
    entries = [("model", model, {"name": model.name, "path": model.path, "framework": model.framework,
                                 "format": model.format, "version": model.version})]
    entries += [(f"part-{i}", p, {"name": p.name, "path": p.path, "type": p.type})
                for i, p in enumerate(model.parts)]
    out = []
    for ref, _, facts in entries:
        entry = {k: v for k, v in facts.items() if v}
        comp = components.get(ref)
        if comp is not None:
            entry.update(summary_from_component(comp))
            props = properties(comp)
            if props.get(EXECUTABLE_DESERIALIZATION) == "true":
                entry["pickle"] = str(props.get("ocikit:security:formats") or "true")
        out.append(entry)
    params = model.parameters if isinstance(model.parameters, Mapping) else {}
    raw = params.get("metrics")
    metrics = dict(raw) if isinstance(raw, Mapping) else {}
    return out, metrics
