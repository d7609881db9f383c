"""Federation objects built directly, so render tests do not depend on the spec loader."""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType

import pytest

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

RESOURCES = Resources(
    requests=MappingProxyType({"cpu": "100m", "memory": "128Mi"}),
    limits=MappingProxyType({"cpu": "1", "memory": "1Gi"}),
)


def make_party(index: int, *, board: bool = True, service_type: str = "NodePort") -> Party:
    pid = 9999 + index
    name = f"party-{index}"
    modules = [
        Module("router", 9370, RESOURCES, node_port=30000 + index * 3 if service_type == "NodePort" else None),
        Module("flow", 9380, RESOURCES, persistence=Persistence(size="1Gi")),
    ]
    ports = {"router": 20000 + index * 10, "flow": 20001 + index * 10}
    if board:
        modules.append(Module("board", 8080, RESOURCES))
        ports["board"] = 20002 + index * 10
    return Party(
        id=pid,
        name=name,
        address=f"10.0.{index // 250}.{index % 250 + 1}",
        modules=tuple(modules),
        kubernetes=Kubernetes(
            namespace=f"fate-{pid}",
            service_type=service_type,
            ingress=Ingress(enabled=board, host=f"board.{name}.example.org", class_name="nginx"),
        ),
        compose=Compose(host_ports=MappingProxyType(ports)),
    )


def make_federation(parties: int = 2, *, exchange: bool = False, tls: str = "mutual", name: str = "lab") -> Federation:
    return Federation(
        name=name,
        engine=Engine(),
        security=Security(tls=tls),
        exchange=Exchange(
            enabled=exchange, name="exchange", id=1, address="10.9.0.1", port=9370, host_port=19370, node_port=30999
        ),
        parties=tuple(make_party(i) for i in range(parties)),
    )


@pytest.fixture
def make_fed() -> Callable[..., Federation]:
    return make_federation
