"""The hash chain of a stage, read back: fetch and check events, walk from the head, check every link.

The events of a stage form a **hash chain**: each names the manifest digest of the previous one,
and the newest is reachable by the head tag ``stage.<name>``. A head tag that holds anything but
a stage event is refused. Walking the chain checks each link (same stage, sequence one less each
step, time not later, ``replaced`` = what the previous event installed), so a removed, altered or
reordered event is a HistoryError; :func:`check_referrers` also compares the chain with the
ModelKits' referrers, which catches a forged head.

Everything here only reads, and talks only to :class:`~ocikit._store._storage.Storage`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ocikit._io._digest import Digest
from ocikit._oci._model import Descriptor, Manifest
from ocikit._stages._event import (
    ANNOTATION_SEQUENCE,
    ANNOTATION_STAGE,
    EVENT_TYPE,
    StageEvent,
    head_tag,
)
from ocikit._store._referrers import list_referrers
from ocikit._store._storage import Storage, read_blob
from ocikit.errors import HistoryError, NotFoundError, UsageError, VerificationError

__all__ = [
    "broken_history",
    "check_referrers",
    "head_digest",
    "in_chain",
    "occupied",
    "read_event",
    "read_head",
    "walk",
]

_MAX_EVENT_BYTES = 1024 * 1024


def read_event(storage: Storage, digest: Digest, *, what: str | None = None) -> StageEvent:
    """Fetch, check and parse the event manifest ``digest``. Raises HistoryError/NotFoundError."""
    where = what or f"stage event {digest}"
    desc = storage.resolve(str(digest))
    manifest = _event_manifest(storage, desc, where)
    try:
        data = read_blob(storage, manifest.layers[0], limit=_MAX_EVENT_BYTES, what=f"{where} body")
    except (VerificationError, UsageError) as e:
        raise HistoryError(f"{where}: {e}") from e
    event = StageEvent.from_bytes(data, where=where, digest=desc.digest)
    assert manifest.subject is not None  # checked by _event_manifest
    if manifest.subject.digest != event.modelkit:
        raise HistoryError(f"{where}: its subject {manifest.subject.digest} is not the ModelKit it names "
                           f"({event.modelkit})")
    if manifest.annotations.get(ANNOTATION_STAGE) != event.stage:
        raise HistoryError(f"{where}: annotation {ANNOTATION_STAGE} does not match the event's stage")
    return event


def _event_manifest(storage: Storage, desc: Descriptor, where: str) -> Manifest:
    """The manifest ``desc``, if it has the shape of a stage event. Raises HistoryError."""
    try:
        manifest = Manifest.from_bytes(storage.fetch_manifest(desc), where)
    except HistoryError:
        raise
    except VerificationError as e:
        raise HistoryError(f"{where} is not a valid manifest ({e})") from e
    if manifest.artifact_type != EVENT_TYPE:
        raise HistoryError(f"{where} is a {manifest.artifact_type or manifest.config.media_type}, not a stage event")
    if len(manifest.layers) != 1 or manifest.layers[0].media_type != EVENT_TYPE:
        raise HistoryError(f"{where} must have exactly one layer of type {EVENT_TYPE}")
    if manifest.subject is None:
        raise HistoryError(f"{where} has no subject (the ModelKit it concerns)")
    return manifest


def head_digest(storage: Storage, stage: str) -> Digest | None:
    """What the head tag of ``stage`` points at (None: the stage has no history)."""
    try:
        return storage.resolve(head_tag(stage)).digest
    except NotFoundError:
        return None


def read_head(storage: Storage, stage: str) -> StageEvent | None:
    """The newest event of ``stage``, or None when it has no head tag."""
    digest = head_digest(storage, stage)
    if digest is None:
        return None
    event = read_event(storage, digest, what=f"{storage.name}:{head_tag(stage)}")
    if event.stage != stage:
        raise HistoryError(f"{storage.name}:{head_tag(stage)} holds an event of stage {event.stage!r}")
    return event


def occupied(storage: Storage, stage: str) -> Digest | None:
    """What the stage tag points at now (None: no such tag)."""
    try:
        return storage.resolve(stage).digest
    except NotFoundError:
        return None


def walk(storage: Storage, stage: str, head: StageEvent, *, stop_below: int = 0) -> list[StageEvent]:
    """Events from ``head`` back to sequence 1 (or until ``sequence <= stop_below``), newest first.

    Checks every link: same stage, sequence one less each step, time not later than the newer
    event, ``replaced`` = the ModelKit the previous event installed, first event has no previous.
    """
    chain = [head]
    current = head
    while current.previous is not None and current.sequence > stop_below + 1:
        label = f"event {current.sequence - 1} of stage {stage} ({current.previous})"
        try:
            prev = read_event(storage, current.previous, what=label)
        except NotFoundError as e:
            raise HistoryError(f"{label} is missing from {storage.name}: event {current.sequence} "
                               "names it as previous",
                               hint="the stage history had an event removed") from e
        _check_link(stage, prev, current)
        chain.append(prev)
        current = prev
    if stop_below == 0 and current.previous is None and current.sequence != 1:
        raise HistoryError(f"event {current.sequence} of stage {stage} has no previous event: "
                           f"events 1..{current.sequence - 1} are missing")
    return chain


def _check_link(stage: str, older: StageEvent, newer: StageEvent) -> None:
    what = f"stage {stage}: event {newer.sequence} ({newer.digest})"
    if older.stage != stage:
        raise HistoryError(f"{what} names an event of stage {older.stage!r} as previous")
    if older.sequence != newer.sequence - 1:
        raise HistoryError(f"{what} follows event {older.sequence}: events are missing or out of order")
    if older.time > newer.time:
        raise HistoryError(f"{what} is dated {newer.time}, before its previous event ({older.time}): out of order")
    if newer.replaced != older.modelkit:
        raise HistoryError(f"{what} says it replaced {newer.replaced}, but the previous event put "
                           f"{older.modelkit} in the stage: the chain was altered")


def broken_history(storage: Storage, stage: str) -> HistoryError | None:
    """What is wrong with the chain below the head of ``stage`` (an event deleted by a retention
    policy or by hand), or None when it walks cleanly or does not exist yet. A broken head itself
    (not a stage event) still raises."""
    head = read_head(storage, stage)
    if head is None:
        return None
    try:
        walk(storage, stage, head)
    except HistoryError as e:
        return e
    return None


def in_chain(storage: Storage, stage: str, digest: Digest, sequence: int) -> bool:
    """Whether the event ``digest`` is event ``sequence`` of the chain the head tag names now."""
    head = read_head(storage, stage)
    if head is None:
        return False
    for event in walk(storage, stage, head, stop_below=sequence - 1):
        if event.sequence == sequence:
            return event.digest == digest
    return False


def check_referrers(storage: Storage, stage: str, chain: Sequence[StageEvent]) -> None:
    """Every event of the chain is a referrer of its ModelKit, and every event of this stage among
    those referrers is in the chain (or is a recorded abandoned attempt)."""
    known = {e.digest for e in chain}
    abandoned = {d for e in chain for d in e.abandoned}
    for subject in dict.fromkeys(e.modelkit for e in chain):
        listed = list_referrers(storage, subject, EVENT_TYPE)
        listed_digests = {d.digest for d in listed}
        for event in chain:
            if event.modelkit == subject and event.digest not in listed_digests:
                raise HistoryError(
                    f"stage {stage}: event {event.sequence} ({event.digest}) is not among the referrers of "
                    f"its ModelKit {subject.short}: it was not written by ocikit promote (forged head?)"
                )
        for d in listed:
            if _stage_of(storage, d) == stage and d.digest not in known and d.digest not in abandoned:
                raise HistoryError(
                    f"stage {stage}: event {d.digest} (sequence "
                    f"{d.annotations.get(ANNOTATION_SEQUENCE, '?')}, a referrer of {subject.short}) is not in "
                    "the chain: an event was replaced or the chain rewritten"
                )


def _stage_of(storage: Storage, referrer: Descriptor) -> str | None:
    """The stage a referrer (descriptor from the referrers list) is an event of, if any."""
    stage_of = referrer.annotations.get(ANNOTATION_STAGE)
    if stage_of is None:  # an index written by a client that drops annotations
        try:
            stage_of = read_event(storage, referrer.digest).stage
        except (NotFoundError, HistoryError):
            return None
    return stage_of
