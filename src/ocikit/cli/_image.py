"""The ``image`` command: the OCI image view of a ModelKit, for Kubernetes image volumes and KServe Modelcars."""

from __future__ import annotations

import click

from ocikit._config import RegistryOptions
from ocikit.cli._context import get_context
from ocikit.cli._options import json_option, network_options
from ocikit.cli._output import echo_json, format_bytes
from ocikit.cli._progress_ui import progress_ui

__all__ = ["image_cmd"]


@click.command("image")
@click.argument("reference", metavar="REFERENCE")
@click.option("-t", "--tag", "image", required=True, metavar="IMAGE_REF",
              help="The image view's reference (repository:tag), in the same store or registry.")
@click.option("--platform", default="linux/amd64", show_default=True, metavar="OS/ARCH",
              help="The os/architecture recorded in the image config (the files do not depend on it).")
@json_option
@network_options
def image_cmd(reference: str, image: str, platform: str, registry_options: RegistryOptions, as_json: bool) -> None:
    """Write an OCI image view of the ModelKit REFERENCE, sharing its layer blobs.

    \b
    The image's layers are the ModelKit's layer blobs byte for byte; only an image config
    (rootfs.diff_ids) and a manifest are written, so a registry that has the ModelKit receives
    a few KiB. Every layer is checked by the strict tar reader first. Files appear at the image
    root at their Kitfile paths. Raw (single-file) layers are refused. See docs/kubernetes.md.
      ocikit image registry.example/acme/sentiment:1.0.0 -t registry.example/acme/sentiment:1.0.0-image
    """
    from ocikit._ops._image import image_view

    ctx = get_context()
    with progress_ui("mounted", quiet=ctx.quiet or as_json) as progress:
        view = image_view(reference, image, platform=platform, home=ctx.home, options=registry_options,
                          progress=progress)
    if as_json:
        echo_json(view.to_dict())
        return
    click.echo(f"Image {view.reference} {view.digest}\n  view of ModelKit {view.modelkit_digest}; "
               f"{len(view.diff_ids)} layer(s) shared, {format_bytes(view.bytes_uploaded)} of layers copied")
