"""Reading and editing what the local store (or a registry repository) holds: the library side of
``list``, ``inspect``, ``info``, ``tag`` and ``remove`` (docs/compatibility.md §4.5, §4.6, §4.8, §4.9).

Only ModelKits are listed: KitOps ModelKits and CNCF ModelPacks (``_modelpack``; a ModelPack
without a Kitfile annotation shows the Kitfile synthesised from its config). SBOMs, signatures and
stage events are referrers of a ModelKit and are removed together with it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ocikit._config import RegistryOptions
from ocikit._io._digest import Digest
from ocikit._oci._model import ANNOTATION_CLI_VERSION, MANIFEST, Descriptor, Manifest
from ocikit._oci._reference import LOCAL_REGISTRY, Reference, split_tags
from ocikit.errors import NotAModelKitError, NotFoundError, UsageError, VerificationError

if TYPE_CHECKING:
    from ocikit._kitfile._model import Kitfile
    from ocikit._store._layout import LocalStore
    from ocikit._store._storage import Storage

__all__ = ["InspectResult", "ModelKitInfo", "RemoveEvent", "inspect", "list_modelkits", "remove", "tag"]

log = logging.getLogger(__name__)


def _display_repo(name: str) -> str:
    prefix = LOCAL_REGISTRY + "/"
    return name[len(prefix):] if name.startswith(prefix) else name


@dataclass(frozen=True)
class ModelKitInfo:
    """One ModelKit in a repository, with all its tags (one ``list`` table row per tag)."""

    repository: str  # display form (``localhost/`` dropped)
    digest: Digest
    tags: tuple[str, ...]
    name: str | None
    author: str | None
    size: int  # sum of layer sizes

    def to_dict(self) -> dict[str, Any]:
        """kit's ``list --format json`` keys (``size`` in bytes here; the CLI formats it)."""
        return {"repo": self.repository, "digest": str(self.digest), "tags": list(self.tags),
                "modelName": self.name or "", "size": self.size, "author": self.author or ""}


def _modelkit_summary(storage: Storage, desc: Descriptor) -> tuple[Manifest, Kitfile] | None:
    from ocikit._modelkit._modelpack import is_kitops, is_modelpack
    from ocikit._modelkit._read import read_model
    from ocikit._oci._model import DOCKER_MODEL_CONFIGS

    if desc.media_type != MANIFEST:
        return None
    try:
        manifest = Manifest.from_bytes(storage.fetch_manifest(desc), f"manifest {desc.digest}")
    except (VerificationError, NotFoundError) as e:
        log.warning("skipping %s in %s: %s", desc.digest, storage.name, e)
        return None
    if not (is_kitops(manifest) or is_modelpack(manifest) or manifest.config.media_type in DOCKER_MODEL_CONFIGS):
        return None
    try:
        content = read_model(storage, manifest, f"{storage.name}@{desc.digest}")
    except (VerificationError, NotAModelKitError) as e:  # e.g. a foreign ModelPack without filepaths
        log.warning("skipping %s in %s: %s", desc.digest, storage.name, e)
        return None
    return manifest, content.kitfile


def list_modelkits(
    repository: str | None = None,
    *,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
) -> list[ModelKitInfo]:
    """ModelKits in the local store (all, or one ``repository``), or in a registry repository
    when ``repository`` names a registry (``registry.example/acme/model``)."""
    from ocikit._store._layout import LocalStore

    if repository is not None:
        ref = Reference.parse(repository, default_tag=None)
        if not ref.is_local:
            return _list_remote(ref, home, options)
    store = LocalStore.at_home(home)
    groups: dict[tuple[str, Digest], list[str | None]] = {}
    descs: dict[Digest, Descriptor] = {}
    wanted = Reference.parse(repository, default_tag=None).name if repository else None
    for entry in store.entries():
        if wanted is not None and entry.repository != wanted:
            continue
        groups.setdefault((entry.repository, entry.descriptor.digest), []).append(entry.tag)
        descs[entry.descriptor.digest] = entry.descriptor
    out = []
    for (repo_name, digest), tags in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        desc = descs[digest]
        summary = _modelkit_summary(store.repository(repo_name), Descriptor(desc.media_type, digest, desc.size))
        if summary is None:
            continue
        manifest, kitfile = summary
        real_tags = tuple(sorted(t for t in tags if t is not None))
        out.append(_info(_display_repo(repo_name), digest, real_tags, manifest, kitfile))
    return out


def _info(repo: str, digest: Digest, tags: tuple[str, ...], manifest: Manifest, kitfile: Kitfile) -> ModelKitInfo:
    authors = kitfile.package.authors
    return ModelKitInfo(repo, digest, tags, kitfile.package.name, authors[0] if authors else None,
                        sum(layer.size for layer in manifest.layers))


def _list_remote(ref: Reference, home: Any, options: RegistryOptions | None) -> list[ModelKitInfo]:
    from ocikit._ops._lineage import repository_tags
    from ocikit._ops._repos import open_registry_repository

    storage = open_registry_repository(ref, home=home, options=options)
    by_digest: dict[Digest, tuple[Manifest, Kitfile, list[str]]] = {}
    for tag_name in sorted(repository_tags(storage, ref)):
        try:
            desc = storage.resolve(tag_name)
        except NotFoundError:
            continue
        if desc.digest in by_digest:
            by_digest[desc.digest][2].append(tag_name)
            continue
        summary = _modelkit_summary(storage, desc)
        if summary is None:
            continue  # not a ModelKit (signature, SBOM index, other artifact)
        by_digest[desc.digest] = (summary[0], summary[1], [tag_name])
    ordered = sorted(by_digest.items(), key=lambda kv: str(kv[0]))
    return [_info(ref.repository, d, tuple(v[2]), v[0], v[1]) for d, v in ordered]


@dataclass(frozen=True)
class InspectResult:
    reference: Reference
    digest: Digest
    cli_version: str
    config: dict[str, Any]  # the Kitfile with digests, as the KitOps config blob holds it
    manifest: dict[str, Any]
    kitfile: Kitfile
    format: str = "kitops"  # or "modelpack"
    #: ModelPacks: the CNCF config blob as JSON; None for KitOps ModelKits
    modelpack_config: Any = None
    #: where the Kitfile came from: "config", "annotation" (ModelPack by kit/ocikit) or "synthesised"
    kitfile_source: str = "config"

    def to_dict(self) -> dict[str, Any]:
        out = {"digest": str(self.digest), "cliVersion": self.cli_version, "format": self.format,
               "kitfile": self.config, "manifest": self.manifest}
        if self.format == "modelpack":
            out["kitfileSource"] = self.kitfile_source
            out["modelpackConfig"] = self.modelpack_config
        return out


def inspect(
    reference: str | Reference,
    *,
    remote: bool = False,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
) -> InspectResult:
    """Manifest and Kitfile of a ModelKit or ModelPack, where ``_repos.locate`` says (``remote``:
    every byte from the registry, no local cache)."""
    from ocikit._modelkit._read import read_model
    from ocikit._ops._repos import locate, open_registry_repository
    from ocikit._store._storage import read_manifest

    ref = reference if isinstance(reference, Reference) else Reference.parse(reference)
    if remote:
        if ref.is_local:
            raise UsageError(f"--remote needs a registry in the reference, got {ref.display}")
        storage = open_registry_repository(ref, home=home, options=options)
    else:
        storage = locate(ref, home=home, options=options)
    desc, manifest = read_manifest(storage, ref.identifier)
    content = read_model(storage, manifest, ref.display)
    if content.format == "kitops":
        kit_json, mp_config = content.config, None
    else:
        kit_json = json.loads(content.kitfile.to_config_json(dict(content.infos)))
        mp_config = content.config
    return InspectResult(ref, desc.digest, manifest.annotations.get(ANNOTATION_CLI_VERSION, "unknown"),
                         kit_json, manifest.to_dict(), content.kitfile, content.format, mp_config,
                         content.kitfile_source)


def tag(source: str | Reference, target: str | Reference, *, home: str | os.PathLike[str] | None = None) -> Reference:
    """Give the local ModelKit ``source`` the extra name ``target`` (blobs are shared)."""
    from ocikit._store._layout import LocalStore

    src = source if isinstance(source, Reference) else Reference.parse(source)
    dst = target if isinstance(target, Reference) else Reference.parse(target)
    if dst.digest is not None or dst.tag is None:
        raise UsageError(f"the target {dst} must name a tag, not a digest")
    store = LocalStore.at_home(home)
    repo = store.repository(src.name)
    desc = repo.resolve(src.identifier)
    data = repo.fetch_manifest(desc)
    store.repository(dst.name).push_manifest(data, desc.media_type, tag=dst.tag)
    return dst.with_digest(desc.digest)


@dataclass(frozen=True)
class RemoveEvent:
    action: str  # "removed" or "untagged"
    reference: str
    digest: Digest

    def __str__(self) -> str:
        if self.action == "untagged":
            return f"Untagged {self.reference}"
        return f"Removed {self.reference} (digest {self.digest})"

    def to_dict(self) -> dict[str, str]:
        return {"action": self.action, "reference": self.reference, "digest": str(self.digest)}


def _delete_with_referrers(repo: Storage, digest: Digest) -> None:
    """Delete a manifest from one repository with its referrers there (SBOM, signatures, events):
    the referrer manifests, the OCI 1.1 fallback tag ``sha256-<hex>`` and cosign's ``.sig`` tag."""
    from ocikit._store._referrers import fallback_tag, list_referrers, signature_tag

    try:
        referrers = list_referrers(repo, digest)
    except (VerificationError, NotFoundError):
        referrers = []
    doomed = [r.digest for r in referrers]
    for t in (fallback_tag(digest), signature_tag(digest)):
        try:
            doomed.append(repo.resolve(t).digest)
        except NotFoundError:
            continue
    repo.delete_manifest(digest)
    for d in doomed:
        try:
            repo.delete_manifest(d)
        except NotFoundError:
            continue


def _delete_local(store: LocalStore, repo_name: str, digest: Digest) -> None:
    _delete_with_referrers(store.repository(repo_name), digest)


def remove(
    reference: str | None = None,
    *,
    all_untagged: bool = False,
    force: bool = False,
    remote: bool = False,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
) -> list[RemoveEvent]:
    """kit's remove semantics (docs/compatibility.md §4.9).

    * ``REF`` by digest: the manifest and all its tags go. By tag: the tag goes; the manifest too
      when that was its only tag (``force``: always, with all its tags). ``repo:a,b`` = one by one.
    * ``all_untagged``: every untagged ModelKit in every repository; with ``force`` everything.
    * ``remote``: the same rules on the registry (not with ``all_untagged``). A tag that other
      tags share is deleted alone where the registry can delete tags; where it cannot (distribution
      deletes manifests only by digest, taking every tag along) the removal is refused unless
      ``force``. Deleting the manifest deletes its signatures, SBOM and other referrers with it.
    """
    if all_untagged and reference:
        raise UsageError("--all removes everything untagged; do not name a ModelKit with it")
    if not all_untagged and not reference:
        raise UsageError("name the ModelKit to remove, or pass --all")
    if remote and all_untagged:
        raise UsageError("--remote cannot be combined with --all")
    if remote:
        assert reference is not None
        return _remove_remote(reference, force, home, options)
    from ocikit._store._layout import LocalStore

    store = LocalStore.at_home(home)
    if all_untagged:
        return _remove_untagged(store, force)
    assert reference is not None
    return _remove_local(store, reference, force)


def _remove_untagged(store: LocalStore, force: bool) -> list[RemoveEvent]:
    """``remove --all``: every untagged ModelKit of every repository (with ``force``: every one)."""
    by_key: dict[tuple[str, Digest], tuple[Descriptor, list[str | None]]] = {}
    for entry in store.entries():
        key = (entry.repository, entry.descriptor.digest)
        by_key.setdefault(key, (entry.descriptor, []))[1].append(entry.tag)
    kits = []
    for (repo_name, digest), (desc, tags) in sorted(by_key.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        if any(t is not None for t in tags) and not force:
            continue
        if _modelkit_summary(store.repository(repo_name), Descriptor(desc.media_type, digest, desc.size)):
            kits.append((repo_name, digest))
    events: list[RemoveEvent] = []
    for repo_name, digest in kits:  # decided first: removing one drops its referrers from the index
        _delete_local(store, repo_name, digest)
        events.append(RemoveEvent("removed", f"{_display_repo(repo_name)}@{digest}", digest))
    return events


def _remove_local(store: LocalStore, reference: str, force: bool) -> list[RemoveEvent]:
    """``remove REF`` in the local store: untag a shared tag, otherwise delete the manifest."""
    events: list[RemoveEvent] = []
    for ref in split_tags(reference) if "," in reference else [Reference.parse(reference, default_tag=None)]:
        repo = store.repository(ref.name)
        if ref.tag is None and ref.digest is None:
            raise UsageError(f"{reference}: name a tag or a digest to remove")
        desc = repo.resolve(ref.identifier)
        tags_of = [e.tag for e in store.entries()
                   if e.repository == ref.name and e.descriptor.digest == desc.digest and e.tag is not None]
        if ref.digest is None and not force and len(tags_of) > 1:
            assert ref.tag is not None
            repo.untag(ref.tag)
            events.append(RemoveEvent("untagged", f"{_display_repo(ref.name)}:{ref.tag}", desc.digest))
            continue
        _delete_local(store, ref.name, desc.digest)
        events.append(RemoveEvent("removed", ref.display, desc.digest))
    return events


def _remove_remote(reference: str, force: bool, home: Any, options: RegistryOptions | None) -> list[RemoveEvent]:
    from ocikit._ops._repos import open_registry_repository
    from ocikit.errors import UnsupportedError

    events: list[RemoveEvent] = []
    for ref in split_tags(reference) if "," in reference else [Reference.parse(reference, default_tag=None)]:
        if ref.is_local:
            raise UsageError(f"--remote needs a registry in the reference, got {ref.display}")
        if ref.tag is None and ref.digest is None:
            raise UsageError(f"{reference}: name a tag or a digest to remove")
        storage = open_registry_repository(ref, home=home, options=options)
        desc = storage.resolve(ref.identifier)
        others = [t for t in _tags_naming(storage, desc.digest) if t != ref.tag]
        if others and not force:
            shown = ", ".join(others[:5]) + (" ..." if len(others) > 5 else "")
            if ref.digest is not None:
                raise UsageError(
                    f"{ref.display} is still tagged {shown} on {ref.registry}; deleting it would delete "
                    "those tags too",
                    hint="remove the tags one by one, or pass --force to delete the manifest and all its tags",
                )
            assert ref.tag is not None
            try:
                storage.untag(ref.tag)
            except UnsupportedError as e:
                raise UsageError(
                    f"{ref.registry} cannot delete only the tag {ref.tag}, and deleting the manifest "
                    f"would also delete the tags {shown} of {ref.repository}; nothing was removed",
                    hint="pass --force to delete the manifest with all its tags",
                ) from e
            events.append(RemoveEvent("untagged", ref.display, desc.digest))
            continue
        _delete_with_referrers(storage, desc.digest)
        events.append(RemoveEvent("removed", ref.display, desc.digest))
    return events


def _tags_naming(storage: Storage, digest: Digest) -> list[str]:
    """The tags of ``storage`` that point at ``digest``, not counting the referrer tags
    (``sha256-<hex>``, ``sha256-<hex>.sig``) that hang off manifests."""
    from ocikit._store._referrers import is_referrer_tag

    out = []
    for t in sorted(storage.tags()):
        if is_referrer_tag(t):
            continue
        try:
            if storage.resolve(t).digest == digest:
                out.append(t)
        except NotFoundError:
            continue
    return out
