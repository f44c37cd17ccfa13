"""``verify-files``: an unpacked ModelKit checked against its SBOM, file by file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocikit._io._digest import CHUNK
from ocikit._trust._sbom_doc import MAX_SBOM_BYTES, SBOM_FILENAME, Expected, expected_files, parse_sbom
from ocikit.errors import FileVerificationError, NotFoundError, VerificationError

__all__ = ["VerifyFilesResult", "verify_files"]

#: Files in an unpacked directory that ocikit writes itself and the SBOM does not list.
_UNPACK_METADATA = frozenset({"Kitfile", SBOM_FILENAME})


@dataclass(frozen=True)
class VerifyFilesResult:
    """Every file the SBOM lists is present with its SHA-256, and nothing else is there."""

    directory: Path
    sbom: Path
    subject: str | None  # the ModelKit's purl from metadata.component
    files: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "sbom": str(self.sbom), "subject": self.subject,
                "files": self.files, "bytes": self.bytes, "ok": True}


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


_BAD_SBOM_HINT = "pass the CycloneDX SBOM of the ModelKit: 'ocikit sbom REF -o FILE', or the SBOM.json unpack wrote"


def verify_files(
    directory: str | os.PathLike[str], sbom_path: str | os.PathLike[str] | None = None
) -> VerifyFilesResult:
    """Check an unpacked ModelKit against its SBOM: same files, same SHA-256, nothing extra.

    ``sbom_path`` defaults to ``<directory>/SBOM.json``. The ``Kitfile`` and ``SBOM.json`` that
    ``ocikit unpack`` writes at the top of the directory are not counted as extra. Raises
    :class:`FileVerificationError` (exit 3) naming every extra, missing and modified file.
    """
    root = Path(directory)
    if not root.is_dir():
        raise NotFoundError(f"directory {root} does not exist", hint="pass the directory you unpacked into")
    sbom_file = Path(sbom_path) if sbom_path is not None else root / SBOM_FILENAME
    doc = _read_sbom(sbom_file)
    expected = expected_files(doc, sbom_file.name)
    if not expected:
        raise FileVerificationError(f"{sbom_file} lists no files to verify",
                                    hint="use an SBOM written by ocikit for this ModelKit")

    ignored = set(_UNPACK_METADATA)
    with contextlib.suppress(ValueError):  # the SBOM may live outside the directory
        ignored.add(sbom_file.resolve().relative_to(root.resolve()).as_posix())
    present = _present_files(root)
    found = _Comparison()
    for path in sorted(expected):
        found.check(root, path, expected[path], present.pop(path, None))
    extra = sorted(p for p in present if p not in ignored)
    if found.modified or found.missing or extra:
        found.fail(root, sbom_file, extra)
    meta = doc.get("metadata")
    subject = meta.get("component", {}).get("purl") if isinstance(meta, Mapping) else None
    return VerifyFilesResult(root, sbom_file, subject if isinstance(subject, str) else None, len(expected),
                             found.total)


def _read_sbom(sbom_file: Path) -> dict[str, Any]:
    try:
        if sbom_file.stat().st_size > MAX_SBOM_BYTES:
            raise FileVerificationError(f"{sbom_file} is larger than {MAX_SBOM_BYTES} bytes")
        data = sbom_file.read_bytes()
    except FileNotFoundError as e:
        raise NotFoundError(f"SBOM {sbom_file} does not exist",
                            hint="fetch it with 'ocikit sbom REF -o SBOM.json'") from e
    except OSError as e:
        raise FileVerificationError(f"cannot read SBOM {sbom_file}: {e.strerror or e}") from e
    try:
        return parse_sbom(data, str(sbom_file))
    except VerificationError as e:
        # The SBOM itself is unusable: saying "the files on disk differ" would be wrong.
        raise FileVerificationError(str(e), hint=_BAD_SBOM_HINT) from e


def _present_files(root: Path) -> dict[str, os.stat_result]:
    """Every file under ``root`` (and every symlink, to a directory too) by relative path, not followed."""
    present: dict[str, os.stat_result] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = Path(dirpath).relative_to(root)
        names = list(filenames) + [d for d in dirnames if Path(dirpath, d).is_symlink()]
        for name in names:
            rel = (rel_dir / name).as_posix()
            present[rel] = Path(dirpath, name).lstat()
    return present


@dataclass
class _Comparison:
    """What the files on disk look like against the SBOM, one listed file at a time."""

    missing: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)  # for the message
    details: list[dict[str, Any]] = field(default_factory=list)  # for ``verify-files --json``
    total: int = 0

    def check(self, root: Path, path: str, want: Expected, info: os.stat_result | None) -> None:
        if info is None:
            self.missing.append(path)
            return
        if not stat.S_ISREG(info.st_mode):
            self._differs(path, "not a regular file", want, None, None)
            return
        if want.size is not None and info.st_size != want.size:
            self._differs(path, f"{info.st_size} bytes, expected {want.size}", want, info.st_size, None)
            return
        got = _hash_file(root / path)
        if got != want.sha256:
            self._differs(path, f"sha256 {got[:12]}…, expected {want.sha256[:12]}…", want, info.st_size, got)
            return
        self.total += info.st_size

    def _differs(self, path: str, text: str, want: Expected, size: int | None, sha256: str | None) -> None:
        self.modified.append(f"{path} ({text})")
        self.details.append({"path": path, "size": size, "expectedSize": want.size,
                             "sha256": sha256, "expectedSha256": want.sha256})

    def fail(self, root: Path, sbom_file: Path, extra: list[str]) -> None:
        problems = ([f"modified {m}" for m in self.modified] + [f"missing {m}" for m in self.missing]
                    + [f"extra {e}" for e in extra])
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        counts = ", ".join(f"{n} {what}" for n, what in ((len(self.modified), "modified"),
                                                         (len(self.missing), "missing"), (len(extra), "extra")) if n)
        raise FileVerificationError(f"{root} does not match {sbom_file.name} ({counts}): {shown}",
                                    modified=self.details, missing=self.missing, extra=extra)
