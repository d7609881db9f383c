"""Command line: parse, call one core function, print. The only module importing click.

Every FatectlError becomes a message on stderr and its exit code here, in one place;
users never see a traceback for bad input.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from fatectl import __version__
from fatectl.errors import FatectlError


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

# ---- render (RENDER): Helm charts and the compose project ----


@main.group()
def render() -> None:
    """Render Helm charts or a compose project from a spec."""


render_output = click.option("-o", "--output-dir", "directory", required=True,
                             type=click.Path(file_okay=False, path_type=str), help="Output directory.")


@render.command("helm")
@spec_argument
@render_output
@click.option("--party", "party_id", type=int, default=None, help="Only this party's (or the exchange's) chart.")
@click.option("--secrets-dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Federation CA and party secrets (default DIR/secrets); missing ones are generated.")
def render_helm_cmd(spec: str, directory: str, party_id: int | None, secrets_dir: str | None) -> None:
    """One Helm chart per party in DIR/<party name>/ (+ a 0600 secret-values.yaml for `helm install -f`)."""
    from pathlib import Path

    from fatectl.render.project import render_helm_project

    result = render_helm_project(spec, Path(directory), party_id, Path(secrets_dir) if secrets_dir else None)
    for name in result.targets:
        click.echo(f"chart {result.out / name}")
    click.echo(f"{len(result.changed)} file(s) changed; secrets in {result.secrets_dir}")


@render.command("compose")
@spec_argument
@render_output
def render_compose_cmd(spec: str, directory: str) -> None:
    """DIR/compose.yaml with every party (and the exchange), config files and secrets."""
    from pathlib import Path

    from fatectl.render.project import render_compose_project

    result = render_compose_project(spec, Path(directory))
    click.echo(f"compose project {result.out / 'compose.yaml'}")
    click.echo(f"{len(result.changed)} file(s) changed; secrets in {result.secrets_dir}")


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
@click.option("--no-cache", is_flag=True, help="Rebuild every layer.")
@click.option("-q", "--quiet", is_flag=True, help="Hide the build steps.")
def images_build(
    spec: str, base_image: str | None, wheels_dir: str | None, offline: bool, no_cache: bool, quiet: bool
) -> None:
    """Build the engine image of SPEC and tag it <registry>/<image>:<tag>."""
    from fatectl.images import build_spec_image

    built = build_spec_image(spec, base_image, wheels_dir, offline, _progress_printer(quiet), no_cache)
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


# ---- bundle (BUNDLE): signed offline bundles for air-gapped sites ----


class _Bars:
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


@main.group()
def bundle() -> None:
    """Offline bundles: images, charts, compose project, spec and wheels in one checked file."""


@bundle.command("keygen")
@click.option("-o", "--output", "key", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="Private key file (0600); the public key goes to KEY.pub.")
def bundle_keygen(key: str) -> None:
    """Make an Ed25519 key pair for signing bundles."""
    from pathlib import Path

    from fatectl.signing import generate_keypair

    pair = generate_keypair(Path(key))
    click.echo(f"private key {pair.private_path} (keep it secret)\npublic key  {pair.public_path} "
               f"(give it to sites: bundle verify --pubkey)\nkey id      {pair.key_id}")


@bundle.command("create")
@spec_argument
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False, path_type=str))
@click.option("--party", type=int, default=None, help="Only this party's chart and its own TLS key.")
@click.option("--sign-key", type=click.Path(dir_okay=False, exists=True, path_type=str), default=None)
@click.option("--secrets-dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Federation secrets (fatectl certs create -o DIR); needed with --party.")
@click.option("--wheels-dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Wheel cache (default .cache/wheels in the source tree).")
@click.option("--no-wheels", is_flag=True, help="Leave the Python wheels out.")
@click.option("--gzip/--no-gzip", "compress", default=True, show_default=True,
              help="gzip level 1: under half the size for about the same create time (docs/benchmarks.md).")
def bundle_create(spec: str, out: str, party: int | None, sign_key: str | None, secrets_dir: str | None,
                  wheels_dir: str | None, no_wheels: bool, compress: bool) -> None:
    """Write one deterministic bundle of SPEC (or of one --party) to FILE."""
    import os

    from fatectl.bundle import create_spec_bundle

    bars = _Bars()
    try:
        manifest = create_spec_bundle(spec, out, party=party, sign_key=sign_key, secrets_dir=secrets_dir,
                                      wheels_dir=wheels_dir, with_wheels=not no_wheels, compress=compress,
                                      progress=bars)
    finally:
        bars.close()
    scope = f"party {manifest.party}" if manifest.party is not None else "whole federation"
    size = os.path.getsize(out)
    click.echo(f"wrote {out} ({size / 1e6:.1f} MB): {len(manifest.files)} files, {manifest.total_size / 1e6:.1f} MB "
               f"unpacked, {scope}, {'signed' if sign_key else 'UNSIGNED'}")


@bundle.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--pubkey", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Trusted public key; the bundle must be signed by it.")
def bundle_verify(file: str, pubkey: str | None) -> None:
    """Check every checksum, member name and the signature; unpack nothing."""
    from pathlib import Path

    from fatectl.bundle import verify_bundle

    bars = _Bars()
    try:
        manifest = verify_bundle(Path(file), Path(pubkey) if pubkey else None, progress=bars)
    finally:
        bars.close()
    scope = f"party {manifest.party}" if manifest.party is not None else "whole federation"
    signature = "signature OK" if manifest.signed else "signature NOT checked (no --pubkey)"
    click.echo(f"OK {file}: {len(manifest.files)} files verified, {scope}, fatectl {manifest.fatectl_version}, "
               f"engine {manifest.engine_version}, {signature}")


@bundle.command("load")
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--pubkey", type=click.Path(dir_okay=False, path_type=str), default=None)
@click.option("--registry", default=None, help="Retag and push images to HOST/PREFIX (a private registry).")
@click.option("-d", "--dest", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Where to unpack (default: ./<bundle name>); must not exist.")
def bundle_load(file: str, pubkey: str | None, registry: str | None, dest: str | None) -> None:
    """Verify FILE, unpack it, docker load its images (and push them), print the next commands."""
    from pathlib import Path

    from fatectl.bundle import load_bundle

    bars = _Bars()
    try:
        result = load_bundle(Path(file), Path(pubkey) if pubkey else None, registry,
                             dest=Path(dest) if dest else None, progress=bars)
    finally:
        bars.close()
    click.echo(f"unpacked to {result.directory}")
    for ref in result.images:
        click.echo(f"image {ref}")
    click.echo("next, at this site:")
    for command in result.commands:
        click.echo(f"  {command}")


# ---- compose lab (DOCKER): `up compose`, `down compose`, `logs` ----
# `up` and `down` are shared groups: the local lab adds `up local` / `down local` to them.


@main.group()
def up() -> None:
    """Start a lab of SPEC: containers (compose) or local processes (local)."""


@main.group()
def down() -> None:
    """Stop a lab of SPEC."""


@up.command("compose")
@spec_argument
@click.option("--timeout", type=click.FloatRange(min=0), default=300.0, show_default=True,
              help="Seconds to wait for every flow and every peer link to be up.")
@click.option("-q", "--quiet", is_flag=True, help="Hide progress.")
def up_compose(spec: str, timeout: float, quiet: bool) -> None:
    """Start the compose lab of SPEC and wait until the whole federation is ready."""
    from fatectl.composelab import up_spec

    result = up_spec(spec, timeout, progress=_progress_printer(quiet))
    links = sum(len(p.links) for p in result.readiness.probes)
    click.echo(f"lab {result.lab.project} ready in {result.seconds:.1f}s: "
               f"{len(result.readiness.probes)} parties, {links} links up ({result.lab.directory})")


@down.command("compose")
@spec_argument
@click.option("--volumes", is_flag=True, help="Also delete every party's data volume.")
def down_compose(spec: str, volumes: bool) -> None:
    """Stop the compose lab of SPEC; its data stays unless --volumes."""
    from fatectl.composelab import down_spec

    lab = down_spec(spec, volumes)
    click.echo(f"lab {lab.project} stopped" + (" and its data deleted" if volumes else "; data kept"))


@main.command("logs")
@spec_argument
@click.option("--party", "party_id", type=int, required=True, help="Party id (or the exchange's id).")
@click.option("--module", type=click.Choice(["router", "flow"]), default=None, help="Only this module.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("--tail", type=click.IntRange(min=0), default=200, show_default=True,
              help="Lines from the end of each log.")
def logs_cmd(spec: str, party_id: int, module: str | None, follow: bool, tail: int) -> None:
    """Print the container logs of one party of the compose lab of SPEC."""
    from fatectl.composelab import logs_spec

    for line in logs_spec(spec, party_id, module, follow, tail):
        click.echo(line)


# ---- jobs and local lab (FLOW): data upload, job submit|status|list|stop|logs|outputs, up/down local, status ----


party_option = click.option("--party", "party_id", type=int, required=True, help="Party id whose flow to talk to.")


@main.group()
def data() -> None:
    """Tables on a party's flow."""


@data.command("upload")
@spec_argument
@party_option
@click.option("--name", required=True, help="Table name on that party (letters, digits, _ . -).")
@click.option("--overwrite", is_flag=True, help="Replace an existing table of that name.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
def data_upload(spec: str, party_id: int, name: str, overwrite: bool, file: str) -> None:
    """Upload CSV FILE (header, an `id` column, numeric features, optional label `y`)."""
    from pathlib import Path

    from fatectl.client import upload

    table = upload(spec, party_id, name, Path(file), overwrite)
    click.echo(f"table {table['name']} on party {party_id}: {table['rows']} rows, "
               f"{len(table['features'])} features{', with label y' if table['label'] else ''}")


@data.command("list")
@spec_argument
@party_option
@output_option
def data_list(spec: str, party_id: int, output_format: str) -> None:
    """Tables uploaded to a party's flow."""
    from fatectl.client import call_spec

    rows = [{**t, "features": len(t["features"])} for t in call_spec(spec, party_id, "tables")]
    _print_rows(rows, ["name", "rows", "features", "label"], output_format)


@main.group()
def job() -> None:
    """Submit, follow and stop jobs on a party's flow."""


@job.command("submit")
@spec_argument
@party_option
@click.argument("jobfile", type=click.Path(dir_okay=False, path_type=str))
@click.option("--wait", is_flag=True, help="Wait until the job ends; exit non-zero unless it succeeds.")
@click.option("--timeout", type=click.FloatRange(min=0), default=3600.0, show_default=True,
              help="Seconds to wait with --wait.")
@output_option
def job_submit(spec: str, party_id: int, jobfile: str, wait: bool, timeout: float, output_format: str) -> None:
    """Propose JOBFILE (YAML/JSON) to every party of its roles; it starts when all accept."""
    from pathlib import Path

    from fatectl.client import scalar_metrics, submit, to_json

    result = submit(spec, party_id, Path(jobfile), wait, timeout, progress=_progress_printer(output_format == "json"))
    if output_format == "json":
        click.echo(to_json(result))
        return
    click.echo(f"job {result['id']} {result['status']}")
    if result["status"] == "success":
        _print_rows(scalar_metrics(spec, party_id, result["id"]), ["component", "role", "name", "value"], "table")


@job.command("status")
@spec_argument
@party_option
@click.argument("job_id")
@output_option
def job_status(spec: str, party_id: int, job_id: str, output_format: str) -> None:
    """One job as this party sees it, with its outputs."""
    from fatectl.client import call_spec, job_summary

    found = call_spec(spec, party_id, "job", job_id)
    _print_rows([job_summary(found)], ["id", "name", "status", "initiator", "roles", "updated", "reason"], output_format)


@job.command("list")
@spec_argument
@party_option
@output_option
def job_list(spec: str, party_id: int, output_format: str) -> None:
    """Jobs this party takes part in, newest first."""
    from fatectl.client import call_spec, job_summary

    rows = [job_summary(j) for j in call_spec(spec, party_id, "jobs")]
    _print_rows(rows, ["id", "name", "status", "initiator", "roles", "updated", "reason"], output_format)


@job.command("stop")
@spec_argument
@party_option
@click.argument("job_id")
def job_stop(spec: str, party_id: int, job_id: str) -> None:
    """Stop a job on every party."""
    from fatectl.client import call_spec

    stopped = call_spec(spec, party_id, "stop", job_id)
    click.echo(f"job {stopped['id']} {stopped['status']}: {stopped['reason']}")


@job.command("logs")
@spec_argument
@party_option
@click.argument("job_id")
@output_option
def job_logs(spec: str, party_id: int, job_id: str, output_format: str) -> None:
    """The job's log on this party (flow events and component messages)."""
    from fatectl.client import call_spec, to_json

    entries = call_spec(spec, party_id, "logs", job_id)
    if output_format == "json":
        click.echo(to_json(entries))
        return
    import time

    for e in entries:
        stamp = time.strftime("%H:%M:%S", time.gmtime(e["ts"]))
        click.echo(f"{stamp} {e['source']}: {e['message'].rstrip()}")


@job.command("outputs")
@spec_argument
@party_option
@click.argument("job_id")
@output_option
def job_outputs(spec: str, party_id: int, job_id: str, output_format: str) -> None:
    """Metrics, models and output tables of a job on this party."""
    from fatectl.client import call_spec

    rows = call_spec(spec, party_id, "outputs", job_id)
    if output_format == "table":
        import json

        rows = [{**r, "value": json.dumps(r["value"], sort_keys=True)[:80]} for r in rows]
    _print_rows(rows, ["component", "role", "kind", "name", "value"], output_format)


@up.command("local")
@spec_argument
@click.option("--timeout", type=click.FloatRange(min=0), default=120.0, show_default=True,
              help="Seconds to wait for every flow and every peer link to be up.")
@click.option("-q", "--quiet", is_flag=True, help="Hide progress.")
def up_local(spec: str, timeout: float, quiet: bool) -> None:
    """Start every router and flow of SPEC as local processes (no Docker) and wait until ready."""
    from fatectl.locallab import up_spec

    result = up_spec(spec, timeout, progress=_progress_printer(quiet))
    links = sum(len(p.links) for p in result.readiness.probes)
    click.echo(f"local lab {result.lab.fed.name} ready in {result.readiness.seconds:.1f}s: "
               f"{len(result.processes)} processes, {links} links up ({result.lab.directory})")


@down.command("local")
@spec_argument
def down_local(spec: str) -> None:
    """Stop the local lab of SPEC; data and secrets stay for the next `up local`."""
    from fatectl.locallab import down_spec

    stopped = down_spec(spec)
    click.echo(f"stopped {len(stopped)} processes" + (f": {', '.join(stopped)}" if stopped else ""))


@main.command("status")
@spec_argument
@output_option
def status_cmd(spec: str, output_format: str) -> None:
    """Each party's flow health and router links (either lab), and the local lab's processes."""
    from fatectl.labs import status_rows

    _print_rows(status_rows(spec), ["party", "name", "process", "state", "detail"], output_format)


if __name__ == "__main__":  # pragma: no cover
    main()
