"""The plan of a pack: which file goes into which layer, decided before a byte is written.

:func:`plan_pack` is the public dry run: it reads the Kitfile, resolves the parent chain and walks
the context (``_pack_walk``), and returns the :class:`PackPlan` that ``pack`` would write,
writing nothing. ``pack`` makes the same plan (:func:`prepare_pack`) and then writes it.

One layer per Kitfile element, in manifest order model, parts, code, datasets, docs
(docs/compatibility.md §3.1); a model whose ``path`` is empty or a ModelKit reference gets no layer.
Another element's path, or a parent's, claims its subtree unless it is this layer's path or one of
its ancestors: when a dataset lives inside the model directory, or ``code: .`` covers everything,
every file lands in exactly one layer. Unlike kit, which compares with a string prefix (so a
``code: .`` layer also loses ``model.txt`` and ``model-v2/`` next to a ``model`` layer, and they
end up in no layer), we compare whole path components.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocikit._config import RegistryOptions
from ocikit._layers._types import COMPRESSIONS, SECTION_KIND, layer_media_type
from ocikit._oci._reference import Reference, split_tags
from ocikit._ops._pack_parents import Parent, resolve_parents
from ocikit._ops._pack_walk import PlannedEntry, Walker, clean_layer_path, is_under
from ocikit._ops._types import Compression, Format, LayerFormat
from ocikit.errors import PackError, UsageError

if TYPE_CHECKING:
    from ocikit._kitfile._model import Kitfile

__all__ = ["LayerPlan", "PackPlan", "PlannedEntry", "PreparedPack", "plan_layers", "plan_pack", "prepare_pack"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LayerPlan:
    """One layer to write: the Kitfile element and the entries it will hold."""

    kind: str
    section: str
    index: int
    path: str  # Kitfile path, verbatim
    clean_path: str
    media_type: str
    entries: tuple[PlannedEntry, ...]
    raw: bool = False  # one file as the blob (kit 1.17 raw layers, MCP bundles), not a tar

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    @property
    def file_count(self) -> int:
        return sum(1 for e in self.entries if not e.is_dir)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "section": self.section,
            "index": self.index,
            "path": self.path,
            "mediaType": self.media_type,
            **({"raw": True} if self.raw else {}),
            "files": self.file_count,
            "size": self.size,
            "entries": [e.to_dict() for e in self.entries],
        }


@dataclass(frozen=True)
class PackPlan:
    """What ``pack`` writes (and what :func:`plan_pack` says it would write)."""

    context: Path
    kitfile_path: Path | None
    layers: tuple[LayerPlan, ...]
    ignored: tuple[str, ...]  # paths dropped by .kitignore
    skipped: tuple[str, ...]  # special files (sockets, FIFOs, devices) not packed
    parents: tuple[str, ...]  # ModelKit references of the parent chain, nearest first
    references: tuple[Reference, ...] = ()  # the tags the pack writes, in order

    def to_dict(self) -> dict[str, Any]:
        return {
            "context": str(self.context),
            "layers": [layer.to_dict() for layer in self.layers],
            "ignored": list(self.ignored),
            "skipped": list(self.skipped),
            "parents": list(self.parents),
        }


@dataclass(frozen=True)
class PreparedPack:
    """All ``pack`` needs before it writes: the plan, the Kitfile and the parents as read."""

    plan: PackPlan
    kitfile: Kitfile
    parents: tuple[Parent, ...]
    home: Path | None


def context_dir(context: str | os.PathLike[str]) -> Path:
    ctx = Path(context).absolute()
    if not ctx.is_dir():
        raise PackError(f"context {ctx} is not a directory", hint="pass the project directory that holds the Kitfile")
    return ctx


def pack_references(tag: str | Sequence[str] | None) -> list[Reference]:
    """The tags to write: ``tag`` is a reference or a list of them; ``repo:a,b`` adds several."""
    if tag is None:
        return []
    texts = [tag] if isinstance(tag, str) else list(tag)
    refs: list[Reference] = []
    for text in texts:
        for ref in split_tags(text):
            if ref.digest is not None:
                raise UsageError(f"cannot pack to {text!r}: a tag, not a digest, names a new ModelKit")
            if ref not in refs:
                refs.append(ref)
    return refs


def _load_kitfile(context: Path, kitfile: str | os.PathLike[str] | Kitfile | None) -> tuple[Kitfile, Path | None]:
    from ocikit._kitfile._model import Kitfile, find_kitfile

    if isinstance(kitfile, Kitfile):
        return kitfile, None
    path = Path(kitfile) if kitfile is not None else find_kitfile(context)
    return Kitfile.load(path), path


def plan_pack(
    context: str | os.PathLike[str],
    *,
    tag: str | Sequence[str] | None = None,
    kitfile: str | os.PathLike[str] | Kitfile | None = None,
    compression: Compression = "none",
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
    format: Format = "kitops",
    layer_format: LayerFormat = "tar",
) -> PackPlan:
    """What ``pack`` with the same arguments would write; reads the Kitfile, the parent chain and
    the tree, writes nothing. The arguments are ``pack``'s (``tag`` checks the tags and the parent
    chain for cycles; ``home`` and ``options`` reach parent ModelKits)."""
    ctx = context_dir(context)
    refs = pack_references(tag)
    return prepare_pack(ctx, refs, kitfile=kitfile, compression=compression, home=home, options=options,
                        format=format, layer_format=layer_format).plan


def prepare_pack(
    ctx: Path,
    refs: Sequence[Reference],
    *,
    kitfile: str | os.PathLike[str] | Kitfile | None,
    compression: Compression,
    home: str | os.PathLike[str] | None,
    options: RegistryOptions | None,
    format: Format,
    layer_format: LayerFormat = "tar",
) -> PreparedPack:
    """Load and check the Kitfile, resolve the parents, plan the layers (``ctx`` is absolute)."""
    loaded, kitfile_path = _load_kitfile(ctx, kitfile)
    loaded.check_paths(ctx)
    from ocikit._ops._remote_datasets import check_remote_datasets

    check_remote_datasets(loaded, str(kitfile_path or "Kitfile"))
    home_path = Path(home) if home is not None else None
    parents = resolve_parents(loaded, home_path, options, refs)
    plan = plan_layers(ctx, loaded, kitfile_path=kitfile_path, compression=compression,
                       parent_paths=parents.paths, parents=parents.chain, format=format, references=refs,
                       layer_format=layer_format)
    return PreparedPack(plan, loaded, parents.found, home_path)


def _layer_plan(el: Any, mine: str, entries: tuple[PlannedEntry, ...], format: str, compression: Compression,
                layer_format: str) -> LayerPlan:
    """One element's layer: a tar, or with ``--layers raw`` (and always for an MCP bundle) its one file."""
    from ocikit._modelkit._layer_types import kitops_media_type
    from ocikit._modelkit._modelpack import modelpack_media_type
    from ocikit._ops._pack_raw import single_file

    kind = el.kind if el.kind in ("prompt", "mcpb") else SECTION_KIND[el.section]
    raw = layer_format == "raw" or kind == "mcpb"
    if kind == "mcpb":  # kit stores a bundle verbatim: the layer digest is the .mcpb file's
        compression = "none"
    if raw:
        entries = (single_file(entries, el.path, mine, el.section),)
    if format == "modelpack":
        if kind == "mcpb":  # kit: mcpServers cannot be packed as a ModelPack
            raise PackError("mcpServers cannot be packed as a ModelPack (kit refuses it too)",
                            hint="pack with --format kitops")
        if raw and compression != "none":
            raise UsageError("a ModelPack raw layer cannot be compressed (model-spec)",
                             hint="use --compression none with --layers raw --format modelpack")
        media = modelpack_media_type("code" if kind == "prompt" else kind, compression, raw=raw)
    else:
        media = kitops_media_type(kind, compression, raw=raw) if (raw or kind == "prompt") else \
            layer_media_type(kind, compression)
    return LayerPlan(kind, el.section, el.index, el.path, mine, media, entries, raw)


def _check_options(compression: str, format: str) -> None:
    if compression not in COMPRESSIONS:
        raise UsageError(f"invalid compression {compression!r}: must be one of {', '.join(COMPRESSIONS)}")
    from ocikit._modelkit._modelpack import FORMATS

    if format not in FORMATS:
        raise UsageError(f"invalid format {format!r}: must be one of {', '.join(FORMATS)}")


def plan_layers(
    context: str | os.PathLike[str],
    kitfile: Kitfile,
    *,
    kitfile_path: Path | None = None,
    compression: Compression = "none",
    parent_paths: Sequence[str] = (),
    parents: Sequence[str] = (),
    format: Format = "kitops",
    references: Sequence[Reference] = (),
    layer_format: LayerFormat = "tar",
) -> PackPlan:
    """Decide which file goes into which layer, for a Kitfile already loaded and parents already
    resolved (their layer paths and references). Reads the tree, writes nothing."""
    _check_options(compression, format)
    if layer_format not in ("tar", "raw"):
        raise UsageError(f"invalid layer format {layer_format!r}: must be tar or raw")
    ctx = Path(context).absolute()
    if not ctx.is_dir():
        raise PackError(f"context {ctx} is not a directory")
    walker = Walker(ctx)
    elements = kitfile.layer_elements()  # without a model whose path is empty or a reference
    if not elements and not parents:
        where = kitfile_path or "the Kitfile"
        raise PackError(f"{where} names no model, code, datasets or docs: there is nothing to pack",
                        hint="add the project's files to the Kitfile ('ocikit init' detects them)")
    cleaned = [clean_layer_path(el.path) for el in elements]
    parent_clean = [clean_layer_path(p) for p in parent_paths if p]
    layers = []
    for i, el in enumerate(elements):
        mine = cleaned[i]
        # another layer's path claims its subtree unless it is this layer's path or an ancestor
        excluded = [p for j, p in enumerate(cleaned) if j != i and not is_under(mine, p)]
        excluded += [p for p in parent_clean if not is_under(mine, p)]
        entries = walker.entries(mine, excluded)
        if not any(not e.is_dir for e in entries):
            log.warning("no files found for the %s layer with path %s", el.section, el.path)
        layers.append(_layer_plan(el, mine, tuple(entries), format, compression, layer_format))
    return PackPlan(ctx, kitfile_path, tuple(layers), tuple(sorted(walker.ignored)),
                    tuple(sorted(walker.skipped)), tuple(parents), tuple(references))
