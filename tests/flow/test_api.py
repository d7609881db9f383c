"""The flow HTTP API on a real aiohttp server (no router needed for these routes)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from fate.flow.config import parse_flow_config
from fate.flow.errors import ConfigError
from fate.flow.server import FlowService

TOKEN = "t" * 43


def _config(tmp: Path, **extra: Any) -> dict[str, Any]:
    (tmp / "token").write_text(TOKEN)
    return {
        "party_id": 9999,
        "listen": {"host": "127.0.0.1", "port": 0},
        "token_file": str(tmp / "token"),
        "router": {"host": "127.0.0.1", "port": 1},  # nothing listens: routes that need it must say so
        "tls": {"mode": "none"},
        "data_dir": str(tmp / "data"),
        **extra,
    }


def _with_client(tmp: Path, body: Callable[[TestClient], Awaitable[None]], **extra: Any) -> None:
    service = FlowService(parse_flow_config(_config(tmp, **extra)), tmp / "flow.yaml")

    async def go() -> None:
        async with TestClient(TestServer(service.app())) as client:
            await body(client)

    asyncio.run(go())


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_token_is_required_except_for_health(tmp_path: Path) -> None:
    async def body(client: TestClient) -> None:
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/v1/jobs")).status == 401
        assert (await client.get("/v1/jobs", headers={"Authorization": "Bearer nope"})).status == 401
        assert (await client.get("/v1/jobs", headers=AUTH)).status == 200

    _with_client(tmp_path, body)



def test_the_token_counts_only_as_a_bearer_token(tmp_path: Path) -> None:
    async def body(client: TestClient) -> None:
        for header in (f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer "):
            assert (await client.get("/v1/jobs", headers={"Authorization": header})).status == 401, header
        assert (await client.get("/v1/jobs", headers={"Authorization": f"bearer  {TOKEN} "})).status == 200

    _with_client(tmp_path, body)


def test_the_read_only_credential_may_only_read(tmp_path: Path) -> None:
    reader = "r" * 43
    (tmp_path / "reader").write_text(reader)

    async def body(client: TestClient) -> None:
        as_reader = {"Authorization": f"Bearer {reader}"}
        assert (await client.get("/v1/jobs", headers=as_reader)).status == 200
        assert (await client.head("/v1/jobs", headers=as_reader)).status == 200
        refused = await client.post("/v1/jobs", headers=as_reader, data=b"roles: {}")
        assert refused.status == 403 and "may only read" in (await refused.json())["error"]
        assert (await client.post("/v1/jobs", headers=AUTH, data=b"roles: {}")).status == 400  # the token may write
        assert (await client.get("/v1/jobs", headers={"Authorization": f"Basic {reader}"})).status == 401

    _with_client(tmp_path, body, reader_token_file=str(tmp_path / "reader"))

def test_upload_validates_and_lists(tmp_path: Path) -> None:
    async def body(client: TestClient) -> None:
        bad = await client.post("/v1/tables/t1", data=b"id,x\na,1\nb,oops\n", headers=AUTH)
        assert bad.status == 400
        reply = await bad.json()
        assert "upload of table 't1'" in reply["error"]
        assert reply["problems"] == ["line 3, column 'x': 'oops' is not a finite number"]
        good = await client.post("/v1/tables/t1", data=b"id,y,x\na,1,1\nb,0,2\n", headers=AUTH)
        assert good.status == 201 and (await good.json())["rows"] == 2
        again = await client.post("/v1/tables/t1", data=b"id\nz\n", headers=AUTH)
        assert again.status == 409
        assert "fatectl data upload --overwrite" in (await again.json())["error"]
        listed = await (await client.get("/v1/tables", headers=AUTH)).json()
        assert [(t["name"], t["rows"], t["label"]) for t in listed] == [("t1", 2, True)]
        assert (await client.post("/v1/tables/bad%20name", data=b"id\na\n", headers=AUTH)).status == 400
        big = await client.post("/v1/tables/big", data=b"id\n" + b"x\n" * 100, headers=AUTH)
        assert big.status == 413

    _with_client(tmp_path, body, max_upload_bytes=100)


def test_bad_job_files_name_their_fields(tmp_path: Path) -> None:
    async def body(client: TestClient) -> None:
        reply = await client.post("/v1/jobs", data=b"roles: {guest: [9999]}\npipeline: []\n", headers=AUTH)
        assert reply.status == 400
        problems = (await reply.json())["problems"]
        assert any(p.startswith("roles.host: required") for p in problems)
        assert any(p.startswith("pipeline: required") for p in problems)
        missing = await client.post(
            "/v1/jobs",
            data=b"roles: {guest: [9999], host: [10000]}\ntables: {9999: nope, 10000: h}\npipeline: [{name: p, component: psi}]\n",
            headers=AUTH,
        )
        assert missing.status == 400 and (await missing.json())["problems"] == ["party 9999 has no table 'nope'"]
        assert (await client.get("/v1/jobs/zzz", headers=AUTH)).status == 404
        assert (await client.get("/v1/jobs/zzz/logs", headers=AUTH)).status == 404

    _with_client(tmp_path, body, peers=[10000])


def test_links_without_a_router_is_a_clear_502(tmp_path: Path) -> None:
    async def body(client: TestClient) -> None:
        reply = await client.get("/v1/federation/links", headers=AUTH)
        assert reply.status == 502 and "own router" in (await reply.json())["error"]

    _with_client(tmp_path, body)


def test_config_problems_are_listed_together(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_flow_config({"party_id": "x", "listen": {"host": 1}, "tls": {"mode": "tls"}, "peers": "all"})
    text = str(info.value)
    for fragment in ("party_id: expected an integer", "listen.host: expected a string", "listen.port", "router:",
                     "token_file", "data_dir", "tls: expected", "peers: expected"):
        assert fragment in text, fragment


def test_odd_integer_queries_are_bad_requests_not_crashes(tmp_path: Path) -> None:
    async def body(client: TestClient) -> None:
        for value in ("-1", "abc", "99999999999999999999", "\u00b2"):
            reply = await client.get("/v1/jobs", params={"limit": value}, headers=AUTH)
            assert reply.status == 400, value
            assert "query parameter limit" in (await reply.json())["error"]

    _with_client(tmp_path, body)


def test_a_header_of_raw_bytes_is_refused_not_a_crash(tmp_path: Path) -> None:
    async def body(client: TestClient) -> None:
        assert client.server.host is not None and client.server.port is not None
        reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
        writer.write(b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n")
        await writer.drain()
        reply = await reader.read()
        writer.close()
        assert reply.startswith(b"HTTP/1.1 401 "), reply[:200]

    _with_client(tmp_path, body)


def test_a_job_file_arriving_in_pieces_is_read_whole(tmp_path: Path) -> None:
    job = b"roles: {guest: [9999], host: [10000]}\ntables: {9999: t, 10000: t}\npipeline: [{name: p, component: psi}]\n"

    async def pieces() -> Any:
        yield b"# " + b"x" * 1000 + b"\n"
        await asyncio.sleep(0.3)
        yield job

    async def body(client: TestClient) -> None:
        reply = await client.post("/v1/jobs", data=pieces(), headers=AUTH)
        assert reply.status == 400
        assert (await reply.json())["problems"] == ["party 9999 has no table 't'"]

    _with_client(tmp_path, body, peers=[10000])


def test_approvals_and_the_audit_log_over_http(tmp_path: Path) -> None:
    """The routes refuse what is not pending, validate the note, and serve the audit log; the happy
    path needs peers and routers and runs in tests/integration/test_lab_policy.py."""

    service = FlowService(parse_flow_config(_config(tmp_path)), tmp_path / "flow.yaml")

    async def body(client: TestClient) -> None:
        service.store.create_job("done", {"name": "x"}, 10000, "success")
        service.store.create_job("asks", {"name": "y"}, 10000, "pending", "needs approval")
        service.scheduler.audit.append("proposal", "asks", "party 10000", {"from": 10000})
        reply = await client.post("/v1/jobs/done/approve", headers=AUTH)
        assert reply.status == 409 and "not waiting for approval" in (await reply.json())["error"]
        assert (await client.post("/v1/jobs/nope/reject", headers=AUTH)).status == 404
        for bad in (b"{", b'{"reason": 5}', b'{"reason": "' + b"x" * 600 + b'"}'):
            assert (await client.post("/v1/jobs/asks/reject", data=bad, headers=AUTH)).status == 400, bad
        pending = await (await client.get("/v1/jobs", params={"status": "pending"}, headers=AUTH)).json()
        assert [j["id"] for j in pending] == ["asks"]
        records = await (await client.get("/v1/audit", headers=AUTH)).json()
        assert [(r["seq"], r["kind"], r["job_id"]) for r in records] == [(1, "proposal", "asks")]
        assert await (await client.get("/v1/audit", params={"after": 1}, headers=AUTH)).json() == []
        assert (await client.get("/v1/audit")).status == 401

    async def go() -> None:
        async with TestClient(TestServer(service.app())) as client:
            await body(client)

    asyncio.run(go())


def test_the_access_rule_itself() -> None:
    import pytest as _pytest

    from fate.flow.access import authorize
    from fate.flow.errors import Forbidden, Unauthorized

    full, reader = b"f" * 43, b"r" * 43
    authorize("Bearer " + "f" * 43, "POST", full, reader)  # the flow token writes
    authorize("bearer " + "r" * 43, "GET", full, reader)  # the reader reads
    # The messages tell the operator which secret to use (mutation testing found them unchecked).
    read_only = r"^the read-only credential \(the board's\) may only read; use the flow token$"
    with _pytest.raises(Forbidden, match=read_only):
        authorize("Bearer " + "r" * 43, "POST", full, reader)
    with _pytest.raises(Forbidden, match=read_only):
        authorize("Bearer " + "r" * 43, "DELETE", full, reader)
    missing = r"^missing or wrong bearer token \(see the party's flow_token secret\)$"
    for bad in ("", "Bearer", "Basic " + "f" * 43, "Bearer " + "f" * 42, "Bearer " + "x" * 43):
        with _pytest.raises(Unauthorized, match=missing):
            authorize(bad, "GET", full, reader)
    with _pytest.raises(Unauthorized, match=missing):
        authorize("Bearer " + "r" * 43, "GET", full, None)  # no reader configured: nothing reads with it
