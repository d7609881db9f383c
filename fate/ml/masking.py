"""Ciphertexts between mutually distrustful key holders: public headers, masked decryption, a rate-limited oracle.

Headers. An EncryptedArray on the wire carries its scale and a bound on its values. Both are
set here to protocol constants (FRAC_BITS, |value| < 2^VALUE_BITS), so a header says nothing
about the data, and a receiver resets the bound of what it receives rather than trust it.

Masked decryption. In the arbiter-free protocol each party needs the other to decrypt one
thing per batch: its own gradient, computed under the other's key. It adds r, uniform over
Z_n of that key, to every encoded value first. The decryptor sees m + r mod n, which is
uniform whatever m is (a one-time pad in Z_n: perfectly, not only statistically, hiding),
and returns it; only the holder of r learns m. The masked array goes out with scale 0 and
no bound, so not even the scale of m is told.

The oracle. A decryption service is what a malicious peer would abuse: it holds [[own]]
under the guest's key (or the guest [[u_h]] under the host's) and would like it decrypted.
`DecryptionOracle` serves exactly one vector per batch and purpose, of the length declared
once at the start (the peer's column count, +1 for the intercept; 1 for the loss), only
under this party's key and only for ciphertexts that are units mod n^2 (the "decryption" of
anything else is a function of the key's factors). A declared length must also be under the
smallest batch (`lr_floors.check_declared_length`): so a peer gets, per batch, no more
decrypted values than its own gradient has, and those are masked by its own r. What those
values can tell a peer that lies about its features (m chosen linear combinations of d per
batch, e.g. m slices of [[own]]) is what the protocol's gradient tells it anyway, as in FATE;
nothing lets it read a vector of row values such as [[own]] or [[u_h]] wholesale.

Requests are not packed (fate.crypto.packing): the requester picks the slot width, so one
2048-bit plaintext could carry ~30 encoded row values where the rate limit counts one, and
the ~30 decryptions per batch it would save are a small part of an epoch.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

import gmpy2
import numpy as np

from fate.compute import ops
from fate.compute.contract import ComputeBackend
from fate.crypto import counters, encoding, paillier
from fate.crypto.errors import EncodingOverflowError
from fate.ml.component import ComponentError

# Scale of every fresh encryption on the wire (as fate.crypto's default), and the public value bound.
FRAC_BITS = encoding.DEFAULT_FRAC_BITS
VALUE_BITS = 40
PUBLIC_BOUND = 1 << (FRAC_BITS + VALUE_BITS)


def in_public_range(values: object) -> np.ndarray:
    """The values, if under the public bound 2^VALUE_BITS (else the headers would understate them)."""
    plain = encoding.as_float_array(values)
    if plain.size and float(np.max(np.abs(plain))) >= 2.0**VALUE_BITS:
        raise ComponentError(f"a forward value exceeds 2^{VALUE_BITS}: scale the features (e.g. standardize them)")
    return plain


def encrypt_public(key: paillier.PublicKey, values: object,
                   compute: ComputeBackend | None = None) -> paillier.EncryptedArray:
    """A fresh encryption whose header carries only protocol constants (scale, bound), not the data's magnitude."""
    plain = in_public_range(values)
    fresh = ops.encrypt(compute, key, plain, frac_bits=FRAC_BITS)
    return paillier.EncryptedArray(key, fresh.ciphertexts, fresh.shape, FRAC_BITS, PUBLIC_BOUND)


def accept(value: object, key: paillier.PublicKey, what: str, length: int, whose: str,
           summands: int = 1) -> paillier.EncryptedArray:
    """A received vector checked before use: under `key`, 1-d of `length`, at the protocol's scale.

    Its bound becomes the public one (of a sum of `summands` fresh encryptions), whatever the sender wrote.
    """
    if not isinstance(value, paillier.EncryptedArray) or value.public_key != key:
        raise ComponentError(f"{what} is not encrypted under {whose} Paillier key; refusing to use it")
    if value.shape != (length,) or value.frac_bits != FRAC_BITS:
        raise ComponentError(f"{what} has shape {value.shape} at scale {value.frac_bits}, "
                             f"expected ({length},) at scale {FRAC_BITS}; refusing to use it")
    return paillier.EncryptedArray(key, value.ciphertexts, value.shape, FRAC_BITS, PUBLIC_BOUND * summands)


@dataclass(frozen=True, eq=False)
class Mask:
    """What the masking party keeps to read the decryptor's answer."""

    key: paillier.PublicKey
    r: tuple[int, ...]
    frac_bits: int


def mask(encrypted: paillier.EncryptedArray,
         compute: ComputeBackend | None = None) -> tuple[paillier.EncryptedArray, Mask]:
    """[[m + r]] with r uniform mod n, re-randomized, in a header with no scale and no bound."""
    key = encrypted.public_key
    n, n2 = key.n, key.nsquare
    r = tuple(secrets.randbelow(int(n)) for _ in range(encrypted.size))
    cts = [c * (1 + n * ri) % n2 for c, ri in zip(encrypted.ciphertexts, r, strict=True)]
    masked = ops.rerandomize(compute, paillier.EncryptedArray(key, cts, (encrypted.size,), 0, None))
    return masked, Mask(key, r, encrypted.frac_bits)


def unmask(answer: object, held: Mask, whose: str) -> np.ndarray:
    """The decryptor's residues minus r, decoded; a malformed or out-of-range answer is refused."""
    n = int(held.key.n)
    if (not isinstance(answer, list) or len(answer) != len(held.r)
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < n for v in answer)):
        raise ComponentError(f"{whose} decryption answer is malformed")
    residues = [(v - r) % n for v, r in zip(answer, held.r, strict=True)]
    try:
        return encoding.decode(encoding.from_residues(residues, n, held.key.max_int), held.frac_bits)
    except EncodingOverflowError:
        raise ComponentError(f"{whose} decryption answer does not unmask to a value in range; "
                             "the peer answered wrongly") from None


class DecryptionOracle:
    """This party's private key as a service to its one peer, limited to what the protocol needs."""

    def __init__(self, private: paillier.PrivateKey, lengths: Mapping[str, int], peer: str,
                 compute: ComputeBackend | None = None) -> None:
        self.private = private
        self.compute = compute
        self.lengths = dict(lengths)
        self.peer = peer
        self._served: set[tuple[int, int, str]] = set()

    def serve(self, round_: tuple[int, int], purpose: str, value: object) -> list[int]:
        """Raw residues of one masked vector (epoch, batch, purpose); anything outside the declaration is refused."""
        key = self.private.public_key
        if purpose not in self.lengths:
            raise ComponentError(f"{self.peer} asks for a decryption ({purpose}) the protocol has no use for")
        if not isinstance(value, paillier.EncryptedArray) or value.public_key != key:
            raise ComponentError(f"{self.peer} sent a {purpose} request not encrypted under this party's "
                                 "Paillier key; refusing to decrypt it")
        if value.shape != (self.lengths[purpose],):
            raise ComponentError(f"{self.peer} asks to decrypt {value.shape} values for {purpose}; it declared "
                                 f"{self.lengths[purpose]}; refusing")
        slot = (*round_, purpose)
        if slot in self._served:
            raise ComponentError(f"{self.peer} asks for a second {purpose} decryption in epoch {round_[0]}, "
                                 f"batch {round_[1]}; refusing")
        if any(gmpy2.gcd(c, key.n) != 1 for c in value.ciphertexts):
            raise ComponentError(f"{self.peer} sent a {purpose} request that is not a valid ciphertext; refusing")
        self._served.add(slot)
        counters.count_decryptions(len(value.ciphertexts))  # raw decryptions, counted like the array's
        return [int(m) for m in ops.raw_decrypt(self.compute, self.private, value.ciphertexts)]


def served_lengths(columns: int, with_loss: bool) -> dict[str, int]:
    """What a party's oracle serves its peer: the peer's gradient (its declared length) and maybe the loss."""
    return {"grad": columns, "loss": 1} if with_loss else {"grad": columns}
