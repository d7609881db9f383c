"""Cost of end-to-end message signing on one large message (default 100 MiB).

Sender: sha256 of the payload + one ECDSA P-256 signature; the envelope goes
out as its own part, before the payload (RouterTransport.send_parts), so the
payload is not copied. Receiver: the same digest and one signature check (the
sender's certificate is verified once, then cached); the copy that strips the
envelope replaces the copy an unsigned recv makes of its buffer. Keys are real
party certificates from fatectl's PKI.

    python benchmarks/signing.py [--mb 100] [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fate.federation.signing import Signer, Verifier
from fatectl.pki import ensure_secrets
from fatectl.spec.loader import load_federation
from fatectl.spec.sample import generate_spec_text

MiB = 1024 * 1024
A, B = 9999, 10000


def _median(runs: int, step: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    payload = os.urandom(args.mb * MiB)
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "federation.yaml"
        spec.write_text(generate_spec_text(2, False, tls="mutual", name="bench-signing"))
        secrets = ensure_secrets(load_federation(spec), Path(tmp) / "secrets")
        signer = Signer(A, str(secrets.party(A).cert_file), str(secrets.party(A).key_file))
        verifier = Verifier(B, str(secrets.ca_file))
        session = os.urandom(16)
        sealed = bytearray(signer.seal("job", "tag", B, session, 0, payload))  # as RouterTransport reads it
        verifier.open(sealed, "job", "tag", A)  # the certificate check, once per sender
        small = signer.seal("job", "ctl", B, session, 1, b"{}")
        rows = {
            "sha256 of the payload (reference)": _median(args.runs, lambda: hashlib.sha256(payload).digest()),
            "copy of the payload (reference: an unsigned recv makes one)": _median(args.runs, lambda: bytes(sealed)),
            "sign: digest + signature": _median(args.runs, lambda: signer.prefix(
                "job", "tag", B, session, 0, payload)),
            "verify: digest + signature check + unwrap (one copy)": _median(args.runs, lambda: verifier.open(
                sealed, "job", "tag", A)),
            "sign a small control message": _median(args.runs * 200, lambda: signer.seal(
                "job", "ctl", B, session, 1, b"{}")) ,
            "verify a small control message": _median(args.runs * 200, lambda: verifier.open(
                small, "job", "ctl", A)),
        }
    print(f"payload {args.mb} MiB, median of {args.runs} runs; envelope {len(sealed) - len(payload)} bytes\n")
    print("| step | ms | MB/s |")
    print("|---|---|---|")
    for name, seconds in rows.items():
        rate = f"{args.mb * MiB / 1e6 / seconds:.0f}" if "small" not in name else "—"
        print(f"| {name} | {seconds * 1000:.2f} | {rate} |")


if __name__ == "__main__":
    main()
