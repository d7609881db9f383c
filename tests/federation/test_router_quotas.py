"""No peer can exhaust a router: the attacks of issue 11 against real routers over mutual TLS.

Each attacker is a raw HTTP client holding a real federation certificate, posting
straight to the victim's router as a peer would; honest traffic goes through
RouterTransport and must keep flowing.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fate.federation.hops import message_path
from fate.federation.transport import TransportError
from tests.federation.lab import RouterLab, client_as, tls_context

A, B, C = 9999, 10000, 10001
MiB = 1024 * 1024


def _post(client: httpx.Client, job: str, src: int, dst: int, body: bytes, tag: str = "t") -> httpx.Response:
    return client.post(message_path(job, tag), params={"src": src, "dst": dst}, content=body)


def _held(lab: RouterLab, party: int) -> dict[str, Any]:
    return lab.transport(party).status()


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition the router reaches on its own (expiry), checking it as it changes."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterLab]:
    lab = RouterLab(tmp_path_factory.mktemp("quotas"), (A, B, C))
    yield lab
    lab.close()


def test_invented_job_ids_hold_only_the_small_unopened_share(lab: RouterLab) -> None:
    # The attack: 45 job ids x 4 MiB held 150 MiB against a 4 MiB per-job limit.
    four = b"x" * (4 * MiB)
    with client_as(lab, A, B) as attacker:
        answers = [_post(attacker, f"invented-{i}", B, A, four) for i in range(45)]
    assert [r.status_code for r in answers] == [200] + [429] * 44
    refusal = answers[1].json()
    assert refusal["retryable"] is True
    assert "jobs this party has not opened" in refusal["error"]
    assert "unopened_peer_bytes=4194304" in refusal["error"]
    status = _held(lab, A)
    assert status["peers"][str(B)]["held"] == {"unopened": {"bytes": 4 * MiB, "count": 1}}
    assert status["peers"][str(B)]["refused"] == {"unopened_peer_bytes": 44}
    assert lab.transport(A).links()[str(B)]["refused"] == 44
    # Honest traffic still flows: a job A opened takes C's (and B's) data in full.
    lab.transport(A).open_job("honest")
    lab.transport(C).send("honest", "big", A, b"c" * (8 * MiB))
    lab.transport(B).send("honest", "big", A, b"b" * (8 * MiB))
    assert lab.transport(A).recv("honest", "big", C, timeout=10) == b"c" * (8 * MiB)
    assert lab.transport(A).recv("honest", "big", B, timeout=10) == b"b" * (8 * MiB)
    assert lab.transport(A).drop_job("honest") == 0
    for i in range(45):
        lab.transport(A).drop_job(f"invented-{i}")


def test_a_2_gib_message_is_refused_before_its_body_is_read(lab: RouterLab) -> None:
    lab.transport(A).open_job("huge")  # even an open job with an empty mailbox
    conn = http.client.HTTPSConnection("127.0.0.1", lab.configs[A].listen.port, context=tls_context(lab, B))
    try:
        conn.putrequest("POST", f"{message_path('huge', 't')}?src={B}&dst={A}")
        conn.putheader("Content-Length", str(2 * 1024 * MiB))
        conn.endheaders()  # not one byte of the body follows
        resp = conn.getresponse()
        assert resp.status == 413
        assert b"2147483648 bytes exceeds max_message_bytes=536870912" in resp.read()
    finally:
        conn.close()
    assert list((Path(lab.configs[A].data_dir) / "spool").iterdir()) == []
    assert str(B) not in _held(lab, A)["peers"] or "job" not in _held(lab, A)["peers"][str(B)]["held"]
    lab.transport(A).drop_job("huge")


def test_a_message_must_declare_its_size(lab: RouterLab) -> None:
    with client_as(lab, A, B) as attacker:
        resp = attacker.post(message_path("chunked", "t"), params={"src": B, "dst": A}, content=iter([b"a", b"b"]))
    assert resp.status_code == 411 and "Content-Length" in resp.json()["error"]


def test_the_control_channel_takes_only_small_messages(lab: RouterLab) -> None:
    with client_as(lab, A, B) as attacker:
        big = _post(attacker, "_flow_control", B, A, b"{" * (64 * 1024 + 1), tag="ctl.0")
        small = _post(attacker, "_flow_control", B, A, b"{}", tag="ctl.0")
    assert big.status_code == 413 and "control_message_bytes=65536" in big.json()["error"]
    assert small.status_code == 200
    assert lab.transport(A).recv("_flow_control", "ctl.0", B, timeout=5) == b"{}"


def test_refusals_reach_the_sending_client_as_transport_errors(lab: RouterLab) -> None:
    sender = lab.transport(C, deadline=1.0)
    with pytest.raises(TransportError, match=r"failed: a message of 5242880 bytes exceeds unopened_peer_bytes="):
        sender.send("not-opened", "t", A, b"x" * (5 * MiB))  # can never fit: refused at once (413)
    sender.send("not-opened", "t", A, b"x" * (3 * MiB))
    # Could fit later: the client backs off and retries the 429 until its deadline, then names the limit.
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"failed after \d+ attempts: .*unopened_peer_bytes=4194304"):
        sender.send("not-opened", "t", A, b"x" * (3 * MiB))
    assert time.monotonic() - started < 10
    assert lab.transport(A).drop_job("not-opened") == 1


def test_flooding_from_one_peer_does_not_block_another(tmp_path: Path) -> None:
    lab = RouterLab(tmp_path, (A, B, C), tuning={"limits": {"peer_bytes": MiB}})
    try:
        lab.transport(A).open_job("shared")
        chunk = b"f" * (256 * 1024)
        with client_as(lab, A, B) as flooder:
            codes = [_post(flooder, "shared", B, A, chunk, tag=f"flood{i}").status_code for i in range(8)]
        assert codes == [200] * 4 + [429] * 4
        lab.transport(C).send("shared", "honest", A, b"h" * (512 * 1024))
        assert lab.transport(A).recv("shared", "honest", C, timeout=5) == b"h" * (512 * 1024)
        assert _held(lab, A)["peers"][str(B)]["refused"] == {"peer_bytes": 4}
    finally:
        lab.close()


def test_the_total_is_shared_and_a_waiting_sender_gets_in_once_there_is_room(tmp_path: Path) -> None:
    lab = RouterLab(tmp_path, (A, B, C), tuning={"limits": {"total_bytes": MiB}})
    try:
        lab.transport(A).open_job("j")
        lab.transport(B).send("j", "first", A, b"b" * (700 * 1024))
        with client_as(lab, A, C) as peer:
            refused = _post(peer, "j", C, A, b"c" * (700 * 1024))
        assert refused.status_code == 507 and "total_bytes=1048576" in refused.json()["error"]
        done = threading.Event()
        waiting = threading.Thread(
            target=lambda: (lab.transport(C).send("j", "second", A, b"c" * (700 * 1024)), done.set())
        )
        waiting.start()
        # Event, not a fixed sleep: A's router has refused C's waiting message once more, and it is not through.
        refused = lab.routers[A].router.quotas.refused_by(C)
        _until(lambda: lab.routers[A].router.quotas.refused_by(C) > refused, timeout=20)
        assert not done.is_set(), "the router has no room yet"
        assert lab.transport(A).recv("j", "first", B, timeout=5) == b"b" * (700 * 1024)
        waiting.join(30)
        assert done.is_set()
        assert lab.transport(A).recv("j", "second", C, timeout=5) == b"c" * (700 * 1024)
    finally:
        lab.close()


def test_unread_messages_of_unopened_jobs_expire(tmp_path: Path) -> None:
    lab = RouterLab(tmp_path, (A, B), tuning={"limits": {"unopened_ttl": 0.3}})
    try:
        lab.transport(B).send("stray", "t", A, b"s" * (4 * MiB))
        assert _held(lab, A)["total"]["bytes"] == 4 * MiB
        _until(lambda: _held(lab, A)["total"] == {"bytes": 0, "count": 0})
        assert _held(lab, A)["mailboxes"]["messages"] == 0
        lab.transport(B).send("stray-again", "t", A, b"s" * (4 * MiB))  # the share is free again
    finally:
        lab.close()


def test_messages_through_the_exchange_are_bounded_per_original_sender(tmp_path: Path) -> None:
    lab = RouterLab(tmp_path, (A, B, C), exchange=True, tuning={"limits": {"peer_bytes": MiB}})
    try:
        lab.transport(A).open_job("star")
        lab.transport(B).send("star", "b1", A, b"b" * MiB)
        with pytest.raises(TransportError, match=r"party 10000 already has .* peer_bytes=1048576"):
            lab.transport(B, deadline=1.0).send("star", "b2", A, b"b" * 1024)
        lab.transport(C).send("star", "c1", A, b"c" * 1024)  # another sender, same exchange, same job
        assert lab.transport(A).recv("star", "c1", C, timeout=5) == b"c" * 1024
    finally:
        lab.close()
