"""Primitives of secure aggregation (Bonawitz et al., CCS 2017): the arithmetic, no messaging.

- X25519 key agreement (`cryptography`), HKDF-SHA256 to separate the mask key from the
  channel key and to bind both to the round they belong to;
- ChaCha20 as the PRG that expands a 32-byte seed into a mask vector modulo 2^k, and keyed
  BLAKE2b as the PRF that gives a pair its mask seed of each round;
- ChaCha20-Poly1305 for the share ciphertexts that travel through the aggregator;
- Shamir secret sharing (fate.crypto.shamir), one secret or packs of them;
- fixed-point encoding modulo 2^k that refuses any input with which the sum could wrap.

The protocol that uses them (who sends what when, dropouts) is `fate.ml.homo.secagg`.
"""

from __future__ import annotations

import functools
import hashlib
import math
import secrets
from dataclasses import dataclass, field

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fate.crypto.errors import EncodingOverflowError

# Re-exported: the primitives of secure aggregation, in one place.
from fate.crypto.shamir import (
    PACK as PACK,
)
from fate.crypto.shamir import (
    PACK_PRIME as PACK_PRIME,
)
from fate.crypto.shamir import (
    PACK_SHARE as PACK_SHARE,
)
from fate.crypto.shamir import (
    PRIME as PRIME,
)
from fate.crypto.shamir import (
    SECRET_BYTES as SECRET_BYTES,
)
from fate.crypto.shamir import (
    SecAggError as SecAggError,
)
from fate.crypto.shamir import (
    combine as combine,
)
from fate.crypto.shamir import (
    combine_int as combine_int,
)
from fate.crypto.shamir import (
    combine_packed as combine_packed,
)
from fate.crypto.shamir import (
    lagrange_at_zero as lagrange_at_zero,
)
from fate.crypto.shamir import (
    share_bytes as share_bytes,
)
from fate.crypto.shamir import (
    share_int as share_int,
)
from fate.crypto.shamir import (
    split as split,
)
from fate.crypto.shamir import (
    split_int as split_int,
)
from fate.crypto.shamir import (
    split_packed as split_packed,
)

NONCE_BYTES = 12
KEY_BYTES = 32




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


def prf(key: bytes, purpose: str, counter: int) -> bytes:
    """32 pseudo-random bytes from a 32-byte key and a counter: keyed BLAKE2b, the purpose as its
    personalisation (at most 16 bytes), so values for different purposes never coincide."""
    if len(key) != KEY_BYTES:
        raise SecAggError("a PRF key is 32 bytes")
    if not 0 <= counter < 1 << 64:
        raise SecAggError("a PRF counter is below 2^64")
    return hashlib.blake2b(counter.to_bytes(8, "big"), key=key, digest_size=KEY_BYTES,
                           person=purpose.encode()).digest()


def random_seed() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


# ---- PRG and channel ---------------------------------------------------------------------


def prg_words(seed: bytes, count: int, modulus_bits: int, stream: int = 0, out: np.ndarray | None = None) -> np.ndarray:
    """`count` uniform words modulo 2^modulus_bits: the ChaCha20 keystream of `seed` under nonce `stream`.

    One key gives independent vectors for distinct `stream` numbers (the round), so a pair's mask
    key is derived once per job and each round reads its own stream: no key derivation per round.
    `out` (uint64, `count` words) is written over and returned: a client adds ten masks through one
    buffer instead of allocating each.
    """
    if len(seed) != KEY_BYTES:
        raise SecAggError("a PRG seed is 32 bytes")
    if not 0 <= stream < 1 << 96:
        raise SecAggError("a PRG stream number is below 2^96")
    # cryptography's 16-byte ChaCha20 nonce: a 32-bit block counter (0), then the 96-bit nonce.
    nonce = b"\0" * 4 + stream.to_bytes(12, "little")
    words = np.empty(count, dtype="<u8") if out is None else out
    if words.shape != (count,) or words.dtype != np.dtype("<u8"):
        raise SecAggError(f"a PRG output buffer holds {count} little-endian uint64 words")
    # Straight into the array: no intermediate bytes object for an 80 KB mask.
    Cipher(algorithms.ChaCha20(seed, nonce), mode=None).encryptor().update_into(_zeros(8 * count),
                                                                               words.data.cast("B"))
    if modulus_bits != 64:
        np.bitwise_and(words, np.uint64(modulus_mask(modulus_bits)), out=words)
    return words


@functools.lru_cache(maxsize=4)
def _zeros(size: int) -> bytes:
    """The plaintext a keystream is read through (cached: every mask of a vector has one size)."""
    return bytes(size)


def modulus_mask(modulus_bits: int) -> int:
    return (1 << modulus_bits) - 1


def random_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """Authenticated encryption (ChaCha20-Poly1305); the nonce travels in front."""
    nonce = random_nonce()
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, plaintext, associated)


def open_sealed(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    return open_with(ChaCha20Poly1305(key), sealed, associated)


def open_with(cipher: ChaCha20Poly1305, sealed: bytes, associated: bytes) -> bytes:
    if not isinstance(sealed, bytes) or len(sealed) < NONCE_BYTES + 16:
        raise SecAggError("a sealed share is too short")
    try:
        return cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
    except InvalidTag:
        raise SecAggError("a share ciphertext failed authentication (forged, or not addressed to us)") from None


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
        largest = float(np.max(np.abs(x))) if x.size else 0.0  # NaN if any is: one pass for both checks
        if not math.isfinite(largest):
            raise EncodingOverflowError("a value to aggregate is NaN or infinite")
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
