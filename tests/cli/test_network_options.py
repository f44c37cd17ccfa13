"""Every command that may touch a registry takes the same network options (defined once)."""

from __future__ import annotations

import click
import pytest

from ocikit.cli import COMMANDS
from ocikit.cli._group import cli

REGISTRY_COMMANDS = [
    "login", "push", "pull", "unpack", "inspect", "info", "list", "remove", "diff", "sign", "verify",
    "sbom", "promote", "rollback", "stages", "history", "lineage",
]
NETWORK_OPTIONS = {"--plain-http", "--tls-verify", "--ca-file", "--client-cert", "--client-key", "--concurrency"}


@pytest.mark.parametrize("name", REGISTRY_COMMANDS)
def test_registry_commands_share_the_network_options(name: str) -> None:
    assert name in COMMANDS
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    opts = {o for p in command.params if isinstance(p, click.Option) for o in p.opts}
    assert opts >= NETWORK_OPTIONS, f"{name} lacks {sorted(NETWORK_OPTIONS - opts)}"
    assert "--key" not in opts or name in {"sign", "verify", "promote", "rollback", "history"}, (
        f"{name}: --key is reserved for signing keys"
    )
