"""The compose lab with Ray for real: guest and host each run their own Ray head and two Ray
workers from the engine image; the breast job (PSI -> hetero LR -> evaluation) runs its
ciphertext work on them and reaches the AUC it reaches without Ray; no other party reaches a
party's Ray; a Ray worker killed mid-job ends in success or in a failure that every party
reports with a reason, within a bounded wait."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fatectl.docker.build import BuiltImage, docker_client
from fatectl.spec.loader import load_federation
from fatectl.spec.model import Federation
from tests.e2e.conftest import REPO, Cli
from tests.lab.specs import write_spec

pytestmark = pytest.mark.e2e

GUEST, HOST = 9999, 10000
DATA = REPO / "examples" / "data"
# The breast job's AUC without Ray (docs/benchmarks.md, compose and local labs: 0.990976): the
# training is deterministic (full batch, seeded init), so Ray must give the same model.
AUC_WITHOUT_RAY = 0.990976
# Every wait is bounded: a job that neither finishes nor fails within this is a hang.
JOB_DEADLINE = 900.0
ACTOR = "ray::CryptoWorker"


@pytest.fixture(scope="module")
def lab(cli: Cli, engine_image: BuiltImage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Federation]]:
    spec = write_spec(tmp_path_factory.mktemp("ray"), 2, False, "e2e-ray", port_offset=3600, ray_workers=2)
    fed = load_federation(spec)
    try:
        cli.run("up", "compose", str(spec), "--timeout", "1500", timeout=1800)
        yield spec, fed
    finally:
        cli.run("down", "compose", str(spec), "--volumes", check=False)


def _container(fed: Federation, service: str) -> Any:
    client = docker_client()
    found = client.containers.list(all=True, filters={"label": [f"com.docker.compose.project={fed.name}",
                                                                 f"com.docker.compose.service={service}"]})
    assert len(found) == 1, f"{service}: {found}"
    return found[0]


def _exec(fed: Federation, service: str, command: list[str], timeout: float = 120) -> tuple[int, str]:
    container = _container(fed, service)
    proc = subprocess.run(["docker", "exec", container.id, *command], capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def _actors(fed: Federation, service: str) -> int:
    """Ray actor processes of the compute backend running in one Ray worker container."""
    container = _container(fed, service)
    container.reload()
    if container.status != "running":
        return 0
    return sum(ACTOR in " ".join(row) for row in container.top(ps_args="-eo pid,args")["Processes"])


def _upload(cli: Cli, spec: Path) -> None:
    cli.run("data", "upload", str(spec), "--party", str(GUEST), "--name", "breast_hetero_guest", "--overwrite",
            str(DATA / "breast_hetero_guest.csv"))
    cli.run("data", "upload", str(spec), "--party", str(HOST), "--name", "breast_hetero_host", "--overwrite",
            str(DATA / "breast_hetero_host.csv"))


def _json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(proc.stdout)


def _status(cli: Cli, spec: Path, party: int, job_id: str) -> dict[str, Any]:
    rows = _json(cli.run("job", "status", str(spec), "--party", str(party), job_id, "--output", "json"))
    assert len(rows) == 1, rows
    return dict(rows[0])


def test_each_flow_reaches_its_own_ray_with_its_token(lab: tuple[Path, Federation]) -> None:
    _, fed = lab
    for party in fed.parties:
        head = f"ray://{party.name}-ray-head:10001"
        # Workers join their head a little after it is healthy: wait for both (up to four minutes).
        # The cluster's own log lines (a worker's raylet restarting on a loaded host) may follow ours.
        # Joined the way the flow's compute backend joins (tried again if a loaded head's client server
        # fails to start once, as seen in CI).
        probe = (f"import ray, time; from fate.compute.ray import _connect; _connect(ray, 0, '{head}', ''); "
                 "end = time.monotonic() + 240\n"
                 "while ray.cluster_resources().get('CPU', 0) < 2 and time.monotonic() < end: time.sleep(2)\n"
                 "print('CPUS', int(ray.cluster_resources().get('CPU', 0)))")
        code, out = _exec(fed, f"{party.name}-flow", ["python", "-c", probe], timeout=300)
        assert code == 0, out
        counts = [line.split()[1] for line in out.splitlines() if line.startswith("CPUS ")]
        assert counts == ["2"], out  # two workers of one CPU; the head has none


def test_no_other_party_reaches_a_partys_ray(lab: tuple[Path, Federation]) -> None:
    _, fed = lab
    a, b = fed.parties
    head = _container(fed, f"{a.name}-ray-head")
    head.reload()
    networks = head.attrs["NetworkSettings"]["Networks"]
    assert set(networks) == {f"{fed.name}_{a.name}"}, networks  # the party's network only
    assert head.attrs["NetworkSettings"]["Ports"] in ({}, None, {"6379/tcp": None, "10001/tcp": None}) or all(
        v is None for v in head.attrs["NetworkSettings"]["Ports"].values())
    address = next(iter(networks.values()))["IPAddress"]
    probe = ("import socket, sys\n"
             "for host in sys.argv[1:]:\n"
             "    for port in (6379, 10001):\n"
             "        try:\n"
             "            socket.create_connection((host, port), timeout=3).close(); print('OPEN', host, port)\n"
             "        except OSError as err:\n"
             "            print('closed', host, port, type(err).__name__)\n")
    # The other party's router sits on the federation network and its own; its flow on its own only.
    for service in (f"{b.name}-router", f"{b.name}-flow"):
        code, out = _exec(fed, service, ["python", "-c", probe, f"{a.name}-ray-head", address])
        assert code == 0, out
        assert "OPEN" not in out and out.count("closed") == 4, f"{service}: {out}"


def test_ray_refuses_a_caller_without_the_token(lab: tuple[Path, Federation]) -> None:
    _, fed = lab
    a = fed.parties[0]
    # The party's own router shares its network but holds no Ray token: the GCS turns it away.
    check = ["env", "RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN=not-the-token-of-this-party",
             "ray", "health-check", f"--address={a.name}-ray-head:6379"]
    code, out = _exec(fed, f"{a.name}-router", check, timeout=120)
    assert code != 0, out
    good = ["ray", "health-check", f"--address={a.name}-ray-head:6379"]
    code, out = _exec(fed, f"{a.name}-ray-worker-1", good, timeout=120)
    assert code == 0, out


def test_breast_job_on_ray_reaches_the_auc_without_ray(cli: Cli, lab: tuple[Path, Federation], job_file: Path) -> None:
    spec, fed = lab
    _upload(cli, spec)
    submitted = _json(cli.run("job", "submit", str(spec), "--party", str(GUEST), str(job_file), "--output", "json"))
    job_id = submitted["id"]
    seen: set[str] = set()
    deadline = time.monotonic() + JOB_DEADLINE
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        for party in fed.parties:
            for i in (1, 2):
                if _actors(fed, f"{party.name}-ray-worker-{i}"):
                    seen.add(f"{party.name}-ray-worker-{i}")
        status = _status(cli, spec, GUEST, job_id)
        if status["status"] in ("success", "failed", "stopped"):
            break
        time.sleep(2)
    assert status.get("status") == "success", status
    # The work ran on Ray actors, in both parties' workers.
    assert {s.split("-ray-")[0] for s in seen} == {p.name for p in fed.parties}, seen
    outputs = _json(cli.run("job", "outputs", str(spec), "--party", str(GUEST), job_id, "--output", "json"))
    aucs = [o["value"] for o in outputs if o["name"] == "auc" and o["kind"] == "metric"]
    assert len(aucs) == 1, outputs
    assert abs(float(aucs[0]) - AUC_WITHOUT_RAY) < 1e-6, aucs


def test_a_ray_worker_killed_mid_job_never_hangs_the_job(cli: Cli, lab: tuple[Path, Federation],
                                                         job_file: Path) -> None:
    spec, fed = lab
    _upload(cli, spec)
    submitted = _json(cli.run("job", "submit", str(spec), "--party", str(GUEST), str(job_file), "--output", "json"))
    job_id = submitted["id"]
    host = fed.party(HOST).name
    victim = f"{host}-ray-worker-1"
    deadline = time.monotonic() + JOB_DEADLINE
    while not _actors(fed, victim):
        assert time.monotonic() < deadline, "no actor ever started on the host's Ray worker"
        time.sleep(1)
    time.sleep(3)  # into the ciphertext work
    _container(fed, victim).kill()
    started = time.monotonic()
    final: dict[int, dict[str, Any]] = {}
    while time.monotonic() < deadline and len(final) < 2:
        for party in (GUEST, HOST):
            status = _status(cli, spec, party, job_id)
            if status["status"] in ("success", "failed", "stopped"):
                final[party] = status
        time.sleep(3)
    assert len(final) == 2, f"the job did not end on every party within {JOB_DEADLINE:.0f} s: {final}"
    outcomes = {s["status"] for s in final.values()}
    if outcomes != {"success"}:
        # Failed: on every party, with a reason naming what broke.
        assert outcomes == {"failed"}, final
        for party, status in final.items():
            reason = json.dumps(status)
            assert any(w in reason.lower() for w in ("ray", "worker", "actor", "peer", "failed")), (party, reason)
    print(f"killed {victim}; job {outcomes} {time.monotonic() - started:.0f} s later")
