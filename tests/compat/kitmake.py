"""Build ModelKits directly in a local store, byte by byte, independent of ocikit's pack.

Used to lay out ModelKits exactly as kit writes them (docs/compatibility.md §1.2, §2.1, §3.2) and to
plant hostile layers. Tars are made with ``tarfile`` or raw header blocks, never with
``ocikit._layers``, so the reader is tested against an independent writer.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KIT_CONFIG = "application/vnd.kitops.modelkit.config.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def go_json(value: Any) -> bytes:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def raw_header(name: bytes | str, *, typeflag: bytes = b"0", size: int = 0, mode: int = 0o644,
               linkname: str = "", prefix: bytes = b"", size_field: bytes | None = None,
               magic: bytes = b"ustar\x0000") -> bytes:
    """One 512-byte USTAR header with a correct checksum (fields may be set to lie)."""
    if isinstance(name, str):
        name = name.encode()
    b = bytearray(512)
    b[0:len(name[:100])] = name[:100]
    b[100:108] = b"%07o\0" % mode
    b[108:116] = b"%07o\0" % 1000
    b[116:124] = b"%07o\0" % 0
    b[124:136] = size_field if size_field is not None else b"%011o\0" % size
    b[136:148] = b"%011o\0" % 0
    b[156:157] = typeflag
    ln = linkname.encode()
    b[157:157 + len(ln)] = ln
    b[257:265] = magic
    b[345:345 + len(prefix)] = prefix
    b[148:156] = b" " * 8
    b[148:156] = b"%06o\0 " % sum(b)
    return bytes(b)


def raw_file(name: str, data: bytes, **kw: Any) -> bytes:
    return raw_header(name, size=len(data), **kw) + data + bytes(-len(data) % 512)


def end() -> bytes:
    return bytes(1024)


def tar_of(members: list[tuple[tarfile.TarInfo, bytes | None]], *, fmt: int = tarfile.USTAR_FORMAT,
           pax_headers: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, pax_headers=pax_headers) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def file_info(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.uid = 1000
    return info, data


def dir_info(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, None


@dataclass
class Layer:
    kind: str  # model, modelpart, code, dataset, docs
    path: str  # Kitfile path
    tar: bytes
    compression: str = "none"  # none, gzip
    name: str | None = None
    blob: bytes | None = None  # stored bytes; default = tar (gzip-compressed for gzip)
    config_digest: str | None = None  # override the digest the config records
    legacy: bool = False  # config element without digest/diffId (kit <= 0.4)

    def stored(self) -> bytes:
        if self.blob is not None:
            return self.blob
        if self.compression == "gzip":
            return gzip.compress(self.tar, mtime=0)
        return self.tar

    def media_type(self) -> str:
        suffix = {"none": "", "gzip": "+gzip", "zstd": "+zstd"}[self.compression]
        return f"application/vnd.kitops.modelkit.{self.kind}.v1.tar{suffix}"


_SECTION = {"model": "model", "modelpart": "parts", "code": "code", "dataset": "datasets", "docs": "docs"}


def config_for(layers: list[Layer], package: dict[str, Any] | None = None,
               model_path: str | None = None) -> dict[str, Any]:
    """The config JSON in Go struct order (manifestVersion, package, model, code, datasets, docs)."""
    cfg: dict[str, Any] = {"manifestVersion": "1.0.0", "package": package or {}}
    model: dict[str, Any] | None = None
    code: list[dict[str, Any]] = []
    datasets: list[dict[str, Any]] = []
    docs: list[dict[str, Any]] = []
    if model_path is not None:
        model = {"path": model_path}
    for layer in layers:
        stored = layer.stored()
        info = {} if layer.legacy else {"digest": layer.config_digest or sha(stored), "diffId": sha(layer.tar)}
        if layer.kind == "model":
            model = {**({"name": layer.name} if layer.name else {}), "path": layer.path, **info}
        elif layer.kind == "modelpart":
            model = model or {}
            model.setdefault("parts", []).append({**({"name": layer.name} if layer.name else {}),
                                                  "path": layer.path, **info})
        elif layer.kind == "code":
            code.append({"path": layer.path, **info})
        elif layer.kind == "dataset":
            datasets.append({**({"name": layer.name} if layer.name else {}), "path": layer.path, **info})
        else:
            docs.append({"path": layer.path, **info})
    if model is not None:
        # Go struct order: name, path, ..., parts, ..., digest, diffId
        order = ["name", "path", "parts", "digest", "diffId"]
        cfg["model"] = {k: model[k] for k in order if k in model}
    if code:
        cfg["code"] = code
    if datasets:
        cfg["datasets"] = datasets
    if docs:
        cfg["docs"] = docs
    return cfg


def put_blob(store_root: Path, data: bytes) -> str:
    digest = sha(data)
    path = store_root / "blobs" / "sha256" / digest.split(":")[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def store_modelkit(home: Path, repository: str, tag: str, layers: list[Layer], *,
                   package: dict[str, Any] | None = None, model_path: str | None = None,
                   kit_v17: bool = True, null_layers: bool = False) -> str:
    """Write a ModelKit into ``home``'s local store; return the manifest digest.

    ``kit_v17``: manifest as kit 1.7 writes it (no mediaType/artifactType, only the cli-version
    annotation). ``null_layers``: ``"layers":null`` (Go's nil slice).
    """
    from ocikit._io._digest import Digest
    from ocikit._oci._model import Descriptor
    from ocikit._store._layout import LocalStore

    store = LocalStore.at_home(home)
    store._ensure()  # creates the layout
    root = store.root
    config = go_json(config_for(layers, package, model_path))
    config_digest = put_blob(root, config)
    layer_descs = []
    for layer in layers:
        stored = layer.stored()
        layer_descs.append({"mediaType": layer.media_type(), "digest": put_blob(root, stored), "size": len(stored)})
    manifest: dict[str, Any] = {"schemaVersion": 2}
    if not kit_v17:
        manifest["mediaType"] = OCI_MANIFEST
        manifest["artifactType"] = "application/vnd.kitops.modelkit.manifest.v1+json"
    manifest["config"] = {"mediaType": KIT_CONFIG, "digest": config_digest, "size": len(config)}
    manifest["layers"] = None if null_layers else layer_descs
    manifest["annotations"] = {"ml.kitops.modelkit.cli-version": "1.7.0"}
    data = go_json(manifest)
    put_blob(root, data)
    repo = store.repository(f"localhost/{repository}")
    repo.tag(Descriptor(OCI_MANIFEST, Digest.parse(sha(data)), len(data)), tag)
    return sha(data)


