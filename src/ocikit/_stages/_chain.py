"""Stages: tags that name the version in each stage, with gated promotion and a hash-chained history.

The model (``docs/stages.md`` has the long form):

* A **stage** is a tag: ``reg/acme/sentiment:production``. Promoting moves it to the ModelKit's
  digest, so any OCI client can deploy ``…:production`` and a stage holds one version at a time.
* Every transition writes a **stage event**: a small JSON document (``schemas/stage-event.schema.json``)
  stored as the single layer of an OCI artifact (``artifactType`` :data:`EVENT_TYPE`, empty config)
  whose ``subject`` is the ModelKit, so the ModelKit's referrers show its stage history.
* The events of a stage form a **hash chain**: each names the manifest digest of the previous one.
  The newest is reachable by the **head tag** ``stage.<name>`` (:func:`head_tag`). Stage names
  are ``[a-z][a-z0-9-]*`` (no dots), so ``stage.production`` cannot be a stage itself and does not
  look like a version; a head tag that holds anything but a stage event is refused.
* Writing order: push the event (as a referrer) → move the head tag → move the stage tag. Registries
  offer no compare-and-swap on tags (distribution ignores ``If-Match``, ``signing-sbom.md`` §2.3), so
  a writer re-checks the head just before tagging, reads it back after, waits a short settle time
  and checks its event is still in the chain; if a concurrent writer won, it writes its event again
  on top of the new head and lists the lost attempt under ``abandoned``. Nothing is silently lost.

Everything here talks only to :class:`~ocikit._store._storage.Storage`; the public functions open storages
through ``ocikit._ops._repos``.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import logging
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ocikit._config import RegistryOptions, source_date_epoch
from ocikit._io._digest import Digest
from ocikit._oci._model import (
    ANNOTATION_CREATED,
    EMPTY_CONFIG,
    EMPTY_JSON,
    KITOPS_CONFIG,
    MANIFEST,
    MODELPACK_CONFIG,
    Descriptor,
    Manifest,
    go_json,
)
from ocikit._oci._reference import Reference
from ocikit._stages._gates import (
    Expression,
    GateResult,
    Policy,
    StagePolicy,
    evaluate,
    load_policy,
    parse_all,
)
from ocikit._store._referrers import list_referrers, push_referrer
from ocikit._store._storage import Storage, read_blob
from ocikit.errors import (
    GateError,
    HistoryError,
    NotAModelKitError,
    NotFoundError,
    RegistryError,
    SignatureError,
    UsageError,
    VerificationError,
)

__all__ = [
    "EVENT_TYPE",
    "StageEvent",
    "StageStatus",
    "head_tag",
    "history",
    "promote",
    "rollback",
    "stages",
]

log = logging.getLogger(__name__)

#: artifactType of an event manifest, and media type of its single layer (the event JSON).
EVENT_TYPE = "application/vnd.ocikit.stage.event.v1+json"
SCHEMA = "stage-event.schema.json"
ANNOTATION_STAGE = "dev.ocikit.stage"
ANNOTATION_SEQUENCE = "dev.ocikit.stage.sequence"
ANNOTATION_ACTION = "dev.ocikit.stage.action"
HEAD_PREFIX = "stage."

_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_MAX_EVENT_BYTES = 1024 * 1024
_RETRIES = 8
#: After moving the head tag, wait this long and check our event is still in the chain: a writer
#: that read the old head just before we tagged has tagged by then (its check→tag gap is one
#: request), and we see it. Seconds.
SETTLE_SECONDS = 0.25

Clock = Callable[[], _dt.datetime]


# ------------------------------------------------------------------------------------- values


def check_stage_name(name: str, where: str = "stage") -> None:
    """Stage names are tags without dots: ``[a-z][a-z0-9-]{0,62}``, not ``sha256-…``."""
    if not _STAGE.match(name) or name.startswith("sha256"):
        raise UsageError(
            f"invalid stage name {name!r} in {where}",
            hint="use lowercase letters, digits and '-', starting with a letter (e.g. staging, production)",
        )


def head_tag(stage: str) -> str:
    """The tag of the newest event of ``stage``: ``stage.<name>``."""
    check_stage_name(stage)
    return HEAD_PREFIX + stage


@dataclass(frozen=True)
class StageEvent:
    """One transition of a stage. ``digest`` is the event manifest's digest (None before pushing)."""

    stage: str
    sequence: int
    action: str
    modelkit: Digest
    version: str | None
    replaced: Digest | None
    reason: str
    actor: str
    time: str
    gates: tuple[GateResult, ...] = ()
    previous: Digest | None = None
    abandoned: tuple[Digest, ...] = ()
    digest: Digest | None = None
    #: set by ``history(verify=True, key=...)`` when the event's signature was checked
    signature_verified: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The wire form (schema order). ``digest`` is not part of it: it is the hash of it."""
        return {
            "schemaVersion": 1,
            "stage": self.stage,
            "sequence": self.sequence,
            "action": self.action,
            "modelkit": {"digest": str(self.modelkit), "version": self.version},
            "replaced": str(self.replaced) if self.replaced else None,
            "reason": self.reason,
            "actor": self.actor,
            "time": self.time,
            "gates": [g.to_dict() for g in self.gates],
            "previous": str(self.previous) if self.previous else None,
            "abandoned": [str(d) for d in self.abandoned],
        }

    def to_bytes(self) -> bytes:
        return go_json(self.to_dict())

    def to_json(self) -> dict[str, Any]:
        """For ``--json`` output: the wire form plus the event's own digest."""
        out = self.to_dict()
        out["digest"] = str(self.digest) if self.digest else None
        out["signatureVerified"] = self.signature_verified
        return out

    @classmethod
    def from_bytes(cls, data: bytes, *, where: str, digest: Digest | None = None) -> StageEvent:
        """Parse and validate against ``stage-event.schema.json``. Raises HistoryError."""
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise HistoryError(f"{where} is not valid JSON ({e})") from e
        from ocikit._schemas import validator

        errors = sorted(validator(SCHEMA).iter_errors(obj), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            field_path = "/".join(str(p) for p in first.absolute_path) or "(top level)"
            raise HistoryError(f"{where} does not match the stage event schema at {field_path}: {first.message}")
        kit = obj["modelkit"]
        return cls(
            stage=obj["stage"],
            sequence=obj["sequence"],
            action=obj["action"],
            modelkit=Digest.parse(kit["digest"]),
            version=kit["version"],
            replaced=Digest.parse(obj["replaced"]) if obj["replaced"] else None,
            reason=obj["reason"],
            actor=obj["actor"],
            time=obj["time"],
            gates=tuple(GateResult.from_dict(g) for g in obj["gates"]),
            previous=Digest.parse(obj["previous"]) if obj["previous"] else None,
            abandoned=tuple(Digest.parse(d) for d in obj["abandoned"]),
            digest=digest,
        )


@dataclass(frozen=True)
class StageStatus:
    """What a stage holds now, from its stage tag and its newest event."""

    stage: str
    digest: Digest | None
    version: str | None
    since: str
    actor: str
    action: str
    reason: str
    sequence: int
    event: Digest
    #: False when the stage tag no longer points where the newest event put it
    in_sync: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "digest": str(self.digest) if self.digest else None,
            "version": self.version,
            "since": self.since,
            "actor": self.actor,
            "action": self.action,
            "reason": self.reason,
            "sequence": self.sequence,
            "event": str(self.event),
            "inSync": self.in_sync,
        }


@dataclass(frozen=True)
class _Candidate:
    desc: Descriptor
    config: Any
    version: str | None


# ------------------------------------------------------------------------------ reading events


def _reference_for(storage: Storage, digest: Digest) -> Reference:
    return Reference.parse(f"{storage.name}@{digest}")


def read_event(storage: Storage, digest: Digest, *, what: str | None = None) -> StageEvent:
    """Fetch, check and parse the event manifest ``digest``. Raises HistoryError/NotFoundError."""
    where = what or f"stage event {digest}"
    desc = storage.resolve(str(digest))
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
    try:
        data = read_blob(storage, manifest.layers[0], limit=_MAX_EVENT_BYTES, what=f"{where} body")
    except (VerificationError, UsageError) as e:
        raise HistoryError(f"{where}: {e}") from e
    event = StageEvent.from_bytes(data, where=where, digest=desc.digest)
    if manifest.subject.digest != event.modelkit:
        raise HistoryError(f"{where}: its subject {manifest.subject.digest} is not the ModelKit it names "
                           f"({event.modelkit})")
    if manifest.annotations.get(ANNOTATION_STAGE) != event.stage:
        raise HistoryError(f"{where}: annotation {ANNOTATION_STAGE} does not match the event's stage")
    return event


def _head_digest(storage: Storage, stage: str) -> Digest | None:
    try:
        return storage.resolve(head_tag(stage)).digest
    except NotFoundError:
        return None


def _read_head(storage: Storage, stage: str) -> StageEvent | None:
    digest = _head_digest(storage, stage)
    if digest is None:
        return None
    event = read_event(storage, digest, what=f"{storage.name}:{head_tag(stage)}")
    if event.stage != stage:
        raise HistoryError(f"{storage.name}:{head_tag(stage)} holds an event of stage {event.stage!r}")
    return event


def _walk(storage: Storage, stage: str, head: StageEvent, *, stop_below: int = 0) -> list[StageEvent]:
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


# -------------------------------------------------------------------------------- candidates


def _load_candidate(storage: Storage, identifier: str, *, tag: str | None) -> _Candidate:
    desc = storage.resolve(identifier)
    if desc.media_type != MANIFEST:
        raise NotAModelKitError(f"{storage.name}@{desc.digest} is a {desc.media_type}, not a ModelKit manifest")
    manifest = Manifest.from_bytes(storage.fetch_manifest(desc), f"manifest {desc.digest}")
    if manifest.config.media_type not in (KITOPS_CONFIG, MODELPACK_CONFIG):
        raise NotAModelKitError(
            f"{storage.name}@{desc.digest} has config type {manifest.config.media_type}, not a ModelKit config"
        )
    data = read_blob(storage, manifest.config, what=f"config of {desc.digest}")
    try:
        config = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise NotAModelKitError(f"config of {storage.name}@{desc.digest} is not valid JSON") from e
    version = None
    package = config.get("package") if isinstance(config, dict) else None
    if isinstance(package, dict) and isinstance(package.get("version"), str) and package["version"]:
        version = package["version"][:256]
    elif tag and not (tag.startswith(HEAD_PREFIX) or _STAGE.match(tag)):
        version = tag  # a version-looking tag such as 1.4.0
    subject = Descriptor(desc.media_type, desc.digest, desc.size)
    return _Candidate(subject, config, version)


def _occupied(storage: Storage, stage: str) -> Digest | None:
    try:
        return storage.resolve(stage).digest
    except NotFoundError:
        return None


def _held(storage: Storage, stage: str, digest: Digest) -> str | None:
    """How ``digest`` holds or held ``stage`` (for ``from`` rules), or None."""
    if _occupied(storage, stage) == digest:
        return f"holds {stage}"
    head = _read_head(storage, stage)
    if head is None:
        return None
    for event in _walk(storage, stage, head):
        if event.modelkit == digest:
            return f"held {stage} (event {event.sequence})"
    return None


def _key_name(path: Path | str) -> str:
    return Path(path).name  # never record a machine's absolute path in an event


def _signature_gates(storage: Storage, cand: _Candidate, rules: StagePolicy | None) -> list[GateResult]:
    out = []
    for key in rules.signed_by if rules else ():
        gate = f"signed_by {_key_name(key)}"
        from ocikit._trust._signing import verify_descriptor

        try:
            verify_descriptor(storage, _reference_for(storage, cand.desc.digest), cand.desc, key)
        except SignatureError as e:
            out.append(GateResult(gate, "policy", False, None, str(e)))
        else:
            out.append(GateResult(gate, "policy", True, None, f"signed by {_key_name(key)}"))
    return out


def _evaluate_gates(
    storage: Storage,
    stage: str,
    cand: _Candidate,
    require: Sequence[Expression],
    rules: StagePolicy | None,
) -> tuple[GateResult, ...]:
    results = [evaluate(e, cand.config, source="require") for e in require]
    if rules is not None:
        results += [evaluate(e, cand.config, source="policy") for e in rules.require]
        if rules.from_stages:
            gate = "from " + "|".join(rules.from_stages)
            how = next((h for s in rules.from_stages if (h := _held(storage, s, cand.desc.digest))), None)
            detail = how or f"{cand.desc.digest.short} never held {' or '.join(rules.from_stages)}"
            results.append(GateResult(gate, "policy", how is not None, None, detail))
        results += _signature_gates(storage, cand, rules)
    return tuple(results)


def _refuse_if_failed(stage: str, cand: _Candidate, results: Iterable[GateResult]) -> None:
    failed = [r for r in results if not r.passed]
    if not failed:
        return
    parts = [f"gate '{r.gate}' failed: {r.detail}" for r in failed]
    raise GateError(f"{cand.desc.digest.short} may not enter {stage}: " + "; ".join(parts))


# ---------------------------------------------------------------------------------- writing


def _default_clock() -> _dt.datetime:
    return source_date_epoch() or _dt.datetime.now(_dt.timezone.utc)


def _timestamp(clock: Clock | None) -> str:
    now = (clock or _default_clock)()
    if now.tzinfo is None:
        now = now.replace(tzinfo=_dt.timezone.utc)
    return now.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_actor() -> str:
    """``git config user.name``, else ``$USER``/``$LOGNAME``, else ``unknown``."""
    try:
        out = subprocess.run(["git", "config", "user.name"], capture_output=True, text=True, timeout=5,
                             check=False)
        name = out.stdout.strip()
        if out.returncode == 0 and name:
            return name[:256]
    except (OSError, subprocess.SubprocessError):
        pass
    return (os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown")[:256]


def _check_text(value: str, what: str, limit: int) -> str:
    if not value.strip():
        raise UsageError(f"{what} must not be empty", hint=f"pass --{what} with a few words")
    if len(value) > limit:
        raise UsageError(f"{what} is longer than {limit} characters")
    return value.strip()


def _push_event(storage: Storage, event: StageEvent, subject: Descriptor) -> Descriptor:
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


def _in_chain(storage: Storage, stage: str, digest: Digest, sequence: int) -> bool:
    head = _read_head(storage, stage)
    if head is None:
        return False
    for event in _walk(storage, stage, head, stop_below=sequence - 1):
        if event.sequence == sequence:
            return event.digest == digest
    return False


def _move_stage_tag(storage: Storage, stage: str) -> None:
    """Point the stage tag at what the newest event installed; re-check so a slower concurrent
    writer cannot leave the tag on an older event's ModelKit."""
    for _ in range(_RETRIES):
        head_digest = _head_digest(storage, stage)
        head = _read_head(storage, stage)
        if head is None:  # pragma: no cover - we just wrote one
            raise HistoryError(f"{storage.name}:{head_tag(stage)} disappeared while promoting")
        storage.tag(storage.resolve(str(head.modelkit)), stage)
        if _head_digest(storage, stage) == head_digest:
            return
    raise RegistryError(f"could not settle {storage.name}:{stage}: the stage keeps changing",
                        hint="another process is promoting the same stage; run 'ocikit stages' and retry")


def _append(
    storage: Storage,
    stage: str,
    subject: Descriptor,
    build: Callable[[StageEvent | None, tuple[Digest, ...]], StageEvent],
    *,
    key: str | os.PathLike[str] | None,
    password: str | bytes | None,
    settle: float,
) -> StageEvent:
    """Write one event on top of the stage's head, move the head tag, then the stage tag.

    Optimistic concurrency (see module docstring): a lost race is retried on top of the new head,
    and the lost attempt is recorded in ``abandoned`` so ``history --verify`` can tell it apart
    from a removed event.
    """
    abandoned: list[Digest] = []
    for attempt in range(_RETRIES):
        head = _read_head(storage, stage)
        event = build(head, tuple(abandoned))
        desc = _push_event(storage, event, subject)
        event = replace(event, digest=desc.digest)
        if key is not None:
            from ocikit._trust._signing import sign_descriptor

            sign_descriptor(storage, _reference_for(storage, desc.digest), desc, key, password=password)
        expected = head.digest if head else None
        if _head_digest(storage, stage) == expected:
            storage.tag(desc, head_tag(stage))
            if _head_digest(storage, stage) == desc.digest:
                if settle:
                    time.sleep(settle)
                if _in_chain(storage, stage, desc.digest, event.sequence):
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


def _display(storage: Storage) -> str:
    """The repository as a user types it (the local store's ``localhost/`` left off)."""
    return storage.name.removeprefix("localhost/")


def _check_declared(storage: Storage, stage: str, policy: Policy | None, new_stage: bool) -> None:
    """Refuse to move or create a tag that is not a stage, unless ``new_stage``.

    A stage is declared when it already has a stage chain (its head tag exists) or, for a tag that
    does not exist yet, when the policy file names it. An existing tag without a stage chain
    (``latest``, ``v2``, a tag set by hand) is never moved without ``new_stage``.
    """
    if new_stage or _head_digest(storage, stage) is not None:
        return
    existing = _occupied(storage, stage)
    if existing is not None:
        raise UsageError(
            f"tag {stage!r} of {_display(storage)} exists ({existing.short}) but is not a stage: it has no "
            "stage history; refusing to move it",
            hint=f"pass --new-stage to make {stage!r} a stage (the ModelKit it holds is recorded as replaced), "
                 f"or pick a stage from 'ocikit stages {_display(storage)}'",
        )
    if policy is not None and stage in policy.stages:
        return
    where = f" and is not named in the policy {policy.source}" if policy is not None else ""
    raise UsageError(
        f"{stage!r} is not a stage of {_display(storage)}: it has no stage history{where}",
        hint=f"pass --new-stage to create the stage {stage!r}, or declare it under 'stages:' in a --policy "
             f"file; the existing stages are listed by 'ocikit stages {_display(storage)}'",
    )


def _resolve_policy(policy: Policy | str | os.PathLike[str] | None) -> Policy | None:
    if policy is None or isinstance(policy, Policy):
        return policy
    return load_policy(policy, stage_name_check=check_stage_name)


def promote_in(
    storage: Storage,
    identifier: str,
    stage: str,
    *,
    reason: str,
    actor: str | None = None,
    require: Sequence[str | Expression] = (),
    policy: Policy | str | os.PathLike[str] | None = None,
    key: str | os.PathLike[str] | None = None,
    password: str | bytes | None = None,
    clock: Clock | None = None,
    settle: float = SETTLE_SECONDS,
    tag: str | None = None,
    new_stage: bool = False,
    allow_broken_history: bool = False,
) -> StageEvent:
    """:func:`promote` on an open storage (``identifier`` = tag or digest in it)."""
    check_stage_name(stage)
    reason = _check_text(reason, "reason", 4096)
    who = _check_text(actor, "actor", 256) if actor is not None else default_actor()
    expressions = tuple(e if isinstance(e, Expression) else parse_all([e])[0] for e in require)
    rules_source = _resolve_policy(policy)
    rules = rules_source.for_stage(stage) if rules_source else None
    _check_declared(storage, stage, rules_source, new_stage)
    cand = _load_candidate(storage, identifier, tag=tag)
    results = _evaluate_gates(storage, stage, cand, expressions, rules)
    _refuse_if_failed(stage, cand, results)
    reason = _check_history(storage, stage, reason, allow_broken_history)
    when = _timestamp(clock)

    def build(head: StageEvent | None, abandoned: tuple[Digest, ...]) -> StageEvent:
        return StageEvent(
            stage=stage,
            sequence=head.sequence + 1 if head else 1,
            action="promote",
            modelkit=cand.desc.digest,
            version=cand.version,
            replaced=head.modelkit if head else _occupied(storage, stage),
            reason=reason,
            actor=who,
            time=max(when, head.time) if head else when,
            gates=results,
            previous=head.digest if head else None,
            abandoned=abandoned,
        )

    return _append(storage, stage, cand.desc, build, key=key, password=password, settle=settle)


def _check_history(storage: Storage, stage: str, reason: str, allow_broken: bool) -> str:
    """Refuse to extend a broken chain (an event deleted by a retention policy or by hand):
    a new event on top would make the gap look like history. With ``allow_broken`` the
    promotion goes ahead and its reason records what was broken. Returns the reason to store."""
    head = _read_head(storage, stage)
    if head is None:
        return reason
    try:
        _walk(storage, stage, head)
    except HistoryError as e:
        if not allow_broken:
            raise HistoryError(f"the history of stage {stage} in {_display(storage)} is broken: {e}",
                               hint="see 'ocikit history --verify'; to promote anyway and record why, pass "
                                    "--allow-broken-history (the reason then names the gap)") from e
        log.warning("promoting %s of %s over a broken history: %s", stage, storage.name, e)
        return _check_text(f"{reason} [promoted over a broken history: {e}]", "reason", 4096)
    return reason


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


def _is_digest_or_prefix(text: str) -> bool:
    return Digest.is_valid(text) or bool(_HEX_PREFIX.match(text))


def _match_digest(storage: Storage, stage: str, text: str, held: Iterable[Digest]) -> Digest:
    """The one digest of ``held`` that ``text`` (a full digest or a hex prefix of at least 7
    digits, with or without ``sha256:``) names. UsageError if ambiguous, NotFoundError if none."""
    if Digest.is_valid(text):
        return Digest.parse(text)
    m = _HEX_PREFIX.match(text)
    if m is None:
        raise UsageError(f"--to {text!r} is not a digest",
                         hint=f"use sha256:<hex> (at least {_MIN_PREFIX} hex digits) from 'ocikit history'")
    prefix = m.group(1)
    found = sorted({d for d in held if d.algorithm == "sha256" and d.hex.startswith(prefix)})
    if len(found) == 1:
        return found[0]
    pick = f"'ocikit history {_display(storage)} --stage {stage}'"
    if not found:
        raise NotFoundError(f"no digest starting with {prefix} ever held stage {stage} in {_display(storage)}",
                            hint=f"pick a digest from {pick}")
    raise UsageError(f"--to {text!r} is ambiguous in the history of stage {stage}: it matches "
                     + ", ".join(str(d) for d in found),
                     hint="give more hex digits")


def rollback_in(
    storage: Storage,
    stage: str,
    *,
    to: Digest | str | None = None,
    reason: str,
    actor: str | None = None,
    policy: Policy | str | os.PathLike[str] | None = None,
    key: str | os.PathLike[str] | None = None,
    password: str | bytes | None = None,
    clock: Clock | None = None,
    settle: float = SETTLE_SECONDS,
) -> StageEvent:
    """:func:`rollback` on an open storage."""
    check_stage_name(stage)
    reason = _check_text(reason, "reason", 4096)
    who = _check_text(actor, "actor", 256) if actor is not None else default_actor()
    head = _read_head(storage, stage)
    if head is None:
        raise NotFoundError(f"stage {stage} of {storage.name} has no history to roll back",
                            hint=f"list the stages with 'ocikit stages {_display(storage)}'")
    chain = _walk(storage, stage, head)
    current = _occupied(storage, stage) or head.modelkit
    if to is not None:
        held = {e.modelkit for e in chain} | {e.replaced for e in chain if e.replaced}
        target = to if isinstance(to, Digest) else _match_digest(storage, stage, str(to), held)
        if target not in held:
            raise GateError(f"{target.short} never held stage {stage} in {storage.name}; refusing to roll back to it",
                            hint="pick a digest from 'ocikit history --stage " + stage + "'")
        if target == current:
            raise GateError(f"{target.short} already holds stage {stage}; nothing to roll back")
    else:
        found = _rollback_target(chain, current)
        if found is None:
            raise NotFoundError(f"stage {stage} of {storage.name} has no earlier version to roll back to")
        target = found
    try:
        cand = _load_candidate(storage, str(target), tag=None)
    except NotFoundError as e:
        raise NotFoundError(f"{storage.name}@{target} (the version to roll back to) is gone from the repository",
                            hint="push it again, or roll back --to another digest") from e
    if cand.version is None:
        cand = replace(cand, version=next((e.version for e in chain if e.modelkit == target), None))
    rules_source = _resolve_policy(policy)
    rules = rules_source.for_stage(stage) if rules_source else None
    # A rollback returns to a version that already passed this stage's gates; only the signature
    # rule is enforced again (a key may have been revoked since).
    results = tuple(_signature_gates(storage, cand, rules))
    _refuse_if_failed(stage, cand, results)
    when = _timestamp(clock)

    def build(head_now: StageEvent | None, abandoned: tuple[Digest, ...]) -> StageEvent:
        assert head_now is not None  # a head never disappears
        return StageEvent(
            stage=stage,
            sequence=head_now.sequence + 1,
            action="rollback",
            modelkit=target,
            version=cand.version,
            replaced=head_now.modelkit,
            reason=reason,
            actor=who,
            time=max(when, head_now.time),
            gates=results,
            previous=head_now.digest,
            abandoned=abandoned,
        )

    return _append(storage, stage, cand.desc, build, key=key, password=password, settle=settle)


def list_stages(storage: Storage) -> list[StageStatus]:
    """Every stage of the repository (found by its head tag), sorted by name."""
    out = []
    for t in sorted(storage.tags()):
        if not t.startswith(HEAD_PREFIX):
            continue
        stage = t[len(HEAD_PREFIX):]
        if not _STAGE.match(stage):
            continue
        head = _read_head(storage, stage)
        if head is None or head.digest is None:  # pragma: no cover - listed a moment ago
            continue
        occupant = _occupied(storage, stage)
        out.append(StageStatus(stage, occupant, head.version if occupant == head.modelkit else None,
                               head.time, head.actor, head.action, head.reason, head.sequence,
                               head.digest, occupant == head.modelkit))
    return out


def _check_referrers(storage: Storage, stage: str, chain: Sequence[StageEvent]) -> None:
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
            stage_of = d.annotations.get(ANNOTATION_STAGE)
            if stage_of is None:  # an index written by a client that drops annotations
                try:
                    stage_of = read_event(storage, d.digest).stage
                except (NotFoundError, HistoryError):
                    continue
            if stage_of == stage and d.digest not in known and d.digest not in abandoned:
                raise HistoryError(
                    f"stage {stage}: event {d.digest} (sequence "
                    f"{d.annotations.get(ANNOTATION_SEQUENCE, '?')}, a referrer of {subject.short}) is not in "
                    "the chain: an event was replaced or the chain rewritten"
                )


def history_in(
    storage: Storage,
    stage: str,
    *,
    verify: bool = False,
    key: str | os.PathLike[str] | None = None,
) -> list[StageEvent]:
    """:func:`history` on an open storage."""
    check_stage_name(stage)
    head = _read_head(storage, stage)
    if head is None:
        raise NotFoundError(f"stage {stage} of {storage.name} has no history (no tag {head_tag(stage)})",
                            hint="list the stages with 'ocikit stages'")
    chain = _walk(storage, stage, head)
    if not verify:
        return chain
    occupant = _occupied(storage, stage)
    if occupant != head.modelkit:
        shown = occupant.short if occupant else "nothing"
        raise HistoryError(f"tag {stage} points to {shown}, but the newest event ({head.sequence}) put "
                           f"{head.modelkit.short} there: the tag was moved outside ocikit")
    _check_referrers(storage, stage, chain)
    if key is None:
        return chain
    from ocikit._trust._signing import verify_descriptor

    checked = []
    for event in chain:
        assert event.digest is not None
        desc = storage.resolve(str(event.digest))
        try:
            verify_descriptor(storage, _reference_for(storage, event.digest), desc, key)
        except SignatureError as e:
            raise SignatureError(f"stage {stage}: event {event.sequence}: {e}", hint=e.hint) from e
        checked.append(replace(event, signature_verified=True))
    return checked


# --------------------------------------------------------------------------------- public API


def _open(reference: Reference, home: str | os.PathLike[str] | None, options: RegistryOptions | None) -> Storage:
    from ocikit._ops._repos import open_repository

    return open_repository(reference, home=home, options=options)


def _repository(text: str | Reference) -> Reference:
    ref = text if isinstance(text, Reference) else Reference.parse(text, default_tag=None)
    if ref.tag is not None or ref.digest is not None:
        raise UsageError(f"{ref.display}: give a repository without a tag or digest",
                         hint=f"e.g. {ref.name.removeprefix('localhost/')}")
    return ref


def promote(
    reference: str | Reference,
    stage: str,
    *,
    reason: str,
    actor: str | None = None,
    require: Sequence[str] = (),
    policy: Policy | str | os.PathLike[str] | None = None,
    key: str | os.PathLike[str] | None = None,
    password: str | bytes | None = None,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
    clock: Clock | None = None,
    new_stage: bool = False,
    allow_broken_history: bool = False,
) -> StageEvent:
    """Move ``stage`` of the reference's repository to the ModelKit ``reference`` names.

    ``stage`` must be a stage: one with a stage history already, or (when no tag of that name
    exists yet) one named in the ``policy``. Creating a new stage, or turning an existing plain tag
    such as ``latest`` into one, needs ``new_stage=True``; otherwise UsageError.

    Gates (``require`` expressions and the ``policy`` rules for the stage) are evaluated first; if
    one fails, GateError is raised and nothing is changed. A stage whose hash chain is broken (an
    event deleted) is not extended (HistoryError) unless ``allow_broken_history``, which records
    the gap in the event's reason. Otherwise an event is written (signed
    with ``key`` if given), the head tag and then the stage tag move. Returns the event.
    """
    ref = reference if isinstance(reference, Reference) else Reference.parse(reference)
    check_stage_name(stage)
    parse_all(require)  # a typo fails before any network request
    storage = _open(ref, home, options)
    return promote_in(storage, ref.identifier, stage, reason=reason, actor=actor, require=require,
                      policy=policy, key=key, password=password, clock=clock,
                      tag=ref.tag if ref.digest is None else None, new_stage=new_stage,
                      allow_broken_history=allow_broken_history)


def rollback(
    repository: str | Reference,
    stage: str,
    *,
    to: Digest | str | None = None,
    reason: str,
    actor: str | None = None,
    policy: Policy | str | os.PathLike[str] | None = None,
    key: str | os.PathLike[str] | None = None,
    password: str | bytes | None = None,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
    clock: Clock | None = None,
) -> StageEvent:
    """Put the previous occupant of ``stage`` back (or ``to``, a digest that held it before).

    ``to`` may also be a unique hex prefix (at least 7 digits, ``sha256:`` optional) of a digest in
    the stage's history, such as the short digests ``history`` shows.

    Recorded as a ``rollback`` event; the demoted version stays pullable by digest and tag.
    """
    ref = _repository(repository)
    check_stage_name(stage)
    if to is not None and not isinstance(to, Digest) and not _is_digest_or_prefix(str(to)):
        raise UsageError(f"--to {to!r} is not a digest",
                         hint=f"use sha256:<hex> (at least {_MIN_PREFIX} hex digits) from 'ocikit history'")
    storage = _open(ref, home, options)
    return rollback_in(storage, stage, to=to, reason=reason, actor=actor, policy=policy, key=key,
                       password=password, clock=clock)


def stages(
    repository: str | Reference,
    *,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
) -> list[StageStatus]:
    """Each stage of the repository: what it holds, since when, by whom."""
    ref = _repository(repository)
    return list_stages(_open(ref, home, options))


def history(
    repository: str | Reference,
    stage: str,
    *,
    verify: bool = False,
    key: str | os.PathLike[str] | None = None,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
) -> list[StageEvent]:
    """The events of ``stage``, newest first.

    Always checks each link of the chain (schema, sequence, order, what each event replaced); raises
    HistoryError if an event is missing, altered or out of order. ``verify=True`` also checks that
    the stage tag matches the newest event and that the chain matches the ModelKits' referrers
    (so a forged head is caught), and with ``key`` that every event carries a valid signature.
    """
    ref = _repository(repository)
    check_stage_name(stage)
    if key is not None and not verify:
        raise UsageError("--key needs --verify on history")
    return history_in(_open(ref, home, options), stage, verify=verify, key=key)

