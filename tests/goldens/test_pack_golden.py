"""The manifest of a fixed tiny project is pinned: same inputs, same digest, on any machine.

Refresh after an intended format change (or a version bump, which changes the cli-version
annotation) with ``pytest tests/goldens --update-goldens`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ocikit._ops._pack import pack

GOLDEN = Path(__file__).parent / "pack_tiny_project.json"

FILES = {
    "model/weights.bin": b"\x00\x01\x02weights",
    "model/config.json": b'{"layers": 2}\n',
    "data/train.csv": b"text,label\ngood,1\nbad,0\n",
    "src/train.py": b"print('train')\n",
    "src/run.sh": b"#!/bin/sh\necho run\n",
    "README.md": b"# tiny\n",
}
KITFILE = """manifestVersion: 1.0.0
package:
  name: tiny
  version: 1.0.0
  authors: [ocikit tests]
model:
  name: tiny-model
  path: model
  framework: none
datasets:
  - name: train
    path: data/train.csv
code:
  - path: src
docs:
  - path: README.md
"""


def _make(root: Path, umask: int, mtime: int) -> Path:
    old = os.umask(umask)
    try:
        for rel, data in FILES.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        (root / "Kitfile").write_text(KITFILE)
        os.chmod(root / "src/run.sh", 0o777 & ~umask)
    finally:
        os.umask(old)
    for p in [root, *root.rglob("*")]:
        os.utime(p, (mtime, mtime))
    return root


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_golden_manifest(home: Path, tmp_path: Path, update_goldens: bool, compression: str) -> None:
    a = pack(_make(tmp_path / "a", 0o022, 1_000_000), tag="golden/tiny:1", home=home, sbom=False,
             compression=compression)
    b = pack(_make(tmp_path / "b", 0o077, 1_700_000_000), tag="golden/tiny:2", home=home / "other", sbom=False,
             compression=compression)
    assert a.digest == b.digest, "umask or mtimes changed the digest"
    assert a.manifest is not None
    got = {"digest": str(a.digest), "manifest": a.manifest.to_dict()}
    if compression != "none":
        return  # gzip bytes depend on the zlib build; only reproducibility is checked for them
    goldens = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    if update_goldens:
        goldens[compression] = got
        GOLDEN.write_text(json.dumps(goldens, indent=2, sort_keys=True) + "\n")
    assert goldens.get(compression) == got, "pack output changed; if intended, run pytest --update-goldens"
