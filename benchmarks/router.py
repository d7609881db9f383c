"""Router throughput: a 100 MB payload from party A's worker to party B's worker.

Path: client -> A's router -> (mutual TLS) -> B's router mailbox -> client,
with both routers running as real `python -m fate router` processes on
loopback. The reference is the same two routers with `tls: none`, measured
in the same run, interleaved, so the ratio isolates the cost of mTLS.
Peak router memory (VmHWM) shows that bodies are streamed, not held. A third
pair signs every message end to end (fate.federation.signed), as workers do.

    python benchmarks/router.py [--mb 100] [--runs 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import MappingProxyType

from ruamel.yaml import YAML

from fate.federation.client import RouterTransport
from fate.federation.health import check_router
from fate.federation.signed import signed
from fate.federation.transport import Transport
from fatectl.pki import ensure_secrets
from fatectl.render.engine import Layout, engine_configs
from fatectl.spec.loader import load_federation
from fatectl.spec.model import Compose, Federation
from fatectl.spec.sample import generate_spec_text

MiB = 1024 * 1024
A, B = 9999, 10000


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _federation(root: Path, tls: str) -> Federation:
    spec = root / "federation.yaml"
    spec.write_text(generate_spec_text(2, False, tls=tls, name=f"bench-{tls}"))
    fed = load_federation(spec)
    # Free ports instead of the spec's fixed lab ports: other labs may be running on this machine.
    parties = tuple(
        dataclasses.replace(p, compose=Compose(MappingProxyType({"router": _free_port(), "flow": _free_port()})))
        for p in fed.parties
    )
    return dataclasses.replace(fed, parties=parties)


class Pair:
    """Two router processes and a transport to each."""

    def __init__(self, root: Path, tls: str, sign: bool = False) -> None:
        root.mkdir(parents=True)
        fed = _federation(root, tls)
        ensure_secrets(fed, root / "secrets")
        configs = engine_configs(fed, Layout.local(str(root / "secrets"), str(root / "data")))
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.transports: dict[int, Transport] = {}
        for name, config in configs.items():
            if not name.endswith("router.yaml"):
                continue
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w") as fh:
                YAML(typ="safe").dump(config, fh)
            pid = config["party_id"]
            self.procs[pid] = subprocess.Popen(
                [sys.executable, "-m", "fate", "router", "--config", str(path)], stderr=subprocess.DEVNULL
            )
            deadline = time.monotonic() + 30
            while check_router(path, 1.0) is not None:
                if time.monotonic() > deadline:
                    raise SystemExit(f"router {pid} did not become healthy")
                time.sleep(0.2)
            transport = RouterTransport(pid, "127.0.0.1", config["listen"]["port"], config["tls"])
            # The workers' transport: messages signed by the sender and verified by the receiver.
            self.transports[pid] = signed(transport, config["tls"]) if sign else transport

    def transfer(self, job: str, payload: bytes) -> tuple[float, float]:
        """Seconds to send (accepted by B's router) and to receive it at B."""
        self.transports[B].open_job(job)  # as B's flow does when it accepts a job
        started = time.perf_counter()
        self.transports[A].send(job, "blob", B, payload)
        sent = time.perf_counter()
        got = self.transports[B].recv(job, "blob", A, timeout=600)
        done = time.perf_counter()
        if got != payload:
            raise SystemExit("payload corrupted in transit")
        self.transports[B].drop_job(job)
        return sent - started, done - sent

    def peak_rss_mib(self) -> dict[int, float]:
        peaks = {}
        for pid, proc in self.procs.items():
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[pid] = int(line.split()[1]) / 1024
        return peaks

    def close(self) -> None:
        for t in self.transports.values():
            t.close()
        for proc in self.procs.values():
            proc.terminate()
            proc.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="payload size in MiB")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    payload = os.urandom(args.mb * MiB)
    with tempfile.TemporaryDirectory() as tmp:
        pairs = {
            "signed": Pair(Path(tmp) / "signed", "mutual", sign=True),
            "mutual": Pair(Path(tmp) / "mtls", "mutual"),
            "none": Pair(Path(tmp) / "plain", "none"),
        }
        try:
            for pair in pairs.values():
                pair.transfer("warmup", payload[: 8 * MiB])
            totals: dict[str, list[float]] = {mode: [] for mode in pairs}
            sends: dict[str, list[float]] = {mode: [] for mode in pairs}
            for run in range(args.runs):
                for mode, pair in pairs.items():  # interleaved, so machine noise hits both alike
                    send, recv = pair.transfer(f"run{run}", payload)
                    sends[mode].append(send)
                    totals[mode].append(send + recv)
            peaks = {mode: pair.peak_rss_mib() for mode, pair in pairs.items()}
        finally:
            for pair in pairs.values():
                pair.close()
    print(f"payload {args.mb} MiB, {args.runs} runs each, median; routers as processes on loopback\n")
    print("| transport | end to end MB/s | send (A's worker -> B's router) MB/s | peak router RSS MiB (A / B) |")
    print("|---|---|---|---|")
    for mode, label in (("signed", "mTLS + signed messages"), ("mutual", "mTLS (ECDSA P-256)"),
                        ("none", "plain HTTP (reference)")):
        mbps = args.mb * MiB / 1e6 / statistics.median(totals[mode])
        send_mbps = args.mb * MiB / 1e6 / statistics.median(sends[mode])
        print(f"| {label} | {mbps:.0f} | {send_mbps:.0f} | {peaks[mode][A]:.0f} / {peaks[mode][B]:.0f} |")
    ratio = statistics.median(totals["none"]) / statistics.median(totals["mutual"])
    print(f"\nmTLS throughput / plain throughput = {ratio:.2f}")
    signing = statistics.median(totals["mutual"]) / statistics.median(totals["signed"])
    print(f"signed throughput / mTLS throughput = {signing:.2f}")


if __name__ == "__main__":
    main()
