"""skopeo reads the local store that `ocikit pack` writes (a standard OCI image layout)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from conftest import require_tool  # type: ignore[import-not-found]
from ocikit._config import store_dir
from ocikit._ops._pack import pack

pytestmark = pytest.mark.interop


def _skopeo() -> str:
    return str(require_tool("skopeo"))


def test_skopeo_inspects_and_copies_a_packed_modelkit_from_the_local_store(home: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "model").mkdir(parents=True)
    (project / "model" / "weights.bin").write_bytes(bytes(range(256)) * 400)
    (project / "data.csv").write_text("text,label\ngood,1\nbad,0\n")
    (project / "Kitfile").write_text(
        "manifestVersion: 1.0.0\npackage:\n  name: layout\nmodel:\n  path: model\n"
        "datasets:\n  - name: data\n    path: data.csv\n"
    )
    result = pack(project, tag="acme/layout:1.0", home=home, sbom=True)
    ref = f"oci:{store_dir(home)}:localhost/acme/layout:1.0"

    raw = subprocess.run([_skopeo(), "inspect", "--raw", ref], capture_output=True, check=True, timeout=60).stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == str(result.digest)
    manifest = json.loads(raw)
    assert manifest["config"]["mediaType"] == "application/vnd.kitops.modelkit.config.v1+json"
    assert [layer["mediaType"] for layer in manifest["layers"]] == [
        "application/vnd.kitops.modelkit.model.v1.tar",
        "application/vnd.kitops.modelkit.dataset.v1.tar",
    ]

    # skopeo copies every blob out of our layout into its own, verifying each digest as it goes.
    out = tmp_path / "copied"
    subprocess.run([_skopeo(), "--insecure-policy", "copy", ref, f"oci:{out}:copied"],
                   capture_output=True, check=True, timeout=60)
    copied = json.loads((out / "index.json").read_text())["manifests"][0]
    assert copied["digest"] == str(result.digest)
    for layer in manifest["layers"]:
        blob = out / "blobs" / "sha256" / layer["digest"].removeprefix("sha256:")
        assert blob.stat().st_size == layer["size"]
