"""What every command group shares: the spec argument (parsed into a Federation here, at
the edge), output formats, progress printing."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click

from fatectl.spec.loader import load_federation
from fatectl.spec.model import Federation


class FederationFile(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """A spec file argument, loaded and validated into a frozen Federation before the command runs.

    A SpecError raised here reaches the one error handler like any other (exit 1, every problem).
    """

    name = "spec"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Federation:
        if isinstance(value, Federation):
            return value
        return load_federation(str(value))


class OrderedGroup(click.Group):
    """Commands listed in the order they were added: the user's journey, not the alphabet."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


spec_argument = click.argument("fed", metavar="SPEC", type=FederationFile())
output_option = click.option(
    "--output", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True
)
party_option = click.option("--party", "party_id", type=int, required=True, help="Party id whose flow to talk to.")


def progress_printer(quiet: bool) -> Callable[[str], None]:
    def show(line: str) -> None:
        if not quiet:
            click.echo(line, err=True)

    return show


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True)


def print_rows(rows: Sequence[Mapping[str, Any]], columns: list[str], output_format: str) -> None:
    if output_format == "json":
        click.echo(to_json([dict(r) for r in rows]))
        return
    widths = {c: max([len(c), *(len(str(r.get(c, ""))) for r in rows)]) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for r in rows:
        click.echo("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


class Bars:
    """One progress bar per long step; the core reports (label, advance, total)."""

    def __init__(self) -> None:
        self._label = ""
        self._bar: Any = None

    def __call__(self, label: str, advance: int, total: int) -> None:
        if label != self._label:
            self.close()
            self._label = label
            self._bar = click.progressbar(length=max(total, 1), label=label, file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(advance)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
        self._bar, self._label = None, ""
