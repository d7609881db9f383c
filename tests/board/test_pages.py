"""The board's pages over a real flow process: auth, escaping, metrics, charts, errors."""

from __future__ import annotations

import asyncio
import html
import re
import subprocess
import sys

import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer

from fate.board.config import parse_board_config
from fate.board.server import Board

from .conftest import XSS, Party, seed_failed_job, seed_finished_job

LOSS = [0.69, 0.52, 0.41, 0.37, 0.35]


@pytest.fixture(scope="module")
def seeded(party: Party) -> Party:
    seed_finished_job(party.store, "job-ok", "breast-lr", LOSS)
    seed_failed_job(party.store, "job-xss", XSS, reason=f"host said {XSS}")
    return party


def _get(party: Party, path: str, **kwargs: object) -> httpx.Response:
    auth = kwargs.pop("auth", None)
    headers = kwargs.pop("headers", None)
    if auth is None and headers is None:
        headers = {"Authorization": f"Bearer {party.password}"}
    return httpx.get(party.board_url + path, auth=auth, headers=headers, timeout=10)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["/", "/jobs/job-ok", "/static/board.css"])
@pytest.mark.parametrize(
    "headers",
    [None, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": "Basic !!notbase64"}],
    ids=["none", "wrong-bearer", "bad-basic"],
)
def test_every_page_needs_the_token(seeded: Party, path: str, headers: dict[str, str] | None) -> None:
    resp = httpx.get(seeded.board_url + path, headers=headers, timeout=10)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith('Basic realm="FATE board of party 9999"')
    assert seeded.token not in resp.text and seeded.password not in resp.text
    assert "job-ok" not in resp.text


def test_basic_login_as_admin_with_the_board_password(seeded: Party) -> None:
    assert _get(seeded, "/", auth=("admin", seeded.password)).status_code == 200
    assert _get(seeded, "/", auth=("root", seeded.password)).status_code == 401
    assert _get(seeded, "/", auth=("admin", seeded.password + "x")).status_code == 401


def test_the_flow_token_and_the_reader_credential_do_not_open_the_board(seeded: Party) -> None:
    for credential in (seeded.token, seeded.reader):
        assert _get(seeded, "/", auth=("admin", credential)).status_code == 401
        assert _get(seeded, "/", headers={"Authorization": f"Bearer {credential}"}).status_code == 401


def test_the_boards_credential_only_reads_the_flow(seeded: Party) -> None:
    reader = {"Authorization": f"Bearer {seeded.reader}"}
    assert httpx.get(seeded.flow_url + "/v1/jobs", headers=reader, timeout=10).status_code == 200
    for method, path in (("POST", "/v1/jobs"), ("POST", "/v1/jobs/job-ok/stop"), ("POST", "/v1/tables/t1")):
        resp = httpx.request(method, seeded.flow_url + path, headers=reader, content=b"id,x\n1,2\n", timeout=10)
        assert resp.status_code == 403 and "may only read" in resp.json()["error"]
    assert httpx.get(seeded.flow_url + "/v1/jobs", headers={"Authorization": f"Bearer {seeded.password}"},
                     timeout=10).status_code == 401  # the board's login opens nothing on the flow


def test_healthz_is_open(seeded: Party) -> None:
    resp = httpx.get(seeded.board_url + "/healthz", timeout=10)
    assert resp.status_code == 200 and resp.json() == {"status": "ok", "party_id": 9999}


def test_security_headers_on_pages_and_errors(seeded: Party) -> None:
    for resp in (
        _get(seeded, "/"),
        _get(seeded, "/jobs/nope"),
        httpx.get(seeded.board_url + "/", timeout=10),
    ):
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Cache-Control"] == "no-store"


def test_job_list_shows_status_roles_and_links(seeded: Party) -> None:
    page = _get(seeded, "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    rows = re.findall(r"<tr>\s*<td><a href=\"/jobs/([^\"]+)\">", page.text)
    assert set(rows) >= {"job-ok", "job-xss"}
    ok_row = page.text[page.text.index('href="/jobs/job-ok"') :].split("</tr>")[0]
    assert "breast-lr" in ok_row and 'class="status success"' in ok_row and "guest, arbiter" in ok_row
    assert "<script" not in page.text and seeded.token not in page.text


def test_markup_in_a_job_name_and_reason_is_escaped(seeded: Party) -> None:
    for path in ("/", "/jobs/job-xss"):
        text = _get(seeded, path).text
        assert "<script" not in text and "<img" not in text
        assert XSS in html.unescape(text)  # shown as text, not dropped


def test_finished_evaluation_shows_metrics_roc_and_loss(seeded: Party) -> None:
    page = _get(seeded, "/jobs/job-ok")
    assert page.status_code == 200
    text = page.text
    evaluated = seeded.store.outputs("job-ok")
    auc = next(r["value"] for r in evaluated if r["name"] == "auc" and r["role"] == "guest")
    ks = next(r["value"] for r in evaluated if r["name"] == "ks" and r["role"] == "guest")
    assert f"<tr><th>auc</th><td>{auc:.6g}</td></tr>" in text
    assert f"<tr><th>ks</th><td>{ks:.6g}</td></tr>" in text
    assert f"ROC (AUC {auc:.4f})" in text
    svgs = re.findall(r"<svg .*?</svg>", text, flags=re.S)
    roc = next(s for s in svgs if "ROC" in s)
    points = re.search(r'class="series" points="([^"]+)"', roc)
    assert points is not None
    roc_rows = next(r["value"] for r in evaluated if r["name"] == "roc")
    assert len(points.group(1).split()) == len(roc_rows["fpr"])
    # Loss: the arbiter's curve is one chart per section, its duplicate name folded away.
    loss_svgs = [s for s in svgs if "<title>loss" in s]
    loss_points = [re.findall(r'points="([^"]+)"', s) for s in loss_svgs]
    assert loss_points and all(len(p) == 1 and len(p[0].split()) == len(LOSS) for p in loss_points)
    arbiter_eval = text[text.index('evaluate <span class="role">as arbiter') :]
    assert arbiter_eval.split("</section>")[0].count("<svg") == 1
    # Tasks read from the worker's log lines.
    assert re.search(
        r"<td>evaluate</td><td>evaluation</td><td>guest</td><td><span class=\"status success\">", text
    )
    assert "<tr><th>x1</th><td>-1.25</td></tr>" in text  # the guest's model weights
    assert 'http-equiv="refresh"' not in text  # finished: nothing to follow


def test_failed_job_marks_the_running_task_failed(seeded: Party) -> None:
    text = _get(seeded, "/jobs/job-xss").text
    assert re.search(r"<td>lr</td><td>hetero_lr</td><td>guest</td><td><span class=\"status failed\">", text)
    assert re.search(
        r"<td>evaluate</td><td>evaluation</td><td>guest</td><td><span class=\"status waiting\">", text
    )
    assert "Traceback (most recent call last)" in text


def test_running_job_page_refreshes_itself(seeded: Party) -> None:
    seeded.store.create_job(
        "job-live", {"name": "live", "roles": {"guest": [9999]}, "pipeline": []}, 9999, "running"
    )
    assert 'http-equiv="refresh" content="5"' in _get(seeded, "/jobs/job-live").text
    assert 'http-equiv="refresh" content="5"' in _get(seeded, "/").text
    seeded.store.set_status("job-live", "canceled", "stopped by test")


def test_log_shows_only_the_tail(seeded: Party) -> None:
    seeded.store.create_job("job-chatty", {"name": "chatty", "roles": {}, "pipeline": []}, 9999, "running")
    for i in range(250):
        seeded.store.log("job-chatty", "flow", f"line {i:03d}")
    seeded.store.set_status("job-chatty", "success")
    text = _get(seeded, "/jobs/job-chatty").text
    assert "last 200 of 250 lines" in text
    assert "line 249" in text and "line 050" in text and "line 049" not in text


def test_unknown_job_is_a_404_page(seeded: Party) -> None:
    resp = _get(seeded, "/jobs/no-such-job")
    assert resp.status_code == 404
    assert "no job" in resp.text and resp.headers["content-type"].startswith("text/html")


def test_the_board_only_reads(seeded: Party) -> None:
    headers = {"Authorization": f"Bearer {seeded.password}"}
    for path in ("/", "/jobs/job-ok", "/jobs/job-ok/stop"):
        resp = httpx.post(seeded.board_url + path, headers=headers, timeout=10)
        assert resp.status_code in (404, 405)
    assert seeded.store.get_job("job-ok")["status"] == "success"


def test_check_board_exits_zero_when_healthy(seeded: Party) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fate", "check", "board", "--config", str(seeded.board_config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_stylesheet_is_served_locally(seeded: Party) -> None:
    resp = _get(seeded, "/static/board.css")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/css")
    page = _get(seeded, "/").text
    assert re.findall(r'(?:href|src)="(https?:)?//', page) == []  # nothing from elsewhere


def test_a_board_holding_another_token_than_its_flow_says_so(seeded: Party) -> None:
    port = int(seeded.flow_url.rsplit(":", 1)[1])
    other = "z" * 32
    config = parse_board_config(
        {
            "party_id": 9999,
            "listen": {"host": "127.0.0.1", "port": 1},
            "flow": {"host": "127.0.0.1", "port": port},
            "token_file": "unused",
            "password_file": "unused",
        }
    )
    password = "p" * 32

    async def fetch() -> tuple[int, str]:
        async with TestClient(TestServer(Board(config, other, password).app())) as client:
            resp = await client.get("/jobs/job-ok", headers={"Authorization": f"Bearer {password}"})
            return resp.status, await resp.text()

    status, text = asyncio.run(fetch())
    assert status == 502 and "refused the board&#39;s token" in text
    assert other not in text and seeded.token not in text


def test_job_list_survives_a_router_that_is_down(seeded: Party) -> None:
    page = _get(seeded, "/")
    assert page.status_code == 200 and 'href="/jobs/job-ok"' in page.text
    assert "Link states unknown: flow answered HTTP 502: own router:" in page.text
