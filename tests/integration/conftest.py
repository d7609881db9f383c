"""Local labs of real processes (routers with mTLS, flows, workers) for the integration tests.

Ports are picked free at run time so these tests coexist with anything else on the host.
"""

from __future__ import annotations

import csv
import io
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from fatectl.flowclient import FlowClient, client_for
from fatectl.lab.local import LocalLab
from fatectl.spec.loader import load_federation
from fatectl.spec.model import Federation


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def spec_text(name: str, party_ids: Sequence[int], exchange: bool, manual: Sequence[int] = ()) -> str:
    """A lab spec. Its jobs use 1024-bit keys and run unattended, so each party's policy says so
    explicitly (the defaults stay secure); parties in `manual` keep the default policy instead:
    another party's job waits there for `fatectl job approve`."""
    ports = free_ports(2 * len(party_ids) + 1)
    lines = [
        "apiVersion: fatectl/v1",
        f"name: {name}",
        "security: {tls: mutual, paillierKeyBits: 1024, allowInsecureKeys: true}",
    ]
    if exchange:
        lines.append(
            f"exchange: {{enabled: true, name: hub, id: 1, address: 127.0.0.1, compose: {{hostPort: {ports[-1]}}}}}"
        )
    lines.append("parties:")
    for i, pid in enumerate(party_ids):
        lines += [
            f"  - id: {pid}",
            f"    name: org-{pid}",
            f"    address: org-{pid}.example",
            "    modules: [router, flow]",
            f"    compose: {{hostPorts: {{router: {ports[2 * i]}, flow: {ports[2 * i + 1]}}}}}",
        ]
        if pid not in manual:
            peers = ", ".join(str(p) for p in party_ids if p != pid)
            lines.append(f"    policy: {{allowInsecureKeys: true, minKeyBits: 1024, "
                         f"rules: [{{name: lab-peers, peers: [{peers}], approval: auto}}]}}")
    return "\n".join(lines) + "\n"


@dataclass
class Lab:
    fed: Federation
    spec: Path
    root: Path

    def client(self, party_id: int) -> FlowClient:
        return client_for(self.fed, party_id, LocalLab.of(self.fed, self.root).secrets_dir)


def start_lab(tmp: Path, name: str, party_ids: Sequence[int], exchange: bool, manual: Sequence[int] = ()) -> Lab:
    spec = tmp / f"{name}.yaml"
    spec.write_text(spec_text(name, party_ids, exchange, manual))
    fed = load_federation(spec)
    LocalLab.of(fed, tmp / "lab").up(timeout=120)
    return Lab(fed, spec, tmp / "lab")


@pytest.fixture(scope="session")
def two_party_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = start_lab(tmp_path_factory.mktemp("lab2"), "two-orgs", [9999, 10000], exchange=False)
    try:
        yield lab
    finally:
        LocalLab.of(lab.fed, lab.root).down()


@pytest.fixture(scope="session")
def star_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = start_lab(tmp_path_factory.mktemp("lab3"), "three-orgs", [9999, 10000, 10001], exchange=True)
    try:
        yield lab
    finally:
        LocalLab.of(lab.fed, lab.root).down()


def upload_ids(client: FlowClient, tmp: Path, name: str, ids: Sequence[str]) -> None:
    path = tmp / f"{client.party_id}-{name}.csv"
    path.write_text("id,x0\n" + "".join(f"{v},{i % 7}\n" for i, v in enumerate(ids)))
    client.upload_table(name, path, overwrite=True)


def psi_job(tables: dict[int, str], guest: int, hosts: Sequence[int]) -> str:
    host_list = ", ".join(map(str, hosts))
    table_map = ", ".join(f"{p}: {t}" for p, t in tables.items())
    return (
        f"roles: {{guest: [{guest}], host: [{host_list}]}}\n"
        f"tables: {{{table_map}}}\n"
        "pipeline:\n  - {name: intersect, component: psi}\n"
        "timeout: 600\n"
    )


def output_ids(client: FlowClient, job_id: str, role: str) -> list[str]:
    text = client.output_csv(job_id, "intersect", role)
    return [row["id"] for row in csv.DictReader(io.StringIO(text))]
