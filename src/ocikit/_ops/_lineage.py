"""The versions of a model in one repository, as a graph.

Three relations, all read from the registry (or the local store) without downloading a layer:

* **derived from**: a ModelKit whose ``model.path`` is another ModelKit's reference
  (``docs/compatibility.md`` §4.14) is a child of that ModelKit. A parent named by tag is resolved in
  the same repository *now*, so a parent tag that moved since is reported as it is today; a
  parent in another repository is kept as an external reference.
* **shares layers**: versions whose dataset or code layers have the same digest hold the same
  bytes (content addressing), whatever the Kitfile calls them.
* **stages**: which version each stage tag (``production``, found by its ``stage.<name>`` head
  tag, ``_stages``) points at.

Tags that are ocikit's own bookkeeping (``sha256-…`` referrers and signatures, ``stage.*`` heads)
are not versions. A tag that is not a ModelKit is listed as skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ocikit._config import RegistryOptions
from ocikit._io._digest import Digest
from ocikit._modelkit._view import LayerSummary, read_modelkit
from ocikit._oci._reference import Reference
from ocikit._stages._event import HEAD_PREFIX as _STAGE_HEAD
from ocikit._store._storage import Storage
from ocikit.errors import InvalidReference, NotAModelKitError, NotFoundError, UsageError, VerificationError

__all__ = ["Lineage", "LineageVersion", "SharedLayer", "lineage", "lineage_of"]

#: Layer kinds whose sharing is reported (the model itself is what versions are about).
SHARED_KINDS = ("dataset", "code")


@dataclass(frozen=True)
class LineageVersion:
    digest: Digest
    tags: tuple[str, ...]  # version tags (stage tags are in ``stages``)
    stages: tuple[str, ...]
    name: str | None  # package.name
    version: str | None  # package.version
    created: str | None  # org.opencontainers.image.created, when the writer set it
    parent: str | None  # model.path when it names a ModelKit
    parent_digest: Digest | None  # that parent, when it resolves in this repository
    layers: tuple[LayerSummary, ...]

    @property
    def label(self) -> str:
        if self.tags:
            return ", ".join(self.tags)
        if self.stages:
            return ", ".join(self.stages)
        return self.digest.short

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": str(self.digest),
            "tags": list(self.tags),
            "stages": list(self.stages),
            "name": self.name,
            "version": self.version,
            "created": self.created,
            "parent": self.parent,
            "parentDigest": str(self.parent_digest) if self.parent_digest else None,
            "layers": [layer.to_dict() for layer in self.layers],
        }


@dataclass(frozen=True)
class SharedLayer:
    kind: str
    key: str  # the element's name or path (in the first version that has it)
    digest: Digest
    size: int
    versions: tuple[Digest, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "digest": str(self.digest), "size": self.size,
                "versions": [str(v) for v in self.versions]}


@dataclass(frozen=True)
class Lineage:
    repository: str
    versions: tuple[LineageVersion, ...]  # oldest first
    shared: tuple[SharedLayer, ...]
    skipped: tuple[str, ...] = ()  # tags that are not ModelKits

    def version(self, digest: Digest) -> LineageVersion | None:
        return next((v for v in self.versions if v.digest == digest), None)

    def children(self, digest: Digest) -> list[LineageVersion]:
        return [v for v in self.versions if v.parent_digest == digest and v.digest != digest]

    def roots(self) -> list[LineageVersion]:
        known = {v.digest for v in self.versions}
        return [v for v in self.versions if v.parent_digest is None or v.parent_digest not in known
                or v.parent_digest == v.digest]

    def to_dict(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "versions": [v.to_dict() for v in self.versions],
            "edges": [{"parent": str(v.parent_digest), "child": str(v.digest)}
                      for v in self.versions if v.parent_digest is not None],
            "shared": [s.to_dict() for s in self.shared],
            "skipped": list(self.skipped),
        }


def _natural(text: str) -> list[Any]:
    """``1.10.0`` after ``1.9.0``: digits compare as numbers."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part]


def _is_bookkeeping(tag: str) -> bool:
    return tag.startswith("sha256-") or tag.startswith(_STAGE_HEAD)


def _parent_digest(parent: str | None, repo: Reference, tag_digests: Mapping[str, Digest]) -> Digest | None:
    if parent is None:
        return None
    try:
        ref = Reference.parse(parent)
    except InvalidReference:
        return None
    # Kitfiles usually name the parent the way it was packed (``acme/x:1``, i.e. localhost) even
    # when the repository now lives on a registry: same repository path, local spelling → here.
    if ref.repository != repo.repository or ref.registry not in (repo.registry, "localhost"):
        return None
    if ref.digest is not None:
        return ref.digest
    return tag_digests.get(ref.tag) if ref.tag is not None else None


def repository_tags(storage: Storage, repository: Reference) -> list[str]:
    """The tags of ``storage``; a registry repository that does not exist is a NotFoundError
    (a local one is only an empty listing, as in kit)."""
    from ocikit._registry._repository import RegistryRepository

    if not isinstance(storage, RegistryRepository):
        return storage.tags()
    try:
        return storage.tags(missing_ok=False)
    except NotFoundError as e:
        raise NotFoundError(f"repository {repository.repository} not found on {repository.registry}",
                            hint="check the repository name; pushing a ModelKit to it creates it") from e


def lineage_of(storage: Storage, repository: Reference) -> Lineage:
    """The lineage of every ModelKit tagged in ``storage`` (one repository)."""
    tags = repository_tags(storage, repository)
    stage_names = {t[len(_STAGE_HEAD):] for t in tags if t.startswith(_STAGE_HEAD)}
    tag_digests: dict[str, Digest] = {}
    for tag in tags:
        if _is_bookkeeping(tag):
            continue
        try:
            tag_digests[tag] = storage.resolve(tag).digest
        except NotFoundError:  # deleted while we listed
            continue

    by_digest: dict[Digest, tuple[list[str], list[str]]] = {}
    for tag, digest in sorted(tag_digests.items(), key=lambda item: _natural(item[0])):
        version_tags, stages = by_digest.setdefault(digest, ([], []))
        (stages if tag in stage_names else version_tags).append(tag)

    versions: list[LineageVersion] = []
    skipped: list[str] = []
    for digest, (version_tags, stages) in by_digest.items():
        try:
            view = read_modelkit(storage, str(digest), repository.with_digest(digest))
        except (NotAModelKitError, VerificationError):
            skipped.extend(version_tags + stages)
            continue
        package = view.kitfile.get("package") or {}
        versions.append(LineageVersion(
            digest=digest,
            tags=tuple(version_tags),
            stages=tuple(stages),
            name=package.get("name"),
            version=package.get("version"),
            created=view.manifest.annotations.get("org.opencontainers.image.created"),
            parent=view.model_reference,
            parent_digest=_parent_digest(view.model_reference, repository, tag_digests),
            layers=view.layers,
        ))
    versions.sort(key=lambda v: (v.created or "", _natural(v.version or ""), _natural(v.label)))
    return Lineage(repository.name, tuple(versions), tuple(_shared(versions)), tuple(sorted(skipped)))


def _shared(versions: Iterable[LineageVersion]) -> list[SharedLayer]:
    holders: dict[Digest, list[LineageVersion]] = {}
    first: dict[Digest, LayerSummary] = {}
    for v in versions:
        for layer in v.layers:
            if layer.kind in SHARED_KINDS:
                holders.setdefault(layer.digest, [])
                if v not in holders[layer.digest]:
                    holders[layer.digest].append(v)
                first.setdefault(layer.digest, layer)
    out = [
        SharedLayer(first[d].kind, first[d].key, d, first[d].size, tuple(v.digest for v in holding))
        for d, holding in holders.items()
        if len(holding) > 1
    ]
    out.sort(key=lambda s: (SHARED_KINDS.index(s.kind), s.key, str(s.digest)))
    return out


def lineage(
    repository: str | Reference,
    *,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
) -> Lineage:
    """The versions in ``repository`` (no tag), local (``acme/x``) or on a registry."""
    from ocikit._ops._repos import open_repository

    ref = repository if isinstance(repository, Reference) else Reference.parse(repository, default_tag=None)
    if ref.tag is not None or ref.digest is not None:
        raise UsageError(f"{ref.display}: lineage takes a repository, without a tag or digest",
                         hint=f"e.g. ocikit lineage {ref.name.removeprefix('localhost/')}")
    return lineage_of(open_repository(ref, home=home, options=options), ref)
