"""The values of the stage model: stage names and tags, the stage event and its wire form, a stage's status.

* A **stage** is a tag: ``reg/acme/sentiment:production``. Stage names are ``[a-z][a-z0-9-]*``
  (no dots), so the **head tag** ``stage.<name>`` (:func:`head_tag`) that names a stage's newest
  event cannot be a stage itself and does not look like a version.
* A **stage event** is a small JSON document (``schemas/stage-event.schema.json``) stored as the
  single layer of an OCI artifact (``artifactType`` :data:`EVENT_TYPE`, empty config) whose
  ``subject`` is the ModelKit. :meth:`StageEvent.to_bytes` is the exact bytes that are hashed and
  signed; :meth:`StageEvent.from_bytes` checks them against the schema.

Also the inputs every event records besides the transition itself: the time (:func:`timestamp`),
the actor (:func:`default_actor`) and the free text checks (:func:`check_text`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ocikit._config import source_date_epoch
from ocikit._io._digest import Digest
from ocikit._oci._gojson import go_json
from ocikit._oci._reference import Reference
from ocikit._stages._gates import GateResult
from ocikit._store._storage import Storage
from ocikit.errors import HistoryError, UsageError

__all__ = [
    "ANNOTATION_ACTION",
    "ANNOTATION_SEQUENCE",
    "ANNOTATION_STAGE",
    "EVENT_TYPE",
    "HEAD_PREFIX",
    "SCHEMA",
    "Clock",
    "StageEvent",
    "StageStatus",
    "check_stage_name",
    "check_text",
    "default_actor",
    "display",
    "event_reference",
    "head_tag",
    "is_stage_name",
    "timestamp",
]

#: artifactType of an event manifest, and media type of its single layer (the event JSON).
EVENT_TYPE = "application/vnd.ocikit.stage.event.v1+json"
SCHEMA = "stage-event.schema.json"
ANNOTATION_STAGE = "dev.ocikit.stage"
ANNOTATION_SEQUENCE = "dev.ocikit.stage.sequence"
ANNOTATION_ACTION = "dev.ocikit.stage.action"
HEAD_PREFIX = "stage."

_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")

Clock = Callable[[], _dt.datetime]


# ------------------------------------------------------------------------------------- names


def is_stage_name(text: str) -> bool:
    """Whether ``text`` has the shape of a stage name (without the ``sha256`` exclusion)."""
    return bool(_STAGE.match(text))


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


def display(storage: Storage) -> str:
    """The repository as a user types it (the local store's ``localhost/`` left off)."""
    return storage.name.removeprefix("localhost/")


def event_reference(storage: Storage, digest: Digest) -> Reference:
    """``repository@digest``: how signatures name an event or a candidate of ``storage``."""
    return Reference.parse(f"{storage.name}@{digest}")


# ------------------------------------------------------------------------------------- values


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
        obj = _checked_json(data, where)
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


def _checked_json(data: bytes, where: str) -> Any:
    """``data`` parsed, and valid against the stage event schema. Raises HistoryError."""
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
    return obj


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


# ------------------------------------------------------------------- what an event records


def _default_clock() -> _dt.datetime:
    return source_date_epoch() or _dt.datetime.now(_dt.timezone.utc)


def timestamp(clock: Clock | None) -> str:
    """The event time: ``clock()`` (default: ``SOURCE_DATE_EPOCH``, else now) in UTC, to the second."""
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


def check_text(value: str, what: str, limit: int) -> str:
    """``value`` stripped; UsageError when it is blank or longer than ``limit``."""
    if not value.strip():
        raise UsageError(f"{what} must not be empty", hint=f"pass --{what} with a few words")
    if len(value) > limit:
        raise UsageError(f"{what} is longer than {limit} characters")
    return value.strip()
