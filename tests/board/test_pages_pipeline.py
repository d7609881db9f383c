"""The board's pipeline graph, step links (`?step=`) and pending-approvals page, over a real flow."""

from __future__ import annotations

import html
import json
import re

import httpx
import pytest

from fate.crypto.counters import Operations
from fate.flow import stepruns

from .conftest import PARTY, PEER, XSS, Party, seed_finished_job

PENDING_SPEC = {
    "name": "study from the peer",
    "roles": {"guest": [PEER], "host": [PARTY], "arbiter": [PEER]},
    "tables": {str(PEER): "their_rows", str(PARTY): "our_rows"},
    "pipeline": [
        {"name": "intersect", "component": "psi", "params": {}, "needs": []},
        {"name": "lr", "component": "hetero_lr", "needs": ["intersect"],
         "params": {"max_iter": 30, "note": XSS, "encrypt_param": {"key_length": 2048}}},
    ],
    "timeout": 600,
}


@pytest.fixture(scope="module")
def seeded(party: Party) -> Party:
    seed_finished_job(party.store, "job-dag", "pipeline", [0.7, 0.5])
    stepruns.record(party.store, "job-dag", "evaluate", "evaluation", "guest", "success", 2.5, Operations())
    return party


def _get(party: Party, path: str) -> httpx.Response:
    return httpx.get(party.board_url + path, headers={"Authorization": f"Bearer {party.password}"}, timeout=10)


def test_the_job_page_draws_the_pipeline_and_each_steps_time(seeded: Party) -> None:
    text = _get(seeded, "/jobs/job-dag").text
    dag = re.search(r'<svg [^>]*class="dag".*?</svg>', text, flags=re.S)
    assert dag is not None and "<title>pipeline</title>" in dag.group(0)
    assert re.findall(r'<a class="step" href="\?step=([^"]+)"', dag.group(0)) == ["lr", "evaluate"]
    assert dag.group(0).count('class="edge"') == 1  # evaluate needs lr
    assert "success · 2.5 s" in dag.group(0)
    assert re.search(r"<td>evaluate</td><td>evaluation</td><td>guest</td><td>.*?</td><td>2\.5 s</td>", text)


def test_a_step_link_narrows_the_outputs_to_that_step(seeded: Party) -> None:
    whole = _get(seeded, "/jobs/job-dag").text
    assert 'lr <span class="role">as guest' in whole
    narrowed = _get(seeded, "/jobs/job-dag?step=evaluate")
    assert narrowed.status_code == 200
    text = narrowed.text
    assert "Outputs of step evaluate" in text and 'lr <span class="role">' not in text
    assert 'evaluate <span class="role">as guest' in text and "ROC (AUC" in text
    assert re.search(r'href="\?step=evaluate"><rect [^>]*stroke-width="3"', text)
    assert '<a href="/jobs/job-dag">every step</a>' in text
    unknown = _get(seeded, "/jobs/job-dag?step=" + "%3Cb%3Enope").text
    assert "no step named &lt;b&gt;nope" in unknown and 'lr <span class="role">as guest' in unknown


def test_pending_approvals_show_what_is_asked_and_how_to_decide(seeded: Party) -> None:
    empty = _get(seeded, "/approvals")
    assert empty.status_code == 200 and f"Nothing waits for the approval of party {PARTY}" in empty.text
    assert "script-src 'none'" in empty.headers["Content-Security-Policy"]
    seeded.store.create_job("job-asks", PENDING_SPEC, PEER, "pending",
                            f"needs approval by an operator of party {PARTY} (manual) before 2099-01-01")
    seeded.store.create_job("job-ran", PENDING_SPEC, PEER, "success")
    text = _get(seeded, "/approvals").text
    assert "job-asks" in text and "job-ran" not in text
    assert "proposed by</dt><dd>party 10000" in text and "before 2099-01-01" in text
    assert f'<span class="ours">host: {PARTY}</span>' in text
    assert f'<span class="ours">party {PARTY}: our_rows</span>' in text and "party 10000: their_rows" in text
    assert "<td>lr</td><td>hetero_lr</td><td>intersect</td>" in text
    assert "&#34;key_length&#34;: 2048" in text  # the parameters, in full
    assert "<script" not in text and "<img" not in text
    assert json.dumps(XSS) in html.unescape(text)  # shown as the JSON text it is, never as markup
    assert f"fatectl job approve SPEC --party {PARTY} job-asks [--reason TEXT]" in text
    assert f"fatectl job reject SPEC --party {PARTY} job-asks [--reason TEXT]" in text
    assert '<a href="/approvals">pending approvals</a>' in _get(seeded, "/").text
