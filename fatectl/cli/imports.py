"""`fatectl import kubefate`: a spec from the clusters KubeFATE already runs."""

from __future__ import annotations

from pathlib import Path

import click

from fatectl.cli.common import OrderedGroup, output_option, to_json


@click.group("import", cls=OrderedGroup)
def import_() -> None:
    """Turn other tools' deployment files into one fatectl spec."""


@import_.command("kubefate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output-spec", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The spec to write (federation.yaml).")
@click.option("--name", default="federation", show_default=True, help="The federation's name.")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@output_option
def import_kubefate(files: tuple[Path, ...], out: Path, name: str, force: bool, output_format: str) -> None:
    """KubeFATE cluster.yaml files (one per party, and the exchange's) -> one spec that validates.

    Every setting without an equivalent is reported at its file:line; credentials are
    named, never copied.
    """
    from fatectl.importers.join import write_import

    imported = write_import(list(files), out, name, force)
    fed = imported.federation
    if output_format == "json":
        click.echo(to_json({"spec": str(out), "parties": [p.id for p in fed.parties],
                            "exchange": fed.exchange.id if fed.exchange.enabled else None,
                            "notes": [str(n) for n in imported.notes]}))
        return
    click.echo(f"wrote {out}: {len(fed.parties)} parties ({', '.join(str(p.id) for p in fed.parties)}), "
               f"topology {fed.topology}")
    if imported.notes:
        click.echo(f"{len(imported.notes)} setting(s) with no fatectl equivalent or changed meaning:")
        for note in imported.notes:
            click.echo(f"  {note}")
    click.echo(f"next: fatectl validate {out}; fatectl diff {out} -o OUT; fatectl render helm {out} -o OUT")
