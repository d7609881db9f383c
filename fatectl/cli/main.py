"""The `fatectl` command: its groups in the order of a user's journey, and the one error handler.

Every FatectlError becomes a message on stderr and its exit code here, in one place;
users never see a traceback for bad input. Only modules under fatectl/cli import click.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from fatectl import __version__
from fatectl.cli.audit import audit
from fatectl.cli.bundle import bundle
from fatectl.cli.certs import certs
from fatectl.cli.common import OrderedGroup
from fatectl.cli.images import images
from fatectl.cli.jobs import data, job
from fatectl.cli.lab import down, logs, status, up
from fatectl.cli.ops import doctor, support_bundle
from fatectl.cli.render import render
from fatectl.cli.spec import validate
from fatectl.errors import FatectlError


def _fail(err: FatectlError) -> NoReturn:
    click.echo(f"error: {err}", err=True)
    sys.exit(err.exit_code)


class _Main(OrderedGroup):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FatectlError as err:
            _fail(err)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fatectl")
def main() -> None:
    """Deploy and run a FATE-style federation from one validated spec."""


# The journey: spec -> render -> lab (and what to run when it misbehaves) -> data and jobs -> audit
# -> bundles -> certificates.
for command in (validate, render, images, up, down, status, logs, doctor, support_bundle, data, job, audit, bundle,
                certs):
    main.add_command(command)
