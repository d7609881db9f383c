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
    click.echo(f"job {result['id']} {result['status']}" + (f": {result['reason']}" if result["reason"] else ""))
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


@job.command("pending")
@spec_argument
@party_option
@output_option
def job_pending(fed: Federation, party_id: int, output_format: str) -> None:
    """Jobs waiting for this party's approval, and what each asks of it."""
    from fatectl.flowclient import pending_jobs

    jobs = pending_jobs(fed, party_id)
    if output_format == "json":
        click.echo(to_json(jobs))
        return
    if not jobs:
        click.echo(f"nothing waits for the approval of party {party_id}")
    for j in jobs:
        roles = " ".join(f"{r}={','.join(map(str, ids))}" for r, ids in j["roles"].items())
        click.echo(f"job {j['id']} {j['name']!r} proposed by party {j['initiator']}: {j['reason']}")
        click.echo(f"  roles:  {roles} (this party: {', '.join(j['our_roles'])})")
        click.echo(f"  tables: {', '.join(f'{p}: {t}' for p, t in j['tables'].items())}")
        for step in j["pipeline"]:
            click.echo(f"  {step['name']}: {step['component']} {json.dumps(step['params'], sort_keys=True)}")
        click.echo(f"  decide: fatectl job approve|reject {fed.source or 'SPEC'} --party {party_id} {j['id']}")


def _decision_command(name: str, approve: bool, summary: str) -> click.Command:
    @click.command(name, help=summary)
    @spec_argument
    @party_option
    @click.argument("job_id")
    @click.option("--reason", default="", help="A note for the audit log" + (
        "." if approve else "; the proposer reads it too."))
    def command(fed: Federation, party_id: int, job_id: str, reason: str) -> None:
        from fatectl.flowclient import decide

        done = decide(fed, party_id, job_id, approve, reason)
        click.echo(f"job {done['id']} {done['status']}" + (f": {done['reason']}" if done["reason"] else ""))

    return command


job.add_command(_decision_command("approve", True, "Approve a job waiting for this party (see `job pending`)."))
job.add_command(_decision_command("reject", False, "Reject a job waiting for this party; it fails everywhere."))


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
