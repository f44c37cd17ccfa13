"""Insight and shell commands: ``diff``, ``lineage``, ``completion``, ``version``."""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import TYPE_CHECKING, Any

import click

from ocikit._config import RegistryOptions
from ocikit.cli._context import get_context
from ocikit.cli._options import json_option, network_options, read_options
from ocikit.cli._output import echo_json, echo_table, format_bytes

if TYPE_CHECKING:
    from ocikit._ops._diff import DiffResult, LayerChange
    from ocikit._ops._lineage import Lineage, LineageVersion

#: Distributions whose versions `ocikit version` reports (what bug reports need).
_DEPENDENCIES = ("click", "cryptography", "urllib3", "zstandard", "cyclonedx-python-lib", "pyyaml",
                 "jsonschema", "rich")
_MAX_FILES_SHOWN = 10


# ------------------------------------------------------------------------------------------ diff


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, ensure_ascii=False)


def _size(layer: Any) -> str:
    return format_bytes(layer.size) if layer is not None else "-"


def _render_diff(result: DiffResult) -> None:
    click.echo(f"A  {result.a.display}  {result.a_digest}")
    click.echo(f"B  {result.b.display}  {result.b_digest}")
    if result.identical:
        click.echo("\nModelKits are identical.")
        return
    config = "same" if result.same_config else f"different ({result.a_config.short} -> {result.b_config.short})"
    click.echo(f"config: {config}")

    click.echo("\nKitfile")
    if result.fields:
        echo_table(["  FIELD", "A", "B"],
                   [[f"  {c.path}", _value(c.old), _value(c.new)] for c in result.fields])
    else:
        click.echo("  no changes")
    if result.annotations:
        click.echo("\nAnnotations")
        echo_table(["  ANNOTATION", "A", "B"],
                   [[f"  {c.path}", _value(c.old), _value(c.new)] for c in result.annotations])

    click.echo("\nLayers")
    rows: list[list[str]] = []
    for change in result.layers:
        rows.append([f"  {change.status}", change.kind, change.path or change.key, _size(change.a), _size(change.b)])
    echo_table(["  STATUS", "TYPE", "PATH", "SIZE A", "SIZE B"], rows)
    for change in result.layers:
        if change.status == "changed":
            _render_files(change)


def _render_files(change: LayerChange) -> None:
    title = f"\n{change.kind} {change.path or change.key}:"
    if change.files is None:
        click.echo(f"{title} files unknown (no SBOM on one side)")
        return
    lines = [("added", p) for p in change.files.added] + [("removed", p) for p in change.files.removed] + [
        ("modified", p) for p in change.files.modified]
    if not lines:
        click.echo(f"{title} same files, different layer bytes (metadata or compression)")
        return
    click.echo(title)
    for what, path in lines[:_MAX_FILES_SHOWN]:
        click.echo(f"  {what:<9} {path}")
    if len(lines) > _MAX_FILES_SHOWN:
        click.echo(f"  ... and {len(lines) - _MAX_FILES_SHOWN} more (see --json)")


@click.command("diff")
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@json_option
@read_options
def diff_cmd(a: str, b: str, registry_options: RegistryOptions, as_json: bool) -> None:
    """Show what changed from ModelKit A to ModelKit B.

    \b
    Kitfile fields (package, model, parameters, metrics), layers added, removed
    or changed with their sizes, and for changed layers which files differ (from
    the SBOMs). A side that names a registry is resolved there (--offline: the
    local store); only manifests, configs and SBOMs are fetched.

    \b
      ocikit diff acme/sentiment:1.0.0 acme/sentiment:1.1.0
      ocikit diff registry.example/acme/sentiment:production acme/sentiment:1.2.0 --json

    Exits 0 whether or not they differ; the JSON has "identical".
    """
    from ocikit._ops._diff import diff

    result = diff(a, b, home=get_context().home, options=registry_options)
    if as_json:
        echo_json(result.to_dict())
    else:
        _render_diff(result)


# --------------------------------------------------------------------------------------- lineage


def _describe(version: LineageVersion) -> str:
    parts = [click.style(version.label, bold=True), version.digest.short]
    if version.version and version.version not in version.tags:
        parts.append(f"v{version.version}")
    if version.stages:
        parts.append("[" + ", ".join(version.stages) + "]")
    if version.parent and version.parent_digest is None:
        parts.append(f"(from {version.parent}, not in this repository)")
    return "  ".join(parts)


def _render_lineage(result: Lineage) -> None:
    click.echo(result.repository.removeprefix("localhost/"))
    if not result.versions:
        click.echo("  (no ModelKits)")
    seen: set[Any] = set()

    def walk(version: LineageVersion, prefix: str, last: bool) -> None:
        click.echo(f"{prefix}{'└── ' if last else '├── '}{_describe(version)}")
        if version.digest in seen:  # a parent tag moved onto a descendant: do not loop
            return
        seen.add(version.digest)
        children = result.children(version.digest)
        for i, child in enumerate(children):
            walk(child, prefix + ("    " if last else "│   "), i == len(children) - 1)

    roots = result.roots()
    for i, root in enumerate(roots):
        walk(root, "", i == len(roots) - 1)

    if result.shared:
        labels = {v.digest: v.label for v in result.versions}
        click.echo("\nshared layers")
        echo_table(["  TYPE", "NAME", "DIGEST", "SIZE", "VERSIONS"],
                   [[f"  {s.kind}", s.key, s.digest.short, format_bytes(s.size),
                     ", ".join(labels[d] for d in s.versions)] for s in result.shared])
    if result.skipped:
        click.echo(f"\nnot ModelKits: {', '.join(result.skipped)}")


@click.command("lineage")
@click.argument("repository", metavar="REPOSITORY")
@json_option
@network_options
def lineage_cmd(repository: str, registry_options: RegistryOptions, as_json: bool) -> None:
    """Show the versions in a repository as a tree.

    \b
    A version is a child of the ModelKit its model.path names. Also shown:
    which stage holds which version, and the dataset and code layers versions
    share (same digest, same bytes).

    \b
      ocikit lineage acme/sentiment                      # local store
      ocikit lineage registry.example/acme/sentiment --json
    """
    from ocikit._ops._lineage import lineage

    result = lineage(repository, home=get_context().home, options=registry_options)
    if as_json:
        echo_json(result.to_dict())
    else:
        _render_lineage(result)


# ------------------------------------------------------------------------------------ completion


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion_cmd(shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish.

    \b
      eval "$(ocikit completion bash)"                 # in ~/.bashrc
      eval "$(ocikit completion zsh)"                  # in ~/.zshrc
      ocikit completion fish > ~/.config/fish/completions/ocikit.fish
    """
    from click.shell_completion import get_completion_class

    from ocikit.cli import cli

    completion_class = get_completion_class(shell)
    if completion_class is None:  # pragma: no cover - the Choice above limits the shells
        raise click.BadParameter(f"unsupported shell {shell!r}")
    # The variable click's entry point checks: _OCIKIT_COMPLETE=bash_complete ocikit ...
    script = completion_class(cli, {}, "ocikit", "_OCIKIT_COMPLETE").source()
    click.echo(script)


# --------------------------------------------------------------------------------------- version


def version_info() -> dict[str, Any]:
    from ocikit._version import __version__

    deps: dict[str, str | None] = {}
    for name in _DEPENDENCIES:
        try:
            deps[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            deps[name] = None
    return {
        "version": __version__,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": f"{sys.platform}-{platform.machine()}",
        "dependencies": deps,
    }


@click.command("version")
@json_option
def version_cmd(as_json: bool) -> None:
    """Show the versions of ocikit, Python and the libraries it uses."""
    info = version_info()
    if as_json:
        echo_json(info)
        return
    click.echo(f"ocikit {info['version']}")
    click.echo(f"python {info['python']} ({info['implementation']}, {info['platform']})")
    for name, version in info["dependencies"].items():
        click.echo(f"  {name} {version or '(not installed)'}")
