"""`fatectl render helm|compose`: production charts and the compose project."""

from __future__ import annotations

from pathlib import Path

import click

from fatectl.cli.common import OrderedGroup, spec_argument
from fatectl.spec.model import Federation

render_output = click.option("-o", "--output-dir", "directory", required=True,
                             type=click.Path(file_okay=False, path_type=Path), help="Output directory.")


@click.group(cls=OrderedGroup)
def render() -> None:
    """Render Helm charts or a compose project from a spec."""


@render.command("helm")
@spec_argument
@render_output
@click.option("--party", "party_id", type=int, default=None, help="Only this party's (or the exchange's) chart.")
@click.option("--secrets-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Federation CA and party secrets (default DIR/secrets); missing ones are generated.")
def render_helm(fed: Federation, directory: Path, party_id: int | None, secrets_dir: Path | None) -> None:
    """One Helm chart per party in DIR/<party name>/ (+ a 0600 secret-values.yaml for `helm install -f`)."""
    from fatectl.project import write_helm

    result = write_helm(fed, directory, party_id, secrets_dir)
    for name in result.targets:
        click.echo(f"chart {result.out / name}")
    for name in result.held_elsewhere:
        click.echo(f"note: {name} holds its own TLS key; it renders its chart itself "
                   f"(render helm SPEC --party ID --secrets-dir ITS_DIR), no secret-values.yaml here", err=True)
    click.echo(f"{len(result.changed)} file(s) changed; secrets in {result.secrets_dir}")


@render.command("compose")
@spec_argument
@render_output
def render_compose(fed: Federation, directory: Path) -> None:
    """DIR/compose.yaml with every party (and the exchange), config files and secrets."""
    from fatectl.project import write_compose

    result = write_compose(fed, directory)
    click.echo(f"compose project {result.out / 'compose.yaml'}")
    click.echo(f"{len(result.changed)} file(s) changed; secrets in {result.secrets_dir}")
