"""`fatectl doctor` and `fatectl support-bundle`: what an operator runs when something is wrong."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from fatectl.cli.common import output_option, print_rows, spec_argument
from fatectl.spec.model import Federation


@click.command("doctor")
@spec_argument
@click.option("--party", "party_id", type=int, default=None, help="Only this party's checks (and the host's).")
@output_option
def doctor(fed: Federation, party_id: int | None, output_format: str) -> None:
    """Check ports, addresses, certificates, clocks, links, disk, image and tools; a fix for each failure."""
    from fatectl.doctor import ChecksFailed, diagnose

    checks = diagnose(fed, party_id)
    print_rows([dataclasses.asdict(c) for c in checks], ["check", "party", "status", "detail", "hint"], output_format)
    failed = [c for c in checks if c.status == "fail"]
    if failed:
        raise ChecksFailed(f"{len(failed)} of {len(checks)} checks failed")


@click.command("support-bundle")
@spec_argument
@click.option("--party", "party_id", type=int, required=True, help="The party (or exchange) to describe.")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Archive to write (.tar.gz); secrets are redacted.")
def support_bundle(fed: Federation, party_id: int, out: Path) -> None:
    """One archive a vendor or a partner's operator can read: configs, versions, status, logs, jobs."""
    from fatectl.support import write_support_bundle

    result = write_support_bundle(fed, party_id, out)
    click.echo(f"wrote {result.path} ({result.size / 1e3:.0f} kB, {len(result.members)} files, "
               f"{result.redactions} secret occurrence(s) redacted)")
