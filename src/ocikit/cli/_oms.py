"""``sign-files``: an OpenSSF Model Signing (OMS) signature of a model directory (docs/signing.md)."""

from __future__ import annotations

import click

from ocikit.cli._options import json_option, password_stdin_option, read_password
from ocikit.cli._output import echo_json, status


@click.command("sign-files")
@click.argument("directory", type=click.Path(file_okay=False), metavar="DIR")
@click.option("--key", "key", required=True, type=click.Path(dir_okay=False),
              help="Private key (PEM from 'ocikit keygen', or cosign's encrypted key).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the signature to FILE (default: DIR/model.sig).")
@password_stdin_option
@json_option
def sign_files_cmd(directory: str, key: str, output: str | None, password_stdin: bool, as_json: bool) -> None:
    """Sign every file of DIR as an OpenSSF Model Signing (OMS) signature.

    \b
    The signature is the Sigstore bundle 'model_signing sign key' writes; check it with
      model_signing verify key DIR --signature DIR/model.sig --public_key cosign.pub
      ocikit verify-files DIR --signature DIR/model.sig --key cosign.pub
    """
    from ocikit._trust._keys import is_encrypted
    from ocikit._trust._oms_verify import sign_files
    from ocikit.errors import KeyFileError

    try:
        needed = is_encrypted(key)
    except KeyFileError:
        needed = False  # let the library report the key problem
    result = sign_files(directory, key, output=output, password=read_password(password_stdin, needed=needed))
    if as_json:
        echo_json(result.to_dict())
        return
    status(f"signed {result.files} files of {directory}")
    click.echo(str(result.signature))
