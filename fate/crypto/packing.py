"""Many bounded fixed-point values in one Paillier plaintext, so one decryption yields many values.

A packed plaintext is sum(s_i * 2^(B*i)) for signed slot integers |s_i| < 2^(B-1);
it is linear, so packed ciphertexts add slot-wise, and unpacking walks the slots
from the bottom with a borrow. Slot width B comes from a proven bound on the
values (and how many packed arrays may be summed), never from hope: a result
that could overflow its slot is refused before it is computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from gmpy2 import mpz

from fate.crypto import counters, encoding
from fate.crypto.array import EncryptedArray, PackedLike
from fate.crypto.errors import EncodingOverflowError, KeyMismatchError, ShapeError
from fate.crypto.keys import PrivateKey, PublicKey
from fate.crypto.pool import CryptoPool, public_key_hs, run_chunked, task_decrypt, task_encrypt

DEFAULT_PACK_FRAC_BITS = 32


def slot_capacity(public_key: PublicKey, slot_bits: int) -> int:
    """How many slots of slot_bits fit a plaintext of this key."""
    capacity = (public_key.max_int.bit_length() - 1) // slot_bits
    if capacity < 1:
        raise EncodingOverflowError(f"a {slot_bits}-bit slot does not fit a {public_key.bits}-bit key")
    return capacity


@dataclass(frozen=True)
class PackedArray(PackedLike):
    public_key: PublicKey
    ciphertexts: tuple[mpz, ...]
    count: int  # values packed, in order
    slot_bits: int
    frac_bits: int
    bound: int  # proven max |slot integer|

    def __post_init__(self) -> None:
        if self.bound >= 1 << (self.slot_bits - 1):
            raise EncodingOverflowError(
                f"packed values could reach {self.bound.bit_length()} bits and overflow their "
                f"{self.slot_bits}-bit slots; pack with more headroom"
            )

    @property
    def capacity(self) -> int:
        return slot_capacity(self.public_key, self.slot_bits)

    def __add__(self, other: PackedArray) -> PackedArray:
        if not isinstance(other, PackedArray):
            return NotImplemented
        if other.public_key != self.public_key:
            raise KeyMismatchError("cannot add packed ciphertexts of different Paillier keys")
        if (other.count, other.slot_bits, other.frac_bits) != (self.count, self.slot_bits, self.frac_bits):
            raise ShapeError("packed arrays differ in length, slot width or scale")
        n2 = self.public_key.nsquare
        cts = tuple(a * b % n2 for a, b in zip(self.ciphertexts, other.ciphertexts, strict=True))
        return replace(self, ciphertexts=cts, bound=self.bound + other.bound)

    def rerandomize(self) -> PackedArray:
        counters.count_rerandomizations(len(self.ciphertexts))
        return replace(self, ciphertexts=tuple(self.public_key.raw_rerandomize(self.ciphertexts)))


def _groups(count: int, capacity: int) -> list[range]:
    return [range(i, min(i + capacity, count)) for i in range(0, count, capacity)]


def pack(encrypted: EncryptedArray, headroom_bits: int = 0) -> PackedArray:
    """Compress a ciphertext array into few ciphertexts (done by whoever holds them, before sending).

    Slots are sized from the array's tracked bound; headroom_bits leaves room for
    adding up to 2^headroom_bits such packed arrays later.
    """
    if encrypted.bound is None:
        raise EncodingOverflowError("cannot pack ciphertexts of unknown magnitude (e.g. imported from phe)")
    slot_bits = max(encrypted.bound.bit_length(), 1) + 1 + headroom_bits
    key = encrypted.public_key
    n2 = key.nsquare
    flat = encrypted.ciphertexts
    step = mpz(1) << slot_bits
    packed = []
    for group in _groups(len(flat), slot_capacity(key, slot_bits)):
        acc = flat[group[-1]]
        for i in reversed(group[:-1]):
            acc = pow(acc, step, n2) * flat[i] % n2
        packed.append(acc)
    return PackedArray(key, tuple(packed), len(flat), slot_bits, encrypted.frac_bits, encrypted.bound)


def encrypt_packed(
    public_key: PublicKey,
    values: object,
    value_bound: float,
    max_summands: int = 1,
    frac_bits: int = DEFAULT_PACK_FRAC_BITS,
    pool: CryptoPool | None = None,
) -> PackedArray:
    """Pack then encrypt |values| <= value_bound; up to max_summands such arrays may be added."""
    arr = encoding.as_float_array(values).ravel()
    if value_bound <= 0 or max_summands < 1:
        raise ValueError("value_bound must be > 0 and max_summands >= 1")
    ints = encoding.encode(arr, frac_bits)
    limit = math.ceil(value_bound * 2**frac_bits)
    if any(abs(v) > limit for v in ints):
        raise EncodingOverflowError(f"a value exceeds the declared bound {value_bound}")
    slot_bits = (limit * max_summands).bit_length() + 1
    plaintexts = []
    for group in _groups(len(ints), slot_capacity(public_key, slot_bits)):
        total = 0
        for i in reversed(group):
            total = (total << slot_bits) + ints[i]
        plaintexts.append(total)
    residues = encoding.to_residues(plaintexts, public_key.n, public_key.max_int)
    head = (int(public_key.n), public_key_hs(public_key))
    cts = run_chunked(pool, public_key.raw_encrypt, task_encrypt, head, residues)
    counters.count_encryptions(len(cts))
    bound = max((abs(v) for v in ints), default=0)
    return PackedArray(public_key, tuple(cts), len(ints), slot_bits, frac_bits, bound)


def decrypt_packed(private_key: PrivateKey, packed: PackedArray, pool: CryptoPool | None = None) -> np.ndarray:
    """All packed values, as float64, with one decryption per packed ciphertext."""
    key = private_key.public_key
    if packed.public_key != key:
        raise KeyMismatchError("these packed ciphertexts were encrypted under a different Paillier key")
    head = (int(key.n), int(private_key.p), int(private_key.q))
    residues = run_chunked(pool, private_key.raw_decrypt, task_decrypt, head, list(packed.ciphertexts))
    counters.count_decryptions(len(residues))
    totals = encoding.from_residues(residues, key.n, key.max_int)
    mask, half, bits = (1 << packed.slot_bits) - 1, 1 << (packed.slot_bits - 1), packed.slot_bits
    values: list[int] = []
    capacity = packed.capacity
    for total, group in zip(totals, _groups(packed.count, capacity), strict=True):
        for _ in group:
            low = total & mask
            if low >= half:
                low -= 1 << bits
            values.append(low)
            total = (total - low) >> bits
        if total:
            raise EncodingOverflowError("packed plaintext has data beyond its slots: a slot overflowed")
    return encoding.decode(values, packed.frac_bits)
