"""Build small ModelKits directly in any Storage (config blob + tar layers), for transfer tests."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ocikit._oci._model import KITOPS_CONFIG, MANIFEST, Descriptor, Manifest
from ocikit._store._storage import Storage

LAYER_MODEL = "application/vnd.kitops.modelkit.model.v1.tar"
LAYER_DATASET = "application/vnd.kitops.modelkit.dataset.v1.tar"


@dataclass(frozen=True)
class BuiltKit:
    desc: Descriptor
    manifest: Manifest
    manifest_bytes: bytes
    blobs: dict[str, bytes]  # digest string -> bytes

    @property
    def blob_bytes(self) -> int:
        return sum(len(b) for b in self.blobs.values())


def write_project(root: Path, files: Mapping[str, bytes], kitfile: str) -> Path:
    """A project folder to pack: ``files`` (relative path → bytes) and the ``kitfile`` text."""
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "Kitfile").write_text(kitfile)
    return root


def tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build_layers(sizes: list[int], seed: int = 0) -> list[bytes]:
    """Tar layers holding one random file each, of (about) the given sizes."""
    rnd = __import__("random").Random(seed)
    return [tar_of({f"file{i}.bin": rnd.randbytes(size)}) for i, size in enumerate(sizes)]


def push_tiny_kit(storage: Storage, tag: str | None = "1.0.0", content: bytes = b"weights") -> Descriptor:
    """A minimal KitOps ModelKit (a ``sentiment`` config, one model layer holding ``content``)."""
    cfg = b'{"package":{"name":"sentiment"}}'
    cfg_desc = Descriptor.for_bytes(KITOPS_CONFIG, cfg)
    layer = Descriptor.for_bytes(LAYER_MODEL, content)
    storage.push_blob(cfg_desc, io.BytesIO(cfg))
    storage.push_blob(layer, io.BytesIO(content))
    return storage.push_manifest(Manifest(cfg_desc, (layer,)).to_bytes(), MANIFEST, tag=tag)


def push_modelkit(storage: Storage, tag: str | None, layers: list[bytes], *, name: str = "test-kit",
                  config_type: str = KITOPS_CONFIG) -> BuiltKit:
    """Push config + layers + manifest into ``storage`` (blobs first, manifest last)."""
    config = json.dumps({"manifestVersion": "1.0.0", "package": {"name": name},
                         "model": {"name": name, "path": "file0.bin"}}, separators=(",", ":")).encode()
    config_desc = Descriptor.for_bytes(config_type, config)
    layer_descs = [Descriptor.for_bytes(LAYER_MODEL if i == 0 else LAYER_DATASET, data,
                                        annotations={"org.opencontainers.image.title": f"file{i}.bin"})
                   for i, data in enumerate(layers)]
    blobs = {str(config_desc.digest): config}
    storage.push_blob(config_desc, io.BytesIO(config))
    for d, data in zip(layer_descs, layers, strict=True):
        blobs[str(d.digest)] = data
        if not storage.has_blob(d):
            storage.push_blob(d, io.BytesIO(data))
    manifest = Manifest(config_desc, tuple(layer_descs), {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"})
    data = manifest.to_bytes()
    desc = storage.push_manifest(data, MANIFEST, tag=tag)
    return BuiltKit(desc, manifest, data, blobs)


def random_bytes(n: int) -> bytes:
    return os.urandom(n)
