"""Shamir secret sharing for secure aggregation: GF(2^521 - 1) for one 32-byte secret, and packs of
32-byte secrets in GF(2^2203 - 1) when many are shared with the same holders.

Lagrange weights depend only on the answering holders' points, which are the same for most
secrets an aggregator rebuilds in a round, so they are computed once per point set.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Sequence

from fate.crypto.errors import CryptoError

# A Mersenne prime: reduction is cheap and every 32-byte secret (< 2^256) is a field element.
PRIME = (1 << 521) - 1
SECRET_BYTES = 32


class SecAggError(CryptoError, ValueError):
    """A secure-aggregation value that is malformed, forged or cannot be reconstructed."""


def split(secret: bytes, threshold: int, xs: Sequence[int]) -> dict[int, int]:
    """Shares y = f(x) of a random polynomial of degree threshold-1 with f(0) = secret."""
    if len(secret) != SECRET_BYTES:
        raise SecAggError(f"only {SECRET_BYTES}-byte secrets are shared")
    return split_int(int.from_bytes(secret, "big"), threshold, xs, PRIME)


def split_int(secret: int, threshold: int, xs: Sequence[int], prime: int) -> dict[int, int]:
    if not 0 <= secret < prime:
        raise SecAggError("a secret must be a field element")
    if not 1 <= threshold <= len(xs):
        raise SecAggError(f"threshold {threshold} for {len(xs)} shares")
    if len(set(xs)) != len(xs) or any(not 0 < x < prime for x in xs):
        raise SecAggError("share points must be distinct and non-zero")
    coefficients = [secret, *_random_elements(threshold - 1, prime)]
    shares = {}
    for x in xs:
        y = 0
        for c in reversed(coefficients):  # Horner, reduced once at the end: x is small, y grows by log2(x) bits a step
            y = y * x + c
        shares[x] = y % prime
    return shares


def _random_elements(count: int, prime: int) -> list[int]:
    """`count` uniform field elements from one read of the system's CSPRNG (by rejection: exact, and
    for the Mersenne primes here a redraw has probability 2^-521). A read per coefficient cost most of a deal."""
    bits = prime.bit_length()
    size, top = (bits + 7) // 8, (1 << bits) - 1
    found: list[int] = []
    while len(found) < count:
        raw = secrets.token_bytes(size * (count - len(found)))
        found += [v for i in range(0, len(raw), size) if (v := int.from_bytes(raw[i:i + size], "big") & top) < prime]
    return found


def combine(shares: dict[int, int], threshold: int) -> bytes:
    """The secret from any `threshold` shares (Lagrange interpolation at 0)."""
    secret = combine_int(shares, threshold, PRIME)
    if secret >= 1 << (8 * SECRET_BYTES):
        raise SecAggError("the shares do not rebuild a 32-byte secret (inconsistent or forged shares)")
    return secret.to_bytes(SECRET_BYTES, "big")


def combine_int(shares: dict[int, int], threshold: int, prime: int) -> int:
    if len(shares) < threshold:
        raise SecAggError(f"{len(shares)} shares cannot rebuild a secret that needs {threshold}")
    points = sorted(shares.items())[:threshold]
    weights = lagrange_at_zero(tuple(x for x, _ in points), prime)
    return sum(w * y for w, (_, y) in zip(weights, points, strict=True)) % prime


@functools.lru_cache(maxsize=256)
def lagrange_at_zero(xs: tuple[int, ...], prime: int) -> tuple[int, ...]:
    """The weights w_i with f(0) = sum w_i f(x_i), for any polynomial of degree < len(xs).

    They depend only on the points, which are the same for most secrets an aggregator rebuilds
    in a round (every client answered): computed once, not once per secret.
    """
    if len(set(xs)) != len(xs) or any(not 0 < x < prime for x in xs):
        raise SecAggError("share points must be distinct and non-zero")
    weights = []
    for i, xi in enumerate(xs):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if i != j:
                num = num * (-xj) % prime
                den = den * (xi - xj) % prime
        weights.append(num * pow(den, -1, prime) % prime)
    return tuple(weights)


def share_bytes(value: int, prime: int = PRIME) -> bytes:
    return value.to_bytes((prime.bit_length() + 7) // 8, "big")


def share_int(data: bytes, prime: int = PRIME) -> int:
    if not isinstance(data, bytes) or len(data) != (prime.bit_length() + 7) // 8:
        raise SecAggError("a share has the wrong size")
    value = int.from_bytes(data, "big")
    if not 0 <= value < prime:
        raise SecAggError("a share is outside the field")
    return value


# Many 32-byte secrets shared with the same holders and threshold travel packed, PACK of them
# per element of GF(2^2203 - 1): one polynomial per pack instead of one per secret (a client's
# mask seeds with its neighbours, every round). Revealing a pack reveals all its secrets, so a
# pack only ever holds secrets that are revealed together.
PACK = 8
PACK_PRIME = (1 << 2203) - 1
PACK_SHARE = (PACK_PRIME.bit_length() + 7) // 8


def split_packed(values: Sequence[bytes], threshold: int, xs: Sequence[int]) -> dict[int, bytes]:
    """Each holder's shares of all `values` (32 bytes each), as one byte string."""
    if any(len(v) != SECRET_BYTES for v in values):
        raise SecAggError(f"only {SECRET_BYTES}-byte secrets are shared")
    out = {x: b"" for x in xs}
    for g in range(0, len(values), PACK):
        part = split_int(int.from_bytes(b"".join(values[g:g + PACK]), "big"), threshold, xs, PACK_PRIME)
        for x in xs:
            out[x] += share_bytes(part[x], PACK_PRIME)
    return out


def combine_packed(shares: dict[int, bytes], threshold: int, count: int) -> list[bytes]:
    """The `count` secrets of split_packed from any `threshold` holders' byte strings."""
    packs = -(-count // PACK)
    if any(not isinstance(s, bytes) or len(s) != packs * PACK_SHARE for s in shares.values()):
        raise SecAggError(f"a share of {count} packed secrets is {packs * PACK_SHARE} bytes")
    values: list[bytes] = []
    for g in range(packs):
        size = min(PACK, count - g * PACK) * SECRET_BYTES
        part = {x: share_int(s[g * PACK_SHARE:(g + 1) * PACK_SHARE], PACK_PRIME) for x, s in shares.items()}
        secret = combine_int(part, threshold, PACK_PRIME)
        if secret >= 1 << (8 * size):
            raise SecAggError("the shares do not rebuild the packed secrets (inconsistent or forged shares)")
        raw = secret.to_bytes(size, "big")
        values += [raw[i:i + SECRET_BYTES] for i in range(0, size, SECRET_BYTES)]
    return values
