"""Open upload sessions, remembered across runs so an interrupted push resumes where it stopped.

A chunked upload is a session URL on the registry (``Location`` of ``POST .../blobs/uploads/``);
``GET <Location>`` answers ``204`` with ``Range: 0-<last byte>`` while it lives (distribution
spec, "Pushing a blob in chunks": https://github.com/opencontainers/distribution-spec/blob/main/spec.md).
A push that dies (a crash, a lost connection, ``kill -9``) leaves its session here, in
``<home>/upload-sessions.json``; the next push of the same blob to the same repository asks the
registry where it stands and sends only the rest. Ctrl-C cancels the session instead
(``_registry``), and a finished or refused upload forgets it. Sessions whose registry says
nothing useful are simply started anew: this file is a hint, never trusted for content (the
digest is checked by the registry at the final ``PUT``).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from ocikit._io._digest import Digest
from ocikit._io._files import write_atomic

__all__ = ["UploadSessions"]

log = logging.getLogger(__name__)

_FILE = "upload-sessions.json"
_MAX_ENTRIES = 256
_MAX_BYTES = 1024 * 1024


class UploadSessions:
    """``(host, repository, digest) → session URL``, kept in one small JSON file under ``home``."""

    def __init__(self, home: Path) -> None:
        self.path = home / _FILE
        self._lock = threading.Lock()

    @staticmethod
    def _key(host: str, repository: str, digest: Digest) -> str:
        return f"{host}/{repository}@{digest}"

    def _read(self) -> dict[str, str]:
        try:
            if self.path.stat().st_size > _MAX_BYTES:
                return {}
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} \
            if isinstance(data, dict) else {}

    def _write(self, data: dict[str, str]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # the URLs may carry a registry's upload state tokens: readable by the owner only
            write_atomic(self.path, json.dumps(data, sort_keys=True).encode(), mode=0o600)
        except OSError as e:  # a hint: never fail a push for it
            log.debug("cannot record upload sessions in %s: %s", self.path, e)

    def get(self, host: str, repository: str, digest: Digest) -> str | None:
        with self._lock:
            return self._read().get(self._key(host, repository, digest))

    def put(self, host: str, repository: str, digest: Digest, location: str) -> None:
        with self._lock:
            data = self._read()
            key = self._key(host, repository, digest)
            data.pop(key, None)
            data[key] = location
            while len(data) > _MAX_ENTRIES:
                data.pop(next(iter(data)))
            self._write(data)

    def forget(self, host: str, repository: str, digest: Digest) -> None:
        with self._lock:
            data = self._read()
            if data.pop(self._key(host, repository, digest), None) is not None:
                self._write(data)
