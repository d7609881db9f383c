"""Pure parts of the board: board.yaml, charts, the views over flow outputs, and its error pages."""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from fate.board.config import load_board_config, parse_board_config
from fate.board.errors import ConfigError
from fate.board.server import Board, _authorized
from fate.board.svg import Series, line_chart, nice_ticks, roc_chart, thin
from fate.board.views import links, sections, tasks
from fate.ml.evaluation import evaluate_binary
from tests.processes import free_port

GOOD = {
    "party_id": 9999,
    "listen": {"host": "0.0.0.0", "port": 8080},
    "flow": {"host": "bank-a-flow", "port": 9380},
    "token_file": "/run/secrets/flow_reader_token",
    "password_file": "/run/secrets/board_password",
}


def test_config_parses_what_render_writes() -> None:
    config = parse_board_config(GOOD)
    assert (config.party_id, config.port, config.flow_url) == (9999, 8080, "http://bank-a-flow:9380")


def test_config_reports_every_problem_at_once() -> None:
    bad = {"party_id": "x", "listen": {"host": "", "port": 70000}, "flow": None, "extra": 1}
    with pytest.raises(ConfigError) as caught:
        parse_board_config(bad, "b.yaml")
    text = str(caught.value)
    for fragment in (
        "party_id",
        "listen.host",
        "listen.port",
        "flow.host",
        "flow.port",
        "token_file",
        "password_file",
        "unknown keys: extra",
    ):
        assert fragment in text
    assert len(caught.value.problems) == 8


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "No such file"), ("short", "no usable token"), (": [", "not valid YAML")],
)
def test_config_and_token_files_fail_clearly(tmp_path: Path, content: str | None, message: str) -> None:
    token = tmp_path / "token"
    config = tmp_path / "board.yaml"
    if content == ": [":
        config.write_text(content)
        with pytest.raises(ConfigError, match=message):
            load_board_config(config)
        return
    if content is not None:
        token.write_text(content)
    config.write_text(str({**GOOD, "token_file": str(token)}).replace("'", '"'))
    with pytest.raises(ConfigError, match=message):
        load_board_config(config).read_token()


def test_authorization_forms() -> None:
    token = b"t" * 32
    basic = base64.b64encode(b"admin:" + token).decode()
    assert _authorized(f"Bearer {token.decode()}", token)
    assert _authorized(f"basic {basic}", token)
    assert not _authorized("Bearer " + "t" * 31, token)
    assert not _authorized("Basic " + base64.b64encode(b"user:" + token).decode(), token)
    assert not _authorized("Basic \xff\xfe", token)
    assert not _authorized("Token " + token.decode(), token)
    assert not _authorized("", token)


def test_nice_ticks() -> None:
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0.33, 0.71) == [0.4, 0.5, 0.6, 0.7]
    assert nice_ticks(1.0, 3.0, min_step=1.0) == [1.0, 2.0, 3.0]
    assert nice_ticks(2.0, 2.0) == [2.0]


def test_thin_keeps_ends_and_limit() -> None:
    xs = list(range(5000))
    tx, ty = thin(xs, xs, limit=100)
    assert len(tx) == 100 and tx[0] == 0 and tx[-1] == 4999 and tx == ty


def test_chart_text_is_escaped_and_output_deterministic() -> None:
    chart = line_chart(
        "<b>&", [Series("<i>", (0.0, 1.0), (1.0, 0.0)), Series("b", (0.0, 1.0), (0.0, 1.0))], "x<", "y>"
    )
    assert "<b>" not in chart and "<i>" not in chart and "&lt;b&gt;&amp;" in chart
    assert chart == line_chart(
        "<b>&", [Series("<i>", (0.0, 1.0), (1.0, 0.0)), Series("b", (0.0, 1.0), (0.0, 1.0))], "x<", "y>"
    )
    assert chart.count("<polyline") == 2


def test_roc_points_land_on_the_plot() -> None:
    rng = np.random.default_rng(3)
    labels = rng.random(400) < 0.5
    report = evaluate_binary(labels, np.clip(labels * 0.3 + rng.random(400) * 0.7, 0, 1))
    chart = roc_chart(report.roc.fpr, report.roc.tpr, report.auc)
    points = re.search(r'class="series" points="([^"]+)"', chart)
    assert points is not None
    coords = [tuple(map(float, p.split(","))) for p in points.group(1).split()]
    assert coords[0] == (56.0, 276.0) and coords[-1] == (464.0, 28.0)  # (0,0) and (1,1) corners
    assert all(56 <= x <= 464 and 28 <= y <= 276 for x, y in coords)
    assert 'class="chance"' in chart


def _job(status: str) -> dict[str, Any]:
    return {
        "status": status,
        "spec": {
            "roles": {"guest": [1], "host": [2], "arbiter": [1]},
            "pipeline": [{"name": "a", "component": "psi"}, {"name": "b", "component": "hetero_lr"}],
        },
    }


def test_task_states_follow_the_log() -> None:
    logs = [
        {"source": "a/guest", "message": "start psi"},
        {"source": "a/guest", "message": "done psi"},
        {"source": "a/arbiter", "message": "start psi"},
        {"source": "b/guest", "message": "start hetero_lr"},
    ]
    running = [(t.step, t.role, t.state) for t in tasks(_job("running"), logs, 1)]
    assert running == [
        ("a", "guest", "success"),
        ("a", "arbiter", "running"),
        ("b", "guest", "running"),
        ("b", "arbiter", "waiting"),
    ]
    assert [t.state for t in tasks(_job("canceled"), logs, 1)] == [
        "success",
        "canceled",
        "canceled",
        "waiting",
    ]
    assert [t.role for t in tasks(_job("running"), logs, 2)] == ["host", "host"]


def test_malformed_outputs_become_text_not_charts() -> None:
    rows: list[dict[str, Any]] = [
        {
            "component": "e",
            "role": "guest",
            "kind": "metric",
            "name": "roc",
            "value": {"fpr": [0, 1], "tpr": [1]},
        },
        {"component": "e", "role": "guest", "kind": "metric", "name": "loss", "value": [1.0, float("nan")]},
        {"component": "e", "role": "guest", "kind": "metric", "name": "flag", "value": True},
        {"component": "e", "role": "guest", "kind": "metric", "name": "auc", "value": 0.75},
        {
            "component": "x",
            "role": "host",
            "kind": "data",
            "name": "table",
            "value": {"rows": 3, "features": ["a"]},
        },
    ]
    out = sections(rows, ["x", "e"])
    assert [(s.component, s.role) for s in out] == [("x", "host"), ("e", "guest")]
    e = out[1]
    assert e.charts == () and e.metrics == (("auc", "0.75"),)
    assert dict(e.notes) == {"roc": "{fpr, tpr}", "loss": "list of 2", "flag": "True"}
    assert out[0].notes == (("output table", "3 rows, 1 features"),)


def _with_board(token_file: Path, flow_port: int) -> Board:
    token_file.write_text("k" * 32)
    config = parse_board_config(
        {**GOOD, "flow": {"host": "127.0.0.1", "port": flow_port}, "token_file": str(token_file)}
    )
    return Board(config, config.read_token(), "p" * 32)


def test_flow_down_is_a_502_page_not_a_traceback(tmp_path: Path) -> None:
    board = _with_board(tmp_path / "token", free_port())

    async def fetch() -> tuple[int, str]:
        async with TestClient(TestServer(board.app())) as client:
            resp = await client.get("/", headers={"Authorization": "Bearer " + "p" * 32})
            return resp.status, await resp.text()

    status, text = asyncio.run(fetch())
    assert status == 502
    assert "unreachable" in text and "Traceback" not in text and "k" * 32 not in text and "p" * 32 not in text


def test_a_model_is_summarized_by_its_format_and_progress() -> None:
    model = {"format": "hetero-lr/1", "iterations": 8, "converged": False, "header": ["a"], "weights": [0.5]}
    (section,) = sections(
        [{"component": "lr", "role": "guest", "kind": "model", "name": "model", "value": model}]
    )
    assert section.notes == (("model", "hetero-lr/1, 8 iterations, not converged"),)
    assert section.weights == (("a", "0.5"),)


def test_link_rows_show_latency_when_up_and_the_error_when_down() -> None:
    raw = {
        "10001": {"state": "down", "latency_ms": None, "last_error": "connection refused"},
        "10000": {"state": "up", "latency_ms": 1.234, "last_error": ""},
        "junk": "not a status",
    }
    assert [(x.peer, x.state, x.detail) for x in links(raw)] == [
        ("10000", "up", "1.2 ms"),
        ("10001", "down", "connection refused"),
    ]


def test_a_loss_spike_is_clipped_so_the_curve_stays_readable() -> None:
    from fate.board.svg import loss_chart, readable_range

    loss = [30.0, 0.69, 0.5, 0.41, 0.36, 0.33, 0.31, 0.3, 0.29, 0.285]
    low, high = readable_range(loss) or (0.0, 0.0)
    assert low < 0.285 and 0.69 <= high < 1.0  # scaled to the values that matter, not to the spike
    svg = str(loss_chart(loss))
    assert "clipped: 1 value(s) up to 30" in svg
    assert "<title>loss at 1: 30 (off scale)</title>" in svg and "<title>loss at 10: 0.285</title>" in svg
    ys = [float(y) for y in re.findall(r'<circle class="point" cx="[0-9.]+" cy="([0-9.]+)"', svg)]
    assert len(ys) == 10 and max(ys) - min(ys) > 150  # the settled part spans most of the plot's height
    assert readable_range([0.7, 0.6, 0.5, 0.45, 0.44]) is None  # a calm curve is drawn to scale
    short = readable_range([19.4, 54.9, 1.17, 0.81, 0.67, 0.60])  # a real 6-epoch run: two spikes
    assert short is not None and 1.17 <= short[1] < 2.0
