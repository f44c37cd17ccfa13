"""Build small ModelKit-shaped manifests straight into a local store (no pack needed).

Used by the store, fsck/gc, crash and concurrency tests so they exercise ``_layout`` and
``_fsck`` on their own, independent of the packer.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from ocikit._oci._model import KITOPS_CONFIG, MANIFEST, Descriptor, Manifest
from ocikit._store._layout import LocalStore
from ocikit._store._layout_repository import LayoutRepository

LAYER = "application/vnd.kitops.modelkit.model.v1.tar"


@dataclass(frozen=True)
class Kit:
    repository: str
    tag: str | None
    manifest: Descriptor
    config: Descriptor
    layers: tuple[Descriptor, ...]

    @property
    def blobs(self) -> tuple[Descriptor, ...]:
        return (self.config, *self.layers)


def kit_manifest(name: str, layers: list[bytes]) -> tuple[bytes, Descriptor, list[Descriptor]]:
    config = f'{{"manifestVersion":"1.0.0","package":{{"name":"{name}"}}}}'.encode()
    cdesc = Descriptor.for_bytes(KITOPS_CONFIG, config)
    ldescs = [Descriptor.for_bytes(LAYER, data) for data in layers]
    manifest = Manifest(cdesc, tuple(ldescs), artifact_type="application/vnd.kitops.modelkit.manifest.v1+json")
    return manifest.to_bytes(), cdesc, ldescs


def put_kit(store: LocalStore, repository: str, tag: str | None, name: str, layers: list[bytes]) -> Kit:
    """Store config + layers + manifest of a small ModelKit and index it under ``tag``."""
    repo: LayoutRepository = store.repository(repository)
    data, cdesc, ldescs = kit_manifest(name, layers)
    config = f'{{"manifestVersion":"1.0.0","package":{{"name":"{name}"}}}}'.encode()
    repo.push_blob(cdesc, io.BytesIO(config))
    for desc, body in zip(ldescs, layers, strict=True):
        repo.push_blob(desc, io.BytesIO(body))
    mdesc = repo.push_manifest(data, MANIFEST, tag=tag)
    return Kit(repository, tag, mdesc, cdesc, tuple(ldescs))
