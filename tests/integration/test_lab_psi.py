"""Real local labs: routers with mTLS, flows agreeing jobs over them, PSI in worker processes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from fatectl.errors import RemoteError
from fatectl.flowclient import FlowClient
from fatectl.lab.local import LocalLab

from .conftest import Lab, output_ids, psi_job, upload_ids

pytestmark = pytest.mark.timeout(600)


def _ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:07d}" for i in range(n)]


def _run(guest: FlowClient, job: str) -> dict:
    submitted = guest.submit(job)
    assert submitted["status"] in ("running", "waiting"), submitted
    return guest.wait(submitted["id"], timeout=500, poll=0.3)


def test_lab_is_ready_with_links_up(two_party_lab: Lab) -> None:
    status = LocalLab.of(two_party_lab.fed, two_party_lab.root).status()
    assert status.readiness.ready
    assert all(s.state == "running" for s in status.services) and len(status.services) == 4
    links = two_party_lab.client(9999).links()
    assert links["10000"]["state"] == "up"


def test_psi_100k_partial_overlap(two_party_lab: Lab, tmp_path: Path) -> None:
    rng = random.Random(1)
    guest_ids = _ids("cust-", 100_000)
    host_ids = _ids("cust-", 160_000)[60_000:]  # 40,000 shared
    rng.shuffle(guest_ids)
    rng.shuffle(host_ids)
    a, b = two_party_lab.client(9999), two_party_lab.client(10000)
    upload_ids(a, tmp_path, "g100k", guest_ids)
    upload_ids(b, tmp_path, "h100k", host_ids)
    job = _run(a, psi_job({9999: "g100k", 10000: "h100k"}, 9999, [10000]))
    assert job["status"] == "success", job["reason"]
    assert b.job(job["id"])["status"] == "success"
    want = sorted(set(guest_ids) & set(host_ids))
    assert len(want) == 40_000
    assert output_ids(a, job["id"], "guest") == want
    assert output_ids(b, job["id"], "host") == want


@pytest.mark.parametrize("overlap", ["empty", "full"])
def test_psi_empty_and_full_overlap(two_party_lab: Lab, tmp_path: Path, overlap: str) -> None:
    guest_ids = _ids("g", 2000)
    host_ids = list(guest_ids) if overlap == "full" else _ids("h", 1500)
    random.Random(2).shuffle(host_ids)
    a, b = two_party_lab.client(9999), two_party_lab.client(10000)
    upload_ids(a, tmp_path, f"g-{overlap}", guest_ids)
    upload_ids(b, tmp_path, f"h-{overlap}", host_ids)
    job = _run(a, psi_job({9999: f"g-{overlap}", 10000: f"h-{overlap}"}, 9999, [10000]))
    assert job["status"] == "success", job["reason"]
    want = sorted(set(guest_ids) & set(host_ids))
    assert output_ids(a, job["id"], "guest") == want
    assert output_ids(b, job["id"], "host") == want


def test_three_parties_through_the_exchange(star_lab: Lab, tmp_path: Path) -> None:
    rng = random.Random(3)
    a, b, c = (star_lab.client(p) for p in (9999, 10000, 10001))
    guest_ids, b_ids, c_ids = _ids("p", 5000), _ids("p", 8000)[2000:], _ids("p", 4000)[1000:] + _ids("q", 500)
    for ids in (guest_ids, b_ids, c_ids):
        rng.shuffle(ids)
    upload_ids(a, tmp_path, "ta", guest_ids)
    upload_ids(b, tmp_path, "tb", b_ids)
    upload_ids(c, tmp_path, "tc", c_ids)
    # Submitted by a host: any participant may initiate.
    job = _run(b, psi_job({9999: "ta", 10000: "tb", 10001: "tc"}, 9999, [10000, 10001]))
    assert job["status"] == "success", job["reason"]
    want = sorted(set(guest_ids) & set(b_ids) & set(c_ids))
    assert len(want) == 2000
    assert output_ids(a, job["id"], "guest") == want
    assert output_ids(b, job["id"], "host") == want
    assert output_ids(c, job["id"], "host") == want
    assert all(cl.job(job["id"])["status"] == "success" for cl in (a, b, c))


def test_a_party_without_the_table_refuses_and_no_one_starts(two_party_lab: Lab, tmp_path: Path) -> None:
    a, b = two_party_lab.client(9999), two_party_lab.client(10000)
    upload_ids(a, tmp_path, "only-guest", _ids("z", 10))
    job = a.wait(a.submit(psi_job({9999: "only-guest", 10000: "missing"}, 9999, [10000]))["id"], 60, 0.2)
    # The guest learns that party 10000 refused, not whether it has such a table.
    assert (job["status"], job["reason"]) == ("failed", "not agreed: party 10000 refused: refused by party 10000's policy")
    on_host = b.job(job["id"])  # the host's operator sees the real reason; no worker ever started
    assert on_host["status"] == "failed" and on_host["reason"].endswith("party 10000 has no table 'missing'")
    assert not any("worker started" in e["message"] for e in a.logs(job["id"]) + b.logs(job["id"]))


def test_wrong_token_is_refused(two_party_lab: Lab) -> None:
    good = two_party_lab.client(9999)
    bad = FlowClient(good.base_url, "x" * 43, 9999)
    with pytest.raises(RemoteError, match="bearer token"):
        bad.jobs()
