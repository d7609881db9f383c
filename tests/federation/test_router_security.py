"""Who may talk to a router: only federation-CA certificates, each only as itself.

Every refusal is checked twice: at the connection (handshake or HTTP status)
and at the message level (nothing reached the addressee's mailbox).
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fate.federation.client import RouterTransport
from fate.federation.config import Endpoint
from fate.federation.hops import message_path
from fate.federation.router import start_router
from fate.federation.transport import TransportError
from fatectl.pki import create_ca, issue_certificate, write_pem_pair
from tests.federation.lab import RouterLab, free_port

A, B, C = 9999, 10000, 10001


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterLab]:
    lab = RouterLab(tmp_path_factory.mktemp("direct"), (A, B, C))
    yield lab
    lab.close()


@pytest.fixture(scope="module")
def star(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterLab]:
    lab = RouterLab(tmp_path_factory.mktemp("star"), (A, B, C), exchange=True)
    yield lab
    lab.close()


def _context(ca_file: str, cert: tuple[str, str] | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.check_hostname = False
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return ctx


def _client(lab: RouterLab, router: int, cert: tuple[str, str] | None, ca_file: str | None = None) -> httpx.Client:
    ca = ca_file or lab.configs[router].tls.ca_file
    return httpx.Client(base_url=f"https://127.0.0.1:{lab.configs[router].listen.port}",
                        verify=_context(ca, cert), timeout=10)


def _cert_of(lab: RouterLab, party_id: int) -> tuple[str, str]:
    tls = lab.configs[party_id].tls
    return tls.cert_file, tls.key_file


def _post(client: httpx.Client, job: str, src: int, dst: int, body: bytes = b"payload") -> httpx.Response:
    return client.post(message_path(job, "t"), params={"src": src, "dst": dst}, content=body)


def _nothing_arrived(lab: RouterLab, job: str, dst: int, src: int) -> None:
    with pytest.raises(TransportError, match="timed out"):
        lab.transport(dst).recv(job, "t", src, timeout=0.2)


def test_client_without_certificate_is_refused(lab: RouterLab) -> None:
    with _client(lab, A, cert=None) as client, pytest.raises(httpx.TransportError):
        _post(client, "nocert", B, A)
    _nothing_arrived(lab, "nocert", A, B)


def test_certificate_from_another_ca_is_refused(lab: RouterLab, tmp_path: Path) -> None:
    # The impostor even claims party B's identity; only the CA signature tells it apart.
    key, ca = create_ca("impostor CA")
    cert_file, key_file = write_pem_pair(tmp_path, *issue_certificate(key, ca, B, ["127.0.0.1"]))
    with _client(lab, A, cert=(str(cert_file), str(key_file))) as client, pytest.raises(httpx.TransportError):
        _post(client, "otherca", B, A)
    _nothing_arrived(lab, "otherca", A, B)


def test_peer_claiming_another_party_id_is_refused(lab: RouterLab) -> None:
    with _client(lab, A, cert=_cert_of(lab, B)) as client:
        for claimed in (C, A):
            resp = _post(client, "spoof", claimed, A)
            assert resp.status_code == 403
            assert f"party-{B} may not send messages from party {claimed}" in resp.json()["error"]
    _nothing_arrived(lab, "spoof", A, C)
    _nothing_arrived(lab, "spoof", A, A)


def test_peer_delivers_as_itself(lab: RouterLab) -> None:
    with _client(lab, A, cert=_cert_of(lab, B)) as client:
        assert _post(client, "honest", B, A, b"signed by B").status_code == 200
    assert lab.transport(A).recv("honest", "t", B, timeout=5) == b"signed by B"


def test_peer_cannot_read_mailboxes_links_or_use_the_router_as_relay(lab: RouterLab) -> None:
    lab.transport(C).send("private", "t", A, b"for A only")
    with _client(lab, A, cert=_cert_of(lab, B)) as client:
        assert client.get(message_path("private", "t"), params={"src": C, "timeout": 0}).status_code == 403
        assert client.get("/v1/links").status_code == 403
        assert client.delete("/v1/messages/private").status_code == 403
        relay = _post(client, "relay", B, C)
        assert relay.status_code == 403 and "does not relay" in relay.json()["error"]
    assert lab.transport(A).recv("private", "t", C, timeout=5) == b"for A only"
    _nothing_arrived(lab, "relay", C, B)


def test_local_clients_send_only_as_their_own_party(lab: RouterLab) -> None:
    with _client(lab, A, cert=_cert_of(lab, A)) as client:
        resp = _post(client, "local-spoof", B, C)
        assert resp.status_code == 403 and "send only as party" in resp.json()["error"]
    _nothing_arrived(lab, "local-spoof", C, B)


def test_exchange_checks_src_against_the_sender_certificate(star: RouterLab) -> None:
    exchange_id = star.fed.exchange.id
    with _client(star, exchange_id, cert=_cert_of(star, B)) as client:
        assert _post(client, "via-x", A, C).status_code == 403
        assert _post(client, "via-x", B, C, b"honest").status_code == 200
    assert star.transport(C).recv("via-x", "t", B, timeout=5) == b"honest"
    _nothing_arrived(star, "via-x", C, A)


def test_only_the_exchange_may_relay_for_other_parties(star: RouterLab) -> None:
    # C is a member of the federation, but not A's default route: it cannot pass off B's messages.
    with _client(star, A, cert=_cert_of(star, C)) as client:
        assert _post(client, "fake-relay", B, A).status_code == 403
    _nothing_arrived(star, "fake-relay", A, B)


def test_a_route_answered_by_the_wrong_party_is_not_trusted(lab: RouterLab) -> None:
    # A's route to B points at C's router: the TLS identity check (party-10000) must fail.
    config = lab.configs[A]
    wrong = dataclasses.replace(
        config,
        listen=Endpoint("127.0.0.1", free_port()),
        routes={B: Endpoint("127.0.0.1", lab.configs[C].listen.port, B)},
    )
    running = lab.loop.run(start_router(wrong))
    try:
        with pytest.raises(TransportError, match="TLS"):
            transport = RouterTransport(A, "127.0.0.1", running.port, lab.tls_of(A))
            try:
                transport.send("hijack", "t", B, b"secret")
            finally:
                transport.close()
    finally:
        lab.loop.run(running.stop())
    _nothing_arrived(lab, "hijack", C, A)


def test_client_refuses_a_router_of_another_party(lab: RouterLab) -> None:
    transport = RouterTransport(A, "127.0.0.1", lab.configs[B].listen.port, lab.tls_of(A), deadline=1)
    try:
        with pytest.raises(TransportError, match="unreachable"):
            transport.send("wrong-router", "t", C, b"x")
    finally:
        transport.close()
    _nothing_arrived(lab, "wrong-router", C, A)
