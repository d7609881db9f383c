"""The router's identity checks on their own: what a peer certificate proves, and who is refused why.

(Found by mutation testing: over real connections these paths are always reached with a verified
certificate and an open transport, so their refusals of anything else had no test.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from fate.federation.config import TLSConfig
from fate.federation.errors import ConfigError, Forbidden
from fate.federation.router import Router
from fate.federation.tls import client_context, peer_party_id, server_context
from tests.federation.lab import RouterLab

A, B = 9999, 10000


@pytest.mark.parametrize(
    ("peercert", "party"),
    [
        ({"subject": ((("commonName", "party-10000"),),)}, 10000),
        ({"subject": ((("organizationName", "x"),), (("commonName", "party-7"),))}, 7),
        ({"subject": ((("commonName", "party-10000x"),),)}, None),
        ({"subject": ((("commonName", "router"),),)}, None),
        ({}, None),  # no subject at all
        (None, None),  # no verified certificate
        ("party-1", None),
    ],
)
def test_only_a_party_common_name_proves_a_party(peercert: object, party: int | None) -> None:
    assert peer_party_id(peercert) == party


def test_unreadable_tls_files_are_named(tmp_path: Path) -> None:
    tls = TLSConfig("mutual", str(tmp_path / "ca.crt"), str(tmp_path / "c.crt"), str(tmp_path / "c.key"))
    for make in (server_context, client_context):
        with pytest.raises(ConfigError, match=re.escape(
                f"cannot load TLS files ({tmp_path}/ca.crt, {tmp_path}/c.crt, {tmp_path}/c.key): ")):
            make(tls)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterLab]:
    lab = RouterLab(tmp_path_factory.mktemp("identity"), (A, B))
    yield lab
    lab.close()


def _request(peercert: object, transport: bool = True) -> object:
    extra = SimpleNamespace(get_extra_info=lambda name: peercert if name == "peercert" else None)
    return SimpleNamespace(transport=extra if transport else None)


def test_a_caller_without_a_party_certificate_or_connection_is_forbidden(lab: RouterLab) -> None:
    router = Router(lab.configs[A])
    assert router._caller(_request({"subject": ((("commonName", "party-10000"),),)})) == B  # type: ignore[arg-type]
    for request in (_request({"subject": ((("commonName", "router"),),)}), _request(None, transport=False)):
        with pytest.raises(Forbidden, match="^the client certificate carries no party-<id> identity$"):
            router._caller(request)  # type: ignore[arg-type]
    with pytest.raises(Forbidden, match="^party-10000 is not a local client of party 9999's router$"):
        router._require_local(_request({"subject": ((("commonName", "party-10000"),),)}))  # type: ignore[arg-type]
