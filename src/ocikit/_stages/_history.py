"""Reading stages on an open storage: :func:`list_stages` (what each stage holds) and
:func:`history_in` (a stage's events, checked; with ``verify`` also against the tags, the
ModelKits' referrers and, given a key, the events' signatures).

The reference-level ``ocikit.stages`` / ``ocikit.history`` are in ``ocikit._ops._stages``.
"""

from __future__ import annotations

import os
from dataclasses import replace

from ocikit._stages._chain import check_referrers, occupied, read_head, walk
from ocikit._stages._event import (
    HEAD_PREFIX,
    StageEvent,
    StageStatus,
    check_stage_name,
    event_reference,
    head_tag,
    is_stage_name,
)
from ocikit._store._storage import Storage
from ocikit.errors import HistoryError, NotFoundError, SignatureError

__all__ = ["history_in", "list_stages"]


def list_stages(storage: Storage) -> list[StageStatus]:
    """Every stage of the repository (found by its head tag), sorted by name."""
    out = []
    for t in sorted(storage.tags()):
        if not t.startswith(HEAD_PREFIX):
            continue
        stage = t[len(HEAD_PREFIX):]
        if not is_stage_name(stage):
            continue
        head = read_head(storage, stage)
        if head is None or head.digest is None:  # pragma: no cover - listed a moment ago
            continue
        holder = occupied(storage, stage)
        out.append(StageStatus(stage, holder, head.version if holder == head.modelkit else None,
                               head.time, head.actor, head.action, head.reason, head.sequence,
                               head.digest, holder == head.modelkit))
    return out


def history_in(
    storage: Storage,
    stage: str,
    *,
    verify: bool = False,
    key: str | os.PathLike[str] | None = None,
) -> list[StageEvent]:
    """:func:`ocikit.history` on an open storage."""
    check_stage_name(stage)
    head = read_head(storage, stage)
    if head is None:
        raise NotFoundError(f"stage {stage} of {storage.name} has no history (no tag {head_tag(stage)})",
                            hint="list the stages with 'ocikit stages'")
    chain = walk(storage, stage, head)
    if not verify:
        return chain
    holder = occupied(storage, stage)
    if holder != head.modelkit:
        shown = holder.short if holder else "nothing"
        raise HistoryError(f"tag {stage} points to {shown}, but the newest event ({head.sequence}) put "
                           f"{head.modelkit.short} there: the tag was moved outside ocikit")
    check_referrers(storage, stage, chain)
    if key is None:
        return chain
    return _signatures_checked(storage, stage, chain, key)


def _signatures_checked(storage: Storage, stage: str, chain: list[StageEvent],
                        key: str | os.PathLike[str]) -> list[StageEvent]:
    """``chain`` with ``signature_verified`` set; SignatureError naming the first event that fails."""
    from ocikit._trust._signing import verify_descriptor

    checked = []
    for event in chain:
        assert event.digest is not None
        desc = storage.resolve(str(event.digest))
        try:
            verify_descriptor(storage, event_reference(storage, event.digest), desc, key)
        except SignatureError as e:
            raise SignatureError(f"stage {stage}: event {event.sequence}: {e}", hint=e.hint) from e
        checked.append(replace(event, signature_verified=True))
    return checked
