"""Eight processes writing into one local store at once lose no tag and corrupt no blob.

Real processes (not threads): the store's guarantees rest on ``flock`` and atomic renames between
processes, which is what oras-go, skopeo ``oci:`` and KitOps do not have (docs/reliability.md, "Concurrency").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ocikit._store._layout import LocalStore

pytestmark = pytest.mark.slow  # many processes at once: `make test` runs them, `make unit` skips them

HERE = Path(__file__).resolve().parent
WORKERS = HERE / "_workers.py"
PROCESSES = 8
PER_PROCESS = 12


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["OCIKIT_HOME"] = str(home)
    env["SOURCE_DATE_EPOCH"] = "1700000000"
    return env


def _run_all(cmds: list[list[str]], home: Path) -> list[str]:
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(home))
             for c in cmds]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(out)
    return outs


def _fsck(home: Path) -> dict[str, object]:
    result = subprocess.run([sys.executable, "-m", "ocikit", "--home", str(home), "fsck", "--json"],
                            capture_output=True, text=True, timeout=120, env=_env(home))
    report: dict[str, object] = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"], result.stdout
    return report


def test_eight_processes_tag_untag_push_delete(tmp_path: Path) -> None:
    home = tmp_path / "home"
    outs = _run_all([[sys.executable, str(WORKERS), "tagger", str(home), str(w), str(PER_PROCESS)]
                     for w in range(PROCESSES)], home)
    expected = {f"w{w}-{i}" for w in range(PROCESSES) for i in range(PER_PROCESS)}
    assert {t for out in outs for t in out.split()} == expected
    store = LocalStore.at_home(home)
    repo = store.repository("localhost/shared/kit")
    assert set(repo.tags()) == expected  # no tag lost, every alias removed
    for tag in expected:
        desc = repo.resolve(tag)
        repo.fetch_manifest(desc)  # verified against its digest
    # the scratch repositories were emptied by delete_manifest in every process
    assert [e for e in store.entries() if e.repository.startswith("localhost/scratch/")] == []
    assert len(store.entries()) == len(expected)
    report = _fsck(home)
    assert report["entries"] == len(expected)
    assert report["staleFiles"] == []  # every writer cleaned up after itself


def test_eight_processes_write_the_same_blob(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _run_all([[sys.executable, str(WORKERS), "pusher", str(home), str(w), "20"] for w in range(PROCESSES)], home)
    blobs = list((LocalStore.at_home(home).root / "blobs" / "sha256").iterdir())
    assert len(blobs) == 1
    _fsck(home)


def test_concurrent_packs_into_one_store(tmp_path: Path) -> None:
    try:
        import ocikit._ops._pack  # noqa: F401
    except ImportError:  # pragma: no cover - until pack lands
        return
    home = tmp_path / "home"
    cmds = []
    for w in range(PROCESSES):
        project = tmp_path / f"p{w}"
        project.mkdir()
        (project / "Kitfile").write_text(
            f"manifestVersion: 1.0.0\npackage:\n  name: p{w}\nmodel:\n  name: m\n  path: model.bin\n"
            "datasets:\n  - name: shared\n    path: shared.csv\n")
        (project / "model.bin").write_bytes(os.urandom(256 * 1024))
        (project / "shared.csv").write_bytes(b"a,b\n" * 50_000)  # the same layer in every pack
        code = (f"from ocikit._ops._pack import pack; "
                f"pack({str(project)!r}, tag='team/model:w{w}', home={str(home)!r})")
        cmds.append([sys.executable, "-c", code])
    _run_all(cmds, home)
    repo = LocalStore.at_home(home).repository("localhost/team/model")
    assert set(repo.tags()) >= {f"w{w}" for w in range(PROCESSES)}
    _fsck(home)
