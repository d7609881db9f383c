"""A party joins (and leaves) a running local lab: nobody else restarts, jobs span the new party."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fatectl.lab.local import LocalLab, _alive
from fatectl.parties import Target, add_party, remove_party
from fatectl.spec.edit import NewParty
from fatectl.spec.loader import load_federation

from .conftest import Lab, free_ports, output_ids, psi_job, spec_text, upload_ids

pytestmark = pytest.mark.timeout(600)


def _state(lab: LocalLab) -> dict[str, dict]:
    return json.loads(lab.state_file.read_text())


def test_a_third_party_joins_a_running_lab_and_leaves_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "lab"
    monkeypatch.setenv("FATECTL_LAB_DIR", str(root))
    spec = tmp_path / "grow.yaml"
    spec.write_text(spec_text("grow", [9999, 10000], exchange=False))
    fed = load_federation(spec)
    LocalLab.of(fed, root).up(timeout=120)
    try:
        before = {name: entry["pid"] for name, entry in _state(LocalLab.of(fed, root)).items()}
        router, flow = free_ports(2)
        change = add_party(spec, NewParty(10001, "org-10001", "org-10001.example",
                                          host_ports={"router": router, "flow": flow}), Target(lab="local"))
        assert change.status is not None and change.status.readiness.ready
        grown = load_federation(spec)
        lab = Lab(grown, spec, root)
        state = _state(LocalLab.of(grown, root))
        assert {name: state[name]["pid"] for name in before} == before  # routers and flows kept running
        assert {"org-10001/router", "org-10001/flow"} <= set(state)
        clients = {p: lab.client(p) for p in (9999, 10000, 10001)}
        ids = {9999: range(0, 900), 10000: range(300, 1200), 10001: range(600, 1500)}
        for party, client in clients.items():
            upload_ids(client, tmp_path, "ids", [f"u{i}" for i in ids[party]])
        job = clients[9999].submit(psi_job({9999: "ids", 10000: "ids", 10001: "ids"}, 9999, [10000, 10001]))
        # The newcomer came with no policy: the secure default makes its operator approve the first job.
        deadline = time.monotonic() + 60
        while not any(j["id"] == job["id"] and j["status"] == "pending" for j in clients[10001].jobs()):
            assert time.monotonic() < deadline, "the job never reached the new party's pending list"
            time.sleep(0.2)
        clients[10001].approve(job["id"])
        done = clients[9999].wait(job["id"], timeout=300, poll=0.3)
        assert done["status"] == "success", done["reason"]
        assert output_ids(clients[10001], job["id"], "host") == sorted(f"u{i}" for i in range(600, 900))

        change = remove_party(spec, 10001, Target(lab="local"))
        assert change.status is not None and change.status.readiness.ready
        shrunk = LocalLab.of(load_federation(spec), root)
        assert {name: entry["pid"] for name, entry in _state(shrunk).items()} == before
        assert not any(_alive(state[name]) for name in ("org-10001/router", "org-10001/flow"))
    finally:
        LocalLab.of(load_federation(spec), root).down()  # stops whatever state.json still lists
