"""Building a ModelKit's CycloneDX 1.6 SBOM: the document from ``_sbom_components``, the JSON the
library cannot write patched in, validated, and the file lists written in one component at a
time.

cyclonedx-python-lib 11.x has no classes for ``modelCard`` or component ``data`` (``# TODO since
CDX1.5`` in ``cyclonedx/model/component.py``), so they are added to the JSON after the library
serialised the rest; the result is then validated against the strict 1.6 schema. The output is
deterministic: no random serial number, no wall-clock time (``SOURCE_DATE_EPOCH`` only), sorted.
"""

from __future__ import annotations

import io
import json
import secrets
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocikit._config import source_date_epoch
from ocikit._layers._types import PackedLayer
from ocikit._oci._model import Descriptor
from ocikit._oci._reference import Reference
from ocikit._trust._sbom_components import Components, SbomInputs
from ocikit._trust._sbom_validate import validate_sbom
from ocikit.errors import OcikitError

if TYPE_CHECKING:
    from ocikit._kitfile._model import Kitfile

__all__ = ["build_sbom"]


def build_sbom(
    kitfile: Kitfile,
    layers: Sequence[PackedLayer],
    manifest_desc: Descriptor,
    reference: Reference | None,
    context_dir: Path | None,
    *,
    include_env: bool = False,
    config: Descriptor | None = None,
) -> bytes:
    """The CycloneDX 1.6 JSON SBOM of a packed ModelKit (validated; same inputs → same bytes).

    ``kitfile`` is an :class:`ocikit._kitfile._model.Kitfile`; ``layers`` the layers as written (their
    :class:`FileRecord` hashes are used, nothing is re-hashed); ``context_dir`` is where the
    dependency files of code layers are read and the git provenance is taken (``None`` skips both);
    ``config`` is the Kitfile config blob's descriptor, recorded as the Kitfile digest.
    """
    inputs = SbomInputs(kitfile, layers, manifest_desc, reference, context_dir, include_env, config)
    return _Builder(inputs).build()


class _Builder:
    """One SBOM build: the BOM of the components, serialised, patched, validated and spliced."""

    def __init__(self, inputs: SbomInputs) -> None:
        self.manifest_desc = inputs.manifest_desc
        self.include_env = inputs.include_env
        self.parts = Components(inputs)

    # -- the document ------------------------------------------------------------------------

    def build(self) -> bytes:
        from cyclonedx.output.json import JsonV1Dot6

        timestamp = source_date_epoch()
        doc = json.loads(JsonV1Dot6(self._bom(timestamp)).output_as_string())
        if timestamp is None:  # the library stamps "now"; without SOURCE_DATE_EPOCH there is no time
            doc.get("metadata", {}).pop("timestamp", None)
        error = self._check(doc)
        # The file lists go in as placeholders and are written one component at a time below, so
        # neither the lists nor a second copy of the whole text are ever held (docs/performance.md).
        marker = f"\0ocikit-files-{secrets.token_hex(8)}:"
        self._patch(doc, {ref: f"{marker}{i}" for i, ref in enumerate(self.parts.nested_files)})
        text = json.dumps(self._ordered(doc), indent=2, ensure_ascii=False) + "\n"
        if error is not None:
            raise OcikitError(
                f"internal error: the generated SBOM for {self.manifest_desc.digest} is not valid "
                f"CycloneDX 1.6: {error}",
                hint="this is a bug in ocikit; please report it with the Kitfile",
            )
        return self._splice(text, json.dumps(marker, ensure_ascii=False)[:-1])

    def _bom(self, timestamp: Any) -> Any:
        """The library's ``Bom``: metadata, every component, the dependency graph."""
        from cyclonedx.model.bom import Bom
        from cyclonedx.model.component import Component, ComponentType

        from ocikit._version import __version__

        bom = Bom(serial_number=uuid.uuid5(uuid.NAMESPACE_URL, f"ocikit:sbom:{self.manifest_desc.digest}"))
        if timestamp is not None:
            bom.metadata.timestamp = timestamp
        bom.metadata.tools.components.add(
            Component(type=ComponentType.APPLICATION, name="ocikit", version=__version__)
        )
        modelkit = self.parts.modelkit_component()
        bom.metadata.component = modelkit

        elements = self.parts.element_components()
        for component, _ in elements.values():
            bom.components.add(component)

        deps, deps_by_layer = self.parts.python_dependencies()
        dep_components: dict[str, Any] = {}
        for dep in deps:
            comp = self.parts.dependency_component(dep)
            dep_components[str(comp.bom_ref.value)] = comp
            bom.components.add(comp)
        self._graph(bom, modelkit, elements, dep_components, deps_by_layer)
        return bom

    def _graph(self, bom: Any, modelkit: Any, elements: Mapping[str, tuple[Any, PackedLayer | None]],
               dep_components: Mapping[str, Any], deps_by_layer: Mapping[int, list[str]]) -> None:
        """The graph: ModelKit → every element; model → its parts; code → its Python dependencies;
        the packing environment (added here when asked for) → the dependencies found in it."""
        bom.register_dependency(modelkit, [c for c, _ in elements.values()])
        model = elements.get("model")
        parts = [c for key, (c, _) in elements.items() if key.startswith("part-")]
        if model is not None and parts:
            bom.register_dependency(model[0], parts)
        for component, layer in elements.values():
            if layer is not None and layer.kind == "code":
                refs = deps_by_layer.get(id(layer), [])
                targets = [dep_components[r] for r in refs if r in dep_components]
                if targets:
                    bom.register_dependency(component, targets)
        if self.include_env:
            env = self.parts.environment_component()
            bom.components.add(env)
            env_refs = [r for r in dep_components if "environment" in self.parts.dep_sources.get(r, ())]
            bom.register_dependency(env, [dep_components[r] for r in env_refs])

    def _check(self, doc: dict[str, Any]) -> str | None:
        """The first error of ``doc`` against the schema, patched with the file lists' samples."""
        # Validate with a sample of the generated file components (the first few and one of
        # each shape), and every file component with the same checks the schema makes of
        # their values: validating 50k identical-shaped entries with jsonschema took 26 s.
        sample = {ref: listing.sample for ref, listing in self.parts.nested_files.items()}
        self._patch(doc, sample)
        error = validate_sbom(json.dumps(doc, ensure_ascii=False))
        if error is None:
            error = next((listing.error for listing in self.parts.nested_files.values() if listing.error), None)
        return error

    def _splice(self, text: str, quoted_marker: str) -> bytes:
        """``text`` with each placeholder replaced by its file list, formatted as ``json.dumps``
        (``indent=2``) formats a list at that depth; JSON strings hold no raw newline, so
        re-indenting a component's own ``json.dumps`` is exact."""
        listings = list(self.parts.nested_files.values())
        out = io.BytesIO()
        pos = 0
        while True:
            start = text.find(quoted_marker, pos)
            if start < 0:
                break
            end = text.index('"', start + len(quoted_marker)) + 1
            listing = listings[int(text[start + len(quoted_marker):end - 1])]
            line = text.rfind("\n", 0, start) + 1
            outer = " " * (len(text[line:start]) - len(text[line:start].lstrip(" ")))
            inner = outer + "  "
            out.write(text[pos:start].encode("utf-8"))
            out.write(b"[")
            first, sep = ("\n" + inner).encode(), (",\n" + inner).encode()
            for i, component in enumerate(listing.texts(inner)):
                out.write(sep if i else first)
                out.write(component.encode("utf-8"))
            out.write(b"\n" + outer.encode() + b"]")
            pos = end
        out.write(text[pos:].encode("utf-8"))
        return out.getvalue()

    @staticmethod
    def _ordered(doc: dict[str, Any]) -> dict[str, Any]:
        """Top-level keys in reading order (the library writes them alphabetically, ``$schema`` last)."""
        first = ["$schema", "bomFormat", "specVersion", "serialNumber", "version", "metadata",
                 "components", "dependencies"]
        out = {k: doc[k] for k in first if k in doc}
        out.update({k: v for k, v in doc.items() if k not in out})
        return out

    def _patch(self, doc: dict[str, Any], files: Mapping[str, list[dict[str, Any]] | str]) -> None:
        """Add ``modelCard`` and ``data`` (not modelled by cyclonedx-python-lib 11.x) by bom-ref."""

        def walk(components: list[dict[str, Any]]) -> None:
            for comp in components:
                ref = comp.get("bom-ref")
                if ref in self.parts.model_cards:
                    comp["modelCard"] = self.parts.model_cards[ref]
                if ref in self.parts.component_data:
                    comp["data"] = self.parts.component_data[ref]
                walk(comp.get("components", []))
                if isinstance(ref, str) and ref in files:  # after the walk: nothing inside to patch
                    comp["components"] = files[ref]
                ordered = sorted(comp.items())  # keys in the library's (alphabetical) order
                comp.clear()
                comp.update(ordered)

        walk(doc.get("components", []))
        meta_component = doc.get("metadata", {}).get("component")
        if meta_component is not None:
            walk([meta_component])
