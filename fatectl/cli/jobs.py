"""`fatectl data …` and `fatectl job …`: tables and jobs on a party's flow."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from fatectl.cli.common import (
    OrderedGroup,
    output_option,
    party_option,
    print_rows,
    progress_printer,
    spec_argument,
    to_json,
)
from fatectl.spec.model import Federation

_JOB_COLUMNS = ["id", "name", "status", "initiator", "roles", "updated", "reason", "waiting"]


@click.group(cls=OrderedGroup)
def data() -> None:
    """Tables on a party's flow."""


@data.command("upload")
@spec_argument
@party_option
@click.option("--name", required=True, help="Table name on that party (letters, digits, _ . -).")
@click.option("--overwrite", is_flag=True, help="Replace an existing table of that name.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def data_upload(fed: Federation, party_id: int, name: str, overwrite: bool, file: Path) -> None:
    """Upload CSV FILE (header, an `id` column, numeric features, optional label `y`)."""
    from fatectl.flowclient import upload

    table = upload(fed, party_id, name, file, overwrite)
    click.echo(f"table {table['name']} on party {party_id}: {table['rows']} rows, "
               f"{len(table['features'])} features{', with label y' if table['label'] else ''}")


@data.command("list")
@spec_argument
@party_option
@output_option
def data_list(fed: Federation, party_id: int, output_format: str) -> None:
    """Tables uploaded to a party's flow."""
    from fatectl.flowclient import client_for

    rows = [{**t, "features": len(t["features"])} for t in client_for(fed, party_id).tables()]
    print_rows(rows, ["name", "rows", "features", "label"], output_format)


@click.group(cls=OrderedGroup)
def job() -> None:
    """Submit, follow and stop jobs on a party's flow."""


@job.command("submit")
@spec_argument
@party_option
@click.argument("jobfile", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--wait", is_flag=True, help="Wait until the job ends; exit non-zero unless it succeeds.")
@click.option("--timeout", type=click.FloatRange(min=0), default=3600.0, show_default=True,
              help="Seconds to wait with --wait.")
@output_option
def job_submit(fed: Federation, party_id: int, jobfile: Path, wait: bool, timeout: float, output_format: str) -> None:
    """Propose JOBFILE (YAML/JSON) to every party of its roles; it starts when all accept."""
    from fatectl.flowclient import scalar_metrics, submit

    result = submit(fed, party_id, jobfile, wait, timeout, progress=progress_printer(output_format == "json"))
    if output_format == "json":
        click.echo(to_json(result))
        return
    click.echo(f"job {result['id']} {result['status']}")
    if result["status"] == "success":
        print_rows(scalar_metrics(fed, party_id, result["id"]), ["component", "role", "name", "value"], "table")


@job.command("status")
@spec_argument
@party_option
@click.argument("job_id")
@output_option
def job_status(fed: Federation, party_id: int, job_id: str, output_format: str) -> None:
    """One job as this party sees it, with its outputs."""
    from fatectl.flowclient import client_for, job_summary

    print_rows([job_summary(client_for(fed, party_id).job(job_id))], _JOB_COLUMNS, output_format)


@job.command("list")
@spec_argument
@party_option
@output_option
def job_list(fed: Federation, party_id: int, output_format: str) -> None:
    """Jobs this party takes part in, newest first."""
    from fatectl.flowclient import client_for, job_summary

    print_rows([job_summary(j) for j in client_for(fed, party_id).jobs()], _JOB_COLUMNS, output_format)


@job.command("stop")
@spec_argument
@party_option
@click.argument("job_id")
def job_stop(fed: Federation, party_id: int, job_id: str) -> None:
    """Stop a job on every party."""
    from fatectl.flowclient import client_for

    stopped = client_for(fed, party_id).stop(job_id)
    click.echo(f"job {stopped['id']} {stopped['status']}: {stopped['reason']}")


@job.command("logs")
@spec_argument
@party_option
@click.argument("job_id")
@output_option
def job_logs(fed: Federation, party_id: int, job_id: str, output_format: str) -> None:
    """The job's log on this party (flow events and component messages)."""
    from fatectl.flowclient import client_for

    entries = client_for(fed, party_id).logs(job_id)
    if output_format == "json":
        click.echo(to_json(entries))
        return
    for e in entries:
        stamp = time.strftime("%H:%M:%S", time.gmtime(e["ts"]))
        click.echo(f"{stamp} {e['source']}: {e['message'].rstrip()}")


@job.command("outputs")
@spec_argument
@party_option
@click.argument("job_id")
@output_option
def job_outputs(fed: Federation, party_id: int, job_id: str, output_format: str) -> None:
    """Metrics, models and output tables of a job on this party."""
    from fatectl.flowclient import client_for

    rows = [dict(r) for r in client_for(fed, party_id).outputs(job_id)]
    if output_format == "table":
        rows = [{**r, "value": json.dumps(r["value"], sort_keys=True)[:80]} for r in rows]
    print_rows(rows, ["component", "role", "kind", "name", "value"], output_format)
