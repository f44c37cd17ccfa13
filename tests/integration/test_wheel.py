"""The wheel is complete: installed alone into a fresh venv it packs a project (schemas included)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        timeout=300,
    )
    (found,) = out.glob("ocikit-*.whl")
    return found


def test_wheel_ships_schemas_and_typing_marker(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "ocikit/schemas/kitfile.schema.json" in names
    assert "ocikit/schemas/stage-event.schema.json" in names
    assert "ocikit/py.typed" in names
    assert not any(n.startswith("tests/") for n in names)


def test_wheel_installs_and_packs_in_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    # Install the wheel itself (no src/ on the path), borrowing only the third-party dependencies
    # of the test environment: a path line in a .pth does not run that directory's own .pth files,
    # so the editable ocikit there stays invisible.
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    (Path(site) / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {**os.environ, "OCIKIT_HOME": str(tmp_path / "home"), "PYTHONPATH": ""}
    where = subprocess.run(
        [str(py), "-c", "import ocikit, sys; print(ocikit.__file__)"], check=True, capture_output=True, text=True, env=env
    ).stdout
    assert where.startswith(site), where
    run = [str(py), "-m", "ocikit"]
    assert "pack" in subprocess.run([*run, "--help"], check=True, capture_output=True, text=True, env=env).stdout
    project = tmp_path / "project"
    project.mkdir()
    (project / "model.bin").write_bytes(b"\x00" * 1024)
    (project / "Kitfile").write_text("manifestVersion: 1.0.0\npackage:\n  name: wheel-test\nmodel:\n  path: model.bin\n")
    subprocess.run([*run, "pack", str(project), "-t", "wheel/test:1"], check=True, capture_output=True, env=env)
    out = subprocess.run([*run, "inspect", "wheel/test:1"], check=True, capture_output=True, text=True, env=env).stdout
    assert json.loads(out)["kitfile"]["package"]["name"] == "wheel-test"
