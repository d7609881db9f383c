"""Command line: parse, call one core function, print. The only module importing click.

Every FatectlError becomes a message on stderr and its exit code here, in one place;
users never see a traceback for bad input.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from fatectl import __version__
from fatectl.errors import FatectlError

F = TypeVar("F", bound=Callable[..., Any])


def _fail(err: FatectlError) -> None:
    click.echo(f"error: {err}", err=True)
    sys.exit(err.exit_code)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FatectlError as err:
            _fail(err)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fatectl")
def main() -> None:
    """Deploy and run a FATE-style federation from one validated spec."""


spec_argument = click.argument("spec", type=click.Path(dir_okay=True, path_type=str))
output_option = click.option(
    "--output", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True
)

# ---- commands are added below, one block per area (spec/render, certs, lab, jobs, images, bundle) ----

# ---- certs (ROUTER): federation CA, per-party certificates and flow tokens ----


@main.group()
def certs() -> None:
    """Federation CA, party certificates and flow tokens."""


@certs.command("create")
@spec_argument
@click.option("-o", "--output-dir", "directory", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Directory for the CA and one sub-directory per party; existing files are kept.")
def certs_create(spec: str, directory: str) -> None:
    """Create whatever CA, certificates, keys and tokens of SPEC are missing in DIR."""
    from fatectl.secrets import create_certs

    layout = create_certs(spec, directory)
    click.echo(f"CA: {layout.ca_file}")
    for party_id, party in sorted(layout.parties.items()):
        click.echo(f"party {party_id} ({party.name}): {party.directory}")


if __name__ == "__main__":  # pragma: no cover
    main()
