"""Maintenance commands: ``fsck`` (verify/repair the local store) and ``gc`` (collect garbage)."""

from __future__ import annotations

import click

from ocikit.cli._context import get_context
from ocikit.cli._options import json_option
from ocikit.cli._output import echo_json, format_bytes
from ocikit.errors import VerificationError


@click.command("fsck")
@click.option("--repair", is_flag=True,
              help="Delete corrupt blobs, drop index entries whose manifest is gone, remove stale ingest files.")
@click.option("--older-than", "older_than", type=click.IntRange(0), default=60, show_default=True,
              metavar="MINUTES", help="With --repair: remove leftover ingest/temp files older than this.")
@json_option
@click.pass_context
def fsck_cmd(ctx: click.Context, repair: bool, older_than: int, as_json: bool) -> None:
    """Verify the local store: every blob's digest, every manifest's references, index.json.

    Exits 3 when a problem remains (after --repair, when one could not be repaired).
    """
    from ocikit._store._fsck import fsck

    report = fsck(get_context().home, repair=repair, stale_seconds=older_than * 60)
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(f"checked {report.blobs} blobs ({format_bytes(report.bytes)}), {report.manifests} manifests, "
                   f"{report.entries} index entries in {report.store}")
        for p in report.problems:
            mark = "repaired" if p.repaired else "problem"
            click.echo(f"{mark}: {p.kind}: {p.message}")
        for path in report.removed_files:
            click.echo(f"removed stale file: {path}")
        if report.stale_files:
            click.echo(f"{len(report.stale_files)} leftover file(s) of interrupted writes "
                       f"(removed by --repair after {older_than} min): {', '.join(report.stale_files[:5])}"
                       + (" ..." if len(report.stale_files) > 5 else ""))
        if report.ok:
            click.echo("store is consistent")
        else:
            remaining = sum(1 for p in report.problems if not p.repaired)
            click.echo(f"store is inconsistent: {remaining} problem(s)"
                       + ("" if repair else "; 'ocikit fsck --repair' fixes what it can"), err=True)
            from ocikit._store._fsck import CORRUPT_BLOB, MISSING_BLOB, SIZE_MISMATCH

            # problems only the content itself can fix: a re-pull or a re-pack
            needs_content = (MISSING_BLOB, SIZE_MISMATCH, CORRUPT_BLOB)
            if any(not p.repaired and p.kind in needs_content for p in report.problems):
                click.echo("hint: the store lacks content it cannot rebuild: pull the ModelKit again "
                           "('ocikit pull REF') or pack it again, then run 'ocikit fsck'", err=True)
    if not report.ok:
        ctx.exit(VerificationError.exit_code)  # an inconsistent store failed verification: exit 3


@click.command("gc")
@click.option("--dry-run", is_flag=True, help="Only report what would be removed.")
@click.option("--grace", "grace_minutes", type=click.IntRange(0), default=10, show_default=True,
              metavar="MINUTES", help="Keep unreferenced blobs younger than this (a pull may still need them).")
@json_option
def gc_cmd(dry_run: bool, grace_minutes: int, as_json: bool) -> None:
    """Remove blobs no tag or manifest in the local store references."""
    from ocikit._store._fsck import gc

    report = gc(get_context().home, dry_run=dry_run, grace_seconds=grace_minutes * 60)
    if as_json:
        echo_json(report.to_dict())
        return
    verb = "would remove" if dry_run else "removed"
    for digest in report.removed:
        click.echo(f"{verb} {digest}")
    click.echo(f"{verb} {len(report.removed)} blob(s), {format_bytes(report.bytes_freed)}; "
               f"{report.reachable} reachable"
               + (f"; kept {len(report.kept_young)} younger than {grace_minutes} min" if report.kept_young else ""))
