"""`fatectl certs …`: the federation CA, party certificates and flow tokens."""

from __future__ import annotations

from pathlib import Path

import click

from fatectl.cli.common import OrderedGroup, spec_argument
from fatectl.spec.model import Federation


@click.group(cls=OrderedGroup)
def certs() -> None:
    """Federation CA, party certificates and flow tokens."""


@certs.command("create")
@spec_argument
@click.option("-o", "--output-dir", "directory", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the CA and one sub-directory per party; existing files are kept.")
def certs_create(fed: Federation, directory: Path) -> None:
    """Create whatever CA, certificates, keys and tokens of SPEC are missing in DIR."""
    from fatectl.pki import ensure_secrets

    layout = ensure_secrets(fed, directory)
    click.echo(f"CA: {layout.ca_file}")
    for party_id, party in sorted(layout.parties.items()):
        click.echo(f"party {party_id} ({party.name}): {party.directory}")
