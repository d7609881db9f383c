"""A party's own security floors applied to hetero LR: what it generates, accepts and joins.

The job file is written by the initiating guest, so its security parameters are a peer's
word. Every party that runs a component applies its own policy (`ComponentContext.policy`,
from its flow config) on top: keys at least as long as its floor, insecure keys only where
its policy allows them, no key from a peer under that floor, no batch under its
`min_batch_size` (a small batch makes a gradient X^T d / N close to single rows of X).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from fate.crypto import paillier
from fate.crypto.errors import CryptoError
from fate.crypto.keys import MIN_INSECURE_BITS, SUPPORTED_BITS
from fate.flow.policy import Policy
from fate.ml.component import ComponentError
from fate.ml.lr_params import HeteroLRParams

Log = Callable[[str], None]


def _quiet(_msg: str) -> None:
    return None


def _usable_bits(bits: int, insecure: bool) -> int:
    """The smallest key size fate.crypto generates that is at least `bits`."""
    if insecure and bits < SUPPORTED_BITS[0]:
        return max(MIN_INSECURE_BITS, -(-bits // 256) * 256)
    for size in SUPPORTED_BITS:
        if size >= bits:
            return size
    raise ComponentError(f"a {bits}-bit Paillier key is required, beyond the largest supported ({SUPPORTED_BITS[-1]})")


def secure_params(params: HeteroLRParams, policy: Policy, log: Log = _quiet) -> HeteroLRParams:
    """The job's params with this party's floors applied: key = max(job, floor), insecure only if allowed."""
    insecure = params.insecure_key and policy.allow_insecure_keys
    bits = _usable_bits(policy.key_floor(params.key_length), insecure)
    if bits != params.key_length or insecure != params.insecure_key:
        log(f"hetero_lr: the job asks for {params.key_length}-bit keys (insecure_key {params.insecure_key}); "
            f"this party's policy makes it {bits} bits (insecure_key {insecure})")
    return replace(params, key_length=bits, insecure_key=insecure)


def read_peer_key(text: object, params: HeteroLRParams, whose: str) -> paillier.PublicKey:
    """A peer's public key, refused when shorter than the key this party itself uses (its floor)."""
    if not isinstance(text, str | bytes):
        raise ComponentError(f"{whose} Paillier public key is malformed")
    try:
        key = paillier.PublicKey.from_json(text, insecure=params.insecure_key)
    except CryptoError as err:
        raise ComponentError(f"{whose} Paillier public key is refused: {err}") from None
    if key.bits < params.key_length:
        raise ComponentError(
            f"{whose} Paillier public key has {key.bits} bits, under this party's floor of {params.key_length} "
            "(the job's key_length raised to policy.min_key_bits); refusing to encrypt under it"
        )
    return key


def batch_sizes(n_rows: int, batch_size: int) -> list[int]:
    """Rows per batch: cuts of batch_size, a shorter tail joined to the last batch (so none is under batch_size).

    FATE leaves the tail as its own batch; here it would let a job pick batch_size = N - 1
    and get a one-row batch past any floor on batch_size.
    """
    if n_rows <= 0:
        raise ComponentError("hetero_lr needs at least one row")
    size = n_rows if batch_size == -1 or batch_size >= n_rows else batch_size
    count = n_rows // size
    return [size] * (count - 1) + [n_rows - size * (count - 1)]


def check_batch_floor(n_rows: int, batch_size: int, policy: Policy) -> None:
    """Refuse to train on batches smaller than this party's policy.min_batch_size (the full batch included)."""
    smallest = min(batch_sizes(n_rows, batch_size))
    if smallest < policy.min_batch_size:
        what = "the full batch" if smallest == n_rows else f"batches of {smallest} rows"
        raise ComponentError(
            f"{what} is under this party's floor of {policy.min_batch_size} rows per batch (policy.min_batch_size): "
            "a gradient over so few rows gives away single rows; refusing to train"
        )


def check_declared_length(length: object, batches: Sequence[np.ndarray], whose: str) -> int:
    """A peer's declared gradient length: at least as long as a batch, it would let the peer solve for d."""
    smallest = min(len(b) for b in batches)
    if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length < smallest:
        raise ComponentError(
            f"{whose} declares gradients of {length!r} values; it must be a count from 1 to {smallest - 1}, "
            f"fewer than the {smallest} rows of the smallest batch (otherwise X^T d reveals d)"
        )
    return length
