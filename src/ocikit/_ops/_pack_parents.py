"""A pack's parent chain: ``model.path`` names another ModelKit, whose layers this one builds on.

The chain is resolved where each reference says (``_repos.locate``: the registry it names, the
local store offline), at most :data:`MAX_PARENT_DEPTH` deep (kit's MaxModelRefChain,
docs/compatibility.md §4.14), cycles refused, the pack's own tags included. The parents' layer paths are
left out of this pack's layers; their SBOMs are inherited by this one's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ocikit._config import RegistryOptions
from ocikit._io._digest import Digest
from ocikit._oci._reference import Reference
from ocikit.errors import PackError

if TYPE_CHECKING:
    from ocikit._kitfile._model import Kitfile
    from ocikit._store._storage import Storage

__all__ = ["MAX_PARENT_DEPTH", "Parent", "Parents", "parent_sboms", "resolve_parents"]

#: kit's MaxModelRefChain: at most this many ancestors (docs/compatibility.md §4.14).
MAX_PARENT_DEPTH = 10


@dataclass(frozen=True)
class Parent:
    """One ancestor as it was read: where, under which digest, and its Kitfile."""

    display: str
    storage: Storage
    digest: Digest
    kitfile: Kitfile


@dataclass(frozen=True)
class Parents:
    """The resolved chain, nearest first."""

    paths: tuple[str, ...]  # the layer paths of all parents (claimed: left out of this pack)
    chain: tuple[str, ...]  # the parents' references, as display strings
    found: tuple[Parent, ...]


def resolve_parents(kitfile: Kitfile, home: Path | None, options: RegistryOptions | None,
                    own: Sequence[Reference]) -> Parents:
    """Walk the parent chain of ``kitfile``; ``own`` are the tags the pack will write (for cycles)."""
    paths: list[str] = []
    chain: list[str] = []
    found: list[Parent] = []
    seen = {r.display for r in own}
    current = kitfile.model_reference
    trail = [own[0].display] if own else ["<this ModelKit>"]
    while current:
        ref = Reference.parse(current)
        if ref.display in seen or ref.display in chain:
            raise PackError(f"found cycle in modelkit references: [{'=>'.join([*trail, *chain, ref.display])}]")
        if len(chain) >= MAX_PARENT_DEPTH:
            raise PackError(
                f"reached maximum number of model references: [{'=>'.join([*trail, *chain, ref.display])}]",
                hint=f"a ModelKit may have at most {MAX_PARENT_DEPTH} ancestors",
            )
        chain.append(ref.display)
        parent = _fetch_parent(ref, home, options)
        found.append(parent)
        paths.extend(el.path for el in parent.kitfile.layer_elements() if el.path)
        current = parent.kitfile.model_reference
    return Parents(tuple(paths), tuple(chain), tuple(found))


def _fetch_parent(ref: Reference, home: Path | None, options: RegistryOptions | None) -> Parent:
    """A parent ModelKit or ModelPack: its Kitfile, and where and under which digest it was read."""
    from ocikit._modelkit._read import read_model
    from ocikit._ops._repos import locate
    from ocikit._store._storage import read_manifest

    storage = locate(ref, home=home, options=options)
    desc, manifest = read_manifest(storage, ref.identifier)
    return Parent(ref.display, storage, desc.digest, read_model(storage, manifest, ref.display).kitfile)


def parent_sboms(parents: Sequence[Parent]) -> list[tuple[str, bytes | None]]:
    """The SBOM of each parent (nearest first), None for a parent without one: of the very
    digest whose Kitfile was read, not of whatever its tag names by now."""
    from ocikit._trust._sbom import find_sbom

    return [(p.display, find_sbom(p.storage, p.digest)) for p in parents]
