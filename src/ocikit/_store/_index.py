"""The entries of the local store's ``index.json``: which repository and tag each manifest is under.

Each entry carries ``org.opencontainers.image.ref.name`` = the full reference
(``localhost/acme/sentiment:1.0.0``) when tagged, so ``skopeo inspect oci:<store>:<ref>`` reads it,
and ``dev.ocikit.repository`` = the repository name, also for untagged manifests (which ``list``
shows as ``<none>``, like kit). Entries written by other tools have only the reference name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ocikit._oci._model import ANNOTATION_REF_NAME, Descriptor, Index
from ocikit.errors import StoreError, VerificationError

__all__ = ["ANNOTATION_REPOSITORY", "StoreEntry", "index_entry", "read_index", "store_entries"]

ANNOTATION_REPOSITORY = "dev.ocikit.repository"


@dataclass(frozen=True)
class StoreEntry:
    """One ``index.json`` entry: a manifest in a repository, under a tag or untagged."""

    repository: str
    tag: str | None
    descriptor: Descriptor

    @property
    def reference(self) -> str:
        if self.tag is not None:
            return f"{self.repository}:{self.tag}"
        return f"{self.repository}@{self.descriptor.digest}"


def index_entry(desc: Descriptor, repository: str, tag: str | None) -> Descriptor:
    """The ``index.json`` descriptor of ``desc`` in ``repository``, under ``tag`` or untagged."""
    annotations = {ANNOTATION_REPOSITORY: repository}
    if tag is not None:
        annotations[ANNOTATION_REF_NAME] = f"{repository}:{tag}"
    return Descriptor(desc.media_type, desc.digest, desc.size, annotations, desc.artifact_type)


def store_entries(descriptors: Iterable[Descriptor]) -> list[StoreEntry]:
    """Every ``index.json`` descriptor as a :class:`StoreEntry` (foreign ones taken apart)."""
    out = []
    for desc in descriptors:
        repo = desc.annotations.get(ANNOTATION_REPOSITORY)
        ref_name = desc.annotations.get(ANNOTATION_REF_NAME)
        tag = None
        if ref_name and repo and ref_name.startswith(repo + ":"):
            tag = ref_name[len(repo) + 1 :]
        elif ref_name and not repo:  # written by another tool: take the reference apart
            repo, _, tag = ref_name.rpartition(":")
            if not repo:
                repo, tag = ref_name, None
        if repo is None:
            repo = "localhost/_"
        out.append(StoreEntry(repo, tag, desc))
    return out


def read_index(path: Path, *, missing_ok: bool = True) -> list[Descriptor]:
    """``index.json``'s entries; none when it is missing (``FileNotFoundError`` unless ``missing_ok``)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if not missing_ok:
            raise
        return []
    except OSError as e:
        raise StoreError(f"cannot read {path}: {e.strerror}") from e
    try:
        return list(Index.from_bytes(data, str(path)).manifests)
    except VerificationError as e:
        raise StoreError(f"the local store index {path} is corrupt: {e}") from e
