"""The one contract both labs keep: up, down, status and logs, with the same result types.

A lab runs every party of a federation on this host: as local processes (`LocalLab`) or as
containers of one Compose project (`ComposeLab`). Commands and tests talk to the contract,
so `fatectl status` or `logs` reads either the same way; one shared suite
(tests/lab/test_lab_contract.py) runs against both implementations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fatectl.certs.expiry import CertificateState, certificate_states
from fatectl.errors import SpecError
from fatectl.lab.paths import LabKind, LabPaths
from fatectl.lab.readiness import Readiness, probe_federation
from fatectl.spec.model import Federation, Node

Progress = Callable[[str], None]


def no_progress(_: str) -> None:
    return None


@dataclass(frozen=True)
class Service:
    """One process (local lab) or container (compose lab) of a party."""

    party_id: int
    party: str  # the party's (or exchange's) name
    module: str  # router | flow | board
    state: str  # running | stopped | absent, or Docker's words (exited, restarting ...)
    detail: str = ""  # pid and port, or container health


@dataclass(frozen=True)
class LabStatus:
    kind: LabKind
    directory: Path
    services: tuple[Service, ...]
    readiness: Readiness
    seconds: float = 0.0  # how long `up` took; 0 for a plain status
    certificates: tuple[CertificateState, ...] = ()  # the CA's and each party's, with expiry

    @property
    def running(self) -> tuple[Service, ...]:
        return tuple(s for s in self.services if s.state == "running")

    def rows(self) -> list[dict[str, Any]]:
        """(party, name, process, state, detail) rows, the columns `fatectl status` prints."""
        label = "container" if self.kind == "compose" else "local"
        rows = [
            {"party": s.party_id, "name": s.party, "process": f"{label} {s.module}", "state": s.state,
             "detail": s.detail}
            for s in self.services
        ]
        for probe in self.readiness.probes:
            rows.append({"party": probe.party_id, "name": probe.name, "process": "flow", "state": probe.flow,
                         "detail": probe.detail.strip()})
            for link in probe.links:
                up = link.state == "up" and link.latency_ms is not None
                rows.append({"party": probe.party_id, "name": probe.name, "process": f"link -> {link.peer}",
                             "state": link.state, "detail": f"{link.latency_ms:.1f} ms" if up else link.last_error})
        for cert in self.certificates:
            rows.append({"party": "" if cert.party_id is None else cert.party_id, "name": cert.name,
                         "process": "certificate", "state": cert.state, "detail": cert.detail})
        return rows


def probe_status(kind: LabKind, fed: Federation, paths: LabPaths, services: tuple[Service, ...]) -> LabStatus:
    """`status` of either lab: the services as that lab sees them, the same probe through every flow
    and the same certificate expiry check."""
    return LabStatus(kind, paths.directory, services, probe_federation(fed, paths.secrets_dir),
                     certificates=certificate_states(fed, paths.secrets_dir))


def select_modules(fed: Federation, party_id: int, module: str | None) -> tuple[Node, tuple[str, ...]]:
    """The party (or exchange) `logs` reads and its modules: all of them, or the one named if it runs it."""
    node = fed.node(party_id)
    if module is None:
        return node, node.module_names
    if module not in node.module_names:
        raise SpecError(f"party {party_id} runs no {module} (it runs: {', '.join(node.module_names)})")
    return node, (module,)


class Lab(Protocol):
    """A federation's lab on this host."""

    @property
    def kind(self) -> LabKind: ...

    @property
    def fed(self) -> Federation: ...

    @property
    def paths(self) -> LabPaths: ...

    def up(self, timeout: float, progress: Progress = no_progress) -> LabStatus:
        """Start whatever is not running and return once every flow and declared link is up."""
        ...

    def down(self, volumes: bool = False) -> tuple[str, ...]:
        """Stop every service (data kept unless `volumes`); return the services stopped."""
        ...

    def status(self) -> LabStatus:
        ...

    def logs(self, party_id: int, module: str | None = None, follow: bool = False, tail: int = 200) -> Iterator[str]:
        """Log lines of one party's services (all its modules unless one is named)."""
        ...
