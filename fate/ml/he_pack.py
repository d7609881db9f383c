"""Unsigned integer slots in Paillier plaintexts: encrypt many, sum per bucket, fold many sums into one.

Binning and SecureBoost encrypt one small non-negative integer record per row (a label's
event/non-event pair; a gradient/hessian/count triple), the holder of the features multiplies
ciphertexts per bin (homomorphic sums), then folds k sums into one ciphertext with Horner's
rule, c_0 * (c_1 * (...)^(2^s))^(2^s), so the key holder decrypts once per k sums. Slots are
unsigned and sized by the sender from a proven bound (rows x largest field), so sums never carry
into a neighbour. Every folded ciphertext is re-randomized before it leaves: the key holder
knows each row's ciphertext and could otherwise test which rows a sum is made of.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING

import gmpy2
import numpy as np
from gmpy2 import mpz

from fate.crypto.array import EncryptedArray
from fate.crypto.errors import EncodingOverflowError
from fate.crypto.keys import PrivateKey, PublicKey
from fate.crypto.multiexp import FixedBaseTable
from fate.crypto.pool import public_key_hs, run_chunked, task_decrypt, task_encrypt
from fate.ml.component import ComponentError

if TYPE_CHECKING:
    from fate.compute.contract import ComputeBackend

BLINDING_WINDOW = 8


def capacity(public: PublicKey, slot_bits: int) -> int:
    """Slots of slot_bits per plaintext, below the key's overflow band (max_int)."""
    k = (public.max_int.bit_length() - 1) // slot_bits
    if k < 1:
        raise EncodingOverflowError(f"a {slot_bits}-bit slot does not fit a {public.bits}-bit key")
    return k


def encrypt_ints(public: PublicKey, values: Sequence[int], compute: ComputeBackend | None = None) -> list[mpz]:
    """Fresh encryptions of non-negative integers below max_int (DJN, blinded)."""
    limit = public.max_int
    if any(v < 0 or v > limit for v in values):
        raise EncodingOverflowError("a packed record lies outside the key's plaintext range")
    if compute is not None:
        return compute.encrypt(public, list(values))
    head = (int(public.n), public_key_hs(public))
    return run_chunked(None, public.raw_encrypt, task_encrypt, head, list(values))


def decrypt_ints(private: PrivateKey, ciphertexts: Sequence[mpz], compute: ComputeBackend | None = None) -> list[int]:
    key = private.public_key
    head = (int(key.n), int(private.p), int(private.q))
    if compute is not None:
        residues = compute.decrypt(private, list(ciphertexts))
    else:
        residues = run_chunked(None, private.raw_decrypt, task_decrypt, head, list(ciphertexts))
    out = [int(r) for r in residues]
    if any(r > key.max_int for r in out):
        raise EncodingOverflowError("a folded sum decrypted outside the plaintext range: a slot overflowed "
                                    "(or the ciphertext was tampered with)")
    return out


def task_fold(nsquare: mpz, slot_bits: int, groups: Sequence[Sequence[mpz]]) -> list[mpz]:
    """Horner folding of each group (lowest slot first); a pool task."""
    shift = mpz(1) << slot_bits
    out = []
    for group in groups:
        acc = group[-1]
        for c in reversed(group[:-1]):
            acc = gmpy2.powmod(acc, shift, nsquare) * c % nsquare
        out.append(acc)
    return out


def fold(public: PublicKey, sums: Sequence[mpz], slot_bits: int, compute: ComputeBackend | None = None) -> list[mpz]:
    """Fold ciphertexts of slot-sized sums into ceil(len / capacity) re-randomized ciphertexts."""
    k = capacity(public, slot_bits)
    groups = [list(sums[i : i + k]) for i in range(0, len(sums), k)]
    n2 = public.nsquare
    if compute is not None:
        folded = compute.fold(n2, slot_bits, groups)
    else:
        folded = run_chunked(None, lambda gs: task_fold(n2, slot_bits, gs), task_fold, (n2, slot_bits), groups)
    return blind(public, folded)


@functools.lru_cache(maxsize=4)
def _blinding_table(n: int) -> FixedBaseTable:
    """A small fixed-base table for DJN blinding h_s^a under someone else's key.

    The key's own table (fate.crypto.keys) takes 1024-entry windows, tens of MB and most of a
    second to build: right for encrypting thousands of values, wasteful for the few folded
    ciphertexts a party re-randomizes per message. 8-bit windows build in a quarter of the time
    and cost about a quarter more per blinding.
    """
    modulus = mpz(n)
    nsquare = modulus * modulus
    while True:
        x = mpz(secrets.randbelow(n - 1) + 1)
        if gmpy2.gcd(x, modulus) == 1:
            break
    hs = gmpy2.powmod(modulus - x * x % modulus, modulus, nsquare)
    return FixedBaseTable(hs, nsquare, (modulus.bit_length() + 1) // 2, BLINDING_WINDOW)


def blind(public: PublicKey, ciphertexts: Sequence[mpz]) -> list[mpz]:
    """Fresh DJN randomness on each ciphertext (same plaintexts, unlinkable to the inputs)."""
    table, n2 = _blinding_table(int(public.n)), public.nsquare
    bits = table.exp_bits
    return [c * table.pow(secrets.randbits(bits)) % n2 for c in ciphertexts]


def unfold(plaintexts: Sequence[int], count: int, slot_bits: int, per_plaintext: int) -> list[int]:
    """The `count` slot values of folded plaintexts, in the order they were folded."""
    mask = (1 << slot_bits) - 1
    out: list[int] = []
    for value in plaintexts:
        for _ in range(min(per_plaintext, count - len(out))):
            out.append(value & mask)
            value >>= slot_bits
        if value:
            raise EncodingOverflowError("a folded plaintext holds data beyond its slots")
    if len(out) != count:
        raise EncodingOverflowError(f"expected {count} folded sums, found {len(out)}")
    return out


def fields(values: Sequence[int], widths: Sequence[int]) -> np.ndarray:
    """Split slot values into their fields (lowest field first), as an int64 array (len, fields)."""
    out = np.empty((len(values), len(widths)), dtype=np.int64)
    for i, v in enumerate(values):
        for j, w in enumerate(widths):
            out[i, j] = v & ((1 << w) - 1)
            v >>= w
    return out


def as_wire(public: PublicKey, ciphertexts: list[mpz], slot_bits: int = 0, per_plaintext: int = 1) -> EncryptedArray:
    """Ciphertexts as an EncryptedArray so the federation codec (and its checks) carry them."""
    bits = min(slot_bits * per_plaintext, public.max_int.bit_length() - 1) if slot_bits else public.max_int.bit_length() - 1
    return EncryptedArray(public, ciphertexts, (len(ciphertexts),), 0, (1 << bits) - 1)


def from_wire(value: object, public: PublicKey, what: str) -> list[mpz]:
    """The ciphertexts of a received array, refusing any under another key."""
    if not isinstance(value, EncryptedArray) or value.public_key != public or value.ndim != 1:
        raise ComponentError(f"{what} is not a ciphertext vector under the expected Paillier key; refusing it")
    return list(value.ciphertexts)
