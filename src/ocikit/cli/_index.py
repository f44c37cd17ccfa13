"""``ocikit index``: ModelKit indexes of one model's variants (kit 1.17's ``kit index``), docs/model-index.md."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from ocikit._config import RegistryOptions
from ocikit.cli._context import get_context
from ocikit.cli._options import json_option, network_options, read_options
from ocikit.cli._output import echo_json, format_bytes
from ocikit.cli._progress_ui import progress_ui
from ocikit.errors import UsageError

__all__ = ["index_group"]


class _Ordered(click.Command):
    """Keeps the raw arguments, so each ``--label`` is paired with the ``--add`` before it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["ocikit.index.raw"] = list(args)
        return super().parse_args(ctx, args)


_VALUE_OPTIONS = {"--add": "add", "--label": "label", "-l": "label", "--annotate": "annotate"}


def _specs(raw: Sequence[str]) -> list[Any]:
    """``--add REF [--label L]... [--annotate K=V]...`` groups, in command-line order."""
    from ocikit._ops._index import VariantSpec

    groups: list[tuple[str, list[str], dict[str, str]]] = []
    i = 0
    while i < len(raw):
        arg = raw[i]
        if arg == "--":
            break
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        kind = _VALUE_OPTIONS.get(name)
        if kind is None:
            i += 1
            continue
        if not eq:
            value = raw[i + 1] if i + 1 < len(raw) else ""
            i += 1
        i += 1
        if kind == "add":
            groups.append((value, [], {}))
        elif not groups:
            raise UsageError(f"{name} {value} comes before any --add; it labels the --add it follows")
        elif kind == "label":
            groups[-1][1].append(value)
        else:
            key, sep, val = value.partition("=")
            if not sep or not key:
                raise UsageError(f"invalid annotation {value!r}: expected key=value")
            groups[-1][2][key] = val
    return [VariantSpec(ref, tuple(labels), annotations) for ref, labels, annotations in groups]


def _render(result: Any, verb: str, as_json: bool) -> None:
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(f"{verb} {result.reference} (digest {result.descriptor.digest})")
    _rows(result.index.variants)


def _rows(variants: Sequence[Any]) -> None:
    for v in variants:
        labels = ", ".join(v.label_pairs()) or "no labels"
        click.echo(f"  {v.descriptor.digest}  {v.original_tag or '<none>'}  "
                   f"{format_bytes(v.descriptor.size)}  {labels}")


@click.group("index")
def index_group() -> None:
    """Build, inspect and move ModelKit indexes: one model's variants, labelled for selection.

    \b
    An index is an OCI image index (kit 1.17's format) whose entries are ModelKits, each with
    labels such as quantization or VRAM; 'pull' and 'unpack' choose one with --select.
      ocikit index create acme/llm:all --add acme/llm:q4 --label quantization=q4_0 \\
          --add acme/llm:q8 --label quantization=q8_0 --label vram=16GiB
      ocikit push acme/llm:all registry.example/acme/llm:all
      ocikit unpack registry.example/acme/llm:all --select quantization=q4_0 -d ./serve
    """


_add_help = "A local ModelKit to add; the --label and --annotate options after it apply to it."
_label_help = "KEY=VALUE (a string), KEY:=JSON (any JSON value) or, with index add, KEY- to remove."


@index_group.command("create", cls=_Ordered)
@click.argument("reference", metavar="REFERENCE")
@click.option("--add", "adds", multiple=True, metavar="REF", help=_add_help)
@click.option("-l", "--label", "labels", multiple=True, metavar="LABEL", help=_label_help)
@click.option("--annotate", "annotations", multiple=True, metavar="KEY=VALUE",
              help="An annotation on the entry of the --add it follows.")
@json_option
def create_cmd(reference: str, adds: Sequence[str], labels: Sequence[str], annotations: Sequence[str],
               as_json: bool) -> None:
    """Create the ModelKit index REFERENCE in the local store from local ModelKits."""
    from ocikit._ops._index import index_create

    ctx = get_context()
    result = index_create(reference, _specs(click.get_current_context().meta["ocikit.index.raw"]), home=ctx.home)
    _render(result, "Created", as_json)


@index_group.command("add", cls=_Ordered)
@click.argument("reference", metavar="REFERENCE")
@click.option("--add", "adds", multiple=True, required=True, metavar="REF", help=_add_help)
@click.option("-l", "--label", "labels", multiple=True, metavar="LABEL", help=_label_help)
@click.option("--annotate", "annotations", multiple=True, metavar="KEY=VALUE",
              help="An annotation on the entry of the --add it follows.")
@json_option
def add_cmd(reference: str, adds: Sequence[str], labels: Sequence[str], annotations: Sequence[str],
            as_json: bool) -> None:
    """Add ModelKits to the local index REFERENCE, or change their labels (they merge)."""
    from ocikit._ops._index import index_add

    ctx = get_context()
    result = index_add(reference, _specs(click.get_current_context().meta["ocikit.index.raw"]), home=ctx.home)
    _render(result, "Updated", as_json)


@index_group.command("remove")
@click.argument("reference", metavar="REFERENCE")
@click.option("--digest", "digests", multiple=True, required=True, metavar="DIGEST",
              help="The variant to remove from the index (the ModelKit itself stays).")
@json_option
def remove_cmd(reference: str, digests: Sequence[str], as_json: bool) -> None:
    """Remove variants from the local index REFERENCE by digest."""
    from ocikit._ops._index import index_remove

    result = index_remove(reference, list(digests), home=get_context().home)
    _render(result, "Updated", as_json)


@index_group.command("inspect")
@click.argument("reference", metavar="REFERENCE")
@json_option
@read_options
def inspect_cmd(reference: str, registry_options: RegistryOptions, as_json: bool) -> None:
    """Print a ModelKit index's digest and its exact JSON."""
    import json

    from ocikit._ops._index import index_inspect

    result = index_inspect(reference, home=get_context().home, options=registry_options)
    body = json.loads(result.index.to_bytes())
    if as_json:
        echo_json({"reference": result.reference, "digest": str(result.descriptor.digest), "index": body})
    else:
        click.echo(f"Digest: {result.descriptor.digest}")
        click.echo(json.dumps(body, indent=2))


@index_group.command("list")
@click.argument("reference", metavar="REFERENCE")
@json_option
@read_options
def list_cmd(reference: str, registry_options: RegistryOptions, as_json: bool) -> None:
    """List the variants of a ModelKit index: digest, tag, size and labels."""
    from ocikit._ops._index import index_inspect

    result = index_inspect(reference, home=get_context().home, options=registry_options)
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(f"{result.reference} (digest {result.descriptor.digest})")
        _rows(result.index.variants)


@index_group.command("push")
@click.argument("source", metavar="SOURCE")
@click.argument("destination", metavar="[DESTINATION]", required=False)
@json_option
@network_options
def push_cmd(source: str, destination: str | None, registry_options: RegistryOptions, as_json: bool) -> None:
    """Push the index SOURCE: every variant with its blobs first, then the index ('ocikit push')."""
    from ocikit._ops._transfer import push

    ctx = get_context()
    with progress_ui("pushed", quiet=ctx.quiet or as_json) as progress:
        result = push(source, destination, home=ctx.home, options=registry_options, progress=progress)
    echo_json(result.to_dict()) if as_json else click.echo(f"Pushed {result.reference}")


@index_group.command("pull")
@click.argument("reference", metavar="REFERENCE")
@json_option
@network_options
def pull_cmd(reference: str, registry_options: RegistryOptions, as_json: bool) -> None:
    """Pull the index REFERENCE with all its variants into the local store."""
    from ocikit._ops._index import index_pull

    ctx = get_context()
    with progress_ui("pulled", quiet=ctx.quiet or as_json) as progress:
        result = index_pull(reference, home=ctx.home, options=registry_options, progress=progress)
    echo_json(result.to_dict()) if as_json else click.echo(f"Pulled {result.reference}")
