"""Trust commands: ``keygen``, ``sign``, ``verify`` (cosign-compatible, see docs/signing.md).

Passwords come from ``--password-stdin``, ``$OCIKIT_PASSWORD`` (set and empty = no password, like
``COSIGN_PASSWORD``) or a prompt — never from the command line, and no prompt when stdin is not a
terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from ocikit._config import RegistryOptions
from ocikit._trust._keys import ENV_PASSWORD, ENV_VERIFY_KEY
from ocikit.cli._context import get_context
from ocikit.cli._options import (
    json_option,
    password_stdin_option,
    read_options,
    read_password,
    reference_argument,
)
from ocikit.cli._output import echo_json


def _parse_annotations(ctx: click.Context, param: click.Parameter, values: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        k, sep, v = value.partition("=")
        if not sep or not k:
            raise click.BadParameter(f"{value!r} is not key=value", ctx=ctx, param=param)
        out[k] = v
    return out


annotation_option = click.option(
    "-a", "--annotation", "annotations", multiple=True, metavar="KEY=VALUE", callback=_parse_annotations,
    help="Annotation in the signed payload's 'optional' map (repeatable).",
)


@click.command("keygen")
@click.option("--output-prefix", default="cosign", show_default=True, metavar="PREFIX",
              help="Write PREFIX.key (private, mode 0600) and PREFIX.pub.")
@click.option("--cosign-format", is_flag=True,
              help="Write the private key in cosign's ENCRYPTED SIGSTORE PRIVATE KEY format "
                   "(needs the cosign-keys extra) so 'cosign sign --key' reads it too.")
@click.option("--force", is_flag=True, help="Replace an existing key pair.")
@password_stdin_option
def keygen_cmd(output_prefix: str, cosign_format: bool, force: bool, password_stdin: bool) -> None:
    """Create an ECDSA P-256 key pair for 'ocikit sign' and 'cosign verify'.

    \b
    The private key is PKCS#8 PEM, encrypted when a password is given:
      printf '%s\\n' "$PASS" | ocikit keygen --password-stdin
      OCIKIT_PASSWORD= ocikit keygen           # no password
    """
    from ocikit._trust._signing import keygen

    password = read_password(password_stdin, needed=True, confirm=True)
    if password is None:  # no terminal to ask on, and no explicit choice: refuse, as cosign does
        from ocikit.errors import UsageError

        raise UsageError(
            "keygen needs a password decision and stdin is not a terminal",
            hint=f"pipe one with --password-stdin, or set {ENV_PASSWORD}= (empty) for an unencrypted key",
        )
    key_path, pub_path = keygen(output_prefix, password, force, cosign_format=cosign_format)
    state = "encrypted" if password or cosign_format else "NOT encrypted"
    click.echo(f"Private key written to {key_path} ({state}; keep it secret)")
    click.echo(f"Public key written to {pub_path}")


@click.command("sign")
@reference_argument
@click.option("--key", "key", required=True, type=click.Path(dir_okay=False),
              help="Private key (PEM from 'ocikit keygen', or cosign's encrypted key).")
@annotation_option
@click.option("--format", "sig_format", type=click.Choice(["bundle", "legacy"]), default="bundle",
              show_default=True,
              help="bundle: a Sigstore bundle as an OCI 1.1 referrer (cosign v3's default); "
                   "legacy: cosign v2's sha256-<hex>.sig tag.")
@password_stdin_option
@json_option
@read_options
def sign_cmd(reference: str, key: str, annotations: dict[str, str], sig_format: str, password_stdin: bool,
             registry_options: RegistryOptions, as_json: bool) -> None:
    """Sign a ModelKit's manifest digest, cosign-compatible.

    \b
    By default a Sigstore bundle (DSSE, in-toto statement) is attached as an OCI 1.1 referrer,
    as cosign v3 writes it; --format legacy writes the tag sha256-<hex>.sig instead. Both go to
    the same repository: in the registry the reference names, or in the local store for a local
    reference or with --offline (push carries it along).
      ocikit sign registry.example/acme/sentiment:1.0.0 --key cosign.key -a ci=release
    """
    from ocikit._ops._trust import sign
    from ocikit._trust._bundle_oci import BundleSignResult
    from ocikit._trust._keys import is_encrypted
    from ocikit.errors import KeyFileError

    try:
        needed = is_encrypted(key)
    except KeyFileError:
        needed = False  # let the library report the key problem
    result = sign(reference, key, password=read_password(password_stdin, needed=needed),
                  annotations=annotations or None, format=sig_format, home=get_context().home,
                  options=registry_options)
    if as_json:
        echo_json(result.to_dict())
        return
    shown = result.reference.display
    where = "the local store" if result.local else result.location
    what = (f"Sigstore bundle referrer {result.referrer.digest}" if isinstance(result, BundleSignResult)
            else result.signature_tag)
    if result.added:
        click.echo(f"Signed {shown}")
        click.echo(f"signature: {what} in {where}")
    else:
        click.echo(f"{shown} already carries this signature ({what} in {where})")
    if result.local and not result.reference.is_local:
        click.echo("push the ModelKit to publish the signature with it", err=True)


@click.command("verify")
@reference_argument
@click.option("--key", "key", required=True, type=click.Path(dir_okay=False), envvar=ENV_VERIFY_KEY,
              show_envvar=True, help="Public key (PEM, e.g. cosign.pub).")
@annotation_option
@json_option
@read_options
def verify_cmd(reference: str, key: str, annotations: dict[str, str], registry_options: RegistryOptions,
               as_json: bool) -> None:
    """Verify a ModelKit's cosign signature; print the verified digest.

    \b
    Looks for a Sigstore bundle referrer first (cosign v3), then the sha256-<hex>.sig tag
    (cosign v2); --json says which was checked ("format": "bundle" or "legacy"). Checks the
    signature, that the signed statement or payload names this manifest digest (and, for the
    legacy payload, this repository), and the required -a annotations. Exits 3 when no signature
    passes. Use the printed digest from then on (REF@sha256:...), not the tag.
    """
    from ocikit._ops._trust import verify
    from ocikit._trust._bundle_oci import BundleVerifyResult

    result = verify(reference, key, annotations=annotations or None, home=get_context().home,
                    options=registry_options)
    if as_json:
        echo_json(result.to_dict())
        return
    count = len(result.bundles) if isinstance(result, BundleVerifyResult) else len(result.signatures)
    kind = "Sigstore bundle" if isinstance(result, BundleVerifyResult) else "legacy signature"
    click.echo(f"Verified {result.reference.display}: {count} valid signature{'s' if count != 1 else ''} "
               f"by {key} ({kind})")
    click.echo(str(result.digest))


@click.command("attest")
@reference_argument
@click.option("--predicate", required=True, type=click.Path(dir_okay=False, exists=True),
              help="JSON file holding the predicate (e.g. SLSA provenance, a CycloneDX SBOM).")
@click.option("--type", "predicate_type", default="slsaprovenance1", show_default=True, metavar="TYPE",
              help="slsaprovenance1, cyclonedx, spdxjson, custom, or a predicate type URI.")
@click.option("--key", "key", required=True, type=click.Path(dir_okay=False),
              help="Private key (PEM from 'ocikit keygen', or cosign's encrypted key).")
@password_stdin_option
@json_option
@read_options
def attest_cmd(reference: str, predicate: str, predicate_type: str, key: str, password_stdin: bool,
               registry_options: RegistryOptions, as_json: bool) -> None:
    """Attach a signed in-toto attestation to a ModelKit, like 'cosign attest'.

    \b
    The predicate is put in an in-toto statement about the manifest digest, signed in DSSE and
    attached as a Sigstore bundle referrer (cosign v3's new bundle format).
      ocikit attest registry.example/acme/sentiment:1.0.0 --predicate prov.json \\
        --type slsaprovenance1 --key cosign.key
    """
    from ocikit._ops._trust import attest
    from ocikit._trust._keys import is_encrypted
    from ocikit.errors import KeyFileError

    try:
        needed = is_encrypted(key)
    except KeyFileError:
        needed = False
    result = attest(reference, key, predicate, type=predicate_type,
                    password=read_password(password_stdin, needed=needed), home=get_context().home,
                    options=registry_options)
    if as_json:
        echo_json(result.to_dict())
        return
    where = "the local store" if result.local else result.location
    state = "Attested" if result.added else "Already attested"
    click.echo(f"{state} {result.reference.display}")
    click.echo(f"attestation: Sigstore bundle referrer {result.referrer.digest} in {where}")


@click.command("verify-attestation")
@reference_argument
@click.option("--key", "key", required=True, type=click.Path(dir_okay=False), envvar=ENV_VERIFY_KEY,
              show_envvar=True, help="Public key (PEM, e.g. cosign.pub).")
@click.option("--type", "predicate_type", default=None, metavar="TYPE",
              help="Require this predicate type (slsaprovenance1, cyclonedx, ... or a URI).")
@json_option
@read_options
def verify_attestation_cmd(reference: str, key: str, predicate_type: str | None,
                           registry_options: RegistryOptions, as_json: bool) -> None:
    """Verify a ModelKit's in-toto attestation; print its predicate.

    \b
    Checks the DSSE signature with the key, that the statement names this manifest digest, and
    the predicate type when --type is given. Exits 3 when no attestation passes.
    """
    import json

    from ocikit._ops._trust import verify_attestation

    result = verify_attestation(reference, key, type=predicate_type, home=get_context().home,
                                options=registry_options)
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(f"Verified {result.reference.display}: {result.predicate_type} attestation by {key}", err=True)
    click.echo(json.dumps(result.predicate, indent=2, sort_keys=True))
