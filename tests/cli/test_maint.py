"""`ocikit fsck` and `ocikit gc`: exit codes, messages, --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from fakes.kits import put_kit
from ocikit._store._layout import LocalStore


def _aged_store(home: Path) -> tuple[LocalStore, object]:
    store = LocalStore.at_home(home)
    kit = put_kit(store, "localhost/acme/a", "1", "a", [b"one", b"two"])
    past = time.time() - 3600
    for p in (store.root / "blobs" / "sha256").iterdir():
        os.utime(p, (past, past))
    return store, kit


def test_fsck_clean_store_exits_zero(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    _aged_store(home)
    result = cli("fsck")
    assert "store is consistent" in result.stdout
    data = json.loads(cli("fsck", "--json").stdout)
    assert data["ok"] is True and data["blobs"] == 4 and data["problems"] == []


def test_fsck_inconsistent_exits_3_and_repair_fixes(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    store, kit = _aged_store(home)
    store.blob_path(kit.manifest.digest).unlink()  # type: ignore[attr-defined]
    result = cli("fsck", ok=False)
    assert result.exit_code == 3
    assert "dangling-entry" in result.stdout and "localhost/acme/a:1" in result.stdout
    assert "fsck --repair" in result.stderr
    data = json.loads(cli("fsck", "--json", ok=False).stdout)
    assert data["ok"] is False and data["problems"][0]["kind"] == "dangling-entry"
    result = cli("fsck", "--repair")
    assert "repaired: dangling-entry" in result.stdout
    assert cli("fsck").exit_code == 0


def test_gc_dry_run_then_gc(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    store, kit = _aged_store(home)
    store.repository("localhost/acme/a").delete_manifest(kit.manifest.digest)  # type: ignore[attr-defined]
    dry = json.loads(cli("gc", "--dry-run", "--json").stdout)
    assert dry["dryRun"] is True and len(dry["removed"]) == 4
    assert store.has_blob(kit.manifest.digest)  # type: ignore[attr-defined]
    result = cli("gc")
    assert "removed 4 blob(s)" in result.stdout
    assert not any((store.root / "blobs" / "sha256").iterdir())


def test_gc_corrupt_index_is_a_clear_error(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    store, _ = _aged_store(home)
    (store.root / "index.json").write_text("{")
    proc = subprocess.run([sys.executable, "-m", "ocikit", "--home", str(home), "gc"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: the local store index")
    assert "Traceback" not in proc.stderr


def test_fsck_repair_of_a_missing_layer_says_to_pull_or_pack_again(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    store, kit = _aged_store(home)
    store.blob_path(kit.layers[0].digest).unlink()  # type: ignore[attr-defined]
    result = cli("fsck", "--repair", ok=False)
    assert result.exit_code == 3 and "missing-blob" in result.stdout
    assert "pull the ModelKit again ('ocikit pull REF') or pack it again" in result.stderr
