"""The stage commands on references: ``promote``, ``rollback``, ``stages``, ``history``.

Each checks what it can before any request (stage name, expressions, the form of ``--to``), opens
the repository's storage and runs the storage-level operation from ``ocikit._stages``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ocikit._config import RegistryOptions
from ocikit._io._digest import Digest
from ocikit._oci._reference import Reference
from ocikit._ops._repos import open_repository
from ocikit._stages._event import Clock, StageEvent, StageStatus, check_stage_name
from ocikit._stages._gates import Policy, parse_all
from ocikit._stages._history import history_in, list_stages
from ocikit._stages._promote import Promotion, Rollback, check_rollback_to, promote_in, rollback_in
from ocikit.errors import UsageError

__all__ = ["history", "promote", "rollback", "stages"]


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
    with_image: bool = False,
) -> StageEvent:
    """Move ``stage`` of the reference's repository to the ModelKit ``reference`` names.

    ``with_image`` then moves the tag ``<stage>-image`` to the ModelKit's OCI image view
    (``_image.image_view``, written if missing), so serving hosts that mount the image follow the stage.

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
    expressions = parse_all(require)  # a typo fails before any network request
    storage = open_repository(ref, home=home, options=options)
    promotion = Promotion(reason=reason, actor=actor, require=expressions, policy=policy, key=key,
                          password=password, clock=clock, tag=ref.tag if ref.digest is None else None,
                          new_stage=new_stage, allow_broken_history=allow_broken_history)
    event = promote_in(storage, ref.identifier, stage, promotion)
    if with_image:
        from ocikit._ops._image import image_view

        image_view(f"{ref.name}@{event.modelkit}", f"{ref.name}:{stage}-image", home=home, options=options)
    return event


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
    check_rollback_to(to)
    storage = open_repository(ref, home=home, options=options)
    change = Rollback(to=to, reason=reason, actor=actor, policy=policy, key=key, password=password, clock=clock)
    return rollback_in(storage, stage, change)


def stages(
    repository: str | Reference,
    *,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
) -> list[StageStatus]:
    """Each stage of the repository: what it holds, since when, by whom."""
    ref = _repository(repository)
    return list_stages(open_repository(ref, home=home, options=options))


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
    return history_in(open_repository(ref, home=home, options=options), stage, verify=verify, key=key)
