"""``_files.write_atomic``: whole or nothing, exact mode, never an accidental overwrite."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ocikit._io._files import write_atomic


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_writes_bytes_with_the_exact_mode_whatever_the_umask(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "f"
    old = os.umask(0o077)
    try:
        write_atomic(target, b"data", mode=mode)
    finally:
        os.umask(old)
    assert target.read_bytes() == b"data"
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert _leftovers(tmp_path) == []


def test_overwrite_replaces_and_no_overwrite_refuses(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        write_atomic(target, b"new", overwrite=False)
    assert target.read_bytes() == b"old"
    write_atomic(target, b"new", overwrite=True)
    assert target.read_bytes() == b"new"
    assert _leftovers(tmp_path) == []


def test_without_hard_links_falls_back_to_exclusive_create(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(src: object, dst: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "f"
    write_atomic(target, b"data", mode=0o600, overwrite=False)
    assert target.read_bytes() == b"data"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_atomic(target, b"other", overwrite=False)
    assert target.read_bytes() == b"data"
    assert _leftovers(tmp_path) == []


def test_a_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        write_atomic(tmp_path / "f", b"data")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("overwrite", [True, False])
def test_the_directory_is_fsynced_after_the_new_name_appears(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              overwrite: bool) -> None:
    """Keys and credentials are as durable as index.json: the rename/link is fsynced too."""
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        synced.append(f"{kind}:{int((tmp_path / 'k').exists())}")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    write_atomic(tmp_path / "k", b"secret", mode=0o600, overwrite=overwrite)
    assert synced == ["file:0", "dir:1"]
