"""SBOM commands: ``sbom`` (print or save a ModelKit's CycloneDX SBOM) and ``verify-files``."""

from __future__ import annotations

import click

from ocikit._config import RegistryOptions
from ocikit._io._files import write_atomic
from ocikit.cli._context import get_context
from ocikit.cli._options import json_option, read_options, reference_argument
from ocikit.cli._output import echo_json, format_bytes, status
from ocikit.errors import OcikitError


@click.command("sbom")
@reference_argument
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write the SBOM to FILE instead of stdout.")
@click.option("--select", "select", multiple=True, metavar="KEY=VALUE",
              help="For a ModelKit index: the variant carrying these labels (repeat to AND them).")
@read_options
def sbom_cmd(reference: str, output: str | None, select: tuple[str, ...], registry_options: RegistryOptions) -> None:
    """Print the CycloneDX 1.6 SBOM attached to a ModelKit.

    \b
    Reads only the manifest, the referrers listing and the SBOM itself: no weights are
    downloaded. Feed it to a scanner:
      ocikit sbom registry.example/acme/sentiment:1.0.0 -o bom.json
      trivy sbom bom.json
      grype sbom:bom.json
    """
    from ocikit._ops._trust import sbom

    data = sbom(reference, home=get_context().home, options=registry_options, select=select)
    if output is None:
        click.echo(data.decode("utf-8"), nl=False)
        return
    try:
        write_atomic(output, data)
    except OSError as e:
        raise OcikitError(f"cannot write {output}: {e.strerror or e}",
                          hint="choose a writable path for -o") from e
    status(f"wrote {output} ({format_bytes(len(data))})")


@click.command("verify-files")
@click.argument("directory", type=click.Path(file_okay=False), metavar="DIR")
@click.option("--sbom", "sbom_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="The SBOM to check against (default: DIR/SBOM.json, written by 'ocikit unpack').")
@click.option("--signature", "signature", type=click.Path(dir_okay=False), metavar="FILE",
              help="Check DIR against this OpenSSF Model Signing signature (model.sig) instead.")
@click.option("--key", "key", type=click.Path(dir_okay=False), metavar="FILE",
              help="The public key that checks --signature.")
@json_option
def verify_files_cmd(directory: str, sbom_path: str | None, signature: str | None, key: str | None,
                     as_json: bool) -> None:
    """Check an unpacked ModelKit against its SBOM.

    Every file the SBOM lists must be in DIR with the same SHA-256, and DIR must hold nothing
    else (the Kitfile and SBOM.json written by unpack excepted). Exit code 3 names every
    extra, missing or modified file. With --signature and --key, DIR is checked against an
    OMS signature (written by 'model_signing sign key' or 'ocikit sign-files') the same way.
    """
    from ocikit._trust._sbom import verify_files
    from ocikit.errors import FileVerificationError, UsageError

    if (signature is None) != (key is None) or (signature is not None and sbom_path is not None):
        raise UsageError("--signature needs --key (and not --sbom)")
    try:
        if signature is not None and key is not None:
            from ocikit._trust._oms_verify import verify_files_signature

            oms = verify_files_signature(directory, signature, key)
            if as_json:
                echo_json(oms.to_dict())
            else:
                click.echo(f"verified {oms.files} files in {directory} against OMS signature {signature}")
            return
        result = verify_files(directory, sbom_path)
    except FileVerificationError as e:
        if as_json:  # scripts get the full lists on stdout; the error line and exit 3 still follow
            echo_json({"directory": directory, "ok": False, "modified": e.modified, "missing": e.missing,
                       "extra": e.extra})
        raise
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(f"verified {result.files} files ({format_bytes(result.bytes)}) in {directory} "
               f"against {result.sbom.name}")
