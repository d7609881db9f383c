"""`fatectl certs …`: the federation CA, party certificates and flow tokens, over their whole life."""

from __future__ import annotations

from pathlib import Path

import click

from fatectl.cli.common import OrderedGroup, output_option, print_rows, spec_argument
from fatectl.spec.model import Federation

secrets_option = click.option(
    "--secrets-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="The CA's secrets directory (`certs create -o DIR`, or a render's DIR/secrets).")
lab_option = click.option("--lab", type=click.Choice(["local", "compose"]), default=None,
                          help="The lab's secrets; its running routers and flows take the change.")


@click.group(cls=OrderedGroup)
def certs() -> None:
    """Federation CA, party certificates and flow tokens."""


@certs.command("create")
@spec_argument
@click.option("-o", "--output-dir", "directory", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the CA and one sub-directory per party; existing files are kept.")
def certs_create(fed: Federation, directory: Path) -> None:
    """Create whatever CA, certificates, keys and tokens of SPEC are missing in DIR."""
    from fatectl.pki import ensure_secrets

    layout = ensure_secrets(fed, directory)
    click.echo(f"CA: {layout.ca_file}")
    for party_id, party in sorted(layout.parties.items()):
        held = " (holds its own key)" if party.external else ""
        click.echo(f"party {party_id} ({party.name}): {party.directory}{held}")


@certs.command("list")
@spec_argument
@secrets_option
@lab_option
@output_option
def certs_list(fed: Federation, secrets_dir: Path | None, lab: str | None, output_format: str) -> None:
    """The CA's and every party's certificate: valid, expiring (under 30 days), expired, revoked."""
    from fatectl.certs.apply import certificates

    rows = [{"party": "" if c.party_id is None else c.party_id, "name": c.name, "state": c.state,
             "days_left": "" if c.days_left is None else c.days_left, "detail": c.detail}
            for c in certificates(fed, secrets_dir, lab)]  # type: ignore[arg-type]
    print_rows(rows, ["party", "name", "state", "days_left", "detail"], output_format)


@certs.command("rotate")
@spec_argument
@secrets_option
@lab_option
@click.option("--party", "party_id", type=int, default=None, help="Only this party (or the exchange).")
@click.option("--ca", "new_ca", is_flag=True, help="Also a new CA; the old one stays trusted for --overlap-days.")
@click.option("--overlap-days", type=click.IntRange(min=0), default=7, show_default=True,
              help="With --ca: how long every party trusts the old CA too.")
@click.option("--trust-only", is_flag=True,
              help="With --ca: only add the new CA to every trust bundle (roll out, then rotate without --ca).")
def certs_rotate(fed: Federation, secrets_dir: Path | None, lab: str | None, party_id: int | None, new_ca: bool,
                 overlap_days: int, trust_only: bool) -> None:
    """New certificates (and with --ca a new CA) without interrupting a running lab."""
    from fatectl.certs.apply import rotate

    result = rotate(fed, secrets_dir, lab, party_id, new_ca, overlap_days, trust_only)  # type: ignore[arg-type]
    if result.new_ca:
        click.echo(f"new CA in {result.directory}; the previous one stays trusted until "
                   f"{result.previous_until:%Y-%m-%d %H:%M} UTC")
    for pid in result.rotated:
        click.echo(f"party {pid} ({fed.node(pid).name}): new certificate")
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if lab is None and (result.rotated or result.new_ca):
        click.echo("next: render again and `helm upgrade` each party (`fatectl diff SPEC -o DIR` shows what changes)")


@certs.command("revoke")
@spec_argument
@secrets_option
@lab_option
@click.option("--party", "party_id", type=int, required=True, help="The party whose certificates to revoke.")
def certs_revoke(fed: Federation, secrets_dir: Path | None, lab: str | None, party_id: int) -> None:
    """Put every certificate of a party on the CRL; each router refuses it once it has the new CA file."""
    from fatectl.certs.apply import revoke

    result = revoke(fed, party_id, secrets_dir, lab)  # type: ignore[arg-type]
    click.echo(f"party {result.party_id} ({result.name}): {len(result.serials)} certificate(s) revoked"
               + (f", {result.already} already were" if result.already else ""))
    if lab is None:
        click.echo("next: render again and `helm upgrade` every party: the CRL travels in each party's ca.crt")


@certs.command("request")
@spec_argument
@click.option("--party", "party_id", type=int, required=True, help="Your own party id.")
@click.option("-o", "--output-dir", "directory", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Your party's secrets directory; the new key is made here and never leaves it.")
def certs_request(fed: Federation, party_id: int, directory: Path) -> None:
    """Make your party's key and a certificate signing request for the federation CA."""
    from fatectl.certs.request import request_certificate

    made = request_certificate(fed, party_id, directory)
    click.echo(f"key     {made.key_file} (stays here)\nrequest {made.csr_file} (send it to the federation CA)")


@certs.command("sign")
@spec_argument
@click.argument("csr", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The certificate, followed by the federation's trust bundle (send it back).")
@click.option("--ca-dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The federation CA's secrets directory.")
@click.option("--party", "party_id", type=int, default=None, help="Refuse unless the request is for this party.")
def certs_sign(fed: Federation, csr: Path, out: Path, ca_dir: Path, party_id: int | None) -> None:
    """Sign a party's request after checking its identity and names against SPEC."""
    from fatectl.certs.request import sign_request

    cert = sign_request(fed, ca_dir, csr, out, party_id)
    click.echo(f"signed {cert.subject.rfc4514_string()} (serial {cert.serial_number:x}, "
               f"until {cert.not_valid_after_utc:%Y-%m-%d}): {out}")


@certs.command("import")
@spec_argument
@click.option("--party", "party_id", type=int, required=True, help="Your own party id.")
@click.argument("cert", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--key-dir", "directory", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The directory you ran `certs request` with.")
def certs_import(fed: Federation, party_id: int, cert: Path, directory: Path) -> None:
    """Install the signed certificate beside your key; render/up use the directory as its secrets."""
    from fatectl.certs.request import import_certificate

    installed = import_certificate(fed, party_id, cert, directory)
    click.echo(f"installed {installed}; render with: fatectl render helm SPEC --party {party_id} "
               f"--secrets-dir {directory} -o OUT")
