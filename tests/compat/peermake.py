"""Model artifacts byte for byte as kit 1.17, modctl 0.2 and Docker Model Runner write them.

Independent of ocikit's writers: blobs, configs and manifests are made here with ``json``, ``tarfile``,
``gzip``, ``zstandard`` and ``zipfile`` in the field order each peer's Go structs marshal (see
the README in tests/compat for the source file and commit behind every shape). Each builder returns a
:class:`Artifact` (blobs, config, manifest bytes) that can be stored in a local store
(:func:`store`) or pushed to a registry over the plain distribution API (:func:`push_http`).
"""

from __future__ import annotations

import gzip
import io
import json
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compat.kitmake import go_json, put_blob, raw_file, raw_header, sha

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
KIT_CONFIG = "application/vnd.kitops.modelkit.config.v1+json"
KIT_ARTIFACT = "application/vnd.kitops.modelkit.manifest.v1+json"
MP_CONFIG = "application/vnd.cncf.model.config.v1+json"
MP_ARTIFACT = "application/vnd.cncf.model.manifest.v1+json"
DOCKER_V01 = "application/vnd.docker.ai.model.config.v0.1+json"
DOCKER_V02 = "application/vnd.docker.ai.model.config.v0.2+json"
FILEPATH = "org.cncf.model.filepath"
METADATA = "org.cncf.model.file.metadata+json"
UNTESTED = "org.cncf.model.file.mediatype.untested"
SUBTYPE = "ml.kitops.modelkit.layer-subtype"
CREATED = "2026-11-06T12:00:00Z"  # a fixed creation time (the peers write "now")


@dataclass
class Artifact:
    """One artifact: its blobs by digest, and the manifest bytes over them."""

    manifest: bytes
    blobs: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # what an unpack must produce

    @property
    def digest(self) -> str:
        return sha(self.manifest)

    def manifest_json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.manifest)
        return parsed


def _blob(art: Artifact, data: bytes) -> str:
    digest = sha(data)
    art.blobs[digest] = data
    return digest


def go_tar(members: list[tuple[str, bytes | None]]) -> bytes:
    """Tar entries as kit's Go writer makes them: USTAR, mtime 0, two zero blocks, no record padding."""
    out = b""
    for name, data in members:
        out += raw_header(name, typeflag=b"5", mode=0o755) if data is None else raw_file(name, data)
    return out + bytes(1024)


def meta_json(name: str, data: bytes, *, mode: int = 0o644, typeflag: int = 0, uid: int = 0, gid: int = 0) -> str:
    """``modelspecv1.FileMetadata`` / Docker ``types.FileMetadata`` as Go marshals it (struct order)."""
    return go_json({"name": name, "mode": mode, "uid": uid, "gid": gid, "size": len(data),
                    "mtime": "2026-11-01T09:30:00.123456789Z", "typeflag": typeflag}).decode()


def _oci_desc(media_type: str, digest: str, size: int, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """image-spec's Go ``Descriptor``: mediaType, digest, size, annotations (a Go map: sorted keys)."""
    out: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": size}
    if annotations:
        out["annotations"] = dict(sorted(annotations.items()))
    return out


def mcpb(entries: dict[str, str]) -> bytes:
    """An MCP Bundle: a ZIP with manifest.json, as kit's MCPB test writes one."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in entries.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), text)
    return buf.getvalue()


# ---- kit 1.17 -------------------------------------------------------------------------------------


def _kit_manifest(art: Artifact, config: dict[str, Any], layers: list[dict[str, Any]]) -> None:
    config_bytes = go_json(config)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": KIT_ARTIFACT,
                "config": _oci_desc(KIT_CONFIG, _blob(art, config_bytes), len(config_bytes)),
                "layers": layers,
                "annotations": {"ml.kitops.modelkit.cli-version": "1.17.0", "org.opencontainers.image.created": CREATED}}
    art.manifest = go_json(manifest)


def _zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


def kit_117_tar() -> Artifact:
    """kit 1.17, tar layers in every compression: model (gzip), dataset (zstd), code, prompt, docs."""
    art = Artifact(b"")
    files = {"model/weights.safetensors": b"W" * 5000, "data/train.csv": b"a,b\n1,2\n",
             "src/serve.py": b"print('serve')\n", "prompts/system.prompt.md": b"You are helpful.\n",
             "README.md": b"# kit 1.17\n"}
    art.files = dict(files)
    plan: list[tuple[str, str, str, Callable[[bytes], bytes], str, dict[str, str]]] = [
        ("model", "model", "application/vnd.kitops.modelkit.model.v1.tar+gzip", lambda b: gzip.compress(b, mtime=0),
         "model", {}),
        ("dataset", "data", "application/vnd.kitops.modelkit.dataset.v1.tar+zstd", _zstd, "data", {}),
        ("code", "src", "application/vnd.kitops.modelkit.code.v1.tar", lambda b: b, "src", {}),
        ("docs", "README.md", "application/vnd.kitops.modelkit.docs.v1.tar", lambda b: b, "README.md", {}),
        ("prompt", "prompts", "application/vnd.kitops.modelkit.code.v1.tar", lambda b: b, "prompts",
         {SUBTYPE: "prompt"}),
    ]
    infos: dict[str, dict[str, str]] = {}
    layers = []
    for kind, path, media_type, compress, clean, extra in plan:
        members: list[tuple[str, bytes | None]] = [] if "." in path else [(path, None)]
        members += [(name, data) for name, data in files.items() if name == path or name.startswith(path + "/")]
        tar = go_tar(members)
        stored = compress(tar)
        digest = _blob(art, stored)
        infos[kind] = {"digest": digest, "diffId": sha(tar)}
        layers.append(_oci_desc(media_type, digest, len(stored), {FILEPATH: clean, **extra}))
    config = {
        "manifestVersion": "1.0.0",
        "package": {"name": "kit117", "version": "1.0.0", "authors": ["ML team"]},
        "model": {"name": "tiny", "path": "model", "format": "safetensors", **infos["model"]},
        "code": [{"path": "src", **infos["code"]}],
        "datasets": [{"name": "train", "path": "data", **infos["dataset"]},
                     {"name": "lake", "path": "lake/part-0.parquet", "remotePath": "s3://bucket/lake/part-0.parquet",
                      "remoteHash": "9b2cf535f27731c974343645a3985328"}],
        "docs": [{"path": "README.md", **infos["docs"]}],
        "prompts": [{"name": "system", "path": "prompts", "description": "system prompt", **infos["prompt"]}],
    }
    _kit_manifest(art, config, layers)
    return art


def kit_117_raw() -> Artifact:
    """kit 1.17 ``pack --layer-format raw``: one file per layer (model, part, a prompt = a ``code.v1.raw``
    with the prompt subtype) and two MCP bundles (``mcpb.v1.raw``). The part is ``raw+gzip`` (kit applies
    one compression to a whole pack; a reader meets each layer on its own, so one fixture shows both)."""
    art = Artifact(b"")
    weights, tokenizer = b"G" * 4096, b'{"tok": 1}\n'
    fs_bundle = mcpb({"manifest.json": '{"name": "filesystem-server"}', "server/index.js": "console.log('fs')"})
    pg_bundle = mcpb({"manifest.json": '{"name": "postgres-server"}', "server/index.js": "console.log('pg')"})
    prompt = b"Summarise the input.\n"
    art.files = {"model.gguf": weights, "tok/tokenizer.json": tokenizer, "summarise.prompt.md": prompt,
                 "filesystem.mcpb": fs_bundle, "postgres.mcpb": pg_bundle}
    layers, infos = [], []
    for path, data, media_type, compress in [
        ("model.gguf", weights, "application/vnd.kitops.modelkit.model.v1.raw", None),
        ("tok/tokenizer.json", tokenizer, "application/vnd.kitops.modelkit.modelpart.v1.raw+gzip",
         lambda b: gzip.compress(b, mtime=0)),
        ("filesystem.mcpb", fs_bundle, "application/vnd.kitops.modelkit.mcpb.v1.raw", None),
        ("postgres.mcpb", pg_bundle, "application/vnd.kitops.modelkit.mcpb.v1.raw", None),
    ]:
        stored = compress(data) if compress else data
        digest = _blob(art, stored)
        infos.append({"digest": digest, "diffId": sha(data)})
        # kit's fillDescAnnotations: filepath + metadata (typeflag from tar.FileInfoHeader: '0' = 48)
        layers.append(_oci_desc(media_type, digest, len(stored),
                                {FILEPATH: path, METADATA: meta_json(path.rsplit("/", 1)[-1], data, typeflag=48)}))
    prompt_digest = _blob(art, prompt)
    layers.insert(2, _oci_desc("application/vnd.kitops.modelkit.code.v1.raw", prompt_digest, len(prompt),
                               {FILEPATH: "summarise.prompt.md", METADATA: meta_json("summarise.prompt.md", prompt,
                                                                                      typeflag=48),
                                SUBTYPE: "prompt"}))
    config = {
        "manifestVersion": "1.0.0",
        "package": {"name": "agent", "version": "1.0.0"},
        "model": {"name": "tiny", "path": "model.gguf", "format": "gguf",
                  "parts": [{"name": "tokenizer", "path": "tok/tokenizer.json", "type": "tokenizer", **infos[1]}],
                  **infos[0]},
        "prompts": [{"name": "summarise", "path": "summarise.prompt.md", "digest": prompt_digest,
                     "diffId": prompt_digest}],
        "mcpServers": [{"name": "filesystem", "path": "filesystem.mcpb", **infos[2]},
                       {"name": "postgres", "path": "postgres.mcpb", "description": "Postgres MCP", **infos[3]}],
    }
    _kit_manifest(art, config, layers)
    return art


# ---- modctl 0.2 -------------------------------------------------------------------------------------


def modctl_02(*, legacy: bool = True) -> Artifact:
    """``modctl build``: raw layers by default (weight.config, weight, code, doc processors in that
    order), filepath + metadata annotations (uid/gid from stat), the Modelfile as a manifest
    annotation, model-spec v0.0.7 config with architecture/format/paramSize/precision/quantization.

    ``legacy``: as the v0.2.2 release writes it, every name with the pre-CNCF ``cnai`` prefix
    (``pkg/backend/build/legacy.go``); else as modctl's main branch after v0.2.2 (``cncf``)."""
    art = Artifact(b"")
    org = "cnai" if legacy else "cncf"
    files = [("config.json", b'{"hidden_size": 8}\n', f"application/vnd.{org}.model.weight.config.v1.raw"),
             ("model.safetensors", b"S" * 3000, f"application/vnd.{org}.model.weight.v1.raw"),
             ("scripts/infer.py", b"print('hi')\n", f"application/vnd.{org}.model.code.v1.raw"),
             ("README.md", b"# qwen-tiny\n", f"application/vnd.{org}.model.doc.v1.raw")]
    art.files = {p: d for p, d, _ in files}
    layers, diff_ids = [], []
    for path, data, media_type in files:
        digest = _blob(art, data)
        diff_ids.append(digest)
        layers.append(_oci_desc(media_type, digest, len(data),
                                {f"org.{org}.model.filepath": path,
                                 f"org.{org}.model.file.metadata+json": meta_json(path.rsplit("/", 1)[-1], data,
                                                                                  uid=1000, gid=1000)}))
    config = {
        "descriptor": {"createdAt": CREATED, "family": "qwen2", "name": "qwen-tiny"},
        "modelfs": {"type": "layers", "diffIds": diff_ids},
        "config": {"architecture": "transformer", "format": "safetensors", "paramSize": "0.5B",
                   "precision": "bfloat16", "quantization": "awq"},
    }
    config_bytes = go_json(config)
    modelfile = "# Generated by modctl\nNAME qwen-tiny\nARCH transformer\nFAMILY qwen2\nFORMAT safetensors\n" \
                "CONFIG config.json\nMODEL model.safetensors\nCODE scripts/infer.py\nDOC README.md\n"
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "artifactType": f"application/vnd.{org}.model.manifest.v1+json",
                "config": _oci_desc(f"application/vnd.{org}.model.config.v1+json", _blob(art, config_bytes),
                                    len(config_bytes)),
                "layers": layers, "annotations": {f"org.{org}.modctl.modelfile": modelfile}}
    art.manifest = go_json(manifest)
    return art


# ---- Docker Model Runner ------------------------------------------------------------------------------


def _docker_desc(media_type: str, digest: str, size: int, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """docker/model-runner's ``oci.Descriptor``: mediaType, size, digest, annotations (its own order)."""
    out: dict[str, Any] = {"mediaType": media_type, "size": size, "digest": digest}
    if annotations:
        out["annotations"] = dict(sorted(annotations.items()))
    return out


def _docker(config_type: str, model_config: dict[str, Any], files: list[tuple[str, bytes, str]]) -> Artifact:
    art = Artifact(b"")
    art.files = {p: d for p, d, _ in files}
    layers, diff_ids = [], []
    for path, data, media_type in files:
        digest = _blob(art, data)
        diff_ids.append(digest)
        layers.append(_docker_desc(media_type, digest, len(data),
                                   {FILEPATH: path, METADATA: meta_json(path.rsplit("/", 1)[-1], data),
                                    UNTESTED: "false"}))
    config = {"config": model_config, "descriptor": {"created": CREATED},
              "rootfs": {"type": "rootfs", "diff_ids": diff_ids}}
    config_bytes = go_json(config)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": _docker_desc(config_type, _blob(art, config_bytes), len(config_bytes)),
                "layers": layers}
    art.manifest = go_json(manifest)
    return art


def docker_model_v01() -> Artifact:
    """``docker model package --gguf model.gguf --license LICENSE``: v0.1 config, one layer per file."""
    return _docker(DOCKER_V01, {"format": "gguf", "quantization": "Q4_K_M", "parameters": "135M",
                                "architecture": "llama", "size": "4.10 KiB",
                                "gguf": {"general.architecture": "llama"}},
                   [("model.gguf", b"GGUF" + b"\x03\x00\x00\x00" + b"q" * 4096, "application/vnd.docker.ai.gguf.v3"),
                    ("LICENSE", b"Apache-2.0\n", "application/vnd.docker.ai.license"),
                    ("model.mmproj", b"MMPROJ" * 10, "application/vnd.docker.ai.mmproj"),
                    ("template.jinja", b"{{ messages }}\n", "application/vnd.docker.ai.chat.template.jinja")])


def docker_model_v02() -> Artifact:
    """``docker model package --safetensors-dir``: v0.2 config, nested paths kept (``FromDirectory``)."""
    tar = go_tar([("assets", None), ("assets/vocab.txt", b"a\nb\n")])
    return _docker(DOCKER_V02, {"format": "safetensors", "parameters": "8M", "architecture": "llama",
                                "size": "3.0 KiB", "context_size": 2048},
                   [("model-00001-of-00002.safetensors", b"A" * 1500, "application/vnd.docker.ai.safetensors"),
                    ("text_encoder/model.safetensors", b"B" * 1500, "application/vnd.docker.ai.safetensors"),
                    ("config.json", b'{"model_type": "llama"}\n', "application/vnd.docker.ai.model.file"),
                    ("assets", tar, "application/vnd.docker.ai.dir.tar")])


PEERS: dict[str, Callable[[], Artifact]] = {
    "kit-1.17-tar": kit_117_tar,
    "kit-1.17-raw": kit_117_raw,
    "modctl-0.2": modctl_02,
    "modctl-0.2-cncf": lambda: modctl_02(legacy=False),
    "docker-model-v0.1": docker_model_v01,
    "docker-model-v0.2": docker_model_v02,
}


def expected_files(art: Artifact) -> dict[str, bytes]:
    """The files an unpack must produce (a dir.tar layer is a tar: its members, not the tar)."""
    out = dict(art.files)
    if art.manifest_json()["config"]["mediaType"] == DOCKER_V02:
        out.pop("assets")
        out["assets/vocab.txt"] = b"a\nb\n"
    return out


# ---- storing and pushing ---------------------------------------------------------------------------


def store(home: Path, art: Artifact, repository: str, tag: str) -> str:
    """Write ``art`` into ``home``'s local store under ``localhost/<repository>:<tag>``."""
    from ocikit._io._digest import Digest
    from ocikit._oci._model import Descriptor
    from ocikit._store._layout import LocalStore

    local = LocalStore.at_home(home)
    local._ensure()
    for data in art.blobs.values():
        put_blob(local.root, data)
    put_blob(local.root, art.manifest)
    repo = local.repository(f"localhost/{repository}")
    repo.tag(Descriptor(OCI_MANIFEST, Digest.parse(art.digest), len(art.manifest)), tag)
    return art.digest


def push_http(base_url: str, repository: str, tag: str, art: Artifact) -> None:
    """Push over the distribution API (monolithic blob uploads, then the manifest), no ocikit code."""
    for digest, data in art.blobs.items():
        start = urllib.request.Request(f"{base_url}/v2/{repository}/blobs/uploads/", method="POST", data=b"")
        with urllib.request.urlopen(start) as r:
            location = r.headers["Location"]
        if location.startswith("/"):
            location = base_url + location
        sep = "&" if "?" in location else "?"
        put = urllib.request.Request(f"{location}{sep}digest={digest}", method="PUT", data=data,
                                     headers={"Content-Type": "application/octet-stream"})
        urllib.request.urlopen(put).close()
    req = urllib.request.Request(f"{base_url}/v2/{repository}/manifests/{tag}", method="PUT", data=art.manifest,
                                 headers={"Content-Type": OCI_MANIFEST})
    urllib.request.urlopen(req).close()
