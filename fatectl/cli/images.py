"""`fatectl images build|list|wheels`: the one engine image every party runs."""

from __future__ import annotations

from pathlib import Path

import click

from fatectl.cli.common import OrderedGroup, output_option, print_rows, progress_printer, spec_argument
from fatectl.spec.model import Federation


@click.group(cls=OrderedGroup)
def images() -> None:
    """Build and list the engine image."""


@images.command("build")
@spec_argument
@click.option("--base-image", default=None,
              help="Image to build FROM (default python:3.11-slim, else fatectl/base:bookworm when present).")
@click.option("--wheels-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Wheel cache (default .cache/wheels in the source tree).")
@click.option("--offline", is_flag=True, help="Use only wheels already in the cache; never reach an index.")
@click.option("--no-cache", is_flag=True, help="Rebuild every layer.")
@click.option("-q", "--quiet", is_flag=True, help="Hide the build steps.")
def images_build(
    fed: Federation, base_image: str | None, wheels_dir: Path | None, offline: bool, no_cache: bool, quiet: bool
) -> None:
    """Build the engine image of SPEC and tag it <registry>/<image>:<tag>."""
    from fatectl.docker.build import build_image

    built = build_image(fed, base_image, wheels_dir, offline, progress_printer(quiet), no_cache)
    click.echo(f"built {built.ref} ({built.image_id[7:19]}, {built.size_bytes / 1e6:.0f} MB, "
               f"FROM {built.base_image}) in {built.seconds:.0f}s")


@images.command("list")
@output_option
def images_list(output_format: str) -> None:
    """Engine images on this Docker host."""
    import dataclasses

    from fatectl.docker.build import list_images

    rows = [dataclasses.asdict(r) for r in list_images()]
    print_rows(rows, ["ref", "image_id", "size_bytes", "created", "base_image"], output_format)


@images.command("wheels")
@click.option("-o", "--output-dir", "directory", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--offline", is_flag=True, help="Use only wheels already in DIR.")
def images_wheels(directory: Path, offline: bool) -> None:
    """Put the fatectl wheel and every dependency wheel for the image (CPython 3.11) in DIR."""
    from fatectl.docker.wheels import prepare_wheels

    house = prepare_wheels(directory, offline=offline)
    click.echo(f"{len(house.wheels) + 1} wheels in {house.directory}")
