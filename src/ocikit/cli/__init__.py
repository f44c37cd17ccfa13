"""The ``ocikit`` command line: the only place that prints and the only place that exits.

Each command module parses options, makes one library call and renders the result. Commands are
imported lazily so ``ocikit --help`` stays fast. The single error boundary is :func:`main`:
an :class:`~ocikit.errors.OcikitError` becomes one ``error:`` line plus a ``hint:`` line and the
class's exit code; a traceback is shown only with ``-v``.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from ocikit import __version__
from ocikit.cli._context import CliContext
from ocikit.errors import OcikitError

__all__ = ["cli", "main"]

#: command name → "module:attribute", in the order ``--help`` lists them.
COMMANDS: dict[str, str] = {
    "init": "ocikit.cli._local:init_cmd",
    "pack": "ocikit.cli._local:pack_cmd",
    "list": "ocikit.cli._local:list_cmd",
    "inspect": "ocikit.cli._local:inspect_cmd",
    "info": "ocikit.cli._local:info_cmd",
    "tag": "ocikit.cli._local:tag_cmd",
    "unpack": "ocikit.cli._local:unpack_cmd",
    "remove": "ocikit.cli._local:remove_cmd",
    "login": "ocikit.cli._remote:login_cmd",
    "logout": "ocikit.cli._remote:logout_cmd",
    "push": "ocikit.cli._remote:push_cmd",
    "pull": "ocikit.cli._remote:pull_cmd",
    "keygen": "ocikit.cli._trust:keygen_cmd",
    "sign": "ocikit.cli._trust:sign_cmd",
    "verify": "ocikit.cli._trust:verify_cmd",
    "sbom": "ocikit.cli._sbom:sbom_cmd",
    "verify-files": "ocikit.cli._sbom:verify_files_cmd",
    "promote": "ocikit.cli._stages:promote_cmd",
    "rollback": "ocikit.cli._stages:rollback_cmd",
    "stages": "ocikit.cli._stages:stages_cmd",
    "history": "ocikit.cli._stages:history_cmd",
    "diff": "ocikit.cli._eco:diff_cmd",
    "lineage": "ocikit.cli._eco:lineage_cmd",
    "fsck": "ocikit.cli._maint:fsck_cmd",
    "gc": "ocikit.cli._maint:gc_cmd",
    "completion": "ocikit.cli._eco:completion_cmd",
    "version": "ocikit.cli._eco:version_cmd",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._load(name) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name == module_name:  # that command group is not built yet
                return None
            raise
        command = getattr(module, attr, None)
        return command if isinstance(command, click.Command) else None


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Exit codes: 0 ok, 1 error, 2 usage, 3 verification failed, 4 network, 5 auth, 6 not found.",
)
@click.version_option(__version__, "--version", prog_name="ocikit")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug); tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option(
    "--home",
    envvar="OCIKIT_HOME",
    type=click.Path(file_okay=False),
    help="ocikit's data dir (local store, credentials). Env: OCIKIT_HOME. Default: $XDG_DATA_HOME/ocikit.",
)
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool, home: str | None) -> None:
    """ocikit: package ML projects as OCI artifacts (KitOps ModelKits).

    \b
    A Kitfile names the model, its parts, datasets, code and docs. ocikit packs them as OCI
    layers into a local store, pushes and pulls them against any OCI registry, unpacks them,
    writes a CycloneDX SBOM, signs digests (cosign-compatible) and maps tags to stages.

    \b
    Tour:
      ocikit init ./project
      ocikit pack ./project -t acme/sentiment:1.0.0
      ocikit push acme/sentiment:1.0.0 registry.example/acme/sentiment:1.0.0
      ocikit unpack registry.example/acme/sentiment:1.0.0 -d ./serve --filter model
    """
    ctx.obj = CliContext(home_option=home, verbose=verbose, quiet=quiet)
    _configure_logging(verbose)


def _configure_logging(verbose: int) -> None:
    logger = logging.getLogger("ocikit")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG)
    logger.propagate = False


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: the one error boundary."""
    verbose = any(a in ("-v", "-vv", "-vvv", "--verbose") for a in (argv if argv is not None else sys.argv[1:]))
    try:
        return cli.main(args=argv, prog_name="ocikit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except OcikitError as e:
        if verbose:
            import traceback

            traceback.print_exc()
        click.echo(f"error: {e}", err=True)
        if e.hint:
            click.echo(f"hint: {e.hint}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
