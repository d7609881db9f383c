"""One contract, every Transport: in-memory, OS pipes, real routers over mTLS (direct and via an exchange), and signed."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fate.federation.federation import Federation
from fate.federation.memory import MemoryHub
from fate.federation.pipes import PipeTransport, pipe_mesh
from fate.federation.signed import signed
from fate.federation.transport import Transport, TransportError
from fatectl.pki import ensure_secrets
from tests.federation.lab import RouterLab, tls_of
from tests.federation.specs import federation

A, B, C = 9999, 10000, 10001
MakeTransport = Callable[[int], Transport]


@pytest.fixture(scope="module", params=["memory", "pipes", "routers", "exchange", "signed-memory",
                                                      "signed-exchange"])
def net(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeTransport]:
    kind = str(request.param)
    if kind == "pipes":
        links = pipe_mesh((A, B, C))
        made = [PipeTransport(pid, links[pid]) for pid in (A, B, C)]
        yield {t.party_id: t for t in made}.__getitem__
        for t in made:
            t.close()
        return
    if kind.endswith("memory"):
        hub = MemoryHub()
        if kind == "memory":
            yield hub.transport
            return
        secrets = ensure_secrets(federation((A, B, C)), tmp_path_factory.mktemp("secrets"))
        yield lambda pid: signed(hub.transport(pid), tls_of(secrets, pid))
        return
    lab = RouterLab(tmp_path_factory.mktemp(kind), (A, B, C), exchange=kind.endswith("exchange"))
    try:
        yield (lambda pid: signed(lab.transport(pid), lab.tls_of(pid))) if kind.startswith("signed") else lab.transport
    finally:
        lab.close()


@pytest.fixture(scope="module")
def parties(net: MakeTransport) -> dict[int, Transport]:
    return {pid: net(pid) for pid in (A, B, C)}


def _job(parties: dict[int, Transport], name: str) -> str:
    """A fresh job id, opened by every party as its flow does when the job is agreed."""
    job = f"{name}-{os.urandom(4).hex()}"
    for transport in parties.values():
        transport.open_job(job)
    return job


def test_a_message_arrives_intact(parties: dict[int, Transport]) -> None:
    job = _job(parties, "intact")
    parties[A].send(job, "greeting", B, b"hello \x00 world")
    assert parties[B].recv(job, "greeting", A, timeout=10) == b"hello \x00 world"


def test_empty_payload(parties: dict[int, Transport]) -> None:
    job = _job(parties, "empty")
    parties[A].send(job, "nothing", C, b"")
    assert parties[C].recv(job, "nothing", A, timeout=10) == b""


def test_a_message_sent_in_parts_arrives_whole(parties: dict[int, Transport]) -> None:
    job = _job(parties, "parts")
    parties[A].send_parts(job, "parts", B, (b"head|", b"", b"body" * 300_000))
    assert bytes(parties[B].recv_buffer(job, "parts", A, timeout=10)) == b"head|" + b"body" * 300_000


def test_messages_of_one_key_keep_their_order(parties: dict[int, Transport]) -> None:
    job = _job(parties, "order")
    for i in range(20):
        parties[A].send(job, "seq", B, i.to_bytes(2, "big"))
    assert [int.from_bytes(parties[B].recv(job, "seq", A, timeout=10), "big") for i in range(20)] == list(range(20))


def test_tags_and_sources_are_independent(parties: dict[int, Transport]) -> None:
    job = _job(parties, "tags")
    parties[A].send(job, "first", C, b"1")
    parties[A].send(job, "second", C, b"2")
    parties[B].send(job, "first", C, b"from B")
    assert parties[C].recv(job, "second", A, timeout=10) == b"2"
    assert parties[C].recv(job, "first", B, timeout=10) == b"from B"
    assert parties[C].recv(job, "first", A, timeout=10) == b"1"


def test_tags_with_path_and_role_characters(parties: dict[int, Transport]) -> None:
    job = _job(parties, "chars")
    tag = "hetero_lr/d.iter3|guest>host ?&%#"
    parties[B].send(job, tag, A, b"x")
    assert parties[A].recv(job, tag, B, timeout=10) == b"x"


def test_large_payload(parties: dict[int, Transport]) -> None:
    job = _job(parties, "large")
    payload = np.random.default_rng(1).integers(0, 256, 50 * 1024 * 1024, dtype=np.uint8).tobytes()
    parties[A].send(job, "big", B, payload)
    assert parties[B].recv(job, "big", A, timeout=120) == payload


def test_recv_times_out_with_transport_error(parties: dict[int, Transport]) -> None:
    started = time.monotonic()
    with pytest.raises(TransportError, match="timed out"):
        parties[A].recv(_job(parties, "timeout"), "never", B, timeout=0.3)
    assert 0.25 <= time.monotonic() - started < 10


def test_recv_waits_for_a_late_message(parties: dict[int, Transport]) -> None:
    job = _job(parties, "late")
    timer = threading.Timer(0.3, parties[C].send, args=(job, "late", A, b"finally"))
    timer.start()
    try:
        assert parties[A].recv(job, "late", C, timeout=10) == b"finally"
    finally:
        timer.join()


def test_loopback_to_own_party(parties: dict[int, Transport]) -> None:
    job = _job(parties, "self")
    parties[A].send(job, "note|guest>arbiter", A, b"to myself")
    assert parties[A].recv(job, "note|guest>arbiter", A, timeout=10) == b"to myself"


def test_unknown_destination_is_an_error(parties: dict[int, Transport]) -> None:
    with pytest.raises(TransportError, match="4242"):
        parties[A].send(_job(parties, "unknown"), "t", 4242, b"x")


def test_concurrent_jobs_do_not_mix(parties: dict[int, Transport]) -> None:
    jobs = [_job(parties, f"concurrent{i}") for i in range(6)]

    def exchange(job: str) -> list[bytes]:
        got = []
        for r in range(5):
            parties[A].send(job, f"r{r}", B, f"{job}:{r}".encode())
            got.append(parties[B].recv(job, f"r{r}", A, timeout=30))
            parties[B].send(job, f"back{r}", A, got[-1][::-1])
            assert parties[A].recv(job, f"back{r}", B, timeout=30) == got[-1][::-1]
        return got

    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(exchange, jobs))
    for job, got in zip(jobs, results, strict=True):
        assert got == [f"{job}:{r}".encode() for r in range(5)]


def test_federation_roles_over_the_transport(parties: dict[int, Transport]) -> None:
    job = _job(parties, "roles")
    roles = {"guest": [A], "host": [B, C], "arbiter": [A]}
    guest = Federation(parties[A], job, roles, "guest")
    arbiter = Federation(parties[A], job, roles, "arbiter")
    hosts = [Federation(parties[p], job, roles, "host") for p in (B, C)]
    arbiter.remote({"pub": 2**2048 + 1}, "key", "guest")
    arbiter.remote({"pub": 2**2048 + 1}, "key", "host")
    assert guest.get("key", "arbiter") == {"pub": 2**2048 + 1}
    for h in hosts:
        assert h.get("key", "arbiter") == {"pub": 2**2048 + 1}
        h.remote(np.full(3, h.party_id), "grad", "arbiter")
    grads = arbiter.get("grad", "host")
    assert [int(g[0]) for g in grads] == [B, C]

