"""`fatectl audit`: what a party was asked, decided and did, and whether its log is intact."""

from __future__ import annotations

import json
import time

import click

from fatectl.cli.common import output_option, party_option, print_rows, spec_argument, to_json
from fatectl.spec.model import Federation


@click.command("audit")
@spec_argument
@party_option
@click.option("--verify", is_flag=True,
              help="Recompute the hash chain here and check it against the last checkpoint; exit 8 if broken.")
@output_option
def audit(fed: Federation, party_id: int, verify: bool, output_format: str) -> None:
    """A party's audit log: proposals, decisions, approvals, starts, ends, data read and written."""
    from fatectl.audit import audit_log

    report = audit_log(fed, party_id, verify)
    if output_format == "json":
        click.echo(to_json(report.as_json()))
        return
    rows = [
        {
            "seq": r["seq"],
            "time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r["ts"])),
            "kind": r["kind"],
            "job": r["job_id"],
            "actor": r["actor"],
            "detail": json.dumps(r["detail"], sort_keys=True)[:100],
        }
        for r in report.records
    ]
    print_rows(rows, ["seq", "time", "kind", "job", "actor", "detail"], "table")
    checked = report.verification
    if checked is not None:
        head = f"record {checked.head.seq} ({checked.head.hash[:16]}...)" if checked.head else "no records"
        against = f", and still holds record {checked.previous.seq} verified before" if checked.previous else ""
        click.echo(f"verified: {checked.records} records chain up to {head}{against}; "
                   f"checkpoint {checked.checkpoint_file}")
