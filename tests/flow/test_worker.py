"""The worker's entry point: the process that decodes peers' ciphertexts sets up the codec itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from fate.crypto import paillier
from fate.crypto.codec import register_ciphertexts
from fate.federation import codec


def test_worker_main_registers_ciphertexts_before_running_the_job(tmp_path: Path) -> None:
    register_ciphertexts()
    pk, _ = paillier.generate_keypair(512, insecure=True)
    wire = tmp_path / "ct.bin"
    wire.write_bytes(codec.encode(pk.encrypt(np.array([0.5]))))
    # A fresh process runs the real worker main; only the job (and its config) is a stand-in.
    script = f"""
import sys
from fate.federation import codec
from fate.flow import worker

class Job:
    def __init__(self, config, job_id):
        pass

    def run(self):
        print(type(codec.decode(open({str(wire)!r}, "rb").read())).__name__)
        return 0

worker.Worker = Job
worker.load_flow_config = lambda path: None
sys.exit(worker.main(["--config", "unused.yaml", "--job", "job-1"]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["EncryptedArray"]


def test_the_worker_audits_each_table_it_reads_and_each_output_once(tmp_path: Path) -> None:
    from fate.flow.config import parse_flow_config
    from fate.flow.jobspec import parse_job
    from fate.flow.store import open_store
    from fate.flow.tables import parse_csv
    from fate.flow.worker import Worker

    config = parse_flow_config({"party_id": 2, "listen": {"host": "127.0.0.1", "port": 0}, "token_file": "t",
                                "router": {"host": "127.0.0.1", "port": 1}, "data_dir": str(tmp_path)})
    store = open_store(tmp_path)
    store.put_table("t", parse_csv("id\na\nb\n"))
    spec = parse_job("roles: {guest: [1], host: [2]}\ntables: {1: t, 2: t}\npipeline: [{name: p, component: psi}]\n")
    store.create_job("j", spec.to_dict(), 1, "running")
    worker = Worker(config, "j")
    step = spec.pipeline[0]
    assert len(worker._read("t", step, "host")) == 2
    for value in (3, 3, 4):  # logged, handed back unchanged, then changed
        worker._output(step, "host", "metric", "count", value)
    records = worker.audit.records()
    assert [r["kind"] for r in records] == ["read", "output", "output"]
    assert records[0]["detail"] == {"table": "t", "rows": 2, "component": "p"}
    assert records[0]["actor"] == "worker host" and records[1]["job_id"] == "j"
