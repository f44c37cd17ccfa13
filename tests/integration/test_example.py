"""examples/train_and_release.py against the real registry: the Python API end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _registry_fixtures import TestRegistry, unique_repo

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "train_and_release.py"


@pytest.mark.registry
def test_train_and_release_pushes_a_signed_modelkit_with_metrics(registry: TestRegistry, tmp_path: Path) -> None:
    from ocikit._oci._model import KITOPS_CONFIG
    from ocikit._registry._client import Registry
    from ocikit._store._referrers import list_referrers
    from ocikit._store._storage import read_blob, read_manifest

    repository = unique_repo("example")
    env = {**os.environ, "OCIKIT_HOME": str(tmp_path / "home"), "SOURCE_DATE_EPOCH": "1700000000"}
    env.pop("OCIKIT_PASSWORD", None)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--registry", registry.host, "--plain-http",
         "--repository", repository, "--version", "1.2.0", "--work", str(tmp_path / "work")],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    metrics = summary["metrics"]
    assert set(metrics) == {"accuracy", "f1", "train_rows", "test_rows"}
    assert 0.5 < metrics["accuracy"] <= 1.0
    assert metrics["train_rows"] + metrics["test_rows"] == 320

    # What the registry holds is what the script reported, with the metrics in its config.
    storage = Registry(registry.host, registry.options).repository(repository)
    desc, manifest = read_manifest(storage, "1.2.0")
    assert str(desc.digest) == summary["digest"]
    assert manifest.config.media_type == KITOPS_CONFIG
    config = json.loads(read_blob(storage, manifest.config, what="config"))
    assert config["package"]["version"] == "1.2.0"
    assert config["model"]["parameters"]["metrics"] == metrics
    assert config["model"]["path"] == "model/sentiment.safetensors"
    assert [d["name"] for d in config["datasets"]] == ["reviews"]
    # every layer the config names is in the manifest, by digest
    named = {config["model"]["digest"], *(p["digest"] for p in config["model"]["parts"]),
             *(c["digest"] for c in config["code"]), *(d["digest"] for d in config["datasets"]),
             *(d["digest"] for d in config["docs"])}
    assert named == {str(layer.digest) for layer in manifest.layers}

    # ...and it is signed there: a Sigstore bundle referrer (cosign v3's default format).
    bundles = list_referrers(storage, desc.digest, artifact_type="application/vnd.dev.sigstore.bundle.v0.3+json")
    assert summary["signature"] in [str(d.digest) for d in bundles]
