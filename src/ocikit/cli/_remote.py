"""Registry commands: ``login``, ``logout``, ``push``, ``pull``.

Passwords never go on the command line: ``--password-stdin`` or a hidden prompt on a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from ocikit._config import RegistryOptions
from ocikit._trust._keys import ENV_VERIFY_KEY
from ocikit.cli._context import get_context
from ocikit.cli._options import json_option, network_options
from ocikit.cli._output import echo_json, format_bytes
from ocikit.cli._progress_ui import progress_ui
from ocikit.errors import UsageError


def _split_tags(values: Sequence[str]) -> list[str]:
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


@click.command("login")
@click.argument("registry", metavar="REGISTRY")
@click.option("-u", "--username", help="Username (prompted on a terminal when missing).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@network_options
def login_cmd(registry: str, username: str | None, password_stdin: bool, registry_options: RegistryOptions) -> None:
    """Check credentials against REGISTRY and save them (Docker config.json format, mode 0600).

    \b
    The password is read from stdin or prompted for, never taken from the command line:
      printf '%s\\n' "$REGISTRY_PASSWORD" | ocikit login registry.example -u ci --password-stdin
    """
    from ocikit._registry._login import login

    ctx = get_context()
    tty = sys.stdin.isatty()
    if not username:
        if not tty or password_stdin:
            raise UsageError("login needs a username", hint="pass -u USER")
        username = click.prompt("Username")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif tty:
        password = click.prompt("Password", hide_input=True)
    else:
        raise UsageError("no password given and stdin is not a terminal",
                         hint="pipe the password into --password-stdin")
    path = login(registry, username or "", password, registry_options, ctx.home)
    click.echo(f"Login succeeded for {registry} (credentials saved in {path})")


@click.command("logout")
@click.argument("registry", metavar="REGISTRY")
def logout_cmd(registry: str) -> None:
    """Forget the saved credentials of REGISTRY (Docker's own config is left alone)."""
    from ocikit._registry._login import logout

    if logout(registry, None, get_context().home):
        click.echo(f"Logged out of {registry}")
    else:
        click.echo(f"Not logged in to {registry}")


def _summary(verb: str, result: object) -> str:
    from ocikit._ops._transfer import TransferResult

    assert isinstance(result, TransferResult)
    moved = f"{result.blobs_transferred} blob(s), {format_bytes(result.bytes_transferred)} transferred"
    skipped = f"{result.blobs_skipped} already present ({format_bytes(result.bytes_skipped)})"
    return f"{verb} {result.reference}\n  {moved}; {skipped}"


@click.command("push")
@click.argument("source", metavar="SOURCE")
@click.argument("destination", metavar="[DESTINATION]", required=False)
@click.option("-t", "--tag", "tags", multiple=True, metavar="TAG[,TAG...]",
              help="More tags for the pushed ModelKit (comma-separated or repeated).")
@click.option("--with-image", metavar="TAG",
              help="Also write the OCI image view (see 'ocikit image') under TAG in the same repository.")
@json_option
@network_options
def push_cmd(source: str, destination: str | None, tags: Sequence[str], with_image: str | None,
             registry_options: RegistryOptions, as_json: bool) -> None:
    """Push the ModelKit SOURCE from the local store to a registry.

    \b
    DESTINATION defaults to SOURCE (which must then name a registry). Blobs the registry has are
    skipped; the manifest goes last, with its signatures, SBOM and stage events.
      ocikit push acme/sentiment:1.0.0 registry.example/acme/sentiment:1.0.0 -t latest
    """
    from ocikit._ops._transfer import push

    ctx = get_context()
    with progress_ui("pushed", quiet=ctx.quiet or as_json) as progress:
        result = push(source, destination, tags=_split_tags(tags), home=ctx.home, options=registry_options,
                      progress=progress, with_image=with_image)
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(_summary("Pushed", result))


@click.command("pull")
@click.argument("reference", metavar="REFERENCE")
@click.option("--verify-key", type=click.Path(dir_okay=False, exists=True), envvar=ENV_VERIFY_KEY,
              help="Refuse the ModelKit unless it is signed by this public key (checked before storing).")
@click.option("--select", "select", multiple=True, metavar="KEY=VALUE",
              help="For a ModelKit index: pull the variant carrying these labels (repeat to AND them).")
@json_option
@network_options
def pull_cmd(reference: str, verify_key: str | None, select: Sequence[str], registry_options: RegistryOptions,
             as_json: bool) -> None:
    """Pull the ModelKit REFERENCE from its registry into the local store.

    \b
    Blobs already present are skipped; an interrupted pull resumes where it stopped.
      ocikit pull registry.example/acme/sentiment:1.0.0
    """
    from ocikit._ops._transfer import pull

    ctx = get_context()
    with progress_ui("pulled", quiet=ctx.quiet or as_json) as progress:
        result = pull(reference, home=ctx.home, options=registry_options, progress=progress,
                      verify_key=verify_key, select=select)
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(_summary("Pulled", result))
