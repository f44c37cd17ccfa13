"""diff and lineage against the real registry (no referrers API: SBOMs via the fallback tag)."""

from __future__ import annotations

from pathlib import Path

import pytest

from _registry_fixtures import TestRegistry, unique_repo


def _project(root: Path, version: str, rows: str) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data" / "train.csv").write_text(rows)
    (root / "data" / "README.txt").write_text("columns: text,label\n")
    (root / "model.bin").write_bytes(b"weights " + version.encode())
    (root / "train.py").write_text("print('train')\n")
    (root / "Kitfile").write_text(
        f"manifestVersion: 1.0.0\npackage:\n  name: demo\n  version: {version}\n"
        "model:\n  path: model.bin\n  parameters:\n"
        f"    metrics:\n      accuracy: {0.8 if version == '1.0.0' else 0.85}\n"
        "code:\n  - path: train.py\ndatasets:\n  - name: train\n    path: data\n"
    )
    return root


@pytest.mark.registry
def test_diff_and_lineage_of_remote_modelkits(registry: TestRegistry, tmp_path: Path) -> None:
    import ocikit

    home = tmp_path / "home"
    repository = unique_repo("eco")
    remote = f"{registry.host}/{repository}"
    for version, rows in (("1.0.0", "a,1\nb,0\n"), ("1.1.0", "a,1\nb,1\n")):
        ocikit.pack(_project(tmp_path / version, version, rows), tag=f"{repository}:{version}", home=home)
        ocikit.push(f"{repository}:{version}", f"{remote}:{version}", home=home, options=registry.options)
    ocikit.promote(f"{remote}:1.0.0", "production", reason="test", home=home, options=registry.options,
                   new_stage=True)

    # a fresh home: nothing local, so both sides come from the registry
    other = tmp_path / "other-home"
    result = ocikit.diff(f"{remote}:1.0.0", f"{remote}:1.1.0", home=other, options=registry.options)
    assert not result.identical
    assert {c.path for c in result.fields} >= {"package.version", "model.parameters.metrics.accuracy"}
    layers = {(c.kind, c.key): c for c in result.layers}
    assert layers[("code", "train.py")].status == "same"
    data = layers[("dataset", "train")]
    assert data.status == "changed"
    assert data.files is not None  # found the SBOMs through the sha256-<hex> fallback tags
    assert data.files.modified == ("data/train.csv",)
    assert data.files.added == () and data.files.removed == ()

    lineage = ocikit.lineage(remote, home=other, options=registry.options)
    by_tag = {v.tags[0]: v for v in lineage.versions}
    assert sorted(by_tag) == ["1.0.0", "1.1.0"]
    assert by_tag["1.0.0"].stages == ("production",)
    assert by_tag["1.1.0"].stages == ()
    shared = {(s.kind, s.key) for s in lineage.shared}
    assert ("code", "train.py") in shared
    assert ("dataset", "train") not in shared
    assert not (other / "store").exists() or not any((other / "store").rglob("sha256/*"))
