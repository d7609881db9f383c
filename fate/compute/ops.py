"""EncryptedArray-level operations on a compute backend, or in-process when there is none.

With `compute=None` each function is exactly the fate.crypto call it stands for, so code that
runs without a flow (unit tests, benchmarks, the wire-privacy tests) computes what it always did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gmpy2 import mpz

from fate.compute.contract import ComputeBackend
from fate.crypto import counters, encoding
from fate.crypto.array import EncryptedArray
from fate.crypto.array import decrypt as _decrypt
from fate.crypto.array import encrypt as _encrypt
from fate.crypto.errors import KeyMismatchError, UnsupportedOperation
from fate.crypto.keys import PrivateKey, PublicKey
from fate.crypto.matvec import matvec_t as _matvec_t


def _precomputed(key: PublicKey, count: int) -> bool:
    # With its obfuscators made ahead (offline), an encryption costs one multiplication here: less
    # than shipping it to a worker, which would have to make a fresh factor online.
    return key.obfuscators.ready() >= count


def encrypt(compute: ComputeBackend | None, key: PublicKey, values: Any, frac_bits: int | None = None) -> EncryptedArray:
    arr = encoding.as_float_array(values)
    if compute is None or _precomputed(key, arr.size):
        return _encrypt(key, arr, frac_bits=frac_bits)
    frac = encoding.DEFAULT_FRAC_BITS if frac_bits is None else frac_bits
    ints = encoding.encode(arr, frac)
    cts = compute.encrypt(key, encoding.to_residues(ints, key.n, key.max_int))
    counters.count_encryptions(len(cts))
    return EncryptedArray(key, cts, arr.shape, frac, max((abs(v) for v in ints), default=0))


def rerandomize(compute: ComputeBackend | None, encrypted: EncryptedArray) -> EncryptedArray:
    if compute is None or _precomputed(encrypted.public_key, len(encrypted.ciphertexts)):
        return encrypted.rerandomize()
    cts = compute.rerandomize(encrypted.public_key, encrypted.ciphertexts)
    counters.count_rerandomizations(len(cts))
    return EncryptedArray(encrypted.public_key, cts, encrypted.shape, encrypted.frac_bits, encrypted.bound)


def raw_decrypt(compute: ComputeBackend | None, private: PrivateKey, ciphertexts: Sequence[mpz]) -> list[mpz]:
    return private.raw_decrypt(ciphertexts) if compute is None else compute.decrypt(private, ciphertexts)


def decrypt(compute: ComputeBackend | None, private: PrivateKey, encrypted: EncryptedArray) -> np.ndarray:
    if compute is None:
        return _decrypt(private, encrypted)
    if not isinstance(encrypted, EncryptedArray):
        raise UnsupportedOperation(f"cannot decrypt a {type(encrypted).__name__}; expected an EncryptedArray")
    key = private.public_key
    if encrypted.public_key != key:
        raise KeyMismatchError("these ciphertexts were encrypted under a different Paillier key")
    residues = compute.decrypt(private, encrypted.ciphertexts)
    counters.count_decryptions(len(residues))
    return encoding.decode(encoding.from_residues(residues, key.n, key.max_int), encrypted.frac_bits).reshape(
        encrypted.shape)


def matvec_t(compute: ComputeBackend | None, matrix: Any, encrypted: EncryptedArray,
             frac_bits: int | None = None) -> EncryptedArray:
    if compute is None:
        return _matvec_t(matrix, encrypted, frac_bits=frac_bits)
    return compute.matvec_t(matrix, encrypted, frac_bits=frac_bits)
