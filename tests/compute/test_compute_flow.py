"""The backend through a real flow: a local lab (routers with mTLS, flows, job workers) runs the breast
PSI -> hetero LR -> evaluation job on local worker processes, then again with every party's compute
on a private Ray (flow.yaml `compute: {engine: ray}`, read by each job's worker): the same AUC.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fatectl.lab.local import LocalLab
from tests.integration.conftest import Lab, start_lab

pytest.importorskip("ray", reason="the test extra installs ray")
pytestmark = pytest.mark.timeout(900)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
JOB = """name: breast-on-{engine}
roles: {{guest: [9999], host: [10000], arbiter: [9999]}}
tables: {{9999: breast_guest, 10000: breast_host}}
pipeline:
  - {{name: intersect, component: psi}}
  - name: lr
    component: hetero_lr
    needs: [intersect]
    params: {{max_iter: 6, tol: 0, batch_size: 5000, early_stop: weight_diff, insecure_key: true,
             optimizer: rmsprop, learning_rate: 0.15, penalty: L2, alpha: 0.01,
             init_param: {{init_method: random_uniform, random_seed: 42, fit_intercept: true}},
             encrypt_param: {{key_length: 1024}}}}
  - {{name: evaluate, component: evaluation, needs: [lr]}}
timeout: 800
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    started = start_lab(tmp_path_factory.mktemp("computelab"), "compute-lab", [9999, 10000], exchange=False)
    try:
        yield started
    finally:
        LocalLab.of(started.fed, started.root).down()


def _set_compute(lab: Lab, section: dict[str, object]) -> None:
    """What the charts render into each party's flow.yaml; a job's worker reads it when it starts."""
    configs = LocalLab.of(lab.fed, lab.root).paths.config_dir
    for party in (9999, 10000):
        path = configs / f"org-{party}" / "flow.yaml"
        config = json.loads(path.read_text(encoding="utf-8"))
        config["compute"] = section
        path.write_text(json.dumps(config), encoding="utf-8")


def _run(lab: Lab, engine: str) -> tuple[float, list[str]]:
    a, b = lab.client(9999), lab.client(10000)
    job = a.wait(a.submit(JOB.format(engine=engine))["id"], timeout=800, poll=0.5)
    assert job["status"] == "success", job["reason"]
    assert b.job(job["id"])["status"] == "success"
    auc = {(o["component"], o["name"]): o["value"] for o in a.outputs(job["id"])}[("evaluate", "auc")]
    said = [e["message"] for c in (a, b) for e in c.logs(job["id"]) if e["source"] == "compute"]
    return float(auc), said


def test_the_breast_job_gives_the_same_auc_on_ray_as_on_local_processes(lab: Lab) -> None:
    a, b = lab.client(9999), lab.client(10000)
    a.upload_table("breast_guest", EXAMPLES / "data" / "breast_hetero_guest.csv", overwrite=True)
    b.upload_table("breast_host", EXAMPLES / "data" / "breast_hetero_host.csv", overwrite=True)
    _set_compute(lab, {"engine": "local", "workers": 2})
    local_auc, said = _run(lab, "local")
    assert said == ["compute: local backend, 2 workers"] * 2
    _set_compute(lab, {"engine": "ray", "workers": 2, "cpus_per_worker": 0.5, "address": "", "token_file": ""})
    ray_auc, said = _run(lab, "ray")
    assert said == ["compute: ray backend, 2 workers"] * 2
    assert abs(ray_auc - local_auc) < 1e-6 and local_auc > 0.95


def test_a_compute_section_the_worker_cannot_use_fails_the_job_on_every_party_with_its_reason(lab: Lab,
                                                                                               tmp_path: Path) -> None:
    a, b = lab.client(9999), lab.client(10000)
    _set_compute(lab, {"engine": "ray", "workers": 1, "address": "", "token_file": str(tmp_path / "no-token")})
    try:
        job = a.wait(a.submit(JOB.format(engine="broken"))["id"], timeout=300, poll=0.5)
    finally:
        _set_compute(lab, {"engine": "local"})
    assert job["status"] == "failed"
    assert "ray compute backend: compute.token_file" in job["reason"] and "no-token" in job["reason"]
    assert b.job(job["id"])["status"] == "failed"
