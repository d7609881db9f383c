"""Conversion to and from python-paillier (`phe`) keys and EncryptedNumbers.

Both libraries use g = n + 1 and the same signed residues, so ciphertexts carry
over unchanged; only the scale differs: phe stores v = m * 16^e per number,
we store v = m * 2^-f per array, so numbers are lifted to one common scale by
raising ciphertexts to powers of two.
"""

from __future__ import annotations

from collections.abc import Sequence

import gmpy2
from gmpy2 import mpz
from phe import paillier as phe

from fate.crypto.array import EncryptedArray
from fate.crypto.errors import KeyMismatchError, WireFormatError
from fate.crypto.keys import PrivateKey, PublicKey


def to_phe_public_key(public_key: PublicKey) -> phe.PaillierPublicKey:
    return phe.PaillierPublicKey(int(public_key.n))


def to_phe_private_key(private_key: PrivateKey) -> phe.PaillierPrivateKey:
    return phe.PaillierPrivateKey(to_phe_public_key(private_key.public_key), int(private_key.p), int(private_key.q))


def from_phe_public_key(key: phe.PaillierPublicKey) -> PublicKey:
    if key.g != key.n + 1:
        raise WireFormatError("only phe keys with g = n + 1 are supported")
    return PublicKey(mpz(key.n))


def from_phe_private_key(key: phe.PaillierPrivateKey) -> PrivateKey:
    return PrivateKey(from_phe_public_key(key.public_key), mpz(key.p), mpz(key.q))


def to_phe(array: EncryptedArray) -> list[phe.EncryptedNumber]:
    """The array's elements (row-major) as phe EncryptedNumbers under the same key."""
    # phe's exponent counts base-16 digits, so the scale must be a multiple of 4 bits.
    frac = -(-array.frac_bits // 4) * 4
    lifted = array._rescaled(frac)
    phe_key = to_phe_public_key(array.public_key)
    return [phe.EncryptedNumber(phe_key, int(c), -frac // 4) for c in lifted.ciphertexts]


def from_phe(numbers: Sequence[phe.EncryptedNumber], public_key: PublicKey | None = None) -> EncryptedArray:
    """A 1-d EncryptedArray from phe EncryptedNumbers of one key.

    Their value bound is unknown, so later operations rely on the range check at decryption.
    """
    if not numbers:
        raise WireFormatError("cannot build an EncryptedArray from no phe numbers")
    n = numbers[0].public_key.n
    if any(x.public_key.n != n for x in numbers):
        raise KeyMismatchError("phe numbers were encrypted under different keys")
    key = public_key if public_key is not None else from_phe_public_key(numbers[0].public_key)
    if key.n != n:
        raise KeyMismatchError("phe numbers were encrypted under a different key than the one given")
    # A positive phe exponent multiplies the integer by 16^e; fold it in at frac 0.
    frac = max(0, max(-4 * x.exponent for x in numbers))
    n2 = key.nsquare
    cts = []
    for x in numbers:
        shift = frac + 4 * x.exponent
        c = mpz(x.ciphertext(be_secure=False))
        cts.append(gmpy2.powmod(c, 1 << shift, n2) if shift else c)
    return EncryptedArray(key, cts, (len(cts),), frac, None)
