"""`fatectl up|down local|compose`, `status`, `logs`: a whole federation on this host."""

from __future__ import annotations

from pathlib import Path

import click

from fatectl.cli.common import OrderedGroup, output_option, print_rows, progress_printer, spec_argument
from fatectl.spec.model import Federation

_TIMEOUTS = {"local": 120.0, "compose": 300.0}


@click.group(cls=OrderedGroup)
def up() -> None:
    """Start a lab of SPEC: local processes (local) or containers (compose)."""


@click.group(cls=OrderedGroup)
def down() -> None:
    """Stop a lab of SPEC."""


def _up_command(kind: str, summary: str) -> click.Command:
    @click.command(kind, help=summary)
    @spec_argument
    @click.option("--timeout", type=click.FloatRange(min=0), default=_TIMEOUTS[kind], show_default=True,
                  help="Seconds to wait for every flow and every peer link to be up.")
    @click.option("-q", "--quiet", is_flag=True, help="Hide progress.")
    def command(fed: Federation, timeout: float, quiet: bool) -> None:
        from fatectl.lab.kinds import open_lab

        result = open_lab(fed, "compose" if kind == "compose" else "local").up(timeout, progress_printer(quiet))
        links = sum(len(p.links) for p in result.readiness.probes)
        size = (f"{len(result.readiness.probes)} parties" if kind == "compose"
                else f"{len(result.running)} processes")
        click.echo(f"{kind} lab {fed.name} ready in {result.seconds:.1f}s: {size}, {links} links up ({result.directory})")

    return command


def _down_command(kind: str, summary: str) -> click.Command:
    @click.command(kind, help=summary)
    @spec_argument
    @click.option("--volumes", is_flag=True, help="Also delete every party's data (tables, models, jobs).")
    def command(fed: Federation, volumes: bool) -> None:
        from fatectl.lab.kinds import open_lab

        stopped = open_lab(fed, "compose" if kind == "compose" else "local").down(volumes)
        click.echo(f"{kind} lab {fed.name}: stopped {len(stopped)} services"
                   + (f" ({', '.join(stopped)})" if stopped else "")
                   + ("; data deleted" if volumes else "; data kept"))

    return command


up.add_command(_up_command("local", "Start every router and flow of SPEC as local processes (no Docker)."))
up.add_command(_up_command("compose", "Start the compose lab of SPEC (containers on this Docker host)."))
down.add_command(_down_command("local", "Stop the local lab of SPEC; secrets stay, data too unless --volumes."))
down.add_command(_down_command("compose", "Stop the compose lab of SPEC; its data stays unless --volumes."))


@click.command("status")
@spec_argument
@output_option
def status(fed: Federation, output_format: str) -> None:
    """Each party's services, flow health and router links, in whichever lab SPEC runs as."""
    from fatectl.lab.kinds import current_lab

    state = current_lab(fed).status()
    print_rows(state.rows(), ["party", "name", "process", "state", "detail"], output_format)
    for cert in state.certificates:
        if cert.warning and output_format == "table":
            click.echo(f"warning: certificate of {cert.name}: {cert.state}: {cert.detail}", err=True)


@click.command("logs")
@spec_argument
@click.option("--party", "party_id", type=int, required=True, help="Party id (or the exchange's id).")
@click.option("--module", type=click.Choice(["router", "flow", "board"]), default=None, help="Only this module.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("--tail", type=click.IntRange(min=0), default=200, show_default=True,
              help="Lines from the end of each log.")
def logs(fed: Federation, party_id: int, module: str | None, follow: bool, tail: int) -> None:
    """Print the logs of one party's services, in whichever lab SPEC runs as."""
    from fatectl.lab.kinds import current_lab

    for line in current_lab(fed).logs(party_id, module, follow, tail):
        click.echo(line)


@click.command("upgrade")
@click.argument("spec", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--lab", "kind", type=click.Choice(["local", "compose"]), required=True, help="The running lab.")
@click.option("--tag", required=True, help="The new engine image tag (written to the spec's engine.tag).")
@click.option("--timeout", type=click.FloatRange(min=0), default=300.0, show_default=True,
              help="Seconds the federation may take to be ready again; past it the upgrade is rolled back.")
@click.option("--force", is_flag=True, help="Restart parties even while their jobs run (those jobs fail).")
@click.option("-q", "--quiet", is_flag=True, help="Hide progress.")
def upgrade(spec: Path, kind: str, tag: str, timeout: float, force: bool, quiet: bool) -> None:
    """Roll a running lab onto a new engine tag, one party at a time; roll back if it is not ready again."""
    from fatectl.upgrade import upgrade_lab

    result = upgrade_lab(spec, kind, tag, timeout, force, progress_printer(quiet))  # type: ignore[arg-type]
    click.echo(f"{kind} lab upgraded {result.old_tag} -> {result.new_tag}: {', '.join(result.members)}; "
               f"federation ready ({sum(len(p.links) for p in result.readiness.probes)} links up)")
