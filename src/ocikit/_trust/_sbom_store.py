"""The SBOM as an OCI 1.1 referrer of its ModelKit: attach one, find the one attached.

Attachment follows the shape Trivy looks for (``docs/compatibility.md`` §6.9): a manifest with
``artifactType: application/vnd.cyclonedx+json``, the empty config, exactly one layer of that media
type, and ``subject`` = the ModelKit manifest.
"""

from __future__ import annotations

import io
import logging

from ocikit._io._digest import Digest
from ocikit._oci._model import ANNOTATION_TITLE, EMPTY_CONFIG, EMPTY_JSON, MANIFEST, Descriptor, Manifest
from ocikit._store._storage import Storage, read_blob
from ocikit._trust._sbom_doc import MAX_SBOM_BYTES, SBOM_MEDIA_TYPE, parse_sbom
from ocikit.errors import VerificationError

__all__ = ["attach_sbom", "find_sbom"]

log = logging.getLogger(__name__)


def attach_sbom(storage: Storage, subject: Descriptor, sbom_bytes: bytes) -> Descriptor:
    """Push ``sbom_bytes`` as an OCI 1.1 referrer of ``subject``; returns the referrer's descriptor."""
    config = Descriptor(EMPTY_CONFIG, Digest.of_bytes(EMPTY_JSON), len(EMPTY_JSON), data=EMPTY_JSON)
    layer = Descriptor.for_bytes(SBOM_MEDIA_TYPE, sbom_bytes,
                                 annotations={ANNOTATION_TITLE: "sbom.cdx.json"})
    for desc, data in ((config, EMPTY_JSON), (layer, sbom_bytes)):
        if not storage.has_blob(desc):
            # the empty blob must exist too: distribution 2.8 checks that config blobs exist
            storage.push_blob(Descriptor(desc.media_type, desc.digest, desc.size), io.BytesIO(data))
    from ocikit._store._referrers import push_referrer

    manifest = Manifest(
        config=config,
        layers=(layer,),
        artifact_type=SBOM_MEDIA_TYPE,
        subject=Descriptor(subject.media_type, subject.digest, subject.size),
    )
    return push_referrer(storage, manifest)


def find_sbom(storage: Storage, subject_digest: Digest) -> bytes | None:
    """The SBOM attached to ``subject_digest`` (verified), or None when there is none.

    Several SBOM referrers (e.g. packed again with ``include_env``) → the last listed, which for the
    fallback index is the most recently attached. A referrer that does not have the SBOM shape or
    whose blob does not match its digest is skipped; if none is usable, that is an error.
    """
    from ocikit._store._referrers import list_referrers

    candidates = list_referrers(storage, subject_digest, artifact_type=SBOM_MEDIA_TYPE)
    first_error: VerificationError | None = None
    for desc in reversed(candidates):
        try:
            return _read_referrer(storage, desc, subject_digest)
        except VerificationError as e:
            log.warning("skipping SBOM referrer %s: %s", desc.digest, e)
            first_error = first_error or e
    if first_error is not None:
        raise VerificationError(f"no usable SBOM for {subject_digest}: {first_error}") from first_error
    return None


def _read_referrer(storage: Storage, desc: Descriptor, subject_digest: Digest) -> bytes:
    where = f"SBOM referrer {desc.digest}"
    manifest = Manifest.from_bytes(storage.fetch_manifest(Descriptor(MANIFEST, desc.digest, desc.size)), where)
    if (manifest.artifact_type or manifest.config.media_type) != SBOM_MEDIA_TYPE:
        raise VerificationError(f"{where}: artifactType is not {SBOM_MEDIA_TYPE}")
    if manifest.subject is None or manifest.subject.digest != subject_digest:
        raise VerificationError(f"{where}: its subject is not {subject_digest}")
    if len(manifest.layers) != 1 or manifest.layers[0].media_type != SBOM_MEDIA_TYPE:
        raise VerificationError(f"{where}: must have exactly one {SBOM_MEDIA_TYPE} layer")
    data = read_blob(storage, manifest.layers[0], limit=MAX_SBOM_BYTES, what="SBOM")
    parse_sbom(data, where)
    return data
