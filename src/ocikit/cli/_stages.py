"""Stage commands: ``promote``, ``rollback``, ``stages``, ``history`` (see docs/stages.md).

Each parses, makes one library call (``ocikit._ops._stages``) and renders a table or ``--json``.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from ocikit._config import RegistryOptions
from ocikit._io._digest import Digest
from ocikit._stages._event import StageEvent
from ocikit.cli._context import get_context
from ocikit.cli._options import (
    json_option,
    network_options,
    password_stdin_option,
    read_password,
    reference_argument,
)
from ocikit.cli._output import echo_json, echo_table, status

repository_argument = click.argument("repository", metavar="REPOSITORY")
stage_option = click.option("--stage", required=True, metavar="STAGE", help="The stage, e.g. production.")
reason_option = click.option("--reason", required=True, help="Why (recorded in the stage event).")
actor_option = click.option("--actor", help="Who (default: git config user.name, else $USER).")
policy_option = click.option("--policy", type=click.Path(dir_okay=False, exists=True),
                             help="Stage policy file (YAML): gates, allowed source stages, required keys.")
key_option = click.option("--key", type=click.Path(dir_okay=False, exists=True),
                          help="Sign the stage event with this private key (cosign-compatible).")


def _short(digest: Digest | None) -> str:
    return digest.short if digest is not None else "-"


def _render_event(event: StageEvent, verb: str, as_json: bool) -> None:
    if as_json:
        echo_json(event.to_json())
        return
    version = f" ({event.version})" if event.version else ""
    click.echo(f"{verb} {event.stage}: {_short(event.modelkit)}{version}, replacing {_short(event.replaced)}")
    click.echo(f"event {event.sequence}: {event.digest}")
    for gate in event.gates:
        click.echo(f"  gate {'ok  ' if gate.passed else 'FAIL'} {gate.gate}  ({gate.detail})")


@click.command("promote")
@reference_argument
@click.option("--to", "stage", required=True, metavar="STAGE", help="The stage to move, e.g. staging.")
@click.option("--new-stage", is_flag=True,
              help="Create STAGE: needed when it has no stage history yet and is not named in --policy, "
                   "or to turn an existing plain tag (e.g. latest) into a stage.")
@click.option("--allow-broken-history", is_flag=True,
              help="Promote even if an event of the stage's history is missing; the reason records the gap.")
@click.option("--with-image", is_flag=True,
              help="Also move the tag STAGE-image to the ModelKit's OCI image view (see 'ocikit image').")
@reason_option
@click.option("--require", "require", multiple=True, metavar="EXPR",
              help="Gate over the Kitfile config, e.g. 'model.parameters.metrics.f1 >= 0.90' (repeatable).")
@policy_option
@key_option
@password_stdin_option
@actor_option
@json_option
@network_options
def promote_cmd(reference: str, stage: str, new_stage: bool, allow_broken_history: bool, with_image: bool,
                reason: str,
                require: Sequence[str], policy: str | None,
                key: str | None, password_stdin: bool, actor: str | None,
                registry_options: RegistryOptions, as_json: bool) -> None:
    """Move STAGE (a tag) of REFERENCE's repository to REFERENCE, after its gates pass.

    \b
    Writes a stage event (hash-chained, a referrer of the ModelKit) and moves the tags
    stage.STAGE (newest event) and STAGE. A failed gate changes nothing and exits 3.
    STAGE must already be a stage (have a history) or be named in --policy; a tag
    that is not a stage (e.g. latest) is never moved without --new-stage (exit 2).
      ocikit promote reg/acme/sentiment:1.4.0 --to production --reason "passed shadow" \\
          --require 'model.parameters.metrics.f1 >= 0.90' --policy stages.yaml
    """
    from ocikit._ops._stages import promote

    password = read_password(password_stdin, needed=key is not None)
    event = promote(reference, stage, reason=reason, actor=actor, require=tuple(require), policy=policy,
                    key=key, password=password, home=get_context().home, options=registry_options,
                    new_stage=new_stage, allow_broken_history=allow_broken_history, with_image=with_image)
    _render_event(event, "promoted", as_json)


@click.command("rollback")
@repository_argument
@stage_option
@click.option("--to", "to", metavar="DIGEST",
              help="Roll back to this digest, or a unique prefix of it (7+ hex digits, as 'history' "
                   "shows); it must have held the stage.")
@reason_option
@policy_option
@key_option
@password_stdin_option
@actor_option
@json_option
@network_options
def rollback_cmd(repository: str, stage: str, to: str | None, reason: str, policy: str | None,
                 key: str | None, password_stdin: bool, actor: str | None,
                 registry_options: RegistryOptions, as_json: bool) -> None:
    """Put the previous occupant of STAGE back (or --to a digest that held it).

    \b
    Recorded as a rollback event; the demoted version stays pullable by digest and tag.
    Repeated rollbacks walk further back.
      ocikit rollback reg/acme/sentiment --stage production --reason "f1 regression in 1.4.0"
    """
    from ocikit._ops._stages import rollback

    password = read_password(password_stdin, needed=key is not None)
    event = rollback(repository, stage, to=to, reason=reason, actor=actor, policy=policy, key=key,
                     password=password, home=get_context().home, options=registry_options)
    _render_event(event, "rolled back", as_json)


@click.command("stages")
@repository_argument
@json_option
@network_options
def stages_cmd(repository: str, registry_options: RegistryOptions, as_json: bool) -> None:
    """Each stage of REPOSITORY: digest, version, since when, by whom."""
    from ocikit._ops._stages import stages

    found = stages(repository, home=get_context().home, options=registry_options)
    if as_json:
        echo_json([s.to_json() for s in found])
        return
    if not found:
        status(f"no stages in {repository} (promote one with 'ocikit promote')")
        return
    rows = [
        [s.stage, s.version or "-", _short(s.digest), s.since, s.actor,
         s.action if s.in_sync else f"{s.action} (tag moved outside ocikit)"]
        for s in found
    ]
    echo_table(["STAGE", "VERSION", "DIGEST", "SINCE", "BY", "LAST"], rows)


@click.command("history")
@repository_argument
@stage_option
@click.option("--verify", is_flag=True,
              help="Also check the stage tag and the chain against the referrers; exit 3 if altered.")
@click.option("--key", type=click.Path(dir_okay=False, exists=True),
              help="With --verify: every event must be signed by this public key.")
@json_option
@network_options
def history_cmd(repository: str, stage: str, verify: bool, key: str | None,
                registry_options: RegistryOptions, as_json: bool) -> None:
    """The stage events of STAGE in REPOSITORY, newest first.

    \b
    The chain is always checked link by link; a missing, altered or out-of-order event
    exits 3 (HistoryError).
      ocikit history reg/acme/sentiment --stage production --verify --key cosign.pub
    """
    from ocikit._ops._stages import history

    events = history(repository, stage, verify=verify, key=key, home=get_context().home,
                     options=registry_options)
    if as_json:
        echo_json({"repository": repository, "stage": stage, "verified": verify,
                   "signaturesVerified": key is not None, "events": [e.to_json() for e in events]})
        return
    rows = [[e.sequence, e.time, e.action, e.version or "-", _short(e.modelkit), e.actor,
             " ".join(e.reason.split())]
            for e in events]
    echo_table(["SEQ", "TIME", "ACTION", "VERSION", "DIGEST", "BY", "REASON"], rows)
    if verify:
        signed = ", every event signed by the key" if key else ""
        status(f"verified: {len(events)} event(s) of {stage}, chain intact{signed}")
