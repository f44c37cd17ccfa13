"""The transitions of a stage on an open storage: :func:`promote_in` and :func:`rollback_in`.

Each checks its inputs, refuses a stage that is not one (:func:`_check_declared`) and a candidate
whose gates fail, then records one event (:func:`ocikit._stages._write.append`). What a caller
passes besides the storage and the stage is one value: :class:`Promotion` or :class:`Rollback`.
The reference-level ``ocikit.promote`` / ``ocikit.rollback`` (``ocikit._ops._stages``) open the
storage and build that value.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from ocikit._io._digest import Digest
from ocikit._stages._candidate import (
    Candidate,
    evaluate_gates,
    load_candidate,
    refuse_if_failed,
    resolve_policy,
    signature_gates,
)
from ocikit._stages._chain import broken_history, head_digest, occupied, read_head, walk
from ocikit._stages._event import (
    Clock,
    StageEvent,
    check_stage_name,
    check_text,
    default_actor,
    display,
    timestamp,
)
from ocikit._stages._gates import Expression, GateResult, Policy, parse_all
from ocikit._stages._write import Build, append
from ocikit._store._storage import Storage
from ocikit.errors import GateError, HistoryError, NotFoundError, UsageError

__all__ = ["Change", "Promotion", "Rollback", "check_rollback_to", "promote_in", "rollback_in"]

log = logging.getLogger(__name__)

_MAX_REASON = 4096
_MAX_ACTOR = 256


@dataclass(frozen=True, kw_only=True)
class Change:
    """What every transition takes besides the storage and the stage.

    ``reason`` and ``actor`` are recorded (actor default: :func:`default_actor`); ``policy`` is a
    :class:`Policy` or the path of a policy file; ``key``/``password`` sign the event; ``clock``
    dates it (default: ``SOURCE_DATE_EPOCH``, else now); ``settle`` is the lost-write check's wait
    (None: ``_write.SETTLE_SECONDS``).
    """

    reason: str
    actor: str | None = None
    policy: Policy | str | os.PathLike[str] | None = None
    key: str | os.PathLike[str] | None = None
    password: str | bytes | None = field(default=None, repr=False)
    clock: Clock | None = None
    settle: float | None = None


@dataclass(frozen=True, kw_only=True)
class Promotion(Change):
    """A promotion: gates (``require`` expressions, parsed or not), the tag the candidate was named
    by (a version-looking tag is its version when the config has none), ``new_stage`` to create a
    stage, ``allow_broken_history`` to extend a broken chain (recorded in the reason)."""

    require: Sequence[str | Expression] = ()
    tag: str | None = None
    new_stage: bool = False
    allow_broken_history: bool = False


@dataclass(frozen=True, kw_only=True)
class Rollback(Change):
    """A rollback: ``to`` a digest (or unique hex prefix) that held the stage; None = the previous occupant."""

    to: Digest | str | None = None


def _why_and_who(change: Change) -> tuple[str, str]:
    reason = check_text(change.reason, "reason", _MAX_REASON)
    who = check_text(change.actor, "actor", _MAX_ACTOR) if change.actor is not None else default_actor()
    return reason, who


def _transition(storage: Storage, stage: str, action: str, cand: Candidate, gates: tuple[GateResult, ...],
                reason: str, who: str, when: str) -> Build:
    """How the event is built on top of whatever head the writer finds (again, after a lost race)."""

    def build(head: StageEvent | None, abandoned: tuple[Digest, ...]) -> StageEvent:
        return StageEvent(
            stage=stage,
            sequence=head.sequence + 1 if head else 1,
            action=action,
            modelkit=cand.desc.digest,
            version=cand.version,
            replaced=head.modelkit if head else occupied(storage, stage),
            reason=reason,
            actor=who,
            time=max(when, head.time) if head else when,
            gates=gates,
            previous=head.digest if head else None,
            abandoned=abandoned,
        )

    return build


# --------------------------------------------------------------------------------- promote


def promote_in(storage: Storage, identifier: str, stage: str, promotion: Promotion) -> StageEvent:
    """:func:`ocikit.promote` on an open storage (``identifier`` = tag or digest in it)."""
    check_stage_name(stage)
    reason, who = _why_and_who(promotion)
    expressions = tuple(e if isinstance(e, Expression) else parse_all([e])[0] for e in promotion.require)
    rules_source = resolve_policy(promotion.policy)
    rules = rules_source.for_stage(stage) if rules_source else None
    _check_declared(storage, stage, rules_source, promotion.new_stage)
    cand = load_candidate(storage, identifier, tag=promotion.tag)
    results = evaluate_gates(storage, cand, expressions, rules)
    refuse_if_failed(stage, cand, results)
    reason = _reason_over_history(storage, stage, reason, promotion.allow_broken_history)
    build = _transition(storage, stage, "promote", cand, results, reason, who, timestamp(promotion.clock))
    return append(storage, stage, cand.desc, build, key=promotion.key, password=promotion.password,
                  settle=promotion.settle)


def _check_declared(storage: Storage, stage: str, policy: Policy | None, new_stage: bool) -> None:
    """Refuse to move or create a tag that is not a stage, unless ``new_stage``.

    A stage is declared when it already has a stage chain (its head tag exists) or, for a tag that
    does not exist yet, when the policy file names it. An existing tag without a stage chain
    (``latest``, ``v2``, a tag set by hand) is never moved without ``new_stage``.
    """
    if new_stage or head_digest(storage, stage) is not None:
        return
    existing = occupied(storage, stage)
    if existing is not None:
        raise UsageError(
            f"tag {stage!r} of {display(storage)} exists ({existing.short}) but is not a stage: it has no "
            "stage history; refusing to move it",
            hint=f"pass --new-stage to make {stage!r} a stage (the ModelKit it holds is recorded as replaced), "
                 f"or pick a stage from 'ocikit stages {display(storage)}'",
        )
    if policy is not None and stage in policy.stages:
        return
    where = f" and is not named in the policy {policy.source}" if policy is not None else ""
    raise UsageError(
        f"{stage!r} is not a stage of {display(storage)}: it has no stage history{where}",
        hint=f"pass --new-stage to create the stage {stage!r}, or declare it under 'stages:' in a --policy "
             f"file; the existing stages are listed by 'ocikit stages {display(storage)}'",
    )


def _reason_over_history(storage: Storage, stage: str, reason: str, allow_broken: bool) -> str:
    """Refuse to extend a broken chain (an event deleted by a retention policy or by hand):
    a new event on top would make the gap look like history. With ``allow_broken`` the
    promotion goes ahead and its reason records what was broken. Returns the reason to store."""
    broken = broken_history(storage, stage)
    if broken is None:
        return reason
    if not allow_broken:
        raise HistoryError(f"the history of stage {stage} in {display(storage)} is broken: {broken}",
                           hint="see 'ocikit history --verify'; to promote anyway and record why, pass "
                                "--allow-broken-history (the reason then names the gap)") from broken
    log.warning("promoting %s of %s over a broken history: %s", stage, storage.name, broken)
    return check_text(f"{reason} [promoted over a broken history: {broken}]", "reason", _MAX_REASON)


# -------------------------------------------------------------------------------- rollback


def rollback_in(storage: Storage, stage: str, rollback: Rollback) -> StageEvent:
    """:func:`ocikit.rollback` on an open storage."""
    check_stage_name(stage)
    reason, who = _why_and_who(rollback)
    head = read_head(storage, stage)
    if head is None:
        raise NotFoundError(f"stage {stage} of {storage.name} has no history to roll back",
                            hint=f"list the stages with 'ocikit stages {display(storage)}'")
    chain = walk(storage, stage, head)
    target = _pick_target(storage, stage, chain, occupied(storage, stage) or head.modelkit, rollback.to)
    cand = _returning(storage, target, chain)
    rules_source = resolve_policy(rollback.policy)
    rules = rules_source.for_stage(stage) if rules_source else None
    # A rollback returns to a version that already passed this stage's gates; only the signature
    # rule is enforced again (a key may have been revoked since).
    results = tuple(signature_gates(storage, cand, rules))
    refuse_if_failed(stage, cand, results)
    build = _transition(storage, stage, "rollback", cand, results, reason, who, timestamp(rollback.clock))
    return append(storage, stage, cand.desc, build, key=rollback.key, password=rollback.password,
                  settle=rollback.settle)


def _pick_target(storage: Storage, stage: str, chain: Sequence[StageEvent], current: Digest,
                 to: Digest | str | None) -> Digest:
    """The digest to put back: ``to`` (which must have held the stage and not hold it now), or
    the previous occupant by :func:`_rollback_target`."""
    if to is None:
        found = _rollback_target(chain, current)
        if found is None:
            raise NotFoundError(f"stage {stage} of {storage.name} has no earlier version to roll back to")
        return found
    held = {e.modelkit for e in chain} | {e.replaced for e in chain if e.replaced}
    target = to if isinstance(to, Digest) else _match_digest(storage, stage, str(to), held)
    if target not in held:
        raise GateError(f"{target.short} never held stage {stage} in {storage.name}; refusing to roll back to it",
                        hint="pick a digest from 'ocikit history --stage " + stage + "'")
    if target == current:
        raise GateError(f"{target.short} already holds stage {stage}; nothing to roll back")
    return target


def _returning(storage: Storage, target: Digest, chain: Sequence[StageEvent]) -> Candidate:
    """The ModelKit ``target`` as a candidate; its version, when its config has none, is the one
    the chain recorded for it."""
    try:
        cand = load_candidate(storage, str(target), tag=None)
    except NotFoundError as e:
        raise NotFoundError(f"{storage.name}@{target} (the version to roll back to) is gone from the repository",
                            hint="push it again, or roll back --to another digest") from e
    if cand.version is None:
        cand = replace(cand, version=next((e.version for e in chain if e.modelkit == target), None))
    return cand


def _rollback_target(chain: Sequence[StageEvent], current: Digest) -> Digest | None:
    """The newest earlier occupant that was not itself rolled back from (so repeated rollbacks
    walk further back instead of flip-flopping between two versions)."""
    rejected = {current}
    for event in chain:  # newest first
        if event.action == "rollback" and event.replaced is not None:
            rejected.add(event.replaced)
        if event.modelkit not in rejected:
            return event.modelkit
    oldest = chain[-1] if chain else None
    if oldest is not None and oldest.replaced is not None and oldest.replaced not in rejected:
        return oldest.replaced
    return None


_HEX_PREFIX = re.compile(r"^(?:sha256:)?([0-9a-f]{7,64})\Z")
_MIN_PREFIX = 7


def _not_a_digest(text: str) -> UsageError:
    return UsageError(f"--to {text!r} is not a digest",
                      hint=f"use sha256:<hex> (at least {_MIN_PREFIX} hex digits) from 'ocikit history'")


def check_rollback_to(to: Digest | str | None) -> None:
    """UsageError unless ``to`` is None, a digest or a hex prefix of one (checked before any request)."""
    if to is not None and not isinstance(to, Digest) and not (Digest.is_valid(str(to))
                                                               or _HEX_PREFIX.match(str(to))):
        raise _not_a_digest(str(to))


def _match_digest(storage: Storage, stage: str, text: str, held: Iterable[Digest]) -> Digest:
    """The one digest of ``held`` that ``text`` (a full digest or a hex prefix of at least 7
    digits, with or without ``sha256:``) names. UsageError if ambiguous, NotFoundError if none."""
    if Digest.is_valid(text):
        return Digest.parse(text)
    m = _HEX_PREFIX.match(text)
    if m is None:
        raise _not_a_digest(text)
    prefix = m.group(1)
    found = sorted({d for d in held if d.algorithm == "sha256" and d.hex.startswith(prefix)})
    if len(found) == 1:
        return found[0]
    pick = f"'ocikit history {display(storage)} --stage {stage}'"
    if not found:
        raise NotFoundError(f"no digest starting with {prefix} ever held stage {stage} in {display(storage)}",
                            hint=f"pick a digest from {pick}")
    raise UsageError(f"--to {text!r} is ambiguous in the history of stage {stage}: it matches "
                     + ", ".join(str(d) for d in found),
                     hint="give more hex digits")
