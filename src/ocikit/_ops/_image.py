"""``image``: the OCI image view of a ModelKit, a second manifest over the very same layer blobs.

A ModelKit's tar layers are filesystem layers already, so Kubernetes image volumes and KServe
Modelcars (docs/kubernetes.md) can mount it once an image config with ``rootfs.diff_ids`` points
at them. Each layer is streamed once: its blob digest is checked, it is decompressed (gzip/zstd,
with the bomb guard) and hashed for its diffId, and every tar entry passes the strict reader of
``_layers`` (no links, devices, ``..``, absolute names, setuid, duplicates) — a layer that fails
is never made part of an image. Then only the config and the manifest are written; the layers
are already in the destination, or are mounted from the ModelKit's repository of the same
registry. The image manifest's ``subject`` is the ModelKit (a referrer of it) and its
``dev.ocikit.modelkit.digest`` annotation and config label name it.

Files appear at the image root at their Kitfile paths. Moving them under a prefix (KServe's
``/models``) or turning raw (single-file) layers into tars would need new layer bytes — a copy of
the weights — and is refused rather than done silently.
"""

from __future__ import annotations

import io
import logging
import os
import stat
from dataclasses import dataclass
from typing import Any

from ocikit._config import RegistryOptions
from ocikit._io._digest import Digest, HashingReader
from ocikit._io._progress import SILENT, Progress
from ocikit._layers._compress import open_decompressed
from ocikit._layers._extract import check_member_name
from ocikit._layers._reader import TarReader
from ocikit._layers._types import Limits
from ocikit._modelkit._layer_types import classify
from ocikit._oci._model import MANIFEST, Descriptor, Manifest, parse_manifest_or_index
from ocikit._oci._reference import Reference
from ocikit._ops._image_config import IMAGE_CONFIG, Platform, image_config, image_manifest
from ocikit._store._copy import check_modelkit
from ocikit._store._copy_blobs import Tally, copy_blobs
from ocikit._store._storage import Storage, open_verified
from ocikit.errors import UnsafeArchiveError, UsageError

__all__ = ["ImageView", "image_view", "layer_diff_id"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageView:
    """What ``image_view`` wrote."""

    reference: str  # the image's reference as given (with its tag)
    digest: Digest  # the image manifest
    config_digest: Digest
    modelkit_digest: Digest
    diff_ids: tuple[Digest, ...]
    layers_uploaded: int  # layer blobs that had to be copied (0 when the registry already had them)
    bytes_uploaded: int  # layer bytes copied (mounts and blobs already there count 0)

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": str(self.digest), "config": str(self.config_digest),
                "modelkit": str(self.modelkit_digest), "diffIds": [str(d) for d in self.diff_ids],
                "layersUploaded": self.layers_uploaded, "bytesUploaded": self.bytes_uploaded}


def layer_diff_id(storage: Storage, desc: Descriptor, codec: str, what: str, limits: Limits,
                  seen: dict[str, str]) -> Digest:
    """The diffId of one tar layer, read in one strict streaming pass (blob digest checked at its end).

    ``seen`` maps file names of earlier layers to their layer (a file in two layers is refused).
    """
    hashed = open_verified(storage, desc, what=what)
    try:
        diff = HashingReader(open_decompressed(hashed, codec, desc.size, limits, what), None, None)  # type: ignore[arg-type]
        reader = TarReader(diff, what, limits)
        for member in reader:
            name = check_member_name(member.name, what)
            if member.mode & (stat.S_ISUID | stat.S_ISGID):
                raise UnsafeArchiveError(f"{what}: entry {name!r} is setuid/setgid")
            if not member.is_dir:
                if name in seen:
                    raise UnsafeArchiveError(f"{what}: file {name!r} is also in {seen[name]}")
                seen[name] = what
                while reader.read_body():
                    pass
        diff.drain()  # what follows the end-of-archive blocks is part of the diffId too
        hashed.drain()
    finally:
        hashed.close()
    return diff.digest


def _storages(src_ref: Reference, dst_ref: Reference, home: str | os.PathLike[str] | None,
              options: RegistryOptions) -> tuple[Storage, Storage, Storage]:
    """(source to read layers from, source to copy blobs from, destination)."""
    from ocikit._ops import _repos

    read = _repos.locate(src_ref, home=home, options=options)
    blobs = _repos.open_repository(src_ref, home=home, options=options)
    if dst_ref.name == src_ref.name:
        return read, blobs, blobs
    return read, blobs, _repos.open_repository(dst_ref, home=home, options=options)


def _tar_layers(manifest: Manifest, what: str) -> list[tuple[Descriptor, str]]:
    out = []
    for i, layer in enumerate(manifest.layers):
        lt = classify(layer.media_type, layer.annotations)
        if lt.raw:
            raise UsageError(
                f"{what}: layer {i} ({layer.media_type}) is one raw file, not a tar; an image layer must be a tar",
                hint="repack with --layer-format tar; an image view never rewrites layers silently",
            )
        out.append((layer, lt.codec))
    return out


def _push_view(dst: Storage, view: Manifest, tag: str) -> Descriptor:
    """Push the image manifest under ``tag`` and list it as a referrer of its ModelKit."""
    from ocikit._store._referrers import add_to_fallback

    subject = view.subject
    if subject is None:
        raise ValueError("an image view has its ModelKit as subject")
    pushed = dst.push_manifest(view.to_bytes(), MANIFEST, tag)
    if dst.referrers(subject.digest) is None:  # no referrers API: the OCI 1.1 fallback tag
        add_to_fallback(dst, subject.digest, Descriptor(MANIFEST, pushed.digest, pushed.size,
                                                        dict(view.annotations), IMAGE_CONFIG))
    return pushed


def image_view(
    source: str,
    image: str,
    *,
    platform: str = "linux/amd64",
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
    progress: Progress = SILENT,
    limits: Limits | None = None,
) -> ImageView:
    """Write the OCI image view of the ModelKit ``source`` as ``image`` (``repository:tag``).

    Both may name the local store or a registry. The image's layers are the ModelKit's layer
    blobs byte for byte; only the config and manifest are new.
    """
    options = options or RegistryOptions()
    plat = Platform.parse(platform)
    limits = limits or Limits.from_env()
    src_ref = Reference.parse(source)
    dst_ref = Reference.parse(image)
    if dst_ref.tag is None:
        raise UsageError(f"{image} has no tag", hint="give the image view a tag, e.g. acme/sentiment:1.0.0-image")
    if src_ref.is_local != dst_ref.is_local or (not src_ref.is_local and src_ref.registry != dst_ref.registry):
        raise UsageError(f"{image} is not in the same store as {source}",
                         hint="write the image view next to its ModelKit (push the ModelKit first)")
    read, blobs, dst = _storages(src_ref, dst_ref, home, options)
    desc = read.resolve(src_ref.identifier)
    manifest = check_modelkit(parse_manifest_or_index(read.fetch_manifest(desc), desc.media_type, str(desc.digest)),
                              src_ref.display)
    layers = _tar_layers(manifest, src_ref.display)
    seen: dict[str, str] = {}
    diff_ids = [layer_diff_id(read, d, codec, f"layer {i} ({d.digest.short}) of {src_ref.display}", limits, seen)
                for i, (d, codec) in enumerate(layers)]
    config = image_config(diff_ids, desc.digest, plat)
    tally = Tally()
    if dst is not blobs:  # another repository: mounted on a registry, shared blobs in the local store
        copy_blobs(blobs, dst, [d for d, _ in layers], concurrency=options.concurrency, progress=progress,
                   tally=tally)
    view = image_manifest(config, layers, desc)
    if not dst.has_blob(view.config):
        dst.push_blob(Descriptor(IMAGE_CONFIG, view.config.digest, view.config.size), io.BytesIO(config))
    pushed = _push_view(dst, view, dst_ref.tag)
    log.info("image view %s of %s: %s", dst_ref.display, desc.digest, pushed.digest)
    return ImageView(dst_ref.display, pushed.digest, view.config.digest, desc.digest, tuple(diff_ids),
                     tally.blobs_transferred, tally.bytes_transferred)
