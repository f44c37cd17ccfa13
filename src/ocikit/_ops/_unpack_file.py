"""One file out of a huge layer: the tables of contents attached at pack, and the ranged fetch.

At pack, every uncompressed tar layer of at least :data:`TOC_MIN_LAYER` bytes gets a table of
contents (``_layers._toc``); all of a ModelKit's go in one OCI 1.1 referrer (artifactType
``application/vnd.ocikit.toc.v1+json``, one blob per layer, annotated with the layer digest), so
the ModelKit manifest and its layers stay byte-for-byte what kit writes and reads. ``unpack
--file PATH`` then reads only ``blob[offset:offset + size]`` (an HTTP ``Range`` GET from a
registry, docs/performance.md) and writes the file only if its size and sha256 match the TOC.
Without a TOC for the file (a compressed layer, an older pack) the whole layer is streamed,
verified against its digest, and the file taken from it, with a log line saying so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ocikit._config import RegistryOptions
from ocikit._io._digest import CHUNK, Digest
from ocikit._kitfile._filters import parse_filters
from ocikit._layers._compress import open_decompressed
from ocikit._layers._extract import check_member_name
from ocikit._layers._reader import TarReader
from ocikit._layers._toc import ARTIFACT_TYPE, MAX_TOC_BYTES, Toc, TocEntry, build_toc, parse_toc
from ocikit._layers._types import Limits, PackedLayer, parse_layer_media_type
from ocikit._oci._model import EMPTY_CONFIG, EMPTY_JSON, MANIFEST, Descriptor, Manifest
from ocikit._oci._reference import Reference
from ocikit._store._referrers import list_referrers, push_referrer
from ocikit._store._storage import Storage, open_verified, read_blob
from ocikit._trust._keys import ENV_VERIFY_KEY
from ocikit.errors import DigestMismatchError, NotFoundError, TargetExistsError, UnsafeArchiveError, UsageError

__all__ = ["ANNOTATION_TOC_LAYER", "TOC_MIN_LAYER", "FetchedFile", "attach_tocs", "fetch_files", "load_tocs",
           "unpack_files"]

log = logging.getLogger(__name__)

TOC_MIN_LAYER = 16 * 1024 * 1024  # a smaller layer is cheaper to fetch whole than to look up
ANNOTATION_TOC_LAYER = "dev.ocikit.toc.layer"


@dataclass(frozen=True)
class FetchedFile:
    """One file written by :func:`fetch_files`; ``ranged`` False when the whole layer was read."""

    path: str
    size: int
    layer: Digest
    ranged: bool

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "size": self.size, "layer": str(self.layer), "ranged": self.ranged}


def _codec(layer: Descriptor) -> str | None:
    try:
        return parse_layer_media_type(layer.media_type)[1]
    except UnsafeArchiveError:
        return None  # a raw or ModelPack layer: not a tar we index


def attach_tocs(storage: Storage, subject: Descriptor, layers: Sequence[PackedLayer]) -> Descriptor | None:
    """Attach the TOCs of ``layers`` (the large uncompressed tar ones) as one referrer of ``subject``."""
    blobs: list[tuple[Descriptor, bytes]] = []
    for layer in layers:
        d = layer.descriptor
        if _codec(d) != "none" or d.size < TOC_MIN_LAYER or not layer.files:
            continue
        with storage.open_blob(d) as f:
            toc = build_toc(f, d.digest, d.size, layer.files)
        data = toc.to_bytes()
        if len(data) > MAX_TOC_BYTES:
            log.info("layer %s: table of contents too large (%d bytes); not recorded", d.digest.short, len(data))
            continue
        blobs.append((Descriptor.for_bytes(ARTIFACT_TYPE, data, annotations={ANNOTATION_TOC_LAYER: str(d.digest)}),
                      data))
    if not blobs:
        return None
    config = Descriptor(EMPTY_CONFIG, Digest.of_bytes(EMPTY_JSON), len(EMPTY_JSON), data=EMPTY_JSON)
    for desc, data in ((config, EMPTY_JSON), *blobs):
        if not storage.has_blob(desc):
            storage.push_blob(Descriptor(desc.media_type, desc.digest, desc.size), io.BytesIO(data))
    manifest = Manifest(config=config, layers=tuple(d for d, _ in blobs), artifact_type=ARTIFACT_TYPE,
                        subject=Descriptor(subject.media_type, subject.digest, subject.size))
    return push_referrer(storage, manifest)


def load_tocs(storage: Storage, subject: Digest, manifest: Manifest) -> dict[Digest, Toc]:
    """The TOCs attached to ``subject`` (the last referrer listed), each checked against its layer."""
    found = list_referrers(storage, subject, artifact_type=ARTIFACT_TYPE)
    if not found:
        return {}
    entry = found[-1]
    data = storage.fetch_manifest(Descriptor(MANIFEST, entry.digest, entry.size))
    referrer = Manifest.from_bytes(data, f"table of contents {entry.digest.short}")
    sizes = {layer.digest: layer.size for layer in manifest.layers if _codec(layer) == "none"}
    tocs: dict[Digest, Toc] = {}
    for blob in referrer.layers:
        raw = blob.annotations.get(ANNOTATION_TOC_LAYER)
        layer = Digest.parse(raw) if isinstance(raw, str) else None
        if blob.media_type != ARTIFACT_TYPE or layer is None or layer not in sizes:
            continue  # describes nothing of this ModelKit's: ignored
        text = read_blob(storage, blob, limit=MAX_TOC_BYTES, what="table of contents")
        tocs[layer] = parse_toc(text, layer, sizes[layer])
    return tocs


def _chunks(reader: BinaryIO, size: int, what: str) -> Iterator[bytes]:
    left = size
    while left:
        piece = reader.read(min(CHUNK, left))
        if not piece:
            raise DigestMismatchError(f"{what}: the blob ended {left} bytes early")
        left -= len(piece)
        yield piece


def _write_verified(target: Path, path: str, chunks: Iterator[bytes], size: int, sha256: str | None,
                    *, rename: bool = True) -> Path:
    """Stream ``chunks`` into a temporary file beside ``target/path``; rename it only if they match
    (``rename=False``: the caller renames it after a check of its own; the temporary path is returned).
    """
    dest = target / path
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.parent.resolve().is_relative_to(target.resolve()):
        raise UnsafeArchiveError(f"{path}: its directory leads outside {target}")
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        h, got = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            for piece in chunks:
                h.update(piece)
                got += len(piece)
                out.write(piece)
            out.flush()
            os.fsync(out.fileno())
        if got != size or (sha256 is not None and h.hexdigest() != sha256):
            raise DigestMismatchError(f"{path}: {got} bytes hashing to sha256:{h.hexdigest()}, the table of "
                                      f"contents says {size} bytes, sha256:{sha256}")
        if rename:
            os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _ranged(storage: Storage, layer: Descriptor, entry: TocEntry, target: Path) -> None:
    bounded = getattr(storage, "open_blob_range", None)  # a registry: ask for just these bytes
    opened = bounded(layer, entry.offset, entry.size) if bounded is not None else storage.open_blob(layer, entry.offset)
    with opened as reader:
        _write_verified(target, entry.path, _chunks(reader, entry.size, entry.path), entry.size, entry.sha256)


def _from_layer(storage: Storage, layer: Descriptor, path: str, target: Path, limits: Limits) -> bool:
    """Stream the whole ``layer``; write ``path`` if it is in it, once the layer digest matched."""
    codec = _codec(layer)
    if codec is None:
        return False
    raw = open_verified(storage, layer, what=f"layer {layer.digest.short}")
    staged: Path | None = None
    try:
        tar = TarReader(open_decompressed(raw, codec, layer.size, limits, "layer"), "layer", limits)
        for member in tar:
            if staged is None and not member.is_dir and check_member_name(member.name, "layer") == path:
                staged = _write_verified(target, path, iter(tar.read_body, b""), member.size, None, rename=False)
            else:
                while tar.read_body():
                    pass
        raw.drain()
        raw.verify()
        if staged is not None:
            os.replace(staged, target / path)
            staged = None
            return True
        return False
    finally:
        raw.close()
        if staged is not None:
            staged.unlink(missing_ok=True)


def _locate(manifest: Manifest, tocs: dict[Digest, Toc], path: str) -> tuple[Descriptor, TocEntry] | None:
    for layer in manifest.layers:
        toc = tocs.get(layer.digest)
        entry = toc.find(path) if toc is not None else None
        if entry is not None:
            return layer, entry
    return None


def fetch_files(storage: Storage, desc: Descriptor, manifest: Manifest, paths: Sequence[str], target: Path,
                *, limits: Limits | None = None) -> tuple[FetchedFile, ...]:
    """Write each of ``paths`` (tar member names) under ``target``: by a ranged read when a TOC lists
    it, else from the whole layer that holds it (logged). Nothing is written for a file that fails
    its check; :class:`NotFoundError` if a path is in no layer.
    """
    wanted = [check_member_name(p, "--file") for p in paths]
    if not wanted:
        raise UsageError("no file to fetch")
    limits = limits or Limits.from_env()
    target.mkdir(parents=True, exist_ok=True)
    tocs = load_tocs(storage, desc.digest, manifest)
    done: list[FetchedFile] = []
    for path in wanted:
        hit = _locate(manifest, tocs, path)
        if hit is not None:
            layer, entry = hit
            _ranged(storage, layer, entry, target)
            done.append(FetchedFile(path, entry.size, layer.digest, True))
            continue
        log.info("%s: no table of contents lists it; reading whole layers for it", path)
        for layer in manifest.layers:
            if _from_layer(storage, layer, path, target, limits):
                done.append(FetchedFile(path, (target / path).stat().st_size, layer.digest, False))
                break
        else:
            raise NotFoundError(f"{path}: no layer of {desc.digest.short} holds this file")
    return tuple(done)


def unpack_files(
    reference: str | Reference,
    target: str | os.PathLike[str],
    files: Iterable[str],
    *,
    filters: str | Iterable[str] | None = (),
    overwrite: bool = False,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
    verify_key: str | os.PathLike[str] | None = None,
    select: Iterable[str] = (),
    limits: Limits | None = None,
) -> tuple[FetchedFile, ...]:
    """``unpack --file``: only ``files`` (paths inside the ModelKit, as ``unpack`` would write them)
    of the layers ``filters`` selects, into ``target``; see :func:`fetch_files`. An existing file is
    refused (:class:`TargetExistsError`) unless ``overwrite``.
    """
    from ocikit._ops._index import chosen
    from ocikit._ops._repos import locate
    from ocikit._ops._unpack_layers import Collected, check_filters_match, collect, load_modelkit

    ref = reference if isinstance(reference, Reference) else Reference.parse(reference)
    wanted = [check_member_name(p, "--file") for p in files]
    target_path = Path(target).absolute()
    existing = [p for p in wanted if (target_path / p).exists()]
    if existing and not overwrite:
        raise TargetExistsError(f"{target_path / existing[0]} exists", hint="pass --overwrite to replace it")
    home_path = Path(home) if home is not None else None
    storage = locate(ref, home=home_path, options=options)
    ref = chosen(storage, ref, list(select))
    desc, manifest, content = load_modelkit(storage, ref)
    verify_key = verify_key or os.environ.get(ENV_VERIFY_KEY) or None
    if verify_key:
        from ocikit._trust._trust_check import verify_signed

        verify_signed(storage, ref, desc, verify_key)
    filter_set = parse_filters(filters)
    collected = Collected()
    collect(ref, storage, manifest, content, filter_set, home_path, options, collected, [ref.display])
    check_filters_match(ref, storage, manifest, content, filter_set, collected)
    chosen_layers = {job.desc.digest for job in collected.jobs}
    narrowed = dataclasses.replace(manifest, layers=tuple(d for d in manifest.layers if d.digest in chosen_layers))
    return fetch_files(storage, desc, narrowed, wanted, target_path, limits=limits)
