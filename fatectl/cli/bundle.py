"""`fatectl bundle keygen|create|verify|load`: signed offline bundles for air-gapped sites."""

from __future__ import annotations

from pathlib import Path

import click

from fatectl.cli.common import Bars, OrderedGroup, spec_argument
from fatectl.spec.model import Federation


@click.group(cls=OrderedGroup)
def bundle() -> None:
    """Offline bundles: images, charts, compose project, spec and wheels in one checked file."""


@bundle.command("keygen")
@click.option("-o", "--output", "key", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Private key file (0600); the public key goes to KEY.pub.")
def bundle_keygen(key: Path) -> None:
    """Make an Ed25519 key pair for signing bundles."""
    from fatectl.bundle.signing import generate_keypair

    pair = generate_keypair(key)
    click.echo(f"private key {pair.private_path} (keep it secret)\npublic key  {pair.public_path} "
               f"(give it to sites: bundle verify --pubkey)\nkey id      {pair.key_id}")


@bundle.command("create")
@spec_argument
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--party", type=int, default=None, help="Only this party's chart and its own TLS key.")
@click.option("--sign-key", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None)
@click.option("--secrets-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Federation secrets (fatectl certs create -o DIR); needed with --party.")
@click.option("--wheels-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Wheel cache (default .cache/wheels in the source tree).")
@click.option("--no-wheels", is_flag=True, help="Leave the Python wheels out.")
@click.option("--gzip/--no-gzip", "compress", default=True, show_default=True,
              help="gzip level 1: under half the size for about the same create time (docs/benchmarks.md).")
def bundle_create(fed: Federation, out: Path, party: int | None, sign_key: Path | None, secrets_dir: Path | None,
                  wheels_dir: Path | None, no_wheels: bool, compress: bool) -> None:
    """Write one deterministic bundle of SPEC (or of one --party) to FILE."""
    import os

    from fatectl.bundle.create import create_bundle
    from fatectl.docker.wheels import default_wheels_dir

    bars = Bars()
    try:
        manifest = create_bundle(fed, out, party=party, sign_key=sign_key, secrets_dir=secrets_dir,
                                 wheels_dir=None if no_wheels else (wheels_dir or default_wheels_dir()),
                                 compress=compress, progress=bars)
    finally:
        bars.close()
    scope = f"party {manifest.party}" if manifest.party is not None else "whole federation"
    size = os.path.getsize(out)
    click.echo(f"wrote {out} ({size / 1e6:.1f} MB): {len(manifest.files)} files, {manifest.total_size / 1e6:.1f} MB "
               f"unpacked, {scope}, {'signed' if sign_key else 'UNSIGNED'}")


@bundle.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--pubkey", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Trusted public key; the bundle must be signed by it.")
def bundle_verify(file: Path, pubkey: Path | None) -> None:
    """Check every checksum, member name and the signature; unpack nothing."""
    from fatectl.bundle.verify import verify_bundle

    bars = Bars()
    try:
        manifest = verify_bundle(file, pubkey, progress=bars)
    finally:
        bars.close()
    scope = f"party {manifest.party}" if manifest.party is not None else "whole federation"
    signature = "signature OK" if manifest.signed else "signature NOT checked (no --pubkey)"
    click.echo(f"OK {file}: {len(manifest.files)} files verified, {scope}, fatectl {manifest.fatectl_version}, "
               f"engine {manifest.engine_version}, {signature}")


@bundle.command("load")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--pubkey", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The publisher's public key; the bundle must be signed by it.")
@click.option("--allow-unsigned", is_flag=True,
              help="Load without checking who made the bundle (only when its origin was checked another way).")
@click.option("--registry", default=None, help="Retag and push images to HOST/PREFIX (a private registry).")
@click.option("-d", "--dest", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to unpack (default: ./<bundle name>); must not exist.")
def bundle_load(file: Path, pubkey: Path | None, allow_unsigned: bool, registry: str | None,
                dest: Path | None) -> None:
    """Verify FILE, unpack it, docker load its images (and push them), print the next commands."""
    from fatectl.bundle.load import load_bundle

    if pubkey is not None and allow_unsigned:
        raise click.UsageError("--pubkey and --allow-unsigned contradict each other; give one")
    bars = Bars()
    try:
        result = load_bundle(file, pubkey, registry, allow_unsigned=allow_unsigned, dest=dest, progress=bars)
    finally:
        bars.close()
    if result.manifest.signed:
        click.echo(f"signature OK: signed by the key of {pubkey}")
    else:
        click.echo("UNSIGNED: loaded without checking who made it (--allow-unsigned)", err=True)
    click.echo(f"unpacked to {result.directory}")
    for ref in result.images:
        click.echo(f"image {ref}")
    click.echo("next, at this site:")
    for command in result.commands:
        click.echo(f"  {command}")
