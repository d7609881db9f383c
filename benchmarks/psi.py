"""PSI time for N x N ids on a real 2-party local lab, against references measured in the same run.

    python benchmarks/psi.py [--ids 100000] [--overlap 0.5] [--port-base 41000]

Starts a local lab (routers with mTLS, flows, worker processes), uploads two shuffled
id tables, runs a PSI job and reports:
  * job time: submit -> success on the guest (agreement, workers, transfer, crypto);
  * component time: from the guest's "psi: N ids" log line to its result;
  * reference 1: the same ECDH-PSI computed in one process on in-memory transports
    (crypto and hashing only, no processes, no network) -> the lab's overhead ratio;
  * reference 2: a plaintext `set` intersection (no privacy) -> the price of privacy.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

from fate.federation.federation import Federation
from fate.federation.memory import MemoryHub
from fate.ml.psi import guest_intersect, host_intersect
from fatectl.flowclient import client_for
from fatectl.lab.local import LocalLab
from fatectl.spec.loader import load_federation
from fatectl.spec.sample import generate_spec_text


def _tables(n: int, overlap: float) -> tuple[list[str], list[str]]:
    shared = int(n * overlap)
    guest = [f"cust-{i:09d}" for i in range(n)]
    host = [f"cust-{i:09d}" for i in range(n - shared, 2 * n - shared)]
    rng = random.Random(42)
    rng.shuffle(guest)
    rng.shuffle(host)
    return guest, host


def in_memory_psi(guest: list[str], host: list[str]) -> tuple[float, int]:
    hub = MemoryHub()
    roles = {"guest": [1], "host": [2]}
    feds = {
        1: Federation(hub.transport(1), "bench", roles, "guest"),
        2: Federation(hub.transport(2), "bench", roles, "host"),
    }
    out: dict[str, list[int] | None] = {}
    started = time.perf_counter()
    t = threading.Thread(target=lambda: out.__setitem__("host", host_intersect(feds[2], host, "bench")))
    t.start()
    found = guest_intersect(feds[1], guest, "bench")
    t.join()
    return time.perf_counter() - started, len(found)


def lab_psi(guest: list[str], host: list[str], port_base: int, work: Path) -> tuple[float, float, int]:
    spec = work / "bench.yaml"
    spec.write_text(generate_spec_text(2, False, name="psi-bench", key_bits=1024, host_port_base=port_base,
                                       lab_policy=True))  # its job runs unattended
    fed = load_federation(spec)
    LocalLab.of(fed, work / "lab").up(timeout=180)
    try:
        secrets = LocalLab.of(fed, work / "lab").secrets_dir
        a, b = client_for(fed, 9999, secrets), client_for(fed, 10000, secrets)
        for client, name, ids in ((a, "g", guest), (b, "h", host)):
            path = work / f"{name}.csv"
            path.write_text("id\n" + "\n".join(ids) + "\n")
            client.upload_table(name, path, overwrite=True)
        job_text = "roles: {guest: [9999], host: [10000]}\ntables: {9999: g, 10000: h}\npipeline: [{name: psi, component: psi}]\n"
        started = time.perf_counter()
        job = a.wait(a.submit(job_text)["id"], timeout=1800, poll=0.1)
        job_seconds = time.perf_counter() - started
        if job["status"] != "success":
            sys.exit(f"PSI job failed: {job['reason']}")
        logs = [e for e in a.logs(job["id"]) if e["source"] == "psi/guest"]
        begin = next(e["ts"] for e in logs if "ids as guest" in e["message"])
        end = next(e["ts"] for e in logs if "intersection has" in e["message"])
        count = next(o["value"] for o in a.outputs(job["id"]) if o["name"] == "intersect_count")
        return job_seconds, end - begin, int(count)
    finally:
        LocalLab.of(fed, work / "lab").down()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ids", type=int, default=100_000)
    parser.add_argument("--overlap", type=float, default=0.5)
    parser.add_argument("--port-base", type=int, default=41000)
    args = parser.parse_args()
    guest, host = _tables(args.ids, args.overlap)
    started = time.perf_counter()
    truth = len(set(guest) & set(host))
    plain = time.perf_counter() - started
    memory_seconds, memory_count = in_memory_psi(guest, host)
    with tempfile.TemporaryDirectory(prefix="psi-bench-") as tmp:
        job_seconds, component_seconds, lab_count = lab_psi(guest, host, args.port_base, Path(tmp))
    assert truth == memory_count == lab_count, (truth, memory_count, lab_count)
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"ids: {args.ids} x {args.ids}, intersection {truth}")
    print(f"lab PSI job (submit -> success):      {job_seconds:8.2f} s")
    print(f"lab PSI component (guest, in worker):  {component_seconds:8.2f} s")
    print(
        f"in-process ECDH-PSI (reference 1):     {memory_seconds:8.2f} s   lab job / reference 1 = {job_seconds / memory_seconds:.2f}x"
    )
    print(
        f"plaintext set intersection (ref. 2):   {plain:8.3f} s   lab job / reference 2 = {job_seconds / plain:.0f}x"
    )


if __name__ == "__main__":
    main()
