"""Crypto errors: one root, so callers (flow workers, the router) can report them as one kind.

Subclasses also derive from the builtin a Python user would expect (ValueError,
TypeError), so generic code that already catches those keeps working.
"""

from __future__ import annotations


class CryptoError(Exception):
    """Root of every error raised by fate.crypto."""


class InsecureKeyError(CryptoError, ValueError):
    """A key size below the supported minimum was asked for without the insecure flag."""


class KeyMismatchError(CryptoError, ValueError):
    """Ciphertexts (or a ciphertext and a key) belong to different Paillier keys."""


class EncodingOverflowError(CryptoError, OverflowError):
    """A value (or a possible result of an operation) does not fit the plaintext range."""


class UnsupportedOperation(CryptoError, TypeError):
    """An operation Paillier cannot do, such as multiplying two ciphertexts."""


class WireFormatError(CryptoError, ValueError):
    """Bytes, JSON or foreign objects that do not describe a valid key or ciphertext array."""


class ShapeError(CryptoError, ValueError):
    """Arrays whose shapes do not fit the operation."""
