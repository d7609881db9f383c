"""Router behaviour: bounded memory and mailboxes, retries with a deadline, link status, config errors."""

from __future__ import annotations

import dataclasses
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from aiohttp import web

from fate.federation.client import RouterTransport
from fate.federation.config import Endpoint, parse_router_config
from fate.federation.errors import ConfigError
from fate.federation.hops import message_path
from fate.federation.router import start_router
from fate.federation.transport import TransportError
from tests.federation.lab import RouterLab, free_port

A, B = 9999, 10000


def test_large_bodies_are_spooled_to_disk_and_removed_once_read(tmp_path: Path) -> None:
    lab = RouterLab(tmp_path, tuning={"limits": {"memory_threshold": 4096, "chunk_bytes": 1024}})
    try:
        spool = Path(lab.configs[B].data_dir) / "spool"
        lab.transport(A).send("j", "small", B, b"s" * 100)
        lab.transport(A).send("j", "big", B, b"b" * 100_000)
        spooled = list(spool.iterdir())
        assert len(spooled) == 1 and spooled[0].stat().st_size == 100_000
        assert (spooled[0].stat().st_mode & 0o077) == 0
        assert lab.transport(B).recv("j", "big", A, timeout=5) == b"b" * 100_000
        assert lab.transport(B).recv("j", "small", A, timeout=5) == b"s" * 100
        assert list(spool.iterdir()) == []
        # The sender's router spooled while forwarding and cleaned up too.
        assert list((Path(lab.configs[A].data_dir) / "spool").iterdir()) == []
    finally:
        lab.close()


def test_full_mailbox_pushes_back_until_the_receiver_drains_it(tmp_path: Path) -> None:
    lab = RouterLab(tmp_path, tuning={"limits": {"peer_messages": 2}})
    try:
        sender, receiver = lab.transport(A), lab.transport(B)
        receiver.open_job("j")
        sender.send("j", "t", B, b"1")
        sender.send("j", "t", B, b"2")
        done = threading.Event()
        third = threading.Thread(target=lambda: (sender.send("j", "t", B, b"3"), done.set()))
        third.start()
        # Event, not a fixed sleep: B's router has refused the third message at least once, and it is not through.
        quotas = lab.routers[B].router.quotas
        deadline = time.monotonic() + 20
        while not quotas.refused_by(A):
            assert time.monotonic() < deadline, "the third message never reached B's router"
            time.sleep(0.02)
        assert not done.is_set(), "a full mailbox must hold the sender back"
        assert receiver.recv("j", "t", A, timeout=5) == b"1"
        third.join(20)
        assert done.is_set()
        assert [receiver.recv("j", "t", A, timeout=5) for _ in range(2)] == [b"2", b"3"]
    finally:
        lab.close()


def test_too_large_message_is_refused(tmp_path: Path) -> None:
    lab = RouterLab(tmp_path, tuning={"limits": {"max_message_bytes": 1000}})
    try:
        with pytest.raises(TransportError, match="5000 bytes exceeds max_message_bytes=1000"):
            lab.transport(A).send("j", "t", B, b"x" * 5000)
    finally:
        lab.close()


def test_forwarding_retries_until_the_peer_comes_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = RouterLab(tmp_path, tuning={"retry": {"deadline": 30, "initial_backoff": 0.05, "max_backoff": 0.2}})
    try:
        lab.stop_router(B)
        result: list[BaseException | None] = []
        # Each attempt A's router makes to reach B is counted: the test goes on once it has retried.
        hops = lab.routers[A].router.hops
        attempt = hops._post
        failures: list[BaseException] = []
        retried = threading.Event()

        async def counted(*args: Any, **kwargs: Any) -> None:
            try:
                await attempt(*args, **kwargs)
            except BaseException as err:
                failures.append(err)
                if len(failures) >= 2:
                    retried.set()
                raise

        monkeypatch.setattr(hops, "_post", counted)

        def send() -> None:
            try:
                lab.transport(A).send("j", "t", B, b"patience")
                result.append(None)
            except BaseException as err:  # noqa: BLE001 - handed to the main thread
                result.append(err)

        sender = threading.Thread(target=send)
        sender.start()
        assert retried.wait(20), "A's router never retried the unreachable peer"
        assert not result, "the send must still be retrying"
        lab.routers[B] = lab.loop.run(start_router(lab.configs[B]))
        sender.join(30)
        assert result == [None]
        assert lab.transport(B).recv("j", "t", A, timeout=5) == b"patience"
    finally:
        lab.close()


def test_forwarding_gives_up_at_the_deadline(tmp_path: Path) -> None:
    lab = RouterLab(tmp_path, tuning={"retry": {"deadline": 1, "initial_backoff": 0.05, "max_backoff": 0.2}})
    try:
        lab.stop_router(B)
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"did not accept the message after \d+ attempts"):
            lab.transport(A).send("j", "t", B, b"x")
        assert time.monotonic() - started < 10
    finally:
        lab.close()


def test_link_status_follows_the_peer(tmp_path: Path) -> None:
    lab = RouterLab(tmp_path)
    try:
        lab.probe_links()
        links = lab.transport(A).links()
        assert set(links) == {str(B)}
        up = links[str(B)]
        assert up["state"] == "up" and up["last_error"] is None and up["latency_ms"] >= 0
        assert up["checked_at"] and up["party_id"] == B
        lab.stop_router(B)
        lab.probe_links()
        down = lab.transport(A).links()[str(B)]
        assert down["state"] == "down" and down["last_error"]
    finally:
        lab.close()


def test_exchange_link_identity_is_learned_from_its_certificate(tmp_path: Path) -> None:
    lab = RouterLab(tmp_path, exchange=True)
    try:
        lab.probe_links()
        links = lab.transport(A).links()
        assert [(v["state"], v["party_id"]) for v in links.values()] == [("up", lab.fed.exchange.id)]
        exchange_links = lab.routers[lab.fed.exchange.id].router.hops.links
        assert {k: v.state for k, v in exchange_links.items()} == {str(A): "up", str(B): "up"}
    finally:
        lab.close()


def test_drop_job_frees_undelivered_messages(tmp_path: Path) -> None:
    lab = RouterLab(tmp_path)
    try:
        lab.transport(A).send("j", "a", B, b"1")
        lab.transport(A).send("j", "b", B, b"2")
        assert lab.transport(B).drop_job("j") == 2
        assert lab.routers[B].router.mailboxes.stats()["messages"] == 0
    finally:
        lab.close()


def test_plain_mode_without_tls(tmp_path: Path) -> None:
    lab = RouterLab(tmp_path, tls="none")
    try:
        lab.transport(A).send("j", "t", B, b"clear")
        assert lab.transport(B).recv("j", "t", A, timeout=5) == b"clear"
        assert lab.transport(A).healthy()
    finally:
        lab.close()


def test_config_errors_are_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        parse_router_config(
            {
                "party_id": "x",
                "role": "judge",
                "listen": {"host": "0.0.0.0", "port": 70000},
                "tls": {"mode": "mutual", "ca_file": "/nope/ca.crt", "cert_file": "/nope/tls.crt"},
                "routes": [{"host": "h", "port": 1}, {"party_id": 2, "host": "h", "port": 1},
                           {"party_id": 2, "host": "h", "port": 2}],
                "limits": {"chunk_bytes": -1, "colour": 1},
            },
            "bank-a/router.yaml",
        )
    text = str(info.value)
    for expected in (
        "bank-a/router.yaml is invalid",
        "party_id: expected an integer, got 'x'",
        "role: expected party or exchange",
        "listen.port: 70000 is not a TCP port",
        "tls.ca_file: /nope/ca.crt does not exist",
        "tls.key_file: expected a string, got None",
        "routes[0].party_id: expected an integer",
        "routes[2].party_id: 2 is routed twice",
        "data_dir: expected a string",
        "limits: unknown keys ['colour']",
        "limits.chunk_bytes: expected a positive number, got -1",
    ):
        assert expected in text


def test_a_router_stops_promptly_despite_open_long_polls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = RouterLab(tmp_path)
    outcome: list[BaseException] = []
    # The router's long poll is observed: the router is stopped only once the poll waits inside it.
    mailboxes = lab.routers[A].router.mailboxes
    take = mailboxes.take
    polling = threading.Event()

    async def observed(*args: Any, **kwargs: Any) -> Any:
        polling.set()
        return await take(*args, **kwargs)

    monkeypatch.setattr(mailboxes, "take", observed)

    def poll() -> None:
        try:
            lab.transport(A).recv("j", "never", B, timeout=20)
        except BaseException as err:  # noqa: BLE001 - the poll is expected to end in an error
            outcome.append(err)

    try:
        threading.Thread(target=poll, daemon=True).start()
        assert polling.wait(20), "the long poll never reached the router"
        started = time.monotonic()
        lab.stop_router(A)
        assert time.monotonic() - started < 5
        assert not outcome, "the poll was still open when the router stopped"
    finally:
        lab.close()


def test_an_abandoned_long_poll_does_not_swallow_the_next_message(tmp_path: Path) -> None:
    lab = RouterLab(tmp_path)
    try:
        tls = lab.configs[B].tls
        ctx = ssl.create_default_context(cafile=tls.ca_file)
        ctx.check_hostname = False
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
        base = f"https://127.0.0.1:{lab.configs[B].listen.port}"
        with httpx.Client(base_url=base, verify=ctx) as impatient, pytest.raises(httpx.ReadTimeout):
            impatient.get(message_path("j", "t"), params={"src": A, "timeout": 10}, timeout=0.5)
        time.sleep(0.2)
        lab.transport(A).send("j", "t", B, b"keep me")
        assert lab.transport(B).recv("j", "t", A, timeout=5) == b"keep me"
    finally:
        lab.close()


def test_a_forward_broken_mid_stream_is_replayed_whole(tmp_path: Path) -> None:
    # The next hop is a stand-in that drops the first upload halfway, then accepts the retry.
    lab = RouterLab(tmp_path, tls="none", tuning={"retry": {"initial_backoff": 0.05}})
    received: list[bytes] = []

    async def flaky(request: web.Request) -> web.Response:
        if not received:
            received.append(await request.content.read(200_000))
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        received.append(await request.read())
        return web.json_response({"delivered": True})

    async def start_flaky() -> web.AppRunner:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages/{job}/{tag}", flaky)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", flaky_port).start()
        return runner

    flaky_port = free_port()
    runner = lab.loop.run(start_flaky())
    config = dataclasses.replace(
        lab.configs[A], listen=Endpoint("127.0.0.1", free_port()), routes={B: Endpoint("127.0.0.1", flaky_port, B)}
    )
    router = lab.loop.run(start_router(config))
    payload = np.random.default_rng(3).integers(0, 256, 10 * 1024 * 1024, dtype=np.uint8).tobytes()
    sender = RouterTransport(A, "127.0.0.1", router.port)
    try:
        sender.send("j", "t", B, payload)
        assert len(received) == 2 and 0 < len(received[0]) < len(payload)
        assert received[1] == payload
    finally:
        sender.close()
        lab.loop.run(router.stop())
        lab.loop.run(runner.cleanup())
        lab.close()
