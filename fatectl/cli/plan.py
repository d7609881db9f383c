"""`fatectl diff`: what a render or an `up` would change, before anything is written."""

from __future__ import annotations

from pathlib import Path

import click

from fatectl.cli.common import output_option, spec_argument, to_json
from fatectl.errors import CHANGES_PENDING
from fatectl.spec.model import Federation


@click.command("diff")
@spec_argument
@click.option("-o", "--output-dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A render directory: compare with what `render helm|compose -o DIR` would write.")
@click.option("--lab", type=click.Choice(["local", "compose"]), default=None,
              help="Compare with what `up local|compose` would change in the running lab.")
@click.option("--render", "kind", type=click.Choice(["helm", "compose"]), default=None,
              help="Which render DIR holds (default: compose when DIR/compose.yaml exists, else helm).")
@click.option("--party", "party_id", type=int, default=None, help="Only this party's chart (Helm).")
@click.option("--secrets-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Secrets the render uses (default DIR/secrets).")
@click.option("--no-diffs", is_flag=True, help="Name changed files without their unified diffs.")
@output_option
@click.pass_context
def diff(ctx: click.Context, fed: Federation, directory: Path | None, lab: str | None, kind: str | None,
         party_id: int | None, secrets_dir: Path | None, no_diffs: bool, output_format: str) -> None:
    """Files, Kubernetes resources and services SPEC would change, per party; writes nothing.

    Exit 0 when nothing would change, 2 when something would (errors: 1, 3, 8 as everywhere).
    Secret files are only ever named "added" or "changed".
    """
    from fatectl.plan.target import make_plan

    plan = make_plan(fed, directory, lab, kind, party_id, secrets_dir)  # type: ignore[arg-type]
    if output_format == "json":
        click.echo(to_json(plan.as_dict()))
    else:
        for line in plan.lines(with_diffs=not no_diffs):
            click.echo(line)
    ctx.exit(CHANGES_PENDING if plan.changed else 0)
