"""`fatectl validate` and `fatectl migrate`: the first step of every journey, and of every new version."""

from __future__ import annotations

from pathlib import Path

import click

from fatectl.cli.common import spec_argument
from fatectl.spec.model import Federation


@click.command("validate")
@spec_argument
def validate(fed: Federation) -> None:
    """Check SPEC against the schema and the cross-field rules; list every problem at once."""
    ids = [str(p.id) for p in fed.parties]
    modules = sorted({m for p in fed.parties for m in p.module_names}, key=("router", "flow", "board").index)
    exchange = f" via {fed.exchange.name} ({fed.exchange.id})" if fed.exchange.enabled else ""
    click.echo(
        f"OK {fed.source}: federation {fed.name}, {len(ids)} parties "
        f"({', '.join(ids) if len(ids) <= 6 else f'{ids[0]} ... {ids[-1]}'}), modules {'+'.join(modules)}, "
        f"topology {fed.topology}{exchange}, tls {fed.security.tls}, {fed.security.paillier_key_bits}-bit keys"
    )


@click.command("migrate")
@click.argument("spec", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show the migrated spec as a diff; write nothing.")
def migrate(spec: Path, dry_run: bool) -> None:
    """Migrate SPEC to the apiVersion this fatectl reads, in place (comments kept, validated first)."""
    from fatectl.spec.migrate import migrate_file

    result = migrate_file(spec, dry_run=dry_run)
    if not result.steps:
        click.echo(f"{spec} is already {result.target}: nothing to migrate")
        return
    click.echo(result.diff.rstrip("\n"))
    for step in result.steps:
        click.echo(step)
    click.echo(f"{'dry run: would migrate' if dry_run else 'migrated'} {spec}: {result.source} -> {result.target}")
