"""SBOM components of remote datasets (kit 1.17 ``remotePath``/``remoteHash``): not packed, so no layer
and no files, but named with where they live and the hash they must have.

Each is a ``data`` component whose external reference (type ``distribution``, the ``remotePath`` URL)
carries the hash: ``sha256:<hex>`` as SHA-256, a plain 32-hex S3 ETag as MD5 (a single-part upload's
ETag is the object's MD5), anything else (a multipart ETag) as the property ``ocikit:remote:hash``.
CycloneDX 1.6 external references: https://cyclonedx.org/docs/1.6/json/#components_items_externalReferences
"""

from __future__ import annotations

import re
from typing import Any

from ocikit._trust._sbom_doc import P

__all__ = ["remote_dataset_components"]

_SHA256 = re.compile(r"^sha256:([0-9a-f]{64})$")
_MD5 = re.compile(r"^[0-9a-f]{32}$")


def _hashes(remote_hash: str) -> list[Any]:
    from cyclonedx.model import HashAlgorithm, HashType

    value = remote_hash.strip('"').lower()
    if (m := _SHA256.match(value)) is not None:
        return [HashType(alg=HashAlgorithm.SHA_256, content=m.group(1))]
    if _MD5.match(value):
        return [HashType(alg=HashAlgorithm.MD5, content=value)]
    return []


def remote_dataset_components(kitfile: Any, make_props: Any) -> list[Any]:
    """One component per dataset with a ``remotePath`` (bom-ref ``dataset-remote-<index>``)."""
    from cyclonedx.model import ExternalReference, ExternalReferenceType, XsUri
    from cyclonedx.model.component import Component, ComponentType

    out = []
    for index, ds in enumerate(getattr(kitfile, "datasets", ()) or ()):
        if not ds.remote_path:
            continue
        hashes = _hashes(ds.remote_hash or "")
        props = {f"{P}kitfile:section": "datasets", f"{P}path": ds.path, f"{P}remote:path": ds.remote_path,
                 f"{P}remote:hash": ds.remote_hash}
        ref = ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=XsUri(ds.remote_path),
                                comment="remote dataset: not packed, fetched by unpack --include-remote",
                                hashes=hashes or None)
        out.append(Component(type=ComponentType.DATA, bom_ref=f"dataset-remote-{index}",
                             name=ds.name or ds.path or ds.remote_path, description=ds.description,
                             external_references=[ref], properties=make_props(dict(sorted(props.items())))))
    return out
