"""Paillier keys with g = n + 1, DJN fixed-base obfuscation and CRT decryption.

Encryption is c = (1 + m*n) * h_s^a mod n^2 where h_s = (-x^2)^n for a random
x and a has |n|/2 bits (Damgard-Jurik-Nielsen): the obfuscator comes from a
precomputed fixed-base table instead of a full r^n powmod.
"""

from __future__ import annotations

import functools
import json
import secrets
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import gmpy2
from gmpy2 import mpz

from fate.crypto.errors import InsecureKeyError, WireFormatError
from fate.crypto.multiexp import FixedBaseTable
from fate.crypto.obfuscators import ObfuscatorPool, capacity_for

if TYPE_CHECKING:
    import numpy as np

    from fate.crypto.array import EncryptedArray
    from fate.crypto.pool import CryptoPool

SUPPORTED_BITS = (2048, 3072, 4096)
# Below this even tests cannot pack or encode sensibly.
MIN_INSECURE_BITS = 256
# Memory one obfuscation table may take per key and process; wider windows mean
# fewer multiplications per encryption (2048-bit keys get 10-bit windows, ~54 MB).
TABLE_BUDGET_BYTES = 72 * 2**20
_POOL_LOCK = threading.Lock()


def table_window(n_bits: int) -> int:
    exp_bits = (n_bits + 1) // 2
    entry_bytes = 2 * ((n_bits + 7) // 8)
    for window in range(10, 4, -1):
        if -(-exp_bits // window) * (1 << window) * entry_bytes <= TABLE_BUDGET_BYTES:
            return window
    return 4


def check_key_bits(n_length: int, insecure: bool) -> None:
    if n_length in SUPPORTED_BITS:
        return
    if insecure and MIN_INSECURE_BITS <= n_length < SUPPORTED_BITS[0] and n_length % 2 == 0:
        return
    if n_length < SUPPORTED_BITS[0] and not insecure:
        raise InsecureKeyError(
            f"a {n_length}-bit Paillier key is insecure; use {', '.join(map(str, SUPPORTED_BITS))} "
            "bits, or pass insecure=True in tests"
        )
    raise InsecureKeyError(
        f"unsupported Paillier key size {n_length}: use one of {SUPPORTED_BITS}"
        f" (or an even size from {MIN_INSECURE_BITS} with insecure=True)"
    )


def _random_unit(n: mpz) -> mpz:
    while True:
        x = mpz(secrets.randbelow(int(n) - 1) + 1)
        if gmpy2.gcd(x, n) == 1:
            return x


@dataclass(frozen=True)
class PublicKey:
    n: mpz
    # Any holder of n may pick its own h_s; it is not part of the key's identity.
    hs: mpz | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        n = mpz(self.n)
        if n < 3 or n % 2 == 0:
            raise WireFormatError("a Paillier modulus must be an odd integer greater than 2")
        object.__setattr__(self, "n", n)
        if self.hs is not None:
            object.__setattr__(self, "hs", mpz(self.hs))

    def __hash__(self) -> int:
        return hash(int(self.n))

    def __reduce__(self) -> tuple[type[PublicKey], tuple[int, int | None]]:
        # Only the modulus and h_s travel (to pool workers): never the table, and never precomputed factors.
        table = self.__dict__.get("_table")
        hs = table.pow(1) if table is not None else self.hs
        return (PublicKey, (int(self.n), None if hs is None else int(hs)))

    @property
    def bits(self) -> int:
        return int(self.n.bit_length())

    @cached_property
    def nsquare(self) -> mpz:
        return self.n * self.n

    @cached_property
    def max_int(self) -> int:
        """Largest magnitude a plaintext may have; the band between +max_int and -max_int flags overflow."""
        return int(self.n // 3 - 1)

    @cached_property
    def _table(self) -> FixedBaseTable:
        hs = self.hs
        if hs is None:
            x = _random_unit(self.n)
            hs = gmpy2.powmod(self.n - x * x % self.n, self.n, self.nsquare)
        return FixedBaseTable(hs, self.nsquare, (self.bits + 1) // 2, table_window(self.bits))

    def obfuscator(self) -> mpz:
        """A fresh h_s^alpha computed now (the online path; `obfuscators` holds precomputed ones)."""
        return self._table.pow(secrets.randbits((self.bits + 1) // 2))

    @property
    def obfuscators(self) -> ObfuscatorPool:
        """This key object's pool of precomputed obfuscators, each served once (fate.crypto.obfuscators)."""
        pool = self.__dict__.get("_obfuscators")
        if pool is None:
            with _POOL_LOCK:  # two threads must not each create (and half-use) a pool
                pool = self.__dict__.get("_obfuscators")
                if pool is None:
                    pool = ObfuscatorPool(self.obfuscator, capacity_for(self.bits))
                    self.__dict__["_obfuscators"] = pool
        return pool

    def precompute(self, count: int, pool: CryptoPool | None = None) -> None:
        """Have `count` obfuscators ready for coming encryptions, computed by a background thread
        (in small batches on the process pool, `pool` or the default one, when there is one)."""
        # Deferred: the pool module builds on keys.
        from fate.crypto.offline import worker_batches

        make_batch, batch = worker_batches(self, pool)
        self.obfuscators.fill_async(count, make_batch, batch)

    def raw_encrypt(self, residues: Iterable[int]) -> list[mpz]:
        """Encrypt plaintexts already reduced to [0, n)."""
        n, n2 = self.n, self.nsquare
        values = list(residues)
        # m < n, so 1 + m*n < n^2 needs no reduction.
        return [(1 + n * m) * f % n2 for m, f in zip(values, self.obfuscators.take(len(values)), strict=True)]

    def raw_rerandomize(self, ciphertexts: Iterable[mpz]) -> list[mpz]:
        n2 = self.nsquare
        cts = list(ciphertexts)
        return [c * f % n2 for c, f in zip(cts, self.obfuscators.take(len(cts)), strict=True)]

    def encrypt(
        self, values: np.ndarray | float | Sequence[float], frac_bits: int | None = None, pool: CryptoPool | None = None
    ) -> EncryptedArray:
        """Fixed-point encode and encrypt an array (see fate.crypto.encoding for the precision)."""
        # Deferred: arrays are built on keys, never the reverse; this is only the phe-shaped shortcut.
        from fate.crypto.array import encrypt

        return encrypt(self, values, frac_bits=frac_bits, pool=pool)

    def to_json(self) -> str:
        return json.dumps({"kind": "paillier-public", "n": format(self.n, "x")}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, insecure: bool = False) -> PublicKey:
        data = _load(text, "paillier-public")
        key = cls(_hex(data, "n"))
        check_key_bits(key.bits, insecure)
        # Keys received as JSON and as ciphertext headers share one fixed-base table.
        return shared_public_key(int(key.n))


@functools.lru_cache(maxsize=4)
def shared_public_key(n: int) -> PublicKey:
    """One PublicKey (and fixed-base table) per modulus, so decoding many messages builds one table."""
    return PublicKey(mpz(n))


@dataclass(frozen=True)
class PrivateKey:
    public_key: PublicKey
    p: mpz
    q: mpz

    def __post_init__(self) -> None:
        p, q = mpz(self.p), mpz(self.q)
        if p == q or p * q != self.public_key.n:
            raise WireFormatError("p and q are not the distinct factors of the public modulus")
        if p > q:  # a canonical order keeps JSON and equality stable
            p, q = q, p
        object.__setattr__(self, "p", p)
        object.__setattr__(self, "q", q)

    @cached_property
    def _crt(self) -> tuple[mpz, mpz, mpz, mpz, mpz, mpz, mpz]:
        p, q, n = self.p, self.q, self.public_key.n
        psq, qsq = p * p, q * q
        # h_p = L_p(g^(p-1) mod p^2)^-1 mod p, the decryption constant for g = n + 1.
        hp = gmpy2.invert((gmpy2.powmod(n + 1, p - 1, psq) - 1) // p, p)
        hq = gmpy2.invert((gmpy2.powmod(n + 1, q - 1, qsq) - 1) // q, q)
        return p, q, psq, qsq, hp, hq, gmpy2.invert(q, p)

    @cached_property
    def _crt_tables(self) -> tuple[FixedBaseTable, FixedBaseTable, mpz, mpz]:
        # The public key's own h_s, raised mod p^2 and q^2: half-size multiplications, the same factors.
        hs = self.public_key._table.pow(1)
        p, q = self.p, self.q
        psq, qsq = p * p, q * q
        bits = (self.public_key.bits + 1) // 2
        window = table_window(self.public_key.bits // 2)
        return (FixedBaseTable(hs % psq, psq, bits, window), FixedBaseTable(hs % qsq, qsq, bits, window), psq,
                gmpy2.invert(psq, qsq))

    def obfuscator(self) -> mpz:
        """h_s^alpha mod n^2 by CRT from mod p^2 and mod q^2: what the key's owner pays for its own encryptions."""
        tp, tq, psq, psq_inv = self._crt_tables
        alpha = secrets.randbits((self.public_key.bits + 1) // 2)
        a, b = tp.pow(alpha), tq.pow(alpha)
        return a + psq * ((b - a) * psq_inv % tq.modulus)

    def precompute(self, count: int, pool: CryptoPool | None = None) -> None:
        """As PublicKey.precompute, for this key's owner: on the process pool if there is one, else
        in-process by CRT (the owner's factors cost ~15 % less that way)."""
        from fate.crypto.offline import worker_batches

        make_batch, batch = worker_batches(self.public_key, pool)
        factors = self.public_key.obfuscators
        if make_batch is None:
            factors.set_maker(self.obfuscator)
        factors.fill_async(count, make_batch, batch)

    def raw_decrypt(self, ciphertexts: Sequence[mpz]) -> list[mpz]:
        """Residues in [0, n) via CRT: two half-size exponentiations per ciphertext."""
        p, q, psq, qsq, hp, hq, qinv = self._crt
        if not ciphertexts:
            return []
        cps = gmpy2.powmod_base_list([c % psq for c in ciphertexts], p - 1, psq)
        cqs = gmpy2.powmod_base_list([c % qsq for c in ciphertexts], q - 1, qsq)
        out = []
        for cp, cq in zip(cps, cqs, strict=True):
            mp = (cp - 1) // p * hp % p
            mq = (cq - 1) // q * hq % q
            out.append(mq + (mp - mq) * qinv % p * q)
        return out

    def decrypt(self, encrypted: Any, pool: CryptoPool | None = None) -> np.ndarray:
        """Decrypt an EncryptedArray to float64 (the array's shape; 0-d for a sum)."""
        # Deferred for the same reason as PublicKey.encrypt.
        from fate.crypto.array import decrypt

        return decrypt(self, encrypted, pool=pool)

    def to_json(self) -> str:
        data = {"kind": "paillier-private", "n": format(self.public_key.n, "x")}
        data.update(p=format(self.p, "x"), q=format(self.q, "x"))
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, insecure: bool = False) -> PrivateKey:
        data = _load(text, "paillier-private")
        n, p, q = _hex(data, "n"), _hex(data, "p"), _hex(data, "q")
        check_key_bits(n.bit_length(), insecure)
        if not (gmpy2.is_prime(p) and gmpy2.is_prime(q)):
            raise WireFormatError("private key factors are not prime")
        return cls(PublicKey(n), p, q)


def generate_keypair(n_length: int = 2048, insecure: bool = False) -> tuple[PublicKey, PrivateKey]:
    """A fresh key pair; sizes below 2048 bits need insecure=True (tests only)."""
    check_key_bits(n_length, insecure)
    half = n_length // 2
    while True:
        # The two top bits set make p*q exactly n_length bits long.
        p = gmpy2.next_prime(mpz(secrets.randbits(half)) | (mpz(3) << (half - 2)))
        q = gmpy2.next_prime(mpz(secrets.randbits(half)) | (mpz(3) << (half - 2)))
        n = p * q
        if p != q and n.bit_length() == n_length and gmpy2.gcd(n, (p - 1) * (q - 1)) == 1:
            break
    public = PublicKey(n)
    return public, PrivateKey(public, p, q)


def _load(text: str | bytes, kind: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, TypeError) as err:
        raise WireFormatError(f"not a JSON {kind} key: {err}") from None
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise WireFormatError(f"JSON document is not a {kind} key")
    return data


def _hex(data: dict[str, Any], name: str) -> mpz:
    value = data.get(name)
    if not isinstance(value, str):
        raise WireFormatError(f"key field {name!r} must be a hex string")
    try:
        number = mpz(value, 16)
    except ValueError:
        raise WireFormatError(f"key field {name!r} is not valid hex") from None
    if number <= 0:
        raise WireFormatError(f"key field {name!r} must be positive")
    return number
