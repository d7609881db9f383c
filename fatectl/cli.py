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

# ---- spec (SPEC): validate a federation spec ----


@main.command("validate")
@spec_argument
def validate(spec: str) -> None:
    """Check SPEC against the schema and the cross-field rules; list every problem at once."""
    from fatectl.spec.loader import validate_file

    fed = validate_file(spec)
    ids = [str(p.id) for p in fed.parties]
    modules = sorted({m for p in fed.parties for m in p.module_names}, key=("router", "flow", "board").index)
    exchange = f" via {fed.exchange.name} ({fed.exchange.id})" if fed.exchange.enabled else ""
    click.echo(
        f"OK {spec}: federation {fed.name}, {len(ids)} parties "
        f"({', '.join(ids) if len(ids) <= 6 else f'{ids[0]} ... {ids[-1]}'}), modules {'+'.join(modules)}, "
        f"topology {fed.topology}{exchange}, tls {fed.security.tls}, {fed.security.paillier_key_bits}-bit keys"
    )

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


# ---- images (DOCKER): the engine image ----


@main.group()
def images() -> None:
    """Build and list the engine image."""


@images.command("build")
@spec_argument
@click.option("--base-image", default=None,
              help="Image to build FROM (default python:3.11-slim, else fatectl/base:bookworm when present).")
@click.option("--wheels-dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Wheel cache (default .cache/wheels in the source tree).")
@click.option("--offline", is_flag=True, help="Use only wheels already in the cache; never reach an index.")
@click.option("-q", "--quiet", is_flag=True, help="Hide the build steps.")
def images_build(spec: str, base_image: str | None, wheels_dir: str | None, offline: bool, quiet: bool) -> None:
    """Build the engine image of SPEC and tag it <registry>/<image>:<tag>."""
    from fatectl.images import build_spec_image

    built = build_spec_image(spec, base_image, wheels_dir, offline, progress=_progress_printer(quiet))
    click.echo(f"built {built.ref} ({built.image_id[7:19]}, {built.size_bytes / 1e6:.0f} MB, "
               f"FROM {built.base_image}) in {built.seconds:.0f}s")


@images.command("list")
@output_option
def images_list(output_format: str) -> None:
    """Engine images on this Docker host."""
    import dataclasses

    from fatectl.images import list_images

    rows = [dataclasses.asdict(r) for r in list_images()]
    _print_rows(rows, ["ref", "image_id", "size_bytes", "created", "base_image"], output_format)


@images.command("wheels")
@click.option("-o", "--output-dir", "directory", type=click.Path(file_okay=False, path_type=str), required=True)
@click.option("--offline", is_flag=True, help="Use only wheels already in DIR.")
def images_wheels(directory: str, offline: bool) -> None:
    """Put the fatectl wheel and every dependency wheel for the image (CPython 3.11) in DIR."""
    from fatectl.wheelhouse import prepare_wheels

    house = prepare_wheels(directory, offline=offline)
    click.echo(f"{len(house.wheels) + 1} wheels in {house.directory}")


def _progress_printer(quiet: bool) -> Callable[[str], None]:
    def show(line: str) -> None:
        if not quiet:
            click.echo(line, err=True)

    return show


def _print_rows(rows: list[dict[str, Any]], columns: list[str], output_format: str) -> None:
    if output_format == "json":
        import json

        click.echo(json.dumps(rows, indent=2, sort_keys=True))
        return
    widths = {c: max([len(c), *(len(str(r.get(c, ""))) for r in rows)]) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for r in rows:
        click.echo("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


if __name__ == "__main__":  # pragma: no cover
    main()
