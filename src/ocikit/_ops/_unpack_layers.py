"""Which layers an unpack extracts: layers paired with Kitfile elements, filtered, parents first.

Layers are matched to Kitfile elements by counting per kind in manifest order, as kit does; the
config's per-layer digest must equal the manifest's. Parent ModelKits (``model.path`` is a
reference) come first, with only the ``model`` part of the filters, at most 10 deep, cycles refused
(docs/compatibility.md §4.10, §4.14). A filter that selects nothing is refused, listing what there is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocikit._config import RegistryOptions
from ocikit._io._digest import Digest
from ocikit._kitfile._filters import FilterSet
from ocikit._modelkit._layer_types import classify
from ocikit._oci._model import KITOPS_CONFIG, KITOPS_MANIFEST_ARTIFACT, Descriptor, Manifest
from ocikit._oci._reference import Reference
from ocikit.errors import DigestMismatchError, NotAModelKitError, NotFoundError, VerificationError

if TYPE_CHECKING:
    from ocikit._kitfile._elements import LayerInfo
    from ocikit._kitfile._model import Kitfile
    from ocikit._modelkit._read import ModelContent
    from ocikit._store._storage import Storage

__all__ = ["MAX_PARENT_DEPTH", "Collected", "LayerJob", "check_filters_match", "collect", "load_modelkit",
           "match_layers"]

MAX_PARENT_DEPTH = 10


@dataclass(frozen=True)
class LayerJob:
    """One layer to extract."""

    storage: Any
    source: str  # display reference of the ModelKit
    desc: Descriptor
    kind: str
    codec: str
    section: str
    index: int
    path: str
    info: LayerInfo | None
    diff_id: Digest | None = None  # checked for compressed layers when known
    raw_name: str | None = None  # a ModelPack .raw layer: its file's path
    raw_mode: int = 0o644
    name: str | None = None  # the Kitfile element's name, for checking filters
    raw_size: int | None = None  # a compressed raw layer's file size (its metadata annotation)


@dataclass
class Collected:
    jobs: list[LayerJob] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)


_Loaded = tuple[Descriptor, Manifest, "ModelContent"]


def load_modelkit(storage: Storage, ref: Reference) -> _Loaded:
    from ocikit._modelkit._read import read_model
    from ocikit._store._storage import read_manifest

    desc, manifest = read_manifest(storage, ref.identifier)
    if manifest.artifact_type == KITOPS_MANIFEST_ARTIFACT and manifest.config.media_type != KITOPS_CONFIG:
        raise NotAModelKitError(
            f"{ref.display} is not a ModelKit (config media type {manifest.config.media_type})"
        )
    return desc, manifest, read_model(storage, manifest, ref.display)


def _element_name(kitfile: Kitfile, section: str, index: int) -> str | None:
    if section == "model" and kitfile.model is not None:
        return kitfile.model.name
    if section == "parts" and kitfile.model is not None and index < len(kitfile.model.parts):
        return kitfile.model.parts[index].name
    if section == "datasets" and index < len(kitfile.datasets):
        return kitfile.datasets[index].name
    elements: tuple[Any, ...] = {"prompts": kitfile.prompts, "mcpServers": kitfile.mcp_servers}.get(section, ())
    return elements[index].name if index < len(elements) else None


def match_layers(ref: Reference, storage: Storage, manifest: Manifest, content: ModelContent,
                 filters: FilterSet) -> list[LayerJob]:
    """Pair manifest layers with Kitfile elements by counting per kind (kit's unpack.go); a
    ModelPack's layers come paired already (``_modelpack``)."""
    from ocikit._kitfile._elements import LayerInfo
    from ocikit._modelkit._raw import raw_mode, raw_size, raw_target

    kitfile, infos = content.kitfile, content.infos
    if content.slots is not None:
        jobs = []
        for slot in content.slots:
            if not filters.matches(slot.section, _element_name(kitfile, slot.section, slot.index), slot.path):
                continue
            layer = manifest.layers[slot.position]
            # never None here: that would mean a kit <= 0.4 layer (names relative to the path's parent)
            slot_info = infos.get((slot.section, slot.index)) or LayerInfo(layer.digest,
                                                                           slot.diff_id or layer.digest)
            jobs.append(LayerJob(storage, ref.display, layer, slot.kind, slot.codec, slot.section, slot.index,
                                 slot.path, slot_info, slot.diff_id,
                                 slot.filepath if slot.raw else None, raw_mode(layer.annotations),
                                 name=_element_name(kitfile, slot.section, slot.index),
                                 raw_size=raw_size(layer.annotations)))
        return jobs
    by_kind: dict[str, list[Any]] = {}
    for el in kitfile.layer_elements():
        by_kind.setdefault(el.kind, []).append(el)
    used: dict[str, int] = {}
    jobs = []
    for position, layer in enumerate(manifest.layers):
        lt = classify(layer.media_type, layer.annotations)
        kind, codec = lt.kind, lt.codec
        where = f"{ref.display} layer {position} ({layer.media_type})"
        if not lt.known:  # a newer kit's layer type: placed by its path annotation, never dropped
            job = _unknown_layer_job(ref, storage, layer, lt, where, filters)
            if job is not None:
                jobs.append(job)
            continue
        n = used.get(kind, 0)
        used[kind] = n + 1
        elements = by_kind.get(kind, [])
        if n >= len(elements):
            raise VerificationError(
                f"{ref.display}: the manifest has more {kind} layers than the Kitfile in its config lists"
            )
        el = elements[n]
        info = infos.get((el.section, el.index))
        if info is not None and info.digest != layer.digest:
            raise DigestMismatchError(
                f"{ref.display}: digest in config and manifest do not match in {kind} layer {el.path!r}"
            )
        name = _element_name(kitfile, el.section, el.index)
        if not filters.matches(el.section, name, el.path):
            continue
        raw_name = raw_target(layer.annotations, el.path, where) if lt.raw else None
        jobs.append(LayerJob(storage, ref.display, layer, kind, codec, el.section, el.index, el.path, info,
                             info.diff_id if info is not None else None, raw_name, raw_mode(layer.annotations),
                             name=name, raw_size=raw_size(layer.annotations)))
    return jobs


def _unknown_layer_job(ref: Reference, storage: Storage, layer: Descriptor, lt: Any, where: str,
                       filters: FilterSet) -> LayerJob | None:
    """A layer of a type this ocikit does not know, under a known prefix: unpacked at its path
    annotation (raw) or as a tar of context-relative names, with a warning. Only an unfiltered
    unpack takes it (no filter names it)."""
    import logging

    from ocikit._modelkit._raw import raw_mode, raw_size, raw_target
    from ocikit._oci._model import ANNOTATION_FILEPATH

    path = layer.annotations.get(ANNOTATION_FILEPATH) or ""
    raw_name = raw_target(layer.annotations, None, where) if lt.raw else None
    if not filters.is_everything:
        return None
    logging.getLogger(__name__).warning(
        "%s: this ocikit does not know the layer type; unpacking it at %r", where, raw_name or path or ".")
    from ocikit._kitfile._elements import LayerInfo

    # names in a tar are context-relative (as in every current kit layer): no legacy prefix
    return LayerJob(storage, ref.display, layer, "unknown", lt.codec, "other", 0, path or ".",
                    LayerInfo(layer.digest, layer.digest), None, raw_name, raw_mode(layer.annotations),
                    raw_size=raw_size(layer.annotations))


def collect(ref: Reference, storage: Storage, manifest: Manifest, content: ModelContent,
            filters: FilterSet, home: Path | None,
            options: RegistryOptions | None, out: Collected, chain: list[str]) -> None:
    """Parents first (recursively, model-only filters), then this ModelKit's selected layers."""
    parent_ref_text = content.kitfile.model_reference
    if parent_ref_text:
        parent_filters = filters.for_parent()
        if parent_filters is not None:
            parent_ref = Reference.parse(parent_ref_text)
            if parent_ref.display in chain:
                raise VerificationError(
                    f"found cycle in modelkit references: [{'=>'.join([*chain, parent_ref.display])}]"
                )
            if len(chain) > MAX_PARENT_DEPTH:
                raise VerificationError(
                    f"reached maximum number of model references: [{'=>'.join([*chain, parent_ref.display])}]",
                    hint=f"a ModelKit may have at most {MAX_PARENT_DEPTH} ancestors",
                )
            from ocikit._ops._repos import locate

            parent_storage = locate(parent_ref, home=home, options=options)
            _, p_manifest, p_content = load_modelkit(parent_storage, parent_ref)
            out.parents.append(parent_ref.display)
            collect(parent_ref, parent_storage, p_manifest, p_content, parent_filters, home, options,
                    out, [*chain, parent_ref.display])
    out.jobs.extend(match_layers(ref, storage, manifest, content, filters))


def check_filters_match(ref: Reference, storage: Storage, manifest: Manifest, content: ModelContent,
                        filter_set: FilterSet, collected: Collected) -> None:
    """Refuse a filter that selects nothing (a typo would otherwise unpack nothing, exit 0).

    A filter listing ``kitfile`` selects the Kitfile, so it always counts; layers of parent
    ModelKits (``model.path`` references) count like the ModelKit's own.
    """
    for f in filter_set.filters:
        if "kitfile" in f.types or any(f.matches(j.section, j.name, j.path) for j in collected.jobs):
            continue
        listing = [_describe_layer(j) for j in match_layers(ref, storage, manifest, content, FilterSet())]
        parent = content.kitfile.model_reference
        if parent:
            listing.insert(0, f"model from parent ModelKit {parent}")
        has = "; ".join(listing) if listing else "no layers"
        raise NotFoundError(
            f"filter {str(f)!r} matches nothing in {ref.display}; it has: {has}",
            hint="a filter is <type>[,<type>...][:<name>[,<name>...]]; the names (a layer's name or path, "
                 "exactly) apply to every listed type; repeat --filter to combine selections",
        )


def _describe_layer(job: LayerJob) -> str:
    section = "model" if job.section == "parts" else job.section
    return f"{section} {job.name!r} ({job.path})" if job.name else f"{section} ({job.path})"
