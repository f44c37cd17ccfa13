"""Writing a transition: push the event as a referrer of its ModelKit, move the head tag, then the stage tag.

Registries offer no compare-and-swap on tags (distribution ignores ``If-Match``,
``docs/compatibility.md`` §6.8), so a writer re-checks the head just before tagging, reads it back after,
waits a short settle time and checks its event is still in the chain; if a concurrent writer won,
it writes its event again on top of the new head and lists the lost attempt under ``abandoned``.
Nothing is silently lost.
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace

from ocikit._io._digest import Digest
from ocikit._oci._model import ANNOTATION_CREATED, EMPTY_CONFIG, EMPTY_JSON, Descriptor, Manifest
from ocikit._stages._chain import head_digest, in_chain, read_head
from ocikit._stages._event import (
    ANNOTATION_ACTION,
    ANNOTATION_SEQUENCE,
    ANNOTATION_STAGE,
    EVENT_TYPE,
    StageEvent,
    event_reference,
    head_tag,
)
from ocikit._store._referrers import push_referrer
from ocikit._store._storage import Storage
from ocikit.errors import HistoryError, RegistryError

__all__ = ["SETTLE_SECONDS", "Build", "append", "push_event"]

log = logging.getLogger(__name__)

_RETRIES = 8
#: After moving the head tag, wait this long and check our event is still in the chain: a writer
#: that read the old head just before we tagged has tagged by then (its check→tag gap is one
#: request), and we see it. Seconds.
SETTLE_SECONDS = 0.25

#: (the head now or None, the attempts lost so far) → the event to write on top of it
Build = Callable[[StageEvent | None, tuple[Digest, ...]], StageEvent]


def push_event(storage: Storage, event: StageEvent, subject: Descriptor) -> Descriptor:
    """Push ``event`` as an artifact whose subject is ``subject`` (so it is a referrer of it)."""
    body = event.to_bytes()
    layer = Descriptor.for_bytes(EVENT_TYPE, body)
    config = Descriptor.for_bytes(EMPTY_CONFIG, EMPTY_JSON)
    for desc, data in ((config, EMPTY_JSON), (layer, body)):
        if not storage.has_blob(desc):
            storage.push_blob(desc, io.BytesIO(data))
    manifest = Manifest(
        config=Descriptor(EMPTY_CONFIG, config.digest, config.size),
        layers=(layer,),
        annotations={
            ANNOTATION_STAGE: event.stage,
            ANNOTATION_SEQUENCE: str(event.sequence),
            ANNOTATION_ACTION: event.action,
            ANNOTATION_CREATED: event.time,
        },
        artifact_type=EVENT_TYPE,
        subject=subject,
    )
    return push_referrer(storage, manifest)


def _move_stage_tag(storage: Storage, stage: str) -> None:
    """Point the stage tag at what the newest event installed; re-check so a slower concurrent
    writer cannot leave the tag on an older event's ModelKit."""
    for _ in range(_RETRIES):
        before = head_digest(storage, stage)
        head = read_head(storage, stage)
        if head is None:  # pragma: no cover - we just wrote one
            raise HistoryError(f"{storage.name}:{head_tag(stage)} disappeared while promoting")
        storage.tag(storage.resolve(str(head.modelkit)), stage)
        if head_digest(storage, stage) == before:
            return
    raise RegistryError(f"could not settle {storage.name}:{stage}: the stage keeps changing",
                        hint="another process is promoting the same stage; run 'ocikit stages' and retry")


def _took_head(storage: Storage, stage: str, head: StageEvent | None, pushed: Descriptor, sequence: int,
               settle: float) -> bool:
    """Move the head tag from ``head`` to the event ``pushed`` (number ``sequence``); whether it is
    still ours after the settle time. False when another writer moved the head before or after us."""
    expected = head.digest if head else None
    if head_digest(storage, stage) != expected:
        return False
    storage.tag(pushed, head_tag(stage))
    if head_digest(storage, stage) != pushed.digest:
        return False
    if settle:
        time.sleep(settle)
    return in_chain(storage, stage, pushed.digest, sequence)


def append(
    storage: Storage,
    stage: str,
    subject: Descriptor,
    build: Build,
    *,
    key: str | os.PathLike[str] | None,
    password: str | bytes | None,
    settle: float | None,
) -> StageEvent:
    """Write one event on top of the stage's head, move the head tag, then the stage tag.

    Optimistic concurrency (see module docstring): a lost race is retried on top of the new head,
    and the lost attempt is recorded in ``abandoned`` so ``history --verify`` can tell it apart
    from a removed event. ``settle`` None means :data:`SETTLE_SECONDS` (read at call time).
    """
    wait = SETTLE_SECONDS if settle is None else settle
    abandoned: list[Digest] = []
    for attempt in range(_RETRIES):
        head = read_head(storage, stage)
        event = build(head, tuple(abandoned))
        desc = push_event(storage, event, subject)
        event = replace(event, digest=desc.digest)
        if key is not None:
            from ocikit._trust._signing import sign_descriptor

            sign_descriptor(storage, event_reference(storage, desc.digest), desc, key, password=password)
        if _took_head(storage, stage, head, desc, event.sequence, wait):
            _move_stage_tag(storage, stage)
            log.info("stage %s of %s: event %d %s", stage, storage.name, event.sequence, desc.digest)
            return event
        log.info("stage %s of %s moved under us; writing event again (%d)", stage, storage.name, attempt + 1)
        abandoned.append(desc.digest)
        time.sleep(0.02 * (attempt + 1))
    raise RegistryError(
        f"could not record the {stage} transition in {storage.name} after {_RETRIES} attempts: "
        "other writers keep moving the stage",
        hint="retry later; 'ocikit history --verify' lists the abandoned attempts",
    )
