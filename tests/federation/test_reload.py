"""A running router takes new routes, certificates, trust and CRLs without a restart."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509

from fate.federation.config import Endpoint
from fate.federation.transport import TransportError
from fatectl.certs.revoke import revoke_party
from fatectl.certs.rotate import rotate_certificates
from tests.federation.lab import RouterLab


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[RouterLab]:
    routers = RouterLab(tmp_path, (9999, 10000, 10001))
    try:
        yield routers
    finally:
        routers.close()


def _served(lab: RouterLab, party_id: int) -> int:
    tls = lab.tls_of(9999)
    ctx = ssl.create_default_context(cafile=tls["ca_file"])
    ctx.load_cert_chain(tls["cert_file"], tls["key_file"])
    with socket.create_connection(("127.0.0.1", lab.configs[party_id].listen.port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=f"party-{party_id}") as conn:
        der = conn.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_new_routes_are_taken_and_kept_links_keep_their_measurements(lab: RouterLab) -> None:
    router = lab.routers[9999].router
    lab.probe_links()
    kept = router.hops.links["10000"]
    assert kept.state == "up"
    fewer = replace(lab.configs[9999], routes={10000: lab.configs[9999].routes[10000]})
    router.reload(fewer)
    assert set(router.hops.links) == {"10000"} and router.hops.links["10000"] is kept
    assert router.config.next_hop(10001) is None
    moved = replace(fewer, routes={**fewer.routes, 10001: Endpoint("127.0.0.1", lab.configs[10001].listen.port, 10001)},
                    listen=Endpoint("127.0.0.1", 1))  # a new listen port is not taken live, only logged
    router.reload(moved)
    assert router.config.listen == lab.configs[9999].listen and router.config.next_hop(10001) is not None
    lab.probe_links()
    assert router.hops.links["10001"].state == "up"


def test_rotated_certificates_serve_new_connections_only(lab: RouterLab, tmp_path: Path) -> None:
    before = _served(lab, 10000)
    rotate_certificates(lab.fed, tmp_path / "secrets", party_id=10000)
    assert lab.routers[10000].router.tls_state.refresh()  # what the file watch does every second
    assert _served(lab, 10000) != before
    sender = lab.transport(9999)
    sender.send("job", "after-rotation", 10000, b"still trusted")  # peers accept the new certificate at once
    assert lab.transport(10000).recv("job", "after-rotation", 9999, timeout=10) == b"still trusted"


def test_a_revoked_party_is_refused_once_the_routers_reload(lab: RouterLab, tmp_path: Path) -> None:
    revoke_party(lab.fed, tmp_path / "secrets", 10001)
    for running in lab.routers.values():
        running.router.tls_state.refresh()
    revoked = lab.transport(10001, deadline=2.0)
    with pytest.raises(TransportError):
        revoked.send("job", "from-the-revoked", 9999, b"refused")
    lab.probe_links()
    assert lab.routers[9999].router.hops.links["10001"].state == "down"  # 9999 refuses its server certificate
    assert lab.routers[10001].router.hops.links["9999"].state == "down"  # and 9999 refuses its client certificate
    assert lab.routers[9999].router.hops.links["10000"].state == "up"


def test_a_connection_opened_before_the_revocation_is_refused_request_by_request(lab: RouterLab, tmp_path: Path) -> None:
    # The handshake checks new connections only: 10001's router keeps its link to 9999 open, so after
    # 9999 reloads the CRL the next message travels over a connection whose handshake passed. Only
    # 9999's per-request check can refuse it, and says why.
    sender = lab.transport(10001, deadline=2.0)
    sender.send("job", "before", 9999, b"accepted")
    assert lab.transport(9999).recv("job", "before", 10001, timeout=10) == b"accepted"
    revoke_party(lab.fed, tmp_path / "secrets", 10001)
    assert lab.routers[9999].router.tls_state.refresh()  # 9999 only: 10001's router still tries
    with pytest.raises(TransportError, match="the certificate of party-10001 is revoked"):
        sender.send("job", "after", 9999, b"refused")
