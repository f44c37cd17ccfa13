"""``sign-files`` / ``verify-files --signature``: an OMS signature of a directory, written and checked.

The tree is walked and hashed the way ``model_signing``'s ``files`` serialization does (regular files,
relative POSIX names, sha256, ``ignore_paths`` prefixes left out, symlinks not allowed), through
directory descriptors so the same code checks unpack's staging tree before it moves into place.
Verification is ocikit's own rather than ``model_signing.verifying.Config``: that raises one
``ValueError`` string, while ``verify-files`` must name every modified, missing and extra file
(``FileVerificationError``, exit 3) and unpack must check a tree it holds only by descriptor.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocikit._io._digest import CHUNK
from ocikit._io._files import write_atomic
from ocikit._trust._bundle import MAX_BUNDLE
from ocikit._trust._keys import load_private_key, load_public_key
from ocikit._trust._oms import GIT_IGNORE_PATHS, OmsStatement, oms_bundle, read_oms_bundle
from ocikit.errors import FileVerificationError, NotFoundError, OcikitError, VerificationError

__all__ = ["OmsFilesResult", "check_tree", "hash_tree", "sign_files", "verify_files_signature"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class OmsFilesResult:
    """A directory signed (``sign-files``) or checked against an OMS signature (``verify-files``)."""

    directory: Path
    signature: Path
    model_name: str
    files: int
    digest: str  # the statement subject's sha256

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "signature": str(self.signature), "format": "oms",
                "model": self.model_name, "files": self.files, "sha256": self.digest, "ok": True}


def _ignored(name: str, ignore: Iterable[str]) -> bool:
    return any(name == p.rstrip("/") or name.startswith(p.rstrip("/") + "/") for p in ignore)


def _hash_at(dir_fd: int, name: str) -> str:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), dir_fd=dir_fd)
    h = hashlib.sha256()
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def hash_tree(root_fd: int, ignore: Iterable[str] = ()) -> dict[str, str | None]:
    """Every entry under ``root_fd`` by relative name: sha256 hex for a regular file, None for anything
    else that is not a directory (symlink, FIFO, device: model_signing refuses those too)."""
    ignore = tuple(ignore)
    out: dict[str, str | None] = {}
    for dirpath, dirnames, filenames, dir_fd in os.fwalk(".", dir_fd=root_fd, follow_symlinks=False):
        rel = dirpath[2:] if dirpath.startswith("./") else ""
        kept = []
        for d in dirnames:
            name = f"{rel}/{d}" if rel else d
            if _ignored(name, ignore):
                continue
            if stat.S_ISLNK(os.lstat(d, dir_fd=dir_fd).st_mode):
                out[name] = None
            else:
                kept.append(d)
        dirnames[:] = kept
        for f in filenames:
            name = f"{rel}/{f}" if rel else f
            if _ignored(name, ignore):
                continue
            regular = stat.S_ISREG(os.lstat(f, dir_fd=dir_fd).st_mode)
            out[name] = _hash_at(dir_fd, f) if regular else None
    return out


def check_tree(root_fd: int, statement: OmsStatement, where: str, *, ignore: Iterable[str] = (),
               allow_missing: bool = False) -> None:
    """Raise :class:`FileVerificationError` naming every file under ``root_fd`` that differs from
    ``statement`` (modified, missing unless ``allow_missing``, extra)."""
    present = hash_tree(root_fd, (*statement.ignore_paths, *ignore))
    modified: list[dict[str, Any]] = []
    missing: list[str] = []
    for name, want in statement.files:
        if name not in present:
            missing.append(name)
            continue
        got = present.pop(name)
        if got != want:
            modified.append({"path": name, "size": None, "expectedSize": None, "sha256": got,
                             "expectedSha256": want})
    extra = sorted(present)
    if allow_missing:
        missing = []
    if not (modified or missing or extra):
        return
    problems = ([f"modified {m['path']}" + ("" if m["sha256"] else " (not a regular file)") for m in modified]
                + [f"missing {m}" for m in missing] + [f"extra {e}" for e in extra])
    shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
    raise FileVerificationError(f"the files do not match {where}: {shown}",
                                hint="the files differ from what the OMS signature records",
                                modified=modified, missing=missing, extra=extra)


def _open_dir(directory: Path) -> int:
    try:
        return os.open(directory, _DIR_FLAGS)
    except FileNotFoundError as e:
        raise NotFoundError(f"directory {directory} does not exist", hint="pass the model directory") from e
    except OSError as e:
        raise OcikitError(f"cannot open {directory}: {e.strerror or e}") from e


def _inside(path: Path, root: Path) -> str | None:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def sign_files(directory: str | os.PathLike[str], key: str | os.PathLike[str], *,
               output: str | os.PathLike[str] | None = None, password: str | bytes | None = None) -> OmsFilesResult:
    """Write the OMS signature of ``directory`` (default ``DIR/model.sig``, as ``model_signing sign``);
    git metadata and the signature itself are left out and recorded as ``ignore_paths``."""
    root = Path(directory)
    private = load_private_key(key, password)
    sig_path = Path(output) if output is not None else root / "model.sig"
    ignore = list(GIT_IGNORE_PATHS)
    own = _inside(sig_path, root)
    if own is not None:
        ignore.insert(0, own)
    fd = _open_dir(root)
    try:
        digests = hash_tree(fd, ignore)
    finally:
        os.close(fd)
    odd = sorted(n for n, d in digests.items() if d is None)
    if odd:
        raise OcikitError(f"{root} holds entries that are not regular files: {', '.join(odd[:5])}",
                          hint="OMS signs regular files only (model_signing refuses symlinks too)")
    statement = OmsStatement.of(root.resolve().name, ((n, d) for n, d in digests.items() if d), ignore)
    try:
        write_atomic(sig_path, oms_bundle(statement, private))
    except OSError as e:
        raise OcikitError(f"cannot write {sig_path}: {e.strerror or e}", hint="choose a writable path for -o") from e
    return OmsFilesResult(root, sig_path, statement.model_name, len(statement.files), statement.root_digest)


def read_signature_file(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BUNDLE + 1)
    except FileNotFoundError as e:
        raise NotFoundError(f"signature {path} does not exist", hint="pass the model.sig to check") from e
    except OSError as e:
        raise VerificationError(f"cannot read signature {path}: {e.strerror or e}") from e
    if len(data) > MAX_BUNDLE:
        raise VerificationError(f"signature {path} is larger than {MAX_BUNDLE} bytes")
    return data


def verify_files_signature(directory: str | os.PathLike[str], signature: str | os.PathLike[str],
                           key: str | os.PathLike[str]) -> OmsFilesResult:
    """Check ``directory`` against the OMS signature file ``signature`` (e.g. ``model_signing sign
    key`` output) with public key ``key``; every difference raises, named."""
    root = Path(directory)
    sig_path = Path(signature)
    public = load_public_key(key)
    statement = read_oms_bundle(read_signature_file(sig_path), public, f"OMS signature {sig_path.name}")
    own = _inside(sig_path, root)
    fd = _open_dir(root)
    try:
        check_tree(fd, statement, sig_path.name, ignore=(own,) if own else ())
    finally:
        os.close(fd)
    return OmsFilesResult(root, sig_path, statement.model_name, len(statement.files), statement.root_digest)


def statement_from_hashes(model_name: str, files: Mapping[str, str], ignore: Iterable[str]) -> OmsStatement:
    """The statement of files whose sha256 is already known (a ModelKit's SBOM): nothing is re-read."""
    return OmsStatement.of(model_name, files.items(), ignore)
