"""Local commands: ``init``, ``pack``, ``list``, ``inspect``, ``info``, ``tag``, ``unpack``, ``remove``.

Each parses its options, makes one library call and renders the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from ocikit._config import RegistryOptions
from ocikit._trust._keys import ENV_VERIFY_KEY
from ocikit.cli._context import get_context
from ocikit.cli._options import json_option, network_options, read_options
from ocikit.cli._output import echo_json, echo_table, format_bytes, status
from ocikit.cli._progress_ui import progress_ui

if TYPE_CHECKING:
    from ocikit._ops._pack_plan import PackPlan
    from ocikit._ops._types import Compression, Format, LayerFormat

__all__ = [
    "info_cmd", "init_cmd", "inspect_cmd", "list_cmd", "pack_cmd", "remove_cmd", "tag_cmd", "unpack_cmd",
]


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--name", help="Package name (default: the directory name).")
@click.option("--desc", "description", help="Package description.")
@click.option("--author", help="Package author.")
@click.option("--metrics", "metrics_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="A JSON/YAML metrics file, recorded as model.parameters.metrics.")
@click.option("--params", "params_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="A JSON/YAML mapping of hyper-parameters, merged into model.parameters.")
# the names before 0.2, kept working but no longer shown
@click.option("--metrics-file", "old_metrics_file", type=click.Path(dir_okay=False), hidden=True)
@click.option("--params-file", "old_params_file", type=click.Path(dir_okay=False), hidden=True)
@click.option("--mlflow-run", metavar="RUN_ID",
              help="Record this MLflow run's params and latest metrics (and its id as "
                   "model.parameters.mlflow.run_id), read from a local MLflow file store; "
                   "the mlflow package is not needed.")
@click.option("--mlflow-dir", default="mlruns", show_default=True, type=click.Path(file_okay=False),
              help="The MLflow file store (the mlruns directory) that holds --mlflow-run.")
@click.option("-f", "--force", is_flag=True, help="Replace an existing Kitfile.")
def init_cmd(directory: str, name: str | None, description: str | None, author: str | None,
             metrics_file: str | None, params_file: str | None, old_metrics_file: str | None,
             old_params_file: str | None, mlflow_run: str | None, mlflow_dir: str, force: bool) -> None:
    """Write a Kitfile for the project in DIRECTORY, guessing layers from its files.

    \b
    Model files (.safetensors, .onnx, .pt, .gguf, ...) become the model and its parts,
    .csv/.parquet datasets, README/LICENSE and .md docs, the rest code, as kit init does.
    Training results go into model.parameters: --params merged at the top, --metrics under
    "metrics"; --mlflow-run adds a run's params (strings, as MLflow stores them) and the latest
    value of each metric (highest step, then newest), with --params/--metrics winning on clashes.
      ocikit init ./project --name sentiment --author "ML team"
      ocikit init ./project --params params.yaml --metrics metrics.json
      ocikit init ./project --mlflow-run 3f2a9c... --mlflow-dir ./mlruns
    """
    from ocikit._kitfile._scaffold import init
    from ocikit.errors import UsageError

    for new, old, flag in ((metrics_file, old_metrics_file, "metrics"), (params_file, old_params_file, "params")):
        if new is not None and old is not None:
            raise UsageError(f"--{flag}-file is the old name of --{flag}; give only one of them")
    metrics_file = metrics_file or old_metrics_file
    params_file = params_file or old_params_file
    path = init(directory, name=name, description=description, author=author, force=force,
                metrics_file=metrics_file, params_file=params_file, mlflow_run=mlflow_run,
                mlflow_dir=mlflow_dir)
    click.echo(f"Wrote {path}")


@click.command("pack")
@click.argument("context", type=click.Path(file_okay=False, exists=True))
@click.option("-t", "--tag", "tags", multiple=True, required=True, metavar="REF[,TAG...]",
              help="Name for the ModelKit, e.g. acme/sentiment:1.0.0 (repeat or 'repo:a,b' for more tags).")
@click.option("-f", "--file", "kitfile", type=click.Path(dir_okay=False, exists=True, allow_dash=True),
              help="The Kitfile (default: Kitfile, kitfile or .kitfile in CONTEXT; '-' = stdin).")
@click.option("--compression", type=click.Choice(["none", "gzip", "gzip-fastest", "zstd"]), default="none",
              show_default=True,
              help="Layer compression. zstd is fast but kit older than 1.15 cannot read it; "
                   "model weights barely compress, so none is usually best.")
@click.option("--format", "fmt", type=click.Choice(["kitops", "modelpack"]), default="kitops", show_default=True,
              help="kitops: a KitOps ModelKit. modelpack: a CNCF ModelPack (application/vnd.cncf.model.* "
                   "media types, the Kitfile in the manifest annotation ml.kitops.modelkit.kitfile), "
                   "readable by kit >= 1.10 and ModelPack tools. Its config records a creation time: "
                   "SOURCE_DATE_EPOCH when set, otherwise now, so without it every pack has a new digest.")
@click.option("--layers", "--layer-format", "layer_format", type=click.Choice(["tar", "raw"]), default="tar",
              show_default=True,
              help="raw: each Kitfile entry is one file stored as is (kit 1.17's raw layers, "
                   "org.cncf.model.filepath names it); kit older than 1.15 cannot read them.")
@click.option("--no-sbom", is_flag=True, help="Do not attach a CycloneDX SBOM.")
@click.option("--sbom-env", is_flag=True, help="Record the Python environment (installed packages) in the SBOM.")
@click.option("--sign-key", type=click.Path(dir_okay=False, exists=True),
              help="Sign the ModelKit with this private key (password from $OCIKIT_PASSWORD).")
@click.option("--provenance", is_flag=True,
              help="Also attach SLSA provenance (git commit, Kitfile digest, ocikit version, builder "
                   "from $OCIKIT_BUILDER_ID), signed with --sign-key.")
@click.option("--dry-run", is_flag=True, help="Show which file goes into which layer; write nothing.")
@json_option
@read_options
def pack_cmd(context: str, tags: Sequence[str], kitfile: str | None, compression: Compression, fmt: Format,
             layer_format: LayerFormat, no_sbom: bool, sbom_env: bool, sign_key: str | None, provenance: bool,
             dry_run: bool, registry_options: RegistryOptions, as_json: bool) -> None:
    """Pack the project in CONTEXT into a ModelKit in the local store.

    \b
    One layer per Kitfile entry, in the order model, parts, code, datasets, docs. Files listed in
    CONTEXT/.kitignore (.dockerignore rules) and the Kitfile itself are left out; a file claimed
    by two entries (a dataset inside the model directory, code: .) goes only into the more
    specific one. Symbolic links are followed only when they stay inside CONTEXT; a link that
    leads outside is an error. Tars carry no times or owners, so the same files give the same
    digest on any machine (set SOURCE_DATE_EPOCH to also record a creation time).
    Every layer carries org.cncf.model.filepath, its cleaned Kitfile path.
    The network options reach a parent ModelKit that model.path names in a registry.
    \b
      ocikit pack ./project -t acme/sentiment:1.0.0
      ocikit pack ./project -t acme/sentiment:1.0.0,latest --compression zstd
      SOURCE_DATE_EPOCH=1700000000 ocikit pack ./project -t acme/sentiment:1.0.0 --format modelpack
      ocikit pack ./project -t acme/sentiment:1.0.0 --dry-run
    """
    from ocikit._ops._pack import pack
    from ocikit._ops._pack_plan import plan_pack

    ctx = get_context()
    if dry_run:
        plan = plan_pack(context, tag=list(tags), kitfile=kitfile, compression=compression, home=ctx.home,
                         format=fmt, options=registry_options, layer_format=layer_format)
        _show_plan(plan, as_json)
        return
    with progress_ui("packed", quiet=ctx.quiet or as_json) as progress:
        result = pack(context, tag=list(tags), kitfile=kitfile, compression=compression, home=ctx.home,
                      sbom=not no_sbom, sbom_env=sbom_env, sign_key=sign_key, provenance=provenance,
                      progress=progress, format=fmt, options=registry_options, layer_format=layer_format)
    if as_json:
        echo_json(result.to_dict())
        return
    for ref in result.references:
        status(f"Tagged {ref.display}")
    click.echo(f"Model saved: {result.digest}")


def _show_plan(plan: PackPlan, as_json: bool) -> None:
    """``pack --dry-run``: which file goes into which layer."""
    if as_json:
        echo_json({"dryRun": True, "plan": plan.to_dict(), "references": [r.display for r in plan.references]})
        return
    for layer in plan.layers:
        click.echo(f"{layer.kind} layer {layer.path}: {layer.file_count} files, {format_bytes(layer.size)}")
        for entry in layer.entries:
            if not entry.is_dir:
                click.echo(f"  {entry.name}  {format_bytes(entry.size)}")
    if plan.ignored:
        click.echo("ignored by .kitignore: " + ", ".join(plan.ignored))
    if plan.skipped:
        click.echo("skipped (not a regular file): " + ", ".join(plan.skipped))


@click.command("list")
@click.argument("repository", required=False, metavar="[REPOSITORY]")
@json_option
@network_options
def list_cmd(repository: str | None, registry_options: RegistryOptions, as_json: bool) -> None:
    """List ModelKits (and CNCF ModelPacks) in the local store, or in a registry repository.

    \b
      ocikit list
      ocikit list acme/sentiment
      ocikit list registry.example/acme/sentiment
    """
    from ocikit._ops._catalog import list_modelkits

    kits = list_modelkits(repository, home=get_context().home, options=registry_options)
    if as_json:
        echo_json([{**k.to_dict(), "size": format_bytes(k.size), "sizeBytes": k.size} for k in kits])
        return
    rows = []
    for k in kits:
        for tag in k.tags or ("<none>",):
            rows.append((k.repository, tag, k.author or "<none>", k.name or "<none>", format_bytes(k.size),
                         str(k.digest)))
    echo_table(("REPOSITORY", "TAG", "MAINTAINER", "NAME", "SIZE", "DIGEST"), rows)


@click.command("inspect")
@click.argument("reference", metavar="REFERENCE")
@click.option("-r", "--remote", is_flag=True, help="Read every byte from the registry, not the local cache.")
@click.option("--summary", is_flag=True, help="A one-screen model summary instead (from the Kitfile and the "
              "SBOM's weights-header facts: parameters, tensors, dtypes, architecture, quantization).")
@json_option
@read_options
def inspect_cmd(reference: str, remote: bool, summary: bool, registry_options: RegistryOptions,
                as_json: bool) -> None:
    """Print a ModelKit's digest, manifest and Kitfile (config) as JSON.

    \b
    A reference that names a registry is resolved there (--offline: in the local store); content
    the store has by digest is read locally unless --remote. For a CNCF ModelPack,
    "format" is "modelpack", "modelpackConfig" is its config, and "kitfile" comes from the
    ml.kitops.modelkit.kitfile annotation or, without it, is synthesised from the config and the
    layers' org.cncf.model.filepath ("kitfileSource" says which).
      ocikit inspect acme/sentiment:1.0.0
      ocikit inspect --remote registry.example/acme/sentiment:1.0.0
      ocikit inspect --summary acme/sentiment:1.0.0
    """
    if summary:
        from ocikit._ops._summary import model_summary
        from ocikit.cli._summary_render import render_summary

        found = model_summary(reference, remote=remote, home=get_context().home, options=registry_options)
        if as_json:
            echo_json(found.to_dict())
        else:
            click.echo(render_summary(found))
        return
    from ocikit._ops._catalog import inspect

    result = inspect(reference, remote=remote, home=get_context().home, options=registry_options)
    echo_json(result.to_dict())


@click.command("info")
@click.argument("reference", metavar="REFERENCE")
@click.option("-r", "--remote", is_flag=True, help="Read every byte from the registry, not the local cache.")
@read_options
def info_cmd(reference: str, remote: bool, registry_options: RegistryOptions) -> None:
    """Print a ModelKit's Kitfile as YAML.

    \b
      ocikit info acme/sentiment:1.0.0
    """
    from ocikit._ops._catalog import inspect

    result = inspect(reference, remote=remote, home=get_context().home, options=registry_options)
    click.echo(result.kitfile.to_yaml(), nl=False)


@click.command("tag")
@click.argument("source", metavar="SOURCE")
@click.argument("target", metavar="TARGET")
def tag_cmd(source: str, target: str) -> None:
    """Give the local ModelKit SOURCE another name TARGET (no data is copied).

    \b
      ocikit tag acme/sentiment:1.0.0 acme/sentiment:stable
      ocikit tag acme/sentiment:1.0.0 registry.example/acme/sentiment:1.0.0
    """
    from ocikit._ops._catalog import tag

    result = tag(source, target, home=get_context().home)
    click.echo(f"Tagged {result.display}")


@click.command("unpack")
@click.argument("reference", metavar="REFERENCE")
@click.option("-d", "--dir", "directory", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Where to unpack (created if missing).")
@click.option("--filter", "filters", multiple=True, metavar="FILTER",
              help="What to unpack, kit's grammar TYPE[,TYPE...][:NAME[,NAME...]]: types kitfile, model, "
                   "datasets, code, docs, prompts, mcpservers; the names after ':' (a name or path, "
                   "exactly) apply to every listed type, so model,datasets:validation selects only a "
                   "model or dataset named 'validation'. Repeat --filter to combine different "
                   "selections (--filter model --filter datasets:validation). A filter matching "
                   "nothing is an error (exit 6). "
                   "Default: everything.")
@click.option("-o", "--overwrite", is_flag=True, help="Replace existing files.")
@click.option("-i", "--ignore-existing", is_flag=True, help="Keep existing files and skip those entries.")
@click.option("--include-remote", is_flag=True,
              help="Also fetch remote datasets (remotePath) into their path, each checked against its "
                   "sha256 remoteHash before it lands (https:// and file:// URLs; s3:// is refused).")
@click.option("--verify-key", type=click.Path(dir_okay=False, exists=True), envvar=ENV_VERIFY_KEY,
              help="Refuse the ModelKit unless signed by this public key (checked before anything is "
                   f"written). Env: {ENV_VERIFY_KEY}.")
@click.option("--select", "select", multiple=True, metavar="KEY=VALUE",
              help="For a ModelKit index: the variant carrying these labels (repeat to AND them).")
@click.option("--file", "files", multiple=True, metavar="PATH",
              help="Only this file (its path as unpacked; repeat for more, with --filter to narrow the "
                   "layers): a large uncompressed layer's table of contents gives its bytes, fetched "
                   "alone with an HTTP Range and checked against the sha256 recorded at pack; "
                   "otherwise it is taken from the whole layer.")
@json_option
@read_options
def unpack_cmd(reference: str, directory: str, filters: Sequence[str], overwrite: bool, ignore_existing: bool,
               include_remote: bool, verify_key: str | None, select: Sequence[str], files: Sequence[str],
               registry_options: RegistryOptions, as_json: bool) -> None:
    """Unpack a ModelKit's (or a CNCF ModelPack's) files into a directory.

    \b
    A REFERENCE that names a registry is resolved in the registry, so a moved tag (a promotion)
    is always seen; layers the local store already has by digest are read from it, the others
    are streamed straight into the directory and not cached. --offline uses only the local
    store (what 'ocikit pull' kept). Every layer is checked against its digest and
    refused if it holds links, devices or paths leaving the directory; files appear only after
    every layer checked out. The Kitfile (and SBOM.json when the ModelKit has an SBOM) is
    written unless a filter leaves out 'kitfile'.
    \b
      ocikit unpack acme/sentiment:1.0.0 -d ./serve
      ocikit unpack registry.example/acme/sentiment:1.0.0 -d ./serve --filter model
      ocikit unpack acme/sentiment:1.0.0 -d ./data --filter datasets:validation -o
      ocikit unpack acme/sentiment:1.0.0 -d ./eval --filter model --filter datasets:validation
    """
    from ocikit._ops._unpack import unpack

    ctx = get_context()
    if files:
        _unpack_files(reference, directory, files, filters, overwrite, verify_key, select, registry_options,
                      as_json)
        return
    with progress_ui("unpacked", quiet=ctx.quiet or as_json) as progress:
        result = unpack(reference, directory, filters=list(filters), overwrite=overwrite,
                        ignore_existing=ignore_existing, home=ctx.home, options=registry_options,
                        verify_key=verify_key, progress=progress, include_remote=include_remote,
                        select=select)
    if as_json:
        echo_json(result.to_dict())
        return
    kept = f", kept {len(result.kept)} existing" if result.kept else ""
    click.echo(f"Unpacked {result.reference.display} ({result.digest.short}): {len(result.written)} files "
               f"into {result.target}{kept}")


@click.command("remove")
@click.argument("reference", required=False, metavar="[REFERENCE]")
@click.option("-a", "--all", "all_untagged", is_flag=True,
              help="Remove every untagged ModelKit (with --force: every ModelKit).")
@click.option("-f", "--force", is_flag=True,
              help="Remove the ModelKit even if other tags point at it (with --all: everything).")
@click.option("-r", "--remote", is_flag=True,
              help="Remove from the registry instead: a shared tag alone, the manifest only when no "
                   "other tag names it (or with --force).")
@json_option
@network_options
def remove_cmd(reference: str | None, all_untagged: bool, force: bool, remote: bool,
               registry_options: RegistryOptions, as_json: bool) -> None:
    """Remove ModelKits from the local store (or, with --remote, a registry).

    \b
    By tag: the tag goes, and the ModelKit too when it was its last tag. By digest: the ModelKit
    and all its tags. Blobs are freed by 'ocikit gc'.
      ocikit remove acme/sentiment:1.0.0
      ocikit remove acme/sentiment@sha256:...
      ocikit remove --all
      ocikit remove --remote registry.example/acme/sentiment:old
    """
    from ocikit._ops._catalog import remove

    events = remove(reference, all_untagged=all_untagged, force=force, remote=remote,
                    home=get_context().home, options=registry_options)
    if as_json:
        echo_json([e.to_dict() for e in events])
        return
    for event in events:
        click.echo(str(event))


def _unpack_files(reference: str, directory: str, files: Sequence[str], filters: Sequence[str], overwrite: bool,
                  verify_key: str | None, select: Sequence[str], registry_options: RegistryOptions,
                  as_json: bool) -> None:
    """``unpack --file``: one library call, rendered."""
    from ocikit._ops._unpack_file import unpack_files

    fetched = unpack_files(reference, directory, files, filters=list(filters), overwrite=overwrite,
                           home=get_context().home, options=registry_options, verify_key=verify_key,
                           select=select)
    if as_json:
        echo_json({"files": [f.to_dict() for f in fetched]})
        return
    for f in fetched:
        how = "by range" if f.ranged else "from the whole layer"
        click.echo(f"Fetched {f.path} ({f.size} bytes, {how}, layer {f.layer.short})")
