"""The `fatectl` command: its groups in the order of a user's journey, and the one error handler.

Every FatectlError becomes a message on stderr and its exit code here, in one place;
users never see a traceback for bad input. Only modules under fatectl/cli import click.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from fatectl import __version__
from fatectl.cli.audit import audit
from fatectl.cli.bundle import bundle
from fatectl.cli.certs import certs
from fatectl.cli.common import OrderedGroup
from fatectl.cli.images import images
from fatectl.cli.imports import import_
from fatectl.cli.jobs import data, job
from fatectl.cli.lab import down, logs, status, up, upgrade
from fatectl.cli.ops import doctor, support_bundle
from fatectl.cli.party import party
from fatectl.cli.plan import diff
from fatectl.cli.render import render
from fatectl.cli.spec import migrate, validate
from fatectl.errors import USAGE_ERROR, FatectlError


def _fail(err: FatectlError) -> NoReturn:
    click.echo(f"error: {err}", err=True)
    sys.exit(err.exit_code)


class _Main(OrderedGroup):
    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Click's own handling, except that a usage error exits 1 (bad input), not 2.

        2 belongs to `diff` alone ("changes pending"), so a script never mistakes a typo for it.
        """
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as err:
            err.show()
            sys.exit(USAGE_ERROR)
        except click.ClickException as err:
            err.show()
            sys.exit(err.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FatectlError as err:
            _fail(err)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as err:
            from fatectl.docker.client import engine_lost

            lost = engine_lost(err)
            if lost is None:
                raise
            _fail(lost)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fatectl")
def main() -> None:
    """Deploy and run a FATE-style federation from one validated spec."""


# The journey: (import) spec -> render (diff first) -> lab (and what to run when it misbehaves)
# -> data and jobs -> audit -> bundles -> certificates.
for command in (import_, validate, migrate, diff, render, images, up, down, status, logs, upgrade, doctor,
                support_bundle, party, data, job, audit, bundle, certs):
    main.add_command(command)
