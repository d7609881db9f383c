"""EncryptedArray: a numpy-shaped array of Paillier ciphertexts under one key.

Each array carries its fixed-point scale (frac_bits) and a worst-case bound on
the magnitude of its encoded integers; every operation updates the bound and
refuses, with EncodingOverflowError, a result that could leave the plaintext
range. Arrays rebuilt from foreign (phe) ciphertexts have an unknown bound
(None) and rely on the decryption-time range check alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import gmpy2
import numpy as np
from gmpy2 import mpz

from fate.crypto import counters, encoding
from fate.crypto.errors import EncodingOverflowError, KeyMismatchError, ShapeError, UnsupportedOperation
from fate.crypto.keys import PrivateKey, PublicKey
from fate.crypto.pool import (
    CryptoPool,
    public_key_hs,
    run_chunked,
    task_decrypt,
    task_encrypt,
    task_rerandomize,
    task_scale,
)


def _max_abs(integers: Sequence[int]) -> int:
    return max((abs(x) for x in integers), default=0)


class PackedLike:
    """Marker base for packed ciphertexts, which do not mix with element-wise arrays."""


class EncryptedArray:
    # Makes numpy hand `ndarray + enc` (and @) to our reflected operators.
    __array_ufunc__ = None
    __slots__ = ("public_key", "ciphertexts", "shape", "frac_bits", "bound")

    def __init__(
        self,
        public_key: PublicKey,
        ciphertexts: list[mpz],
        shape: tuple[int, ...],
        frac_bits: int,
        bound: int | None,
    ) -> None:
        if len(ciphertexts) != math.prod(shape):
            raise ShapeError(f"{len(ciphertexts)} ciphertexts do not fill shape {shape}")
        if bound is not None and bound > public_key.max_int:
            raise EncodingOverflowError(
                f"this result could need {bound.bit_length()} bits, beyond the {public_key.max_int.bit_length()}"
                f"-bit plaintext range of the {public_key.bits}-bit key; scale values down or use fewer "
                "fractional bits"
            )
        self.public_key = public_key
        self.ciphertexts = ciphertexts
        self.shape = tuple(shape)
        self.frac_bits = frac_bits
        self.bound = bound

    # -- shape -------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self.ciphertexts)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d EncryptedArray")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"EncryptedArray(shape={self.shape}, frac_bits={self.frac_bits}, key_bits={self.public_key.bits})"

    def _like(self, ciphertexts: list[mpz], shape: tuple[int, ...] | None = None, **changes: Any) -> EncryptedArray:
        return EncryptedArray(
            self.public_key,
            ciphertexts,
            self.shape if shape is None else shape,
            changes.get("frac_bits", self.frac_bits),
            changes.get("bound", self.bound),
        )

    def __getitem__(self, key: Any) -> EncryptedArray:
        picked = np.arange(self.size).reshape(self.shape)[key]
        return self._like([self.ciphertexts[i] for i in np.ravel(picked).tolist()], np.shape(picked))

    def reshape(self, *shape: Any) -> EncryptedArray:
        target = np.arange(self.size).reshape(*shape).shape
        return self._like(list(self.ciphertexts), target)

    @staticmethod
    def concatenate(arrays: Sequence[EncryptedArray]) -> EncryptedArray:
        """Join 1-d arrays of one key (scales are aligned to the finest)."""
        if not arrays:
            raise ShapeError("nothing to concatenate")
        if any(a.ndim != 1 for a in arrays):
            raise ShapeError("only 1-d EncryptedArrays can be concatenated")
        first = arrays[0]
        for other in arrays[1:]:
            first._check_key(other)
        frac = max(a.frac_bits for a in arrays)
        aligned = [a._rescaled(frac) for a in arrays]
        bounds = [a.bound for a in aligned]
        bound = None if any(b is None for b in bounds) else max(b for b in bounds if b is not None)
        joined = [c for a in aligned for c in a.ciphertexts]
        return EncryptedArray(first.public_key, joined, (len(joined),), frac, bound)

    # -- arithmetic ----------------------------------------------------------
    def _check_key(self, other: EncryptedArray) -> None:
        if other.public_key != self.public_key:
            raise KeyMismatchError("cannot combine ciphertexts encrypted under different Paillier keys")

    def _rescaled(self, frac_bits: int) -> EncryptedArray:
        shift = frac_bits - self.frac_bits
        if shift == 0:
            return self
        factor = 1 << shift
        n2 = self.public_key.nsquare
        bound = None if self.bound is None else self.bound * factor
        return self._like([gmpy2.powmod(c, factor, n2) for c in self.ciphertexts], frac_bits=frac_bits, bound=bound)

    def _broadcast_indices(self, shape: tuple[int, ...]) -> tuple[tuple[int, ...], list[int], list[int]]:
        try:
            out = np.broadcast_shapes(self.shape, shape)
        except ValueError:
            raise ShapeError(f"shapes {self.shape} and {shape} do not broadcast") from None
        mine = np.broadcast_to(np.arange(self.size).reshape(self.shape), out).ravel().tolist()
        theirs = np.broadcast_to(np.arange(math.prod(shape)).reshape(shape), out).ravel().tolist()
        return out, mine, theirs

    def __add__(self, other: Any) -> EncryptedArray:
        n2 = self.public_key.nsquare
        if isinstance(other, EncryptedArray):
            self._check_key(other)
            frac = max(self.frac_bits, other.frac_bits)
            a, b = self._rescaled(frac), other._rescaled(frac)
            if a.shape == b.shape:
                out = a.shape
                cts = [x * y % n2 for x, y in zip(a.ciphertexts, b.ciphertexts, strict=True)]
            else:
                out, ia, ib = a._broadcast_indices(b.shape)
                cts = [a.ciphertexts[i] * b.ciphertexts[j] % n2 for i, j in zip(ia, ib, strict=True)]
            bound = None if a.bound is None or b.bound is None else a.bound + b.bound
            return a._like(cts, out, bound=bound)
        if isinstance(other, PackedLike):
            return NotImplemented
        plain = encoding.as_float_array(other)
        out, ia, ib = self._broadcast_indices(plain.shape)
        ints = encoding.encode(plain, self.frac_bits)
        n = self.public_key.n
        residues = encoding.to_residues(ints, n, self.public_key.max_int)
        # Adding to an obfuscated ciphertext keeps it obfuscated: (1 + m n) needs no randomness.
        cts = [self.ciphertexts[i] * (1 + n * residues[j]) % n2 for i, j in zip(ia, ib, strict=True)]
        bound = None if self.bound is None else self.bound + _max_abs(ints)
        return self._like(cts, out, bound=bound)

    __radd__ = __add__

    def __neg__(self) -> EncryptedArray:
        n2 = self.public_key.nsquare
        return self._like([gmpy2.invert(c, n2) for c in self.ciphertexts])

    def __sub__(self, other: Any) -> EncryptedArray:
        if isinstance(other, EncryptedArray):
            return self + (-other)
        return self + (-encoding.as_float_array(other))

    def __rsub__(self, other: object) -> EncryptedArray:
        return (-self) + other

    def __mul__(self, other: Any) -> EncryptedArray:
        if isinstance(other, EncryptedArray | PackedLike):
            raise UnsupportedOperation("Paillier cannot multiply two ciphertexts; multiply by plaintext only")
        plain = encoding.as_float_array(other)
        if plain.ndim == 0:
            frac = encoding.scalar_frac_bits(float(plain))
        else:
            frac = encoding.multiplier_frac_bits(plain)
        ints, frac = encoding.strip_common_twos(encoding.encode(plain, frac), frac)
        out, ia, ib = self._broadcast_indices(plain.shape)
        bound = None if self.bound is None else self.bound * _max_abs(ints)
        # Validate the bound before spending time on exponentiations.
        EncryptedArray(self.public_key, [], (0,), 0, bound)
        n2 = self.public_key.nsquare
        cts = run_chunked(
            None,
            lambda cs, es: task_scale(n2, cs, es),
            task_scale,
            (n2,),
            [self.ciphertexts[i] for i in ia],
            [ints[j] for j in ib],
        )
        return self._like(cts, out, frac_bits=self.frac_bits + frac, bound=bound)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> EncryptedArray:
        if isinstance(other, EncryptedArray):
            raise UnsupportedOperation("Paillier cannot divide by a ciphertext")
        return self * (1.0 / encoding.as_float_array(other))

    def __rmatmul__(self, matrix: Any) -> EncryptedArray:
        """M @ [[v]] for a plaintext matrix M (rows of M are the exponent columns)."""
        from fate.crypto.matvec import matvec_t

        return matvec_t(np.transpose(encoding.as_float_array(matrix)), self)

    def sum(self) -> EncryptedArray:
        """Encrypted sum of all elements, as a 0-d array."""
        n2 = self.public_key.nsquare
        acc = mpz(1)
        for c in self.ciphertexts:
            acc = acc * c % n2
        bound = None if self.bound is None else self.bound * self.size
        return self._like([acc], (), bound=bound)

    def rerandomize(self, pool: CryptoPool | None = None) -> EncryptedArray:
        """Fresh obfuscation: same plaintexts, unlinkable ciphertexts (do this before sending)."""
        key = self.public_key
        cts = _offline_first(key, pool, key.raw_rerandomize, task_rerandomize, self.ciphertexts)
        counters.count_rerandomizations(len(cts))
        return self._like(cts)

    # -- wire ------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        from fate.crypto.wire import dump_array

        return dump_array(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> EncryptedArray:
        from fate.crypto.wire import load_array

        return load_array(data)


def _offline_first(
    key: PublicKey, pool: CryptoPool | None, local: Callable[[list[Any]], list[mpz]], task: Callable[..., list[mpz]],
    items: Sequence[Any],
) -> list[mpz]:
    """As many items as there are precomputed obfuscators in-process (one multiplication each), the rest
    the usual way (fresh obfuscators, across the pool when it pays)."""
    ready = min(key.obfuscators.ready(), len(items))
    done = local(list(items[:ready])) if ready else []
    if ready == len(items):
        return done
    rest = run_chunked(pool, local, task, (int(key.n), public_key_hs(key)), list(items[ready:]))
    return done + rest


def encrypt(
    public_key: PublicKey, values: Any, frac_bits: int | None = None, pool: CryptoPool | None = None
) -> EncryptedArray:
    arr = encoding.as_float_array(values)
    frac = encoding.DEFAULT_FRAC_BITS if frac_bits is None else frac_bits
    ints = encoding.encode(arr, frac)
    residues = encoding.to_residues(ints, public_key.n, public_key.max_int)
    cts = _offline_first(public_key, pool, public_key.raw_encrypt, task_encrypt, residues)
    counters.count_encryptions(len(cts))
    return EncryptedArray(public_key, cts, arr.shape, frac, _max_abs(ints))


def decrypt(private_key: PrivateKey, encrypted: EncryptedArray, pool: CryptoPool | None = None) -> np.ndarray:
    if not isinstance(encrypted, EncryptedArray):
        raise UnsupportedOperation(f"cannot decrypt a {type(encrypted).__name__}; expected an EncryptedArray")
    key = private_key.public_key
    if encrypted.public_key != key:
        raise KeyMismatchError("these ciphertexts were encrypted under a different Paillier key")
    head = (int(key.n), int(private_key.p), int(private_key.q))
    residues = run_chunked(pool, private_key.raw_decrypt, task_decrypt, head, encrypted.ciphertexts)
    counters.count_decryptions(len(residues))
    ints = encoding.from_residues(residues, key.n, key.max_int)
    return encoding.decode(ints, encrypted.frac_bits).reshape(encrypted.shape)
