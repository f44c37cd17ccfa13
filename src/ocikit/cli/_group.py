"""The click group behind ``ocikit``: global options, lazy commands, the error boundary."""

from __future__ import annotations

import importlib
import logging
import re
import sys
from typing import Any

import click

from ocikit._version import __version__
from ocikit.cli import COMMANDS, SHORT_HELP
from ocikit.cli._context import CliContext
from ocikit.errors import OcikitError

__all__ = ["cli", "render_group_help", "run"]


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # -v/-q/--home are accepted after the command too, as kit, docker and skopeo accept theirs.
        return super().parse_args(ctx, hoist_global_options(self, ctx, args))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # Commands added with click's add_command() (plugins, tests) resolve as in any click group.
        return self._load(cmd_name) or super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's own layout, from the static short-help table: no command module is imported."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = [(n, click.Command(n, help=SHORT_HELP[n]).get_short_help_str(limit)) for n in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        module = importlib.import_module(module_name)
        command = getattr(module, attr, None)
        return command if isinstance(command, click.Command) else None


_VERBOSITY = re.compile(r"-[vq]+")  # -v, -vv, -q, -qv: the short global flags, possibly combined


def hoist_global_options(group: click.Group, ctx: click.Context, args: list[str]) -> list[str]:
    """``args`` with the global options found after the command moved before it.

    A token counts as a global option only where the command would not read it otherwise: not as
    the value of one of the command's options, not after ``--``, and not when the command defines
    the same option itself. ``--home`` moves only with its value.
    """
    at = 0
    while at < len(args) and args[at].startswith("-") and args[at] != "--":
        at += 2 if args[at] == "--home" else 1
    if at >= len(args) or args[at] == "--":
        return args
    command = group.get_command(ctx, args[at])
    if command is None or isinstance(command, click.Group):
        return args  # click reports the unknown command
    own: set[str] = set()
    takes_value: dict[str, int] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            own.update(param.opts + param.secondary_opts)
            if not param.is_flag and not param.count:
                takes_value.update(dict.fromkeys(param.opts, max(param.nargs, 1)))
    hoisted: list[str] = []
    rest: list[str] = []
    i = at + 1
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg in own:
            step = 1 + takes_value.get(arg, 0)
            rest.extend(args[i:i + step])
            i += step
            continue
        if arg == "--home" and i + 1 < len(args):
            hoisted.extend(args[i:i + 2])
            i += 2
            continue
        if arg.startswith("--home=") or arg in ("--verbose", "--quiet") or _VERBOSITY.fullmatch(arg):
            hoisted.append(arg)
        else:
            rest.append(arg)
        i += 1
    return [*args[:at], *hoisted, args[at], *rest]


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


def render_group_help(width: int) -> str:
    """``ocikit --help`` as click prints it at ``width`` columns (source of ``_help_text``)."""
    ctx = click.Context(cli, info_name="ocikit", terminal_width=width, **cli.context_settings)
    return ctx.get_help()


def _configure_logging(verbose: int) -> None:
    logger = logging.getLogger("ocikit")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG)
    logger.propagate = False


def run(argv: list[str] | None = None) -> Any:
    """The click group under the one error boundary (``ocikit.cli.main``)."""
    verbose = any(a in ("-v", "-vv", "-vvv", "--verbose") for a in (argv if argv is not None else sys.argv[1:]))
    try:
        # With standalone_mode=False click returns the code of ctx.exit(N) instead of exiting;
        # hand it to the caller (console script and __main__ both sys.exit() with it).
        rv = cli.main(args=argv, prog_name="ocikit", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        if isinstance(e, click.NoSuchOption) and e.option_name == "--home":  # last, without its value
            click.echo("hint: --home takes a directory: --home DIR", err=True)
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
    except OSError as e:
        # The environment failed (disk full, permission denied, read-only file system) somewhere the
        # library did not wrap it: still one line and a hint, not a traceback (which -v shows).
        if verbose:
            import traceback

            traceback.print_exc()
        where = f": {e.filename}" if getattr(e, "filename", None) else ""
        click.echo(f"error: {e.strerror or e}{where}", err=True)
        click.echo("hint: check the path, its permissions and the free disk space", err=True)
        sys.exit(1)
