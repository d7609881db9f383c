"""Federations for the render tests: the examples and generated specs through the real loader,
plus directly built ones for what those do not exercise (board + ingress, TLS none, a peer
known by host name)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

import pytest

from fatectl.spec.loader import load_federation
from fatectl.spec.model import (
    Compose,
    Engine,
    Exchange,
    Federation,
    Ingress,
    Kubernetes,
    Module,
    Party,
    Persistence,
    Resources,
    Security,
)
from fatectl.spec.sample import generate_spec_text

RESOURCES = Resources(
    requests=MappingProxyType({"cpu": "100m", "memory": "128Mi"}),
    limits=MappingProxyType({"cpu": "1", "memory": "1Gi"}),
)


def make_party(index: int, *, board: bool = True, service_type: str = "NodePort") -> Party:
    pid = 9999 + index
    name = f"party-{index}"
    modules = [
        Module(
            "router", 9370, RESOURCES, node_port=30000 + index * 3 if service_type == "NodePort" else None
        ),
        Module("flow", 9380, RESOURCES, persistence=Persistence(size="1Gi")),
    ]
    ports = {"router": 20000 + index * 10, "flow": 20001 + index * 10}
    if board:
        modules.append(Module("board", 8080, RESOURCES))
        ports["board"] = 20002 + index * 10
    return Party(
        id=pid,
        name=name,
        address=f"{name}.fate.example" if index == 2 else f"10.0.{index // 250}.{index % 250 + 1}",
        modules=tuple(modules),
        kubernetes=Kubernetes(
            namespace=f"fate-{pid}",
            service_type=service_type,
            ingress=Ingress(enabled=board, host=f"board.{name}.example.org", class_name="nginx",
                            tls_secret=f"board-{name}-tls" if board else ""),
        ),
        compose=Compose(host_ports=MappingProxyType(ports)),
    )


def make_federation(
    parties: int = 2, *, exchange: bool = False, tls: str = "mutual", name: str = "lab"
) -> Federation:
    return Federation(
        name=name,
        engine=Engine(),
        security=Security(tls=tls),
        exchange=Exchange(
            enabled=exchange,
            name="exchange",
            id=1,
            address="10.9.0.1",
            port=9370,
            host_port=19370,
            node_port=30999,
            service_type="NodePort",
        ),
        parties=tuple(make_party(i) for i in range(parties)),
    )


@pytest.fixture
def make_fed() -> Callable[..., Federation]:
    return make_federation


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_text(directory: Path, text: str, name: str = "spec.yaml") -> Federation:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return load_federation(path)


@pytest.fixture(scope="session")
def spec_cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Federation]:
    """Every federation the done-criteria name: both examples, generated 10- and 50-party specs."""
    work = tmp_path_factory.mktemp("specs")
    return {
        "two-party": load_federation(EXAMPLES / "two-party.yaml"),
        "two-party-ray": load_federation(EXAMPLES / "two-party-ray.yaml"),
        "three-party-exchange": load_federation(EXAMPLES / "three-party-exchange.yaml"),
        "generated-10": load_text(work, generate_spec_text(10, False, node_ports=True), "g10.yaml"),
        "generated-50-exchange": load_text(work, generate_spec_text(50, True), "g50.yaml"),
        "built-board-ingress": make_federation(3, exchange=True),
        "built-tls-none": make_federation(2, tls="none", name="plain"),
    }
