"""kill -9 at random points, then ``ocikit fsck`` must find the store consistent and the next run succeed.

Each loop starts a real process (``python -m ocikit ...`` or a store worker), kills it with SIGKILL
after a random delay, runs ``python -m ocikit fsck --json`` in a fresh process, and re-runs the
operation to completion. The random delays come from a fixed seed so a failure can be replayed.
Iterations are bounded (see ``ITERATIONS``); the whole file stays well under a minute.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # crash and fuzz runs: `make test` runs them, `make quick` skips them

HERE = Path(__file__).resolve().parent
WORKERS = HERE / "_workers.py"
SEED = int(os.environ.get("OCIKIT_CRASH_SEED", "20240611"))

#: crash-loop iterations per operation (documented in docs/reliability.md)
ITERATIONS = {"store": 8, "pack": 6, "pull": 4, "unpack": 2}  # 20 in total


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["OCIKIT_HOME"] = str(home)
    env["SOURCE_DATE_EPOCH"] = "1700000000"
    return env


def _ocikit(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ocikit", "--home", str(home), *args], capture_output=True,
                          text=True, timeout=timeout, env=_env(home))


def kill_after(cmd: list[str], delay: float, env: dict[str, str]) -> bool:
    """Start ``cmd``, SIGKILL it after ``delay`` s. True if it was killed (not already finished)."""
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env) as proc:
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            return True
        err = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.returncode == 0, f"{cmd} failed before it was killed:\n{err}"
    return False


def assert_consistent(home: Path) -> dict[str, object]:
    result = _ocikit(home, "fsck", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"], f"fsck after kill -9: {result.stdout}\n{result.stderr}"
    return report  # type: ignore[no-any-return]


def test_kill_during_store_primitives(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    home = tmp_path / "home"
    killed = 0
    for i in range(ITERATIONS["store"]):
        cmd = [sys.executable, str(WORKERS), "store-ops", str(home), "-1", str(rng.randrange(1 << 30))]
        killed += kill_after(cmd, rng.uniform(0.3, 0.9), _env(home))
        assert_consistent(home)
        # the next run succeeds on the store the killed one left behind
        done = subprocess.run([sys.executable, str(WORKERS), "store-ops", str(home), "2", str(i)],
                              capture_output=True, text=True, timeout=60, env=_env(home))
        assert done.returncode == 0, done.stderr
        assert_consistent(home)
    assert killed == ITERATIONS["store"]  # every iteration really was interrupted
    # leftovers of the kills are visible to fsck and repairable; gc keeps every indexed blob
    report = json.loads(_ocikit(home, "fsck", "--repair", "--older-than", "0", "--json").stdout)
    assert report["ok"] and report["staleFiles"] == []
    gc = _ocikit(home, "gc", "--grace", "0", "--json")
    assert gc.returncode == 0, gc.stderr
    assert_consistent(home)


def _project(root: Path) -> Path:
    root.mkdir()
    (root / "Kitfile").write_text(
        "manifestVersion: 1.0.0\npackage:\n  name: crashy\nmodel:\n  name: m\n  path: model.bin\n"
        "datasets:\n  - name: d\n    path: data\ncode:\n  - path: src\n"
    )
    rng = random.Random(1)
    (root / "model.bin").write_bytes(rng.randbytes(3 * 1024 * 1024))
    (root / "data").mkdir()
    for n in range(20):
        (root / "data" / f"part-{n}.csv").write_bytes(rng.randbytes(50 * 1024))
    (root / "src").mkdir()
    (root / "src" / "train.py").write_text("print('train')\n")
    return root


def _pack_cmd(home: Path, project: Path, tag: str) -> list[str]:
    return [sys.executable, "-m", "ocikit", "--home", str(home), "pack", str(project), "-t", tag]


def test_kill_during_pack(tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    home = tmp_path / "home"
    project = _project(tmp_path / "project")
    cmd = _pack_cmd(home, project, "crash/pack:1")
    # how long an uninterrupted pack takes, to spread the kills over it
    start = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True, timeout=120, env=_env(home))
    full = time.monotonic() - start
    _ocikit(home, "gc", "--grace", "0")  # nothing is removed: the pack is tagged
    assert_consistent(home)
    for i in range(ITERATIONS["pack"]):
        project.joinpath("model.bin").write_bytes(rng.randbytes(3 * 1024 * 1024))  # new content each time
        cmd = _pack_cmd(home, project, f"crash/pack:{i}")
        kill_after(cmd, rng.uniform(0.1, full), _env(home))
        assert_consistent(home)
        subprocess.run(cmd, check=True, capture_output=True, timeout=120, env=_env(home))
        report = assert_consistent(home)
        assert report["entries"]
    from ocikit._store._layout import LocalStore

    tags = LocalStore.at_home(home).repository("localhost/crash/pack").tags()
    for i in range(ITERATIONS["pack"]):
        assert str(i) in tags


def _cli(home: Path, command: str, cli_args: list[str]) -> list[str]:
    return [sys.executable, "-m", "ocikit", "--home", str(home), command, *cli_args]


def _big_kit(home: Path, name: str, seed: int) -> None:
    from fakes.kits import put_kit
    from ocikit._store._layout import LocalStore

    rng = random.Random(seed)
    put_kit(LocalStore.at_home(home), f"localhost/{name}", "1", name,
            [rng.randbytes(2 * 1024 * 1024), rng.randbytes(1024 * 1024)])


@pytest.mark.registry
def test_kill_during_pull(registry: object, tmp_path: Path) -> None:
    from ocikit._ops._transfer import push

    rng = random.Random(SEED + 2)
    home = tmp_path / "home"
    for i in range(ITERATIONS["pull"]):
        name = f"crash/pull{i}"
        _big_kit(tmp_path / "src", name, i)
        push(f"{name}:1", f"{registry.host}/{name}:1", home=tmp_path / "src",  # type: ignore[attr-defined]
             options=registry.options)  # type: ignore[attr-defined]
        ref = f"{registry.host}/{name}:1"  # type: ignore[attr-defined]
        cmd = _cli(home, "pull", [ref, "--plain-http"])
        kill_after(cmd, rng.uniform(0.2, 0.9), _env(home))
        assert_consistent(home)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=_env(home))
        assert done.returncode == 0, done.stderr
        assert_consistent(home)
        from ocikit._store._layout import LocalStore

        assert LocalStore.at_home(home).repository(f"{registry.host}/{name}").tags() == ["1"]  # type: ignore[attr-defined]


def test_kill_during_unpack(tmp_path: Path) -> None:
    try:
        import ocikit._ops._unpack  # noqa: F401
    except ImportError:  # pragma: no cover - until unpack lands
        return
    rng = random.Random(SEED + 3)
    from ocikit._ops._pack import pack

    home = tmp_path / "home"
    pack(_project(tmp_path / "project"), tag="crash/unpack:1", home=home)
    for i in range(ITERATIONS["unpack"]):
        target = tmp_path / f"out{i}"
        cmd = _cli(home, "unpack", ["crash/unpack:1", "-d", str(target)])
        kill_after(cmd, rng.uniform(0.2, 0.8), _env(home))
        assert_consistent(home)
        retry = [*cmd, "--overwrite"] if cmd[1] == "-m" else [
            sys.executable, "-c", cmd[2].replace("home=", "overwrite=True, home=")]
        done = subprocess.run(retry, capture_output=True, text=True, timeout=120, env=_env(home))
        assert done.returncode == 0, done.stderr
        assert_consistent(home)
        files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
        assert files, "unpack produced nothing"
