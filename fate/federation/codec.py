"""Safe wire serialization for federation messages: msgpack plus typed extensions.

Pickle is never used: a peer is another organisation, and unpickling its bytes
would let it run code here. Only the types below (and extension types registered
with `register`, e.g. ciphertexts by fate.crypto.codec.register_ciphertexts() at
process start) can be decoded; anything else is a CodecError.

Built in: None, bool, int (any size), float, str, bytes, list, tuple, dict,
numpy arrays of numeric/bool dtypes and numpy scalars.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from fate.federation.transport import TransportError

_BIGINT = 1
_TUPLE = 2
_NDARRAY = 3
_NPSCALAR = 4
# Codes below this are reserved for the codec itself.
FIRST_USER_CODE = 16
# Extension types inside extension types (tuples in tuples, registered types that decode
# messages) recurse through msgpack's C unpacker, which takes ~40 KB of C stack per level:
# a few hundred bytes of nesting would otherwise crash the process with SIGSEGV. Real
# messages nest a handful of levels.
MAX_NESTING = 32

# Object arrays would need per-element decoding of arbitrary types; refusing
# them keeps decoding a pure memory copy.
_ARRAY_KINDS = frozenset("biufc")


class CodecError(TransportError):
    """A value cannot be encoded, or received bytes are not a valid message."""


@dataclass(frozen=True)
class _Extension:
    type: type
    code: int
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]


_by_type: dict[type, _Extension] = {}
_by_code: dict[int, _Extension] = {}


def register(type_: type, code: int, encode: Callable[[Any], bytes], decode: Callable[[bytes], Any]) -> None:
    """Teach the codec a new type; code must be unique, in 16..127, and the same on every party."""
    if not FIRST_USER_CODE <= code <= 127:
        raise ValueError(f"extension code must be in {FIRST_USER_CODE}..127, got {code}")
    existing = _by_code.get(code)
    if existing is not None and existing.type is not type_:
        raise ValueError(f"extension code {code} already taken by {existing.type.__qualname__}")
    ext = _Extension(type_, code, encode, decode)
    _by_type[type_] = ext
    _by_code[code] = ext


def _encode_int(value: int) -> bytes:
    # Sign byte + magnitude, so negative numbers round-trip without two's-complement sizing.
    sign = b"-" if value < 0 else b"+"
    magnitude = abs(value)
    return sign + magnitude.to_bytes((magnitude.bit_length() + 7) // 8 or 1, "big")


def _decode_int(data: bytes) -> int:
    if not data or data[:1] not in (b"+", b"-"):
        raise CodecError("malformed big integer")
    magnitude = int.from_bytes(data[1:], "big")
    return -magnitude if data[:1] == b"-" else magnitude


def _encode_array(arr: np.ndarray) -> bytes:
    if arr.dtype.kind not in _ARRAY_KINDS:
        raise CodecError(f"numpy arrays of dtype {arr.dtype} cannot be sent (numeric and bool only)")
    # ascontiguousarray would turn a 0-d array into 1-d.
    contiguous = arr if arr.flags.c_contiguous else arr.copy(order="C")
    header = [contiguous.dtype.str, list(contiguous.shape)]
    packed: bytes = msgpack.packb([header, contiguous.tobytes()], use_bin_type=True)  # msgpack has no types
    return packed


def _decode_array(data: bytes) -> np.ndarray:
    try:
        (dtype_str, shape), raw = msgpack.unpackb(data, raw=False)
        dtype = np.dtype(dtype_str)
    except (ValueError, TypeError, msgpack.UnpackException) as err:
        raise CodecError(f"malformed numpy array: {err}") from None
    if dtype.kind not in _ARRAY_KINDS:
        raise CodecError(f"refusing numpy dtype {dtype}")
    shape = tuple(int(d) for d in shape)
    count = int(np.prod(shape, dtype=np.int64))
    if count * dtype.itemsize != len(raw):
        raise CodecError("numpy array size does not match its shape")
    # Copy so the array is writable and does not pin the whole message buffer.
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def _default(obj: Any) -> Any:
    if isinstance(obj, int) and not isinstance(obj, bool):
        return msgpack.ExtType(_BIGINT, _encode_int(int(obj)))
    if isinstance(obj, tuple):
        return msgpack.ExtType(_TUPLE, _packb(list(obj)))
    if isinstance(obj, np.ndarray):
        return msgpack.ExtType(_NDARRAY, _encode_array(obj))
    if isinstance(obj, np.generic):
        return msgpack.ExtType(_NPSCALAR, _encode_array(np.asarray(obj)))
    ext = _by_type.get(type(obj))
    if ext is not None:
        return msgpack.ExtType(ext.code, ext.encode(obj))
    # Subclasses (OrderedDict, str enums) travel as their plain base type.
    if isinstance(obj, dict):
        return dict(obj)
    if isinstance(obj, list):
        return list(obj)
    if isinstance(obj, str):
        return str.__str__(obj)
    if isinstance(obj, bytes):
        return bytes(obj)
    if isinstance(obj, float):
        return float(obj)
    raise CodecError(f"cannot send a value of type {type(obj).__qualname__}")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _BIGINT:
        return _decode_int(data)
    if code == _TUPLE:
        return tuple(_unpackb(data))
    if code == _NDARRAY:
        return _decode_array(data)
    if code == _NPSCALAR:
        return _decode_array(data)[()]
    ext = _by_code.get(code)
    if ext is None:
        raise CodecError(
            f"unknown extension type code {code} in message (extension types are registered at process start)"
        )
    return ext.decode(data)


def _packb(obj: Any) -> bytes:
    # strict_types routes tuples and int/float subclasses through _default, so
    # they round-trip as themselves instead of silently becoming lists/ints. (msgpack has no types.)
    packed: bytes = msgpack.packb(obj, default=_default, use_bin_type=True, strict_types=True)
    return packed


# Per thread: a worker decodes messages for several roles at once.
_nesting = threading.local()


def _unpackb(data: bytes) -> Any:
    depth: int = getattr(_nesting, "depth", 0)
    if depth > MAX_NESTING:
        raise CodecError(f"message nests extension types more than {MAX_NESTING} levels deep")
    _nesting.depth = depth + 1
    try:
        return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)
    finally:
        _nesting.depth = depth


def encode(obj: Any) -> bytes:
    """Serialize obj for the wire; CodecError for unsupported types."""
    try:
        return _packb(obj)
    except CodecError:
        raise
    except (TypeError, ValueError, OverflowError) as err:
        raise CodecError(f"cannot encode message: {err}") from None


def decode(data: bytes) -> Any:
    """Inverse of encode; CodecError for anything malformed or of an unknown type."""
    try:
        return _unpackb(data)
    except CodecError:
        raise
    except (msgpack.UnpackException, ValueError, TypeError) as err:
        raise CodecError(f"malformed message: {err}") from None
