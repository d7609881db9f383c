"""Compact binary form of an EncryptedArray: fixed-width big-endian integers after a small header.

    magic "FPEA" | version u8 | ndim u8 | key bytes k u16 | frac_bits u32 | has_bound u8
    | shape: ndim x u64 | n: k bytes | bound: k bytes | ciphertexts: size x 2k bytes

Everything is checked on the way in (lengths, ranges, ciphertexts in [1, n^2)),
because the bytes come from another organisation.
"""

from __future__ import annotations

import math
import struct

from gmpy2 import mpz

from fate.crypto.array import EncryptedArray
from fate.crypto.errors import EncodingOverflowError, WireFormatError
from fate.crypto.keys import MIN_INSECURE_BITS, SUPPORTED_BITS, shared_public_key
from fate.crypto.packing import PackedArray, slot_capacity

MAGIC = b"FPEA"
VERSION = 1
_HEADER = struct.Struct(">4sBBHIB")
MAX_NDIM = 32
# A frac_bits this large would mean decoding numbers of absurd size.
MAX_FRAC_BITS = 1 << 16


def dump_array(array: EncryptedArray) -> bytes:
    key = array.public_key
    width = (key.bits + 7) // 8
    has_bound = array.bound is not None
    parts = [
        _HEADER.pack(MAGIC, VERSION, array.ndim, width, array.frac_bits, int(has_bound)),
        struct.pack(f">{array.ndim}Q", *array.shape),
        key.n.to_bytes(width, "big"),
        (array.bound or 0).to_bytes(width, "big"),
    ]
    cwidth = 2 * width
    parts.extend(c.to_bytes(cwidth, "big") for c in array.ciphertexts)
    return b"".join(parts)


def load_array(data: bytes) -> EncryptedArray:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise WireFormatError(f"expected bytes, got {type(data).__name__}")
    view = memoryview(data)
    if len(view) < _HEADER.size:
        raise WireFormatError("ciphertext array is truncated (no header)")
    magic, version, ndim, width, frac_bits, has_bound = _HEADER.unpack_from(view)
    if magic != MAGIC:
        raise WireFormatError("not a ciphertext array (bad magic)")
    if version != VERSION:
        raise WireFormatError(f"unsupported ciphertext array version {version}")
    if ndim > MAX_NDIM or has_bound not in (0, 1) or frac_bits > MAX_FRAC_BITS:
        raise WireFormatError("ciphertext array header is out of range")
    if not MIN_INSECURE_BITS // 8 <= width <= SUPPORTED_BITS[-1] // 8:
        raise WireFormatError(f"key width of {width} bytes is not supported")
    offset = _HEADER.size
    shape_end = offset + 8 * ndim
    if len(view) < shape_end:
        raise WireFormatError("ciphertext array is truncated (shape)")
    shape = struct.unpack_from(f">{ndim}Q", view, offset)
    size = math.prod(shape)
    cwidth = 2 * width
    expected = shape_end + 2 * width + size * cwidth
    if len(view) != expected:
        raise WireFormatError(f"ciphertext array has {len(view)} bytes, its header says {expected}")
    n = mpz.from_bytes(bytes(view[shape_end : shape_end + width]), "big")
    if n.bit_length() < width * 8 - 7 or n % 2 == 0:
        raise WireFormatError("the public modulus in the ciphertext array is malformed")
    key = shared_public_key(int(n))
    bound_start = shape_end + width
    bound = int(mpz.from_bytes(bytes(view[bound_start : bound_start + width]), "big"))
    if has_bound and bound > key.max_int:
        raise WireFormatError("the declared value bound exceeds the key's plaintext range")
    n2 = key.nsquare
    ciphertexts = []
    start = bound_start + width
    raw = bytes(view[start:])
    for i in range(size):
        c = mpz.from_bytes(raw[i * cwidth : (i + 1) * cwidth], "big")
        if not 0 < c < n2:
            raise WireFormatError(f"ciphertext {i} is outside [1, n^2)")
        ciphertexts.append(c)
    return EncryptedArray(key, ciphertexts, tuple(shape), frac_bits, bound if has_bound else None)


_PACKED_HEADER = struct.Struct(">4sBIQ")
PACKED_MAGIC = b"FPPK"


def dump_packed(packed: PackedArray) -> bytes:
    inner = EncryptedArray(
        packed.public_key, list(packed.ciphertexts), (len(packed.ciphertexts),), packed.frac_bits, packed.bound
    )
    return _PACKED_HEADER.pack(PACKED_MAGIC, VERSION, packed.slot_bits, packed.count) + dump_array(inner)


def load_packed(data: bytes) -> PackedArray:
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) < _PACKED_HEADER.size:
        raise WireFormatError("packed ciphertexts are truncated (no header)")
    magic, version, slot_bits, count = _PACKED_HEADER.unpack_from(data)
    if magic != PACKED_MAGIC or version != VERSION:
        raise WireFormatError("not a packed ciphertext array (bad magic or version)")
    inner = load_array(bytes(data[_PACKED_HEADER.size :]))
    if inner.bound is None or inner.ndim != 1 or slot_bits < 2:
        raise WireFormatError("packed ciphertext array header is out of range")
    capacity = slot_capacity(inner.public_key, slot_bits)
    if inner.size != -(-count // capacity):
        raise WireFormatError("packed ciphertext count does not match the packed value count")
    try:
        return PackedArray(inner.public_key, tuple(inner.ciphertexts), count, slot_bits, inner.frac_bits, inner.bound)
    except EncodingOverflowError as err:
        raise WireFormatError(f"packed ciphertext array is inconsistent: {err}") from None
