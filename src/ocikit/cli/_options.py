"""Options shared by several commands, defined once as decorators."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ocikit._config import RegistryOptions
from ocikit._trust._keys import ENV_PASSWORD

F = TypeVar("F", bound=Callable[..., Any])

_NETWORK_PARAMS = ("plain_http", "tls_verify", "ca_file", "client_cert", "client_key", "concurrency")


def network_options(func: F) -> F:
    """Adds the network options and passes one ``registry_options: RegistryOptions`` instead."""
    return _with_network_options(func, offline=False)


def read_options(func: F) -> F:
    """The network options plus ``--offline``, for commands that read a ModelKit where it is."""
    return _with_network_options(func, offline=True)


_OFFLINE_HELP = ("Answer a registry reference from the local store (what was pulled) without asking the "
                 "registry; without it a tag is always resolved in the registry.")


def _with_network_options(func: F, *, offline: bool) -> F:
    options = [
        click.option("--plain-http", is_flag=True, help="Talk HTTP, not HTTPS, to the registry."),
        click.option(
            "--tls-verify/--no-tls-verify",
            default=True,
            show_default=True,
            help="Verify the registry's TLS certificate.",
        ),
        click.option(
            "--ca-file", type=click.Path(dir_okay=False, exists=True), help="Extra CA bundle (PEM) to trust."
        ),
        click.option(
            "--client-cert", type=click.Path(dir_okay=False, exists=True), help="TLS client certificate (PEM)."
        ),
        click.option("--client-key", type=click.Path(dir_okay=False, exists=True), help="TLS client key (PEM)."),
        click.option(
            "--concurrency",
            type=click.IntRange(1, 64),
            default=4,
            show_default=True,
            help="Parallel blob transfers.",
        ),
    ]
    if offline:
        options.append(click.option("--offline", is_flag=True, help=_OFFLINE_HELP))

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _NETWORK_PARAMS}
        if offline:
            values["offline"] = kwargs.pop("offline")
            if values["offline"]:
                from ocikit.cli._output import status

                status("offline: registry references are answered from the local store")
        kwargs["registry_options"] = RegistryOptions(**values)
        return func(*args, **kwargs)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    decorated: Any = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")

reference_argument = click.argument("reference", metavar="REFERENCE")

password_stdin_option = click.option(
    "--password-stdin", is_flag=True,
    help=f"Read the key password from the first line of stdin (else ${ENV_PASSWORD}, else a prompt).",
)


def read_password(password_stdin: bool, *, needed: bool, confirm: bool = False) -> str | None:
    """A signing key's password: ``--password-stdin``, else ``$OCIKIT_PASSWORD``, else a hidden
    prompt when ``needed`` and stdin is a terminal; None when there is no way to ask."""
    if password_stdin:
        line: str = sys.stdin.readline()
        return line.rstrip("\r\n")
    env = os.environ.get(ENV_PASSWORD)
    if env is not None:
        return env
    if needed and sys.stdin.isatty():
        value: str = click.prompt(
            "Password for the private key" + (" (empty for none)" if confirm else ""),
            hide_input=True, confirmation_prompt=confirm, default="", show_default=False,
        )
        return value
    return None
