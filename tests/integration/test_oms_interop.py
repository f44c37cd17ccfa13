"""OpenSSF Model Signing interop with the real ``model_signing`` CLI, both directions.

``model_signing sign key`` → ``ocikit verify-files --signature`` accepts; ``ocikit sign-files`` →
``model_signing verify key`` accepts; a modified, missing or extra file → ocikit exit 3 naming it,
and model_signing refuses the same tree (cross-check).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Cli, fail_or_skip  # type: ignore[import-not-found]
from ocikit._trust._keys import generate_private_key, private_key_pem, public_key_pem
from ocikit._trust._oms_verify import sign_files, verify_files_signature
from ocikit.errors import FileVerificationError, SignatureError

pytestmark = pytest.mark.interop


def model_signing() -> list[str]:
    """The real CLI: next to this interpreter (``make test``'s venv), else on PATH, else fail_or_skip."""
    beside = Path(sys.executable).parent / "model_signing"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("model_signing")
    if found is None:
        fail_or_skip("model_signing is not installed (pip install -e '.[dev]')")
    return [found]


def run_ms(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*model_signing(), *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    key = generate_private_key()
    priv, pub = tmp_path / "k.key", tmp_path / "k.pub"
    priv.write_bytes(private_key_pem(key, None))
    pub.write_bytes(public_key_pem(key.public_key()))
    return priv, pub


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "sentiment"
    (root / "weights").mkdir(parents=True)
    (root / "weights" / "model.safetensors").write_bytes(os.urandom(300_000))
    (root / "config.json").write_text('{"layers": 2}\n')
    (root / "README.md").write_text("a model\n")
    (root / ".gitignore").write_text("*.pyc\n")  # ignored by both sides by default
    return root


def test_model_signing_sign_is_accepted_by_ocikit(model: Path, keys: tuple[Path, Path], tmp_path: Path,
                                                  cli: Cli) -> None:
    priv, pub = keys
    sig = tmp_path / "model.sig"
    done = run_ms("sign", "key", str(model), "--private_key", str(priv), "--signature", str(sig))
    assert done.returncode == 0, done.stderr
    result = verify_files_signature(model, sig, pub)
    assert result.files == 3 and result.model_name == "sentiment"
    out = cli("verify-files", str(model), "--signature", str(sig), "--key", str(pub), "--json")
    assert json.loads(out.stdout)["files"] == 3


def test_model_signing_signature_inside_the_directory(model: Path, keys: tuple[Path, Path]) -> None:
    priv, pub = keys
    sig = model / "model.sig"
    done = run_ms("sign", "key", str(model), "--private_key", str(priv), "--signature", str(sig))
    assert done.returncode == 0, done.stderr
    assert verify_files_signature(model, sig, pub).files == 3


def test_ocikit_sign_files_is_accepted_by_model_signing(model: Path, keys: tuple[Path, Path], cli: Cli,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    priv, pub = keys
    monkeypatch.setenv("OCIKIT_PASSWORD", "")
    cli("sign-files", str(model), "--key", str(priv))
    sig = model / "model.sig"
    done = run_ms("verify", "key", str(model), "--signature", str(sig), "--public_key", str(pub))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Verification succeeded" in done.stdout


def test_ocikit_sign_files_with_the_signature_outside(model: Path, keys: tuple[Path, Path], tmp_path: Path) -> None:
    priv, pub = keys
    sig = tmp_path / "out.sig"
    sign_files(model, priv, output=sig)
    done = run_ms("verify", "key", str(model), "--signature", str(sig), "--public_key", str(pub))
    assert done.returncode == 0, done.stdout + done.stderr
    verify_files_signature(model, sig, pub)


@pytest.mark.parametrize("change", ["modified", "missing", "extra"])
def test_a_changed_tree_is_refused_by_both(model: Path, keys: tuple[Path, Path], tmp_path: Path,
                                           change: str, cli: Cli) -> None:
    priv, pub = keys
    sig = tmp_path / "model.sig"
    assert run_ms("sign", "key", str(model), "--private_key", str(priv), "--signature", str(sig)).returncode == 0
    name = {"modified": "config.json", "missing": "weights/model.safetensors", "extra": "weights/extra.bin"}[change]
    if change == "modified":
        (model / name).write_text('{"layers": 3}\n')
    elif change == "missing":
        (model / name).unlink()
    else:
        (model / name).write_bytes(b"x")
    out = cli("verify-files", str(model), "--signature", str(sig), "--key", str(pub), "--json", ok=False)
    assert out.exit_code == 3, out.output
    assert f"{change} {name}" in out.stderr.splitlines()[0]
    report = json.loads(out.stdout)
    listed = {"modified": [m["path"] for m in report["modified"]], "missing": report["missing"],
              "extra": report["extra"]}
    assert listed[change] == [name]
    with pytest.raises(FileVerificationError, match=f"{change} {name}"):
        verify_files_signature(model, sig, pub)
    cross = run_ms("verify", "key", str(model), "--signature", str(sig), "--public_key", str(pub))
    assert cross.returncode != 0 and name in cross.stdout + cross.stderr


def test_another_key_is_refused(model: Path, keys: tuple[Path, Path], tmp_path: Path) -> None:
    priv, _ = keys
    sig = tmp_path / "model.sig"
    assert run_ms("sign", "key", str(model), "--private_key", str(priv), "--signature", str(sig)).returncode == 0
    other = tmp_path / "other.pub"
    other.write_bytes(public_key_pem(generate_private_key().public_key()))
    with pytest.raises(SignatureError):
        verify_files_signature(model, sig, other)
