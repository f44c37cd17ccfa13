"""Real layers and a Kitfile for SBOM tests: files on disk, packed with the real tar writer.

Layers are built with the real tar writer from ``_layers`` and the real ``Kitfile`` values, so
the SBOM tests do not depend on the packer.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

from ocikit._kitfile._elements import Code, DataSet, Docs, Model, ModelPart, Package, is_modelkit_reference
from ocikit._kitfile._model import Kitfile
from ocikit._layers._types import PackedLayer, layer_media_type
from ocikit._layers._writer import TarEntry, write_tar
from ocikit._oci._model import KITOPS_CONFIG, MANIFEST, Descriptor, Manifest

SECTION_KIND = {"model": "model", "parts": "modelpart", "code": "code", "datasets": "dataset", "docs": "docs"}


def torch_zip() -> bytes:
    """A file shaped like torch.save's zip: ``archive/data.pkl`` inside a zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:  # fixed timestamps: the bytes must not vary per run
        zf.writestr(zipfile.ZipInfo("archive/data.pkl", (2024, 1, 1, 0, 0, 0)),
                    pickle.dumps({"w": [1, 2, 3]}, protocol=2))
        zf.writestr(zipfile.ZipInfo("archive/version", (2024, 1, 1, 0, 0, 0)), "3\n")
    return buf.getvalue()


def safetensors() -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\x00" * 8


PROJECT_FILES: dict[str, bytes] = {
    "model/weights.safetensors": safetensors(),
    "model/classifier.pkl": pickle.dumps({"coef": [0.1, 0.2]}, protocol=4),
    "model/checkpoint.bin": torch_zip(),  # pickle only detectable by content
    "adapter/lora.pt": torch_zip(),
    "data/train.csv": b"text,label\ngood,1\nbad,0\n",
    "code/train.py": b"print('train')\n",
    "code/requirements.txt": (
        b"# pinned and not\nnumpy==1.26.4\nscikit-learn>=1.3  # comment\n"
        b"requests[socks]==2.32.3 ; python_version >= '3.8'\n-r other.txt\n"
    ),
    "code/uv.lock": (
        b'version = 1\n[[package]]\nname = "sentiment"\nversion = "0.1.0"\nsource = { editable = "." }\n'
        b'[[package]]\nname = "scikit-learn"\nversion = "1.5.2"\nsource = { registry = "https://pypi.org/simple" }\n'
    ),
    "docs/README.md": b"# Sentiment\n",
}


#: The Kitfile sections that name the code, data and docs folders of :data:`PROJECT_FILES`
#: (a Kitfile for the project ends with these).
PROJECT_SECTIONS_YAML = """\
code:
  - path: code
datasets:
  - name: reviews
    path: data
docs:
  - path: docs
"""


def sample_kitfile() -> Kitfile:
    return Kitfile(
        manifest_version="1.0.0",
        package=Package(name="sentiment", version="1.0.0", description="Sentiment classifier",
                        license="Apache-2.0", authors=("Ada Lovelace", "ML Team")),
        model=Model(
            name="sentiment-model", path="model", license="MIT", framework="scikit-learn",
            format="safetensors", version="1.0",
            parts=(ModelPart(name="lora", path="adapter", type="lora-adapter"),),
            parameters={"task": "text-classification", "approach": "supervised",
                        "metrics": {"accuracy": 0.93, "f1": {"value": 0.91, "slice": "test"}}},
        ),
        code=(Code(path="code", description="training code", license="Apache-2.0"),),
        datasets=(DataSet(name="reviews", path="data", description="labelled reviews",
                          license="CC-BY-4.0", parameters={"rows": 2}),),
        docs=(Docs(path="docs", description="readme"),),
    )


def write_project(root: Path, files: dict[str, bytes] | None = None) -> Path:
    for rel, data in (files if files is not None else PROJECT_FILES).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def pack_layers(root: Path, kitfile: Any) -> tuple[list[PackedLayer], dict[str, bytes]]:
    """One layer per Kitfile element (order model, parts, code, datasets, docs); returns blobs too."""
    elements: list[tuple[str, int, str]] = []
    if kitfile.model is not None and not is_modelkit_reference(kitfile.model.path):
        elements.append(("model", 0, kitfile.model.path))
        elements += [("parts", i, p.path) for i, p in enumerate(kitfile.model.parts)]
    elements += [("code", i, c.path) for i, c in enumerate(kitfile.code)]
    elements += [("datasets", i, d.path) for i, d in enumerate(kitfile.datasets)]
    elements += [("docs", i, d.path) for i, d in enumerate(kitfile.docs)]
    layers, blobs = [], {}
    for section, index, path in elements:
        base = root / path
        entries = [TarEntry(path, None)]
        for f in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = f.relative_to(root).as_posix()
            entries.append(TarEntry(rel, f, f.stat().st_size, 0o644))
        buf = io.BytesIO()
        written = write_tar(entries, buf)
        kind = SECTION_KIND[section]
        desc = Descriptor(layer_media_type(kind), written.digest, written.size)
        blobs[str(written.digest)] = buf.getvalue()
        layers.append(PackedLayer(kind, section, index, path, desc, written.diff_id, written.files))
    return layers, blobs


def manifest_for(layers: list[PackedLayer]) -> tuple[bytes, Descriptor, bytes]:
    config = b'{"manifestVersion":"1.0.0","package":{"name":"sentiment"}}'
    cdesc = Descriptor.for_bytes(KITOPS_CONFIG, config)
    manifest = Manifest(cdesc, tuple(layer.descriptor for layer in layers))
    data = manifest.to_bytes()
    return data, Descriptor.for_bytes(MANIFEST, data), config


def unpack_files(root: Path, layers: list[PackedLayer], target: Path) -> None:
    """What ``ocikit unpack`` leaves behind, without the unpacker: every packed file copied."""
    for layer in layers:
        for rec in layer.files:
            dest = target / rec.path
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes((root / rec.path).read_bytes())


def iter_components(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    stack = [doc["metadata"]["component"], *doc.get("components", [])]
    while stack:
        comp = stack.pop()
        out.append(comp)
        stack.extend(comp.get("components", []))
    return out


def props(component: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in component.get("properties", [])}


def check_sbom(data: bytes) -> dict[str, Any]:
    """Every SBOM the suite produces goes through here: strict CycloneDX 1.6 schema (the
    library's validator is the oracle), every purl parses, every bom-ref is unique and every
    reference (dependencies, modelCard datasets) resolves."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from packageurl import PackageURL

    text = data.decode("utf-8")
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, f"invalid CycloneDX 1.6: {error}"
    doc = json.loads(text)
    assert doc["specVersion"] == "1.6" and doc["bomFormat"] == "CycloneDX"
    components = iter_components(doc)
    refs = [c["bom-ref"] for c in components if "bom-ref" in c]
    assert len(refs) == len(set(refs)), "bom-refs must be unique"
    known = set(refs)
    for dep in doc.get("dependencies", []):
        assert dep["ref"] in known, dep["ref"]
        for target in dep.get("dependsOn", []):
            assert target in known, target
    for comp in components:
        if "purl" in comp:
            purl = PackageURL.from_string(comp["purl"])
            assert PackageURL.from_string(purl.to_string()) == purl
        for ds in comp.get("modelCard", {}).get("modelParameters", {}).get("datasets", []):
            assert ds["ref"] in known
    return doc
