"""The ``ocikit`` command line: the only place that prints and the only place that exits.

Each command module parses options, makes one library call and renders the result. Commands are
imported lazily so ``ocikit --help`` stays fast. The single error boundary is :func:`main`:
an :class:`~ocikit.errors.OcikitError` becomes one ``error:`` line plus a ``hint:`` line and the
class's exit code; a traceback is shown only with ``-v``.

Start-up (docs/performance.md): this module imports neither ``click`` nor any command module.
``ocikit --help`` and ``ocikit --version`` are answered from text pre-rendered by click itself
(``_help_text``, checked against click's live output by ``tests/cli/test_startup.py``), so they
cost little more than starting Python. Everything else goes through the click group in
``_group``, whose command list comes from the static table below, not from importing commands.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["COMMANDS", "SHORT_HELP", "cli", "main"]

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
    "image": "ocikit.cli._image:image_cmd",
    "index": "ocikit.cli._index:index_group",
    "keygen": "ocikit.cli._trust:keygen_cmd",
    "sign": "ocikit.cli._trust:sign_cmd",
    "verify": "ocikit.cli._trust:verify_cmd",
    "attest": "ocikit.cli._trust:attest_cmd",
    "verify-attestation": "ocikit.cli._trust:verify_attestation_cmd",
    "sbom": "ocikit.cli._sbom:sbom_cmd",
    "verify-files": "ocikit.cli._sbom:verify_files_cmd",
    "sign-files": "ocikit.cli._oms:sign_files_cmd",
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

#: command name → the first paragraph of its help, so the group's ``--help`` lists commands
#: without importing them. A test checks each entry against the command's real help.
SHORT_HELP: dict[str, str] = {
    "init": "Write a Kitfile for the project in DIRECTORY, guessing layers from its files.",
    "pack": "Pack the project in CONTEXT into a ModelKit in the local store.",
    "list": "List ModelKits (and CNCF ModelPacks) in the local store, or in a registry repository.",
    "inspect": "Print a ModelKit's digest, manifest and Kitfile (config) as JSON.",
    "info": "Print a ModelKit's Kitfile as YAML.",
    "tag": "Give the local ModelKit SOURCE another name TARGET (no data is copied).",
    "unpack": "Unpack a ModelKit's (or a CNCF ModelPack's) files into a directory.",
    "remove": "Remove ModelKits from the local store (or, with --remote, a registry).",
    "login": "Check credentials against REGISTRY and save them (Docker config.json format, mode 0600).",
    "logout": "Forget the saved credentials of REGISTRY (Docker's own config is left alone).",
    "push": "Push the ModelKit SOURCE from the local store to a registry.",
    "pull": "Pull the ModelKit REFERENCE from its registry into the local store.",
    "image": "Write an OCI image view of the ModelKit REFERENCE, sharing its layer blobs.",
    "index": "Build, inspect and move ModelKit indexes: one model's variants, labelled for selection.",
    "keygen": "Create an ECDSA P-256 key pair for 'ocikit sign' and 'cosign verify'.",
    "sign": "Sign a ModelKit's manifest digest, cosign-compatible.",
    "verify": "Verify a ModelKit's cosign signature; print the verified digest.",
    "attest": "Attach a signed in-toto attestation to a ModelKit, like 'cosign attest'.",
    "verify-attestation": "Verify a ModelKit's in-toto attestation; print its predicate.",
    "sbom": "Print the CycloneDX 1.6 SBOM attached to a ModelKit.",
    "verify-files": "Check an unpacked ModelKit against its SBOM.",
    "sign-files": "Sign every file of DIR as an OpenSSF Model Signing (OMS) signature.",
    "promote": "Move STAGE (a tag) of REFERENCE's repository to REFERENCE, after its gates pass.",
    "rollback": "Put the previous occupant of STAGE back (or --to a digest that held it).",
    "stages": "Each stage of REPOSITORY: digest, version, since when, by whom.",
    "history": "The stage events of STAGE in REPOSITORY, newest first.",
    "diff": "Show what changed from ModelKit A to ModelKit B.",
    "lineage": "Show the versions in a repository as a tree.",
    "fsck": "Verify the local store: every blob's digest, every manifest's references, index.json.",
    "gc": "Remove blobs no tag or manifest in the local store references.",
    "completion": "Print the shell completion script for bash, zsh or fish.",
    "version": "Show the versions of ocikit, Python and the libraries it uses.",
}


def __getattr__(name: str) -> Any:
    # ``from ocikit.cli import cli`` keeps working; click is imported only when it is asked for.
    if name == "cli":
        from ocikit.cli._group import cli

        return cli
    raise AttributeError(f"module 'ocikit.cli' has no attribute {name!r}")


def help_width() -> int:
    """The width click would format ``--help`` at: ``max(min(columns, 100) - 2, 50)``.

    ``columns`` follows ``shutil.get_terminal_size`` (``$COLUMNS``, else the terminal of stdout,
    else 80) without importing shutil; 100 is the group's ``max_content_width``.
    """
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    if columns <= 0:
        columns = 80
    return max(min(columns, 100) - 2, 50)


def _fast_path(args: list[str]) -> bool:
    """Answer ``--help``/``-h``/``--version`` without click when the pre-rendered text fits."""
    if args == ["--version"]:
        from ocikit._version import __version__

        sys.stdout.write(f"ocikit, version {__version__}\n")
        return True
    if args in (["--help"], ["-h"]):
        from ocikit.cli._help_text import GROUP_HELP

        text = GROUP_HELP.get(help_width())
        if text is None:  # an unusual terminal width: let click format it
            return False
        sys.stdout.write(text + "\n")
        return True
    return False


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: the one error boundary."""
    args = argv if argv is not None else sys.argv[1:]
    try:
        if _fast_path(list(args)):
            sys.stdout.flush()
            return 0
    except BrokenPipeError:
        sys.exit(1)
    from ocikit.cli._group import run

    return run(argv)
