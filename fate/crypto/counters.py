"""How many Paillier encryptions, re-randomizations and decryptions the calling thread asked for.

A re-randomization (fresh obfuscation of a computed ciphertext before it is sent) costs one
exponentiation, like an encryption: in hetero LR it is most of what the guest spends.

Counted once per array call (never per ciphertext), in the thread that called: a worker runs
each of its roles in a thread of its own, so what a thread counted is what its role did, pool
work included (the pool computes on the caller's behalf). The worker reads a thread's counts
after each component and stores them with the step (fate.flow.stepruns); the flow sums them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class Operations:
    encryptions: int = 0
    decryptions: int = 0
    rerandomizations: int = 0


_local = threading.local()


def _ops() -> Operations:
    ops: Operations | None = getattr(_local, "ops", None)
    if ops is None:
        ops = _local.ops = Operations()
    return ops


def count_encryptions(n: int) -> None:
    _ops().encryptions += n


def count_decryptions(n: int) -> None:
    _ops().decryptions += n


def count_rerandomizations(n: int) -> None:
    _ops().rerandomizations += n


def this_thread() -> Operations:
    """A copy of the calling thread's counts so far."""
    ops = _ops()
    return Operations(ops.encryptions, ops.decryptions, ops.rerandomizations)


def since(before: Operations) -> Operations:
    """What the calling thread counted since `before` (one of its own snapshots)."""
    now = this_thread()
    return Operations(now.encryptions - before.encryptions, now.decryptions - before.decryptions,
                      now.rerandomizations - before.rerandomizations)
