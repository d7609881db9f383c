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
