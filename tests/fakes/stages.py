"""The stage tests' setup: small ModelKits with a Kitfile-shaped config, a ticking clock, promote and
rollback on an open storage with test defaults, event artifacts built by hand, and a storage that
forces concurrent writers into the worst interleaving.

Used by ``tests/unit/test_stages.py``, ``tests/integration/test_stages_registry.py`` and
``tests/cli/test_stages_cli.py``.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pytest

from ocikit._oci._model import EMPTY_CONFIG, EMPTY_JSON, KITOPS_CONFIG, MANIFEST, Descriptor, Manifest
from ocikit._stages._event import ANNOTATION_STAGE, EVENT_TYPE, StageEvent, head_tag
from ocikit._stages._promote import Promotion, Rollback, promote_in, rollback_in
from ocikit._store._storage import MemoryStorage, Storage

MODEL_LAYER = "application/vnd.kitops.modelkit.model.v1.tar"
#: the three versions the registry and CLI tests promote: (version, f1)
KITS = (("1.3.0", 0.91), ("1.4.0", 0.93), ("1.5.0", 0.85))


def make_modelkit(storage: Storage, version: str, f1: float, *, tag: str | None = None) -> Descriptor:
    """A minimal ModelKit: Kitfile-shaped config (package.version, model.parameters.metrics.f1), one
    layer, tagged ``tag`` (default: the version)."""
    config = json.dumps({
        "manifestVersion": "1.0.0",
        "package": {"name": "sentiment", "version": version},
        "model": {"name": "clf", "path": "model.bin", "parameters": {"metrics": {"f1": f1}}},
    }).encode()
    layer = f"weights of {version}".encode()
    config_desc = Descriptor.for_bytes(KITOPS_CONFIG, config)
    layer_desc = Descriptor.for_bytes(MODEL_LAYER, layer)
    storage.push_blob(config_desc, io.BytesIO(config))
    storage.push_blob(layer_desc, io.BytesIO(layer))
    manifest = Manifest(config_desc, (layer_desc,))
    return storage.push_manifest(manifest.to_bytes(), MANIFEST, tag=tag or version)


def make_modelkits(storage: Storage, kits: Iterable[tuple[str, float]] = KITS) -> dict[str, Descriptor]:
    """:func:`make_modelkit` for each (version, f1): version → manifest descriptor."""
    return {version: make_modelkit(storage, version, f1) for version, f1 in kits}


def ticking_clock(start: int = 1_700_000_000) -> Callable[[], dt.datetime]:
    """A clock one minute later on each call, from ``start`` (seconds since the epoch)."""
    counter = itertools.count()
    return lambda: dt.datetime.fromtimestamp(start + 60 * next(counter), dt.timezone.utc)


def promote(storage: Storage, ident: str, stage: str, **kw: Any) -> StageEvent:
    """``promote_in`` with the fields of :class:`Promotion` as keywords; by default the reason
    ``to <stage>``, the actor ``alice`` and no settle wait."""
    kw.setdefault("reason", f"to {stage}")
    kw.setdefault("actor", "alice")
    kw.setdefault("settle", 0.0)
    return promote_in(storage, ident, stage, Promotion(**kw))


def rollback(storage: Storage, stage: str, **kw: Any) -> StageEvent:
    """``rollback_in`` with the fields of :class:`Rollback` as keywords; no settle wait by default."""
    kw.setdefault("settle", 0.0)
    return rollback_in(storage, stage, Rollback(**kw))


def run_at_once(versions: Sequence[str], action: Callable[[str], object]) -> list[BaseException]:
    """Run ``action(version)`` for every version, each in its own thread, all released together.

    Returns what the threads raised (the caller asserts it is empty), so a failure in one thread is
    reported by the test rather than lost in the thread.
    """
    start = threading.Barrier(len(versions))
    errors: list[BaseException] = []

    def run(version: str) -> None:
        try:
            start.wait()
            action(version)
        except BaseException as e:  # handed to the caller's assertion
            errors.append(e)

    threads = [threading.Thread(target=run, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def without_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Promotions through the public API skip the lost-write settle wait (single writer tests)."""
    monkeypatch.setattr("ocikit._stages._write.SETTLE_SECONDS", 0.0)


def event_manifest(storage: Storage, body: bytes, subject: Descriptor, stage: str) -> Manifest:
    """An event artifact around ``body`` as a writer other than ocikit would make it (blobs pushed,
    manifest not): push it by hand, as a referrer or not, to forge or corrupt a history."""
    layer = Descriptor.for_bytes(EVENT_TYPE, body)
    empty = Descriptor.for_bytes(EMPTY_CONFIG, EMPTY_JSON)
    storage.push_blob(layer, io.BytesIO(body))
    storage.push_blob(empty, io.BytesIO(EMPTY_JSON))
    return Manifest(empty, (layer,), {ANNOTATION_STAGE: stage}, EVENT_TYPE, subject)


class LockstepStorage(MemoryStorage):
    """Forces concurrent writers of ``stage`` into the worst interleaving, every round.

    Each writer still running must reach its head-tag write (so each has read the head and
    checked it is unchanged) before any of them writes; and none reads the head back before all
    have written. So every writer of a round passes the pre-tag check with the same head and
    all but the last one's writes are lost: only the read-back can tell. One writer wins each
    round (the last to tag); the round after waits for one writer fewer.

    ``writers`` is how many threads will promote ``stage``. A writer that never reaches the tag
    breaks the barrier after ``timeout`` seconds (BrokenBarrierError) instead of hanging the test.
    """

    def __init__(self, name: str, *, stage: str, writers: int, timeout: float = 30.0) -> None:
        super().__init__(name)
        self._head = head_tag(stage)
        self._timeout = timeout
        self._running = writers
        self._round = self._new_round()
        self.rounds = 0

    def _new_round(self) -> tuple[threading.Barrier, threading.Barrier]:
        """(all have checked the head, all have written it) for the writers still running."""
        checked = threading.Barrier(self._running, timeout=self._timeout)
        written = threading.Barrier(self._running, action=self._next_round, timeout=self._timeout)
        return checked, written

    def _next_round(self) -> None:
        """Runs once per round, in one thread, when every writer has written the head tag."""
        self.rounds += 1
        self._running -= 1  # the last writer's event stays: it wins this round
        if self._running:
            self._round = self._new_round()

    def tag(self, desc: Descriptor, tag: str) -> None:
        if tag != self._head:
            super().tag(desc, tag)
            return
        checked, written = self._round
        checked.wait()
        super().tag(desc, tag)
        # Only now may anyone read back. The action has by then set up the next round, so a
        # loser's retry waits for the other losers.
        written.wait()
