"""`fatectl party add|remove`: grow or shrink a federation in place (the spec file is edited)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from fatectl.cli.common import OrderedGroup, progress_printer

F = TypeVar("F", bound=Callable[..., Any])
spec_path = click.argument("spec", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
target_options = [
    click.option("--lab", type=click.Choice(["local", "compose"]), default=None,
                 help="Apply to this running lab: new processes start, the others reload."),
    click.option("--secrets-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                 help="Issue or revoke the party's certificate in this CA directory."),
    click.option("--helm-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                 help="Render every chart here and print the helm commands, in a safe order."),
    click.option("--dry-run", is_flag=True, help="Only show the spec edit; change nothing."),
    click.option("--timeout", type=click.FloatRange(min=0), default=120.0, show_default=True,
                 help="Seconds to wait for the lab to be ready again."),
    click.option("-q", "--quiet", is_flag=True, help="Hide progress."),
]


def _targets(command: F) -> F:
    for option in reversed(target_options):
        command = option(command)
    return command


def _port(text: str) -> tuple[str, int]:
    module, _, port = text.partition("=")
    if not port.isdigit():
        raise click.BadParameter(f"{text!r}: expected MODULE=PORT, e.g. router=19030")
    return module, int(port)


@click.group(cls=OrderedGroup)
def party() -> None:
    """Add or remove a party: spec, certificate, every peer's routes, running labs."""


def _report(change: object, lab: str | None) -> None:
    from fatectl.parties import PartyChange

    assert isinstance(change, PartyChange)
    click.echo(change.spec_diff.rstrip("\n") or "(the spec would not change)")
    if not change.written:
        click.echo("dry run: nothing was written")
        return
    click.echo(f"wrote {change.spec}")
    for note in change.notes:
        click.echo(f"note: {note}")
    if change.status is not None:
        links = sum(len(p.links) for p in change.status.readiness.probes)
        click.echo(f"{lab} lab ready: {len(change.status.readiness.probes)} parties, {links} links up")
    if change.helm_commands:
        click.echo("then, in this order:")
        for command in change.helm_commands:
            click.echo(f"  {command}")


@party.command("add")
@spec_path
@click.option("--id", "party_id", type=int, required=True, help="The new party's id (unique).")
@click.option("--name", required=True, help="Its name (a DNS label, unique).")
@click.option("--address", required=True, help="Where peers reach its router (host or IP).")
@click.option("--modules", default="router,flow", show_default=True, help="Comma-separated modules.")
@click.option("--host-port", "host_ports", multiple=True, help="MODULE=PORT on 127.0.0.1 for labs (repeatable).")
@click.option("--node-port", type=int, default=None, help="NodePort of its router (implies --service-type NodePort).")
@click.option("--service-type", type=click.Choice(["ClusterIP", "NodePort", "LoadBalancer"]), default=None)
@click.option("--namespace", default=None, help="Kubernetes namespace (default fate-<id>).")
@_targets
def party_add(spec: Path, party_id: int, name: str, address: str, modules: str, host_ports: tuple[str, ...],
              node_port: int | None, service_type: str | None, namespace: str | None, lab: str | None,
              secrets_dir: Path | None, helm_dir: Path | None, dry_run: bool, timeout: float, quiet: bool) -> None:
    """Add a party to SPEC (comments kept) and to whatever runs it."""
    from fatectl.parties import Target, add_party
    from fatectl.spec.edit import NewParty

    new = NewParty(party_id, name, address, tuple(m.strip() for m in modules.split(",") if m.strip()),
                   dict(_port(p) for p in host_ports), node_port,
                   service_type or ("NodePort" if node_port is not None else None), namespace)
    target = Target(lab, secrets_dir, helm_dir, timeout)  # type: ignore[arg-type]
    _report(add_party(spec, new, target, dry_run, progress_printer(quiet)), lab)


@party.command("remove")
@spec_path
@click.option("--party", "party_id", type=int, required=True, help="The party to remove.")
@_targets
def party_remove(spec: Path, party_id: int, lab: str | None, secrets_dir: Path | None, helm_dir: Path | None,
                 dry_run: bool, timeout: float, quiet: bool) -> None:
    """Remove a party from SPEC, revoke its certificate, and cut it out of whatever runs it."""
    from fatectl.parties import Target, remove_party

    target = Target(lab, secrets_dir, helm_dir, timeout)  # type: ignore[arg-type]
    _report(remove_party(spec, party_id, target, dry_run, progress_printer(quiet)), lab)
