"""The Paillier API the engine codes against (shaped like phe, vectorized over numpy).

    pk, sk = paillier.generate_keypair(2048)
    enc = pk.encrypt(np.array([...]))          # EncryptedArray
    grad = paillier.matvec_t(X, enc)           # X^T [[d]]
    sk.decrypt(grad.rerandomize())
"""

from __future__ import annotations

from fate.crypto.array import EncryptedArray, decrypt, encrypt
from fate.crypto.encoding import DEFAULT_FRAC_BITS, MULTIPLIER_BITS
from fate.crypto.errors import (
    CryptoError,
    EncodingOverflowError,
    InsecureKeyError,
    KeyMismatchError,
    ShapeError,
    UnsupportedOperation,
    WireFormatError,
)
from fate.crypto.keys import SUPPORTED_BITS, PrivateKey, PublicKey, generate_keypair
from fate.crypto.matvec import matvec_t
from fate.crypto.packing import PackedArray, decrypt_packed, encrypt_packed, pack, slot_capacity
from fate.crypto.pool import CryptoPool, set_default_pool

__all__ = [
    "DEFAULT_FRAC_BITS",
    "MULTIPLIER_BITS",
    "SUPPORTED_BITS",
    "CryptoError",
    "CryptoPool",
    "EncodingOverflowError",
    "EncryptedArray",
    "InsecureKeyError",
    "KeyMismatchError",
    "PackedArray",
    "PrivateKey",
    "PublicKey",
    "ShapeError",
    "UnsupportedOperation",
    "WireFormatError",
    "decrypt",
    "decrypt_packed",
    "encrypt",
    "encrypt_packed",
    "generate_keypair",
    "matvec_t",
    "pack",
    "set_default_pool",
    "slot_capacity",
]
