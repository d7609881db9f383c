"""Primitives of secure aggregation (Bonawitz et al., CCS 2017): the arithmetic, no messaging.

- X25519 key agreement (`cryptography`), HKDF-SHA256 to separate the mask key from the
  channel key and to bind both to the round they belong to;
- ChaCha20 as the PRG that expands a 32-byte seed into a mask vector modulo 2^k;
- ChaCha20-Poly1305 for the share ciphertexts that travel through the aggregator;
- Shamir secret sharing over GF(2^521 - 1), large enough for a 32-byte secret;
- fixed-point encoding modulo 2^k that refuses any input with which the sum could wrap.

The protocol that uses them (who sends what when, dropouts) is `fate.ml.homo.secagg`.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fate.crypto.errors import CryptoError, EncodingOverflowError

# A Mersenne prime: reduction is cheap and every 32-byte secret (< 2^256) is a field element.
PRIME = (1 << 521) - 1
SECRET_BYTES = 32
NONCE_BYTES = 12
KEY_BYTES = 32


class SecAggError(CryptoError, ValueError):
    """A secure-aggregation value that is malformed, forged or cannot be reconstructed."""


# ---- keys -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPair:
    """One X25519 key pair; `private` is the raw 32 bytes, the form that is secret-shared."""

    private: bytes
    public: bytes
    # Loading a private key from bytes costs more than the exchange itself: keep the object.
    key: X25519PrivateKey = field(repr=False, compare=False)

    @staticmethod
    def generate() -> KeyPair:
        key = X25519PrivateKey.generate()
        return KeyPair(_raw_private(key), _raw_public(key.public_key()), key)

    @staticmethod
    def from_private(private: bytes) -> KeyPair:
        key = _load_private(private)
        return KeyPair(private, _raw_public(key.public_key()), key)


def _raw_private(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _load_private(private: bytes) -> X25519PrivateKey:
    if not isinstance(private, bytes) or len(private) != KEY_BYTES:
        raise SecAggError("an X25519 private key is 32 bytes")
    return X25519PrivateKey.from_private_bytes(private)


def exchange(own: KeyPair | bytes, peer_public: bytes) -> bytes:
    """The raw X25519 shared secret; feed it to derive(), never use it as a key directly."""
    if not isinstance(peer_public, bytes) or len(peer_public) != KEY_BYTES:
        raise SecAggError("an X25519 public key is 32 bytes")
    key = own.key if isinstance(own, KeyPair) else _load_private(own)
    try:
        return key.exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError as err:  # e.g. a low-order point, whose shared secret is all zeros
        raise SecAggError(f"key agreement failed: {err}") from None


def agree(own: KeyPair | bytes, peer_public: bytes, purpose: str, context: bytes) -> bytes:
    """A 32-byte key both ends derive: X25519 then HKDF with what the key is for and where.

    `purpose` keeps the mask key and the channel key of one pair apart; `context` (job,
    component, round) makes a key useless anywhere else.
    """
    return derive(exchange(own, peer_public), purpose, context)


def derive(seed: bytes, purpose: str, context: bytes) -> bytes:
    """A 32-byte key from a 32-byte secret (a shared secret, a self-mask seed), bound to purpose and context."""
    if not isinstance(seed, bytes) or len(seed) != KEY_BYTES:
        raise SecAggError("a seed is 32 bytes")
    info = b"fate-secagg/" + purpose.encode() + b"/" + context
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(seed)


def random_seed() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


# ---- PRG and channel ---------------------------------------------------------------------


def prg_words(seed: bytes, count: int, modulus_bits: int) -> np.ndarray:
    """`count` uniform words modulo 2^modulus_bits from a 32-byte seed (ChaCha20 keystream)."""
    if len(seed) != KEY_BYTES:
        raise SecAggError("a PRG seed is 32 bytes")
    # The seed is used for exactly one vector, so a fixed (zero) nonce and counter are safe.
    stream = Cipher(algorithms.ChaCha20(seed, b"\0" * 16), mode=None).encryptor().update(bytes(8 * count))
    # Read-only view of the keystream: callers only add it, so no copy unless it must be reduced.
    words = np.frombuffer(stream, dtype="<u8")
    return words if modulus_bits == 64 else words & np.uint64(modulus_mask(modulus_bits))


def modulus_mask(modulus_bits: int) -> int:
    return (1 << modulus_bits) - 1


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """Authenticated encryption (ChaCha20-Poly1305); the nonce travels in front."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, plaintext, associated)


def open_sealed(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    if not isinstance(sealed, bytes) or len(sealed) < NONCE_BYTES + 16:
        raise SecAggError("a sealed share is too short")
    try:
        return ChaCha20Poly1305(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
    except InvalidTag:
        raise SecAggError("a share ciphertext failed authentication (forged, or not addressed to us)") from None


# ---- Shamir secret sharing ---------------------------------------------------------------


def split(secret: bytes, threshold: int, xs: Sequence[int]) -> dict[int, int]:
    """Shares y = f(x) of a random polynomial of degree threshold-1 with f(0) = secret."""
    if len(secret) != SECRET_BYTES:
        raise SecAggError(f"only {SECRET_BYTES}-byte secrets are shared")
    if not 1 <= threshold <= len(xs):
        raise SecAggError(f"threshold {threshold} for {len(xs)} shares")
    if len(set(xs)) != len(xs) or any(not 0 < x < PRIME for x in xs):
        raise SecAggError("share points must be distinct and non-zero")
    coefficients = [int.from_bytes(secret, "big")] + [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    shares = {}
    for x in xs:
        y = 0
        for c in reversed(coefficients):  # Horner
            y = (y * x + c) % PRIME
        shares[x] = y
    return shares


def combine(shares: dict[int, int], threshold: int) -> bytes:
    """The secret from any `threshold` shares (Lagrange interpolation at 0)."""
    if len(shares) < threshold:
        raise SecAggError(f"{len(shares)} shares cannot rebuild a secret that needs {threshold}")
    points = sorted(shares.items())[:threshold]
    secret = 0
    for i, (xi, yi) in enumerate(points):
        num, den = 1, 1
        for j, (xj, _) in enumerate(points):
            if i != j:
                num = num * (-xj) % PRIME
                den = den * (xi - xj) % PRIME
        secret = (secret + yi * num * pow(den, -1, PRIME)) % PRIME
    if secret >= 1 << (8 * SECRET_BYTES):
        raise SecAggError("the shares do not rebuild a 32-byte secret (inconsistent or forged shares)")
    return secret.to_bytes(SECRET_BYTES, "big")


def share_bytes(value: int) -> bytes:
    return value.to_bytes((PRIME.bit_length() + 7) // 8, "big")


def share_int(data: bytes) -> int:
    value = int.from_bytes(data, "big")
    if not 0 <= value < PRIME:
        raise SecAggError("a share is outside the field")
    return value


# ---- fixed point modulo 2^k --------------------------------------------------------------


@dataclass(frozen=True)
class FixedPoint:
    """Signed fixed point in Z/2^k with a proven no-wrap guarantee for a sum of `summands` inputs.

    Each input element must satisfy |x| <= bound; then |sum| <= summands * bound, and
    the configuration is refused unless that fits in (-2^(k-1), 2^(k-1)) after scaling,
    so a decoded sum is always the true sum (up to rounding of each input to 2^-f).
    """

    fraction_bits: int = 20
    modulus_bits: int = 64
    bound: float = float(1 << 20)
    summands: int = 1

    def problems(self) -> list[str]:
        """Why this configuration could wrap or is malformed (empty when it is safe)."""
        found = []
        if not 16 <= self.modulus_bits <= 64:
            found.append(f"modulus_bits: between 16 and 64, got {self.modulus_bits}")
        if not 0 <= self.fraction_bits < self.modulus_bits - 1:
            found.append(f"fraction_bits: between 0 and modulus_bits - 2, got {self.fraction_bits}")
        if not (math.isfinite(self.bound) and self.bound > 0):
            found.append(f"bound: a positive number, got {self.bound}")
        if found:
            return found
        worst = self.summands * math.ceil(self.bound * 2**self.fraction_bits)
        if worst >= 1 << (self.modulus_bits - 1):
            found.append(
                f"bound: {self.summands} inputs of up to {self.bound:g} with {self.fraction_bits} fraction bits "
                f"could reach 2^{math.log2(worst):.1f} and wrap modulo 2^{self.modulus_bits}; "
                "lower bound or fraction_bits, or raise modulus_bits"
            )
        return found

    def check(self) -> None:
        found = self.problems()
        if found:
            raise EncodingOverflowError("unsafe fixed-point encoding: " + "; ".join(found))

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Values as uint64 words modulo 2^k; EncodingOverflowError for any |x| > bound."""
        self.check()
        x = np.asarray(values, dtype=np.float64).ravel()
        if not np.isfinite(x).all():
            raise EncodingOverflowError("a value to aggregate is NaN or infinite")
        largest = float(np.max(np.abs(x))) if x.size else 0.0
        if largest > self.bound:
            raise EncodingOverflowError(
                f"a value to aggregate ({largest:.6g}) exceeds the secure-aggregation bound {self.bound:g}; "
                "the sum could wrap, so it is refused (raise secure_aggregate.bound)"
            )
        scaled = np.rint(x * float(2**self.fraction_bits)).astype(np.int64)
        return scaled.view(np.uint64) & np.uint64(modulus_mask(self.modulus_bits))

    def decode(self, words: np.ndarray) -> np.ndarray:
        """A sum of encodings back to floats; a result outside the proven range means corruption."""
        k = self.modulus_bits
        w = np.asarray(words, dtype=np.uint64) & np.uint64(modulus_mask(k))
        if k == 64:
            signed = w.view(np.int64)
        else:
            signed = w.astype(np.int64)
            signed = np.where(signed >= (1 << (k - 1)), signed - (1 << k), signed)
        limit = self.summands * math.ceil(self.bound * 2**self.fraction_bits)
        if signed.size and int(np.max(np.abs(signed.astype(np.float64)))) > limit:
            raise EncodingOverflowError(
                "the unmasked sum is outside the range its inputs allow: masks did not cancel (corrupt input)"
            )
        return signed.astype(np.float64) / float(2**self.fraction_bits)
