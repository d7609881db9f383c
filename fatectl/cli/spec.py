"""`fatectl validate`: the first step of every journey."""

from __future__ import annotations

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
