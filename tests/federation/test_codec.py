"""The wire codec: round trips, and refusal of anything it does not know."""

from __future__ import annotations

import collections
import pickle
import subprocess
import sys
from pathlib import Path

import msgpack
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fate.federation import codec

json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=4)
    | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4),
    max_leaves=20,
)


@given(json_like)
def test_round_trip_keeps_values_and_types(value: object) -> None:
    decoded = codec.decode(codec.encode(value))
    assert decoded == value
    assert type(decoded) is type(value)


@pytest.mark.parametrize("value", [2**64, -(2**64) - 1, 3**400, -(7**333), 0, -1])
def test_integers_of_any_size(value: int) -> None:
    assert codec.decode(codec.encode(value)) == value


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int64).reshape(3, 4),
        np.arange(12, dtype=np.float32).reshape(3, 4).T,  # not C-contiguous
        np.zeros((0, 5)),
        np.array([True, False]),
        np.array(3.5),
        np.array([1 + 2j]),
    ],
)
def test_numpy_arrays_keep_dtype_and_shape(array: np.ndarray) -> None:
    decoded = codec.decode(codec.encode(array))
    assert decoded.dtype == array.dtype
    assert decoded.shape == array.shape
    np.testing.assert_array_equal(decoded, array)
    assert decoded.flags.writeable


def test_numpy_scalars_round_trip() -> None:
    for scalar in (np.float64(2.5), np.int32(-3), np.bool_(True)):
        decoded = codec.decode(codec.encode(scalar))
        assert decoded == scalar and type(decoded) is type(scalar)


def test_subclasses_travel_as_their_base() -> None:
    assert codec.decode(codec.encode(collections.OrderedDict(a=1))) == {"a": 1}


def test_object_arrays_and_unknown_types_are_refused() -> None:
    with pytest.raises(codec.CodecError, match="dtype object"):
        codec.encode(np.array([object()]))
    with pytest.raises(codec.CodecError, match="cannot send a value of type set"):
        codec.encode({1, 2})


def test_pickle_bytes_are_not_executed_or_accepted() -> None:
    # A pickle is just bytes to msgpack; it must never be turned back into objects.
    blob = pickle.dumps({"a": 1})
    with pytest.raises(codec.CodecError):
        codec.decode(blob)


def test_unknown_extension_code_is_refused() -> None:
    data = msgpack.packb(msgpack.ExtType(99, b"x"))
    with pytest.raises(codec.CodecError, match="unknown extension type code 99"):
        codec.decode(data)


def test_forged_array_header_is_refused() -> None:
    inner = msgpack.packb([["<f8", [10]], b"\0" * 8], use_bin_type=True)
    with pytest.raises(codec.CodecError, match="does not match its shape"):
        codec.decode(msgpack.packb(msgpack.ExtType(3, inner)))
    inner = msgpack.packb([["|O", [1]], b"\0" * 8], use_bin_type=True)
    with pytest.raises(codec.CodecError, match="refusing numpy dtype"):
        codec.decode(msgpack.packb(msgpack.ExtType(3, inner)))


class _Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


def test_registered_extension_types_round_trip() -> None:
    codec.register(
        _Point,
        120,
        lambda p: codec.encode([p.x, p.y]),
        lambda b: _Point(*codec.decode(b)),
    )
    decoded = codec.decode(codec.encode({"p": [_Point(1, 2**90)]}))
    assert (decoded["p"][0].x, decoded["p"][0].y) == (1, 2**90)


def test_register_rejects_reserved_and_taken_codes() -> None:
    with pytest.raises(ValueError, match="16..127"):
        codec.register(_Point, 3, bytes, bytes)
    codec.register(_Point, 121, lambda p: b"", lambda b: None)
    with pytest.raises(ValueError, match="already taken"):
        codec.register(dict, 121, lambda p: b"", lambda b: None)


def _fresh_process(script: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    return done.stdout.split()


def test_ciphertexts_decode_in_a_fresh_process_after_the_entry_point_setup(tmp_path: Path) -> None:
    from fate.crypto import paillier
    from fate.crypto.codec import register_ciphertexts

    register_ciphertexts()
    pk, sk = paillier.generate_keypair(512, insecure=True)
    wire = tmp_path / "ct.bin"
    wire.write_bytes(codec.encode({"d": pk.encrypt(np.array([1.5, -2.0]))}))
    decode = f"obj = codec.decode(open({str(wire)!r}, 'rb').read())['d']\n"
    # What a worker does at start, and nothing else.
    script = (
        "from fate.federation import codec\nfrom fate.crypto.codec import register_ciphertexts\n"
        f"register_ciphertexts()\n{decode}print(type(obj).__name__)\n"
    )
    assert _fresh_process(script) == ["EncryptedArray"]
    # Registration is explicit: without it, a clean refusal rather than a surprise import.
    script = (
        "from fate.federation import codec\ntry:\n"
        f"    {decode}except codec.CodecError as err:\n    print('refused', 'code 32' in str(err))\n"
    )
    assert _fresh_process(script) == ["refused", "True"]


def _nested_tuples(depth: int) -> bytes:
    data = msgpack.packb([])
    for _ in range(depth):
        data = msgpack.packb(msgpack.ExtType(2, data))  # a tuple whose payload is another tuple
    return data


def test_moderate_nesting_still_round_trips() -> None:
    value: object = ()  # itself a tuple: MAX_NESTING tuples in all
    for _ in range(codec.MAX_NESTING - 1):
        value = (value,)
    assert codec.decode(codec.encode(value)) == value


@pytest.mark.parametrize("depth", [codec.MAX_NESTING + 1, 250, 10_000])
def test_deeply_nested_extensions_are_refused_without_crashing(depth: int) -> None:
    payload = _nested_tuples(depth)
    if depth == 250:
        assert len(payload) < 1000  # a few hundred bytes used to overflow the C stack (SIGSEGV)
    with pytest.raises(codec.CodecError, match="nests extension types"):
        codec.decode(payload)


class _Box:
    def __init__(self, inner: object) -> None:
        self.inner = inner


def test_recursive_registered_extensions_are_bounded_too() -> None:
    # A registered type whose decoder decodes a message counts towards the same limit.
    codec.register(_Box, 122, lambda b: codec.encode(b.inner), lambda data: _Box(codec.decode(data)))
    data = msgpack.packb(None)
    for _ in range(1000):
        data = msgpack.packb(msgpack.ExtType(122, data))
    with pytest.raises(codec.CodecError, match="nests extension types"):
        codec.decode(data)


def test_nesting_bomb_is_a_clean_error_in_a_separate_process_and_thread(tmp_path: Path) -> None:
    # Run where a crash cannot take pytest down: SIGSEGV or RecursionError would fail returncode or output.
    bomb = tmp_path / "bomb.bin"
    bomb.write_bytes(_nested_tuples(5000))
    script = (
        "import threading\nfrom fate.federation import codec\n"
        f"data = open({str(bomb)!r}, 'rb').read()\n"
        "def run():\n    try:\n        codec.decode(data)\n"
        "    except codec.CodecError as err:\n        print(type(err).__name__, 'nests' in str(err))\n"
        "run()\nt = threading.Thread(target=run)\nt.start()\nt.join()\n"
    )
    assert _fresh_process(script) == ["CodecError", "True"] * 2
