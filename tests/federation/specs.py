"""Small federations built directly from the model, for tests that need secrets or routers."""

from __future__ import annotations

from types import MappingProxyType

from fatectl.spec.model import Compose, Engine, Exchange, Federation, Kubernetes, Module, Party, Security


def federation(party_ids: tuple[int, ...] = (9999, 10000), exchange: bool = False, tls: str = "mutual") -> Federation:
    parties = tuple(
        Party(
            id=pid,
            name=f"org-{i}",
            address=f"10.0.0.{11 + i}",
            modules=(Module("router", 9370), Module("flow", 9380)),
            kubernetes=Kubernetes(namespace=f"fate-{pid}"),
            compose=Compose(MappingProxyType({"router": 0, "flow": 0})),
        )
        for i, pid in enumerate(party_ids)
    )
    return Federation(
        name="testfed",
        engine=Engine(),
        security=Security(tls=tls),
        exchange=Exchange(enabled=exchange, id=1, address="exchange.example.org"),
        parties=parties,
    )
