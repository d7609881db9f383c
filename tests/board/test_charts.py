"""The board's FATE-Board-like pieces as pure functions: KS, gain, lift, the confusion matrix and
the pipeline graph; their geometry, their escaping, and malformed input shown as text."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from fate.board.dag import Node, nodes, pipeline_dag, step_state
from fate.board.evalcharts import chart_for, confusion_chart, gain_chart, ks_chart, lift_chart
from fate.board.views import Task, sections
from fate.ml.evaluation import evaluate_binary

XSS = '<script>alert(1)</script>"&'


def _report() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    labels = (rng.random(300) < 0.4).astype(float)
    scores = np.round(np.clip(0.35 * labels + rng.random(300) * 0.65, 0, 1), 3)
    return evaluate_binary(labels, scores, threshold=0.5).as_dict()


def _points(svg: str) -> list[list[tuple[float, float]]]:
    return [[tuple(map(float, p.split(","))) for p in m.split()]  # type: ignore[misc]
            for m in re.findall(r'class="series" points="([^"]+)"', svg)]


def test_ks_marks_the_largest_gap_between_tpr_and_fpr() -> None:
    report = _report()
    roc = report["roc"]
    chart = ks_chart(roc, report["ks"])
    assert chart is not None and f"<title>KS {report['ks']:.4f}</title>" in chart
    tpr, fpr, cut = (np.array(roc[k][1:]) for k in ("tpr", "fpr", "thresholds"))  # without the +inf start
    best = int(np.argmax(tpr - fpr))
    assert f"largest gap at threshold {cut[best]:.4g}" in chart
    series = _points(chart)
    assert [len(s) for s in series] == [len(cut), len(cut), 2]
    (x1, y1), (x2, y2) = series[2]  # the KS marker: vertical, from FPR up to TPR
    assert x1 == x2 and y2 < y1
    assert ks_chart({"tpr": [0, 1], "fpr": [0, 1], "thresholds": [float("inf")]}) is None
    assert ks_chart({"tpr": ["a", 1], "fpr": [0, 1], "thresholds": [1, 0]}) is None


def test_gain_and_lift_are_drawn_to_scale_with_their_references() -> None:
    report = _report()
    gain = gain_chart(report["gain"])
    assert gain is not None and 'class="chance"' in gain
    (curve,) = _points(gain)
    assert len(curve) == len(report["gain"]["depth"])
    assert curve[0] == (56.0, 276.0) and curve[-1] == (464.0, 28.0)  # (0, 0) to (1, 1)
    lift = lift_chart(report["lift"])
    assert lift is not None and "<title>lift</title>" in lift
    drawn, random = _points(lift)
    assert len(drawn) == len(report["lift"]["lift"]) and random[0][1] == random[1][1]  # lift 1: flat
    assert gain_chart({"depth": [0, 1], "gain": [0]}) is None
    assert lift_chart({"depth": [0.5, 1], "lift": [float("nan"), 1]}) is None


def test_the_confusion_matrix_shows_counts_and_shares_of_each_actual_class() -> None:
    chart = confusion_chart({"threshold": 0.5, "tp": 30, "fn": 10, "fp": 5, "tn": 55})
    assert chart is not None and "<title>confusion matrix at threshold 0.5</title>" in chart
    assert re.findall(r'font-size="18" fill="#[0-9a-f]+">(\d+)</text>', chart) == ["30", "10", "5", "55"]
    assert "75.0% of the row" in chart and "91.7% of the row" in chart
    assert "true positives: 30 (30.0% of all rows)" in chart and "100 rows" in chart
    fills = re.findall(r'<rect [^>]*fill="(#[0-9a-f]{6})"', chart)
    assert len(fills) == 4 and fills[0] != fills[1]  # shaded by share of the row
    for bad in ({"threshold": 0.5, "tp": True, "fn": 1, "fp": 1, "tn": 1},
                {"threshold": 0.5, "tp": -1, "fn": 1, "fp": 1, "tn": 1},
                {"threshold": "0.5", "tp": 1, "fn": 1, "fp": 1, "tn": 1}, [1, 2]):
        assert confusion_chart(bad) is None


def test_evaluation_outputs_become_these_charts_and_bad_ones_stay_text() -> None:
    report = _report()
    rows = [{"component": "evaluate", "role": "guest", "kind": "metric", "name": k, "value": v}
            for k, v in report.items()]
    rows.append({"component": "evaluate", "role": "guest", "kind": "metric", "name": "lift",
                 "value": {"depth": [1], "lift": "high"}})  # a later, malformed copy replaces nothing
    (section,) = sections(rows)
    titles = [re.search(r"<title>(.*?)</title>", c).group(1) for c in section.charts]  # type: ignore[union-attr]
    assert titles[:2] == [f"ROC (AUC {report['auc']:.4f})", f"KS {report['ks']:.4f}"]
    assert {"cumulative gain", "lift", "confusion matrix at threshold 0.5"} <= set(titles)
    assert ("lift", "{depth, lift}") in section.notes
    assert chart_for("something_else", report["gain"]) is None


def _job(pipeline: list[dict[str, Any]], steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"spec": {"pipeline": pipeline}, "steps": steps or []}


def test_the_graph_follows_needs_or_the_step_before() -> None:
    job = _job([
        {"name": "psi", "component": "psi"},
        {"name": "lr", "component": "hetero_lr"},  # no needs: the step before
        {"name": "nn", "component": "homo_nn", "needs": ["psi"]},
        {"name": "eval", "component": "evaluation", "needs": ["lr", "nn"]},
    ], steps=[{"step": "psi", "role": "guest", "seconds": 1.5}, {"step": "psi", "role": "arbiter", "seconds": 4.0}])
    tasks = [Task("psi", "psi", "guest", "success"), Task("psi", "psi", "arbiter", "success"),
             Task("lr", "hetero_lr", "guest", "running"), Task("lr", "hetero_lr", "arbiter", "success"),
             Task("nn", "homo_nn", "guest", "failed")]
    graph = nodes(job, tasks)
    assert [(n.name, n.needs, n.state) for n in graph] == [
        ("psi", (), "success"), ("lr", ("psi",), "running"), ("nn", ("psi",), "failed"),
        ("eval", ("lr", "nn"), "not here")]
    assert graph[0].seconds == 4.0 and graph[1].seconds is None
    svg = pipeline_dag(graph, selected="lr")
    assert svg.count('class="edge"') == 4 and svg.count('<a class="step"') == 4
    boxes = {name: (float(x), float(y)) for name, x, y in re.findall(
        r'href="\?step=([^"]+)"><rect x="([\d.]+)" y="([\d.]+)"', svg)}
    assert boxes["psi"][0] < boxes["lr"][0] == boxes["nn"][0] < boxes["eval"][0]  # columns by depth
    assert boxes["lr"][1] != boxes["nn"][1]  # one column, two rows
    assert re.search(r'href="\?step=lr"><rect [^>]*stroke="#20364f" stroke-width="3"', svg)  # selected
    assert "success · 4.0 s" in svg


def test_step_names_are_escaped_in_text_and_links() -> None:
    svg = pipeline_dag([Node(XSS, XSS, (), "waiting")])
    assert "<script" not in svg and '"&' not in svg
    assert 'href="?step=%3Cscript%3Ealert%281%29%3C%2Fscript%3E%22%26"' in svg
    assert "&lt;script&gt;" in svg


@pytest.mark.parametrize(("states", "expected"), [
    ([], "not here"), (["success", "success"], "success"), (["success", "waiting"], "running"),
    (["waiting"], "waiting"), (["success", "failed"], "failed"), (["canceled", "running"], "canceled")])
def test_a_steps_state_from_its_roles(states: list[str], expected: str) -> None:
    assert step_state(states) == expected
