"""OCI 1.1 referrers on any Storage: native API when there is one, the fallback tag otherwise.

Spec: https://github.com/opencontainers/distribution-spec/blob/main/spec.md#referrers-tag-schema.
Registries without the referrers API (distribution 2.8 and 3.x, our local layout) keep an image
index under the tag ``sha256-<hex of the subject>``; the client that pushes a referrer adds it to
that index. distribution does not honour ``If-Match``, so after each update we read the index back
and retry if a concurrent writer replaced it (``docs/compatibility.md`` §6.8).
"""

from __future__ import annotations

import logging
import re
import time

from ocikit._io._digest import Digest
from ocikit._oci._model import INDEX, MANIFEST, Descriptor, Index, Manifest
from ocikit._store._storage import Storage
from ocikit.errors import NotFoundError, RegistryError

__all__ = [
    "add_to_fallback",
    "fallback_tag",
    "is_referrer_tag",
    "list_referrers",
    "push_referrer",
    "remove_from_fallback",
    "signature_tag",
]

log = logging.getLogger(__name__)

_RETRIES = 5


def fallback_tag(subject: Digest) -> str:
    """``sha256:<hex>`` → ``sha256-<hex>``, the tag of the referrers fallback index of ``subject``."""
    return f"{subject.algorithm}-{subject.hex}"


def signature_tag(digest: Digest) -> str:
    """``sha256:<hex>`` → ``sha256-<hex>.sig`` (cosign ``pkg/oci/remote/remote.go`` ``normalize``)."""
    return f"{digest.algorithm}-{digest.hex}.sig"


#: ``sha256-<hex>`` (the fallback index) and cosign's ``sha256-<hex>.sig`` / ``.att`` tags.
_REFERRER_TAG = re.compile(r"sha256-[0-9a-f]{64}(\..+)?")


def is_referrer_tag(tag: str) -> bool:
    """A tag that hangs off a manifest (referrers index, signature), not a name users give."""
    return _REFERRER_TAG.fullmatch(tag) is not None


def _read_fallback(storage: Storage, subject: Digest) -> list[Descriptor]:
    try:
        desc = storage.resolve(fallback_tag(subject))
    except NotFoundError:
        return []
    return list(Index.from_bytes(storage.fetch_manifest(desc), f"referrers index of {subject}").manifests)


def list_referrers(storage: Storage, subject: Digest, artifact_type: str | None = None) -> list[Descriptor]:
    """Descriptors of the manifests whose ``subject`` is ``subject`` (optionally of one type)."""
    found = storage.referrers(subject)
    if found is None:
        found = _read_fallback(storage, subject)
    if artifact_type is not None:
        found = [d for d in found if d.artifact_type == artifact_type]
    return found


def push_referrer(storage: Storage, manifest: Manifest) -> Descriptor:
    """Push ``manifest`` (which must have a subject) by digest and make it discoverable.

    Its blobs must already be in ``storage``. Returns the manifest's descriptor, carrying the
    ``artifactType`` and annotations as a referrers listing shows them.
    """
    if manifest.subject is None:
        raise ValueError("a referrer needs a subject")
    data = manifest.to_bytes()
    pushed = storage.push_manifest(data, MANIFEST)
    entry = Descriptor(
        MANIFEST,
        pushed.digest,
        pushed.size,
        dict(manifest.annotations),
        manifest.artifact_type or manifest.config.media_type,
    )
    if storage.referrers(manifest.subject.digest) is not None:
        return entry  # the registry indexes subjects itself
    add_to_fallback(storage, manifest.subject.digest, entry)
    return entry


def _live(storage: Storage, subject: Digest, entries: list[Descriptor]) -> list[Descriptor]:
    """``entries`` without those whose manifests are gone from ``storage``.

    A referrer deleted behind our back (retention policy, manual delete) leaves a dangling entry
    in the fallback index; distribution rejects an index naming it (``MANIFEST_BLOB_UNKNOWN``),
    so every rewrite would fail until the entry is dropped.
    """
    kept = []
    for d in entries:
        if storage.has_manifest(d.digest):
            kept.append(d)
        else:
            log.warning("dropping %s from the referrers index of %s in %s: its manifest no longer exists",
                        d.digest, subject, storage.name)
    return kept


def add_to_fallback(storage: Storage, subject: Digest, entry: Descriptor) -> None:
    """Add ``entry`` to the fallback index of ``subject``, re-reading until it sticks.

    Entries whose manifests no longer exist are dropped from the rewritten index.
    """
    for attempt in range(_RETRIES):
        current = _read_fallback(storage, subject)
        if any(d.digest == entry.digest for d in current):
            return
        index = Index(tuple([*_live(storage, subject, current), entry]))
        storage.push_manifest(index.to_bytes(), INDEX, tag=fallback_tag(subject))
        if any(d.digest == entry.digest for d in _read_fallback(storage, subject)):
            return
        log.info("referrers index of %s changed under us; retrying (%d)", subject, attempt + 1)
        time.sleep(0.05 * (attempt + 1))
    raise RegistryError(f"could not update the referrers index {fallback_tag(subject)} in {storage.name}")


def remove_from_fallback(storage: Storage, subject: Digest, digest: Digest) -> None:
    """Drop ``digest`` from the fallback index of ``subject`` (used by gc and remove).

    Entries whose manifests no longer exist are dropped too when the index is rewritten.
    """
    current = _read_fallback(storage, subject)
    if not any(d.digest == digest for d in current):
        return
    kept = _live(storage, subject, [d for d in current if d.digest != digest])
    if len(kept) != len(current):
        storage.push_manifest(Index(tuple(kept)).to_bytes(), INDEX, tag=fallback_tag(subject))
