from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fate.crypto import paillier
from fate.crypto.wire import dump_packed, load_array, load_packed
from fate.federation import codec


def test_round_trip_keeps_values_scale_bound_and_shape(keypair):
    pk, sk = keypair
    enc = pk.encrypt(np.arange(6.0).reshape(2, 3) - 2.5) * 0.5
    back = paillier.EncryptedArray.from_bytes(enc.to_bytes())
    assert (back.shape, back.frac_bits, back.bound) == (enc.shape, enc.frac_bits, enc.bound)
    assert back.ciphertexts == enc.ciphertexts
    assert np.array_equal(sk.decrypt(back), sk.decrypt(enc))
    assert back.public_key == pk


def test_format_is_compact_fixed_width_binary(keypair):
    pk, _ = keypair
    enc = pk.encrypt(np.zeros(100))
    width = pk.bits // 8
    # header + shape + n + bound + 100 ciphertexts of 2 * width bytes
    assert len(enc.to_bytes()) == 13 + 8 + 2 * width + 100 * 2 * width


def test_zero_d_and_empty_arrays_round_trip(keypair):
    pk, sk = keypair
    total = pk.encrypt([1.0, 2.0]).sum()
    assert sk.decrypt(paillier.EncryptedArray.from_bytes(total.to_bytes())) == 3.0
    empty = pk.encrypt(np.zeros(0))
    assert paillier.EncryptedArray.from_bytes(empty.to_bytes()).shape == (0,)


def test_arrays_travel_through_the_federation_codec(keypair):
    pk, sk = keypair
    enc = pk.encrypt([1.25, -4.0])
    packed = paillier.pack(enc)
    message = codec.decode(codec.encode({"d": enc, "packed": packed, "n": 3}))
    assert sk.decrypt(message["d"]).tolist() == [1.25, -4.0]
    assert paillier.decrypt_packed(sk, message["packed"]).tolist() == [1.25, -4.0]


def _valid(keypair) -> bytes:
    return keypair[0].encrypt([1.0, 2.0, 3.0]).to_bytes()


def _corruptions(data: bytes, width: int) -> dict[str, bytes]:
    header = 13 + 8
    n_end = header + width
    last = len(data) - 2 * width
    return {
        "empty": b"",
        "truncated header": data[:7],
        "bad magic": b"XXXX" + data[4:],
        "bad version": data[:4] + b"\x09" + data[5:],
        "truncated body": data[:-1],
        "trailing garbage": data + b"\x00",
        "even modulus": data[: n_end - 1] + bytes([data[n_end - 1] & 0xFE]) + data[n_end:],
        "zero ciphertext": data[:last] + bytes(2 * width),
        "ciphertext above n^2": data[:last] + b"\xff" * (2 * width),
        "huge shape": data[:13] + struct.pack(">Q", 2**40) + data[21:],
        "bound beyond range": data[: n_end] + b"\xff" * width + data[n_end + width :],
        "not bytes": "text",  # type: ignore[dict-item]
    }


def test_malformed_bytes_are_rejected_with_a_clear_error(keypair):
    data = _valid(keypair)
    for name, bad in _corruptions(data, keypair[0].bits // 8).items():
        with pytest.raises(paillier.WireFormatError):
            load_array(bad)
            pytest.fail(f"accepted: {name}")


def test_malformed_bytes_inside_a_message_become_a_codec_error(keypair):
    message = bytearray(codec.encode({"d": keypair[0].encrypt([1.0])}))
    message[-1] ^= 0xFF
    message[-3] ^= 0xFF
    try:
        decoded = codec.decode(bytes(message))
    except codec.CodecError:
        return
    # Flipping low bytes of the last ciphertext can leave a valid (different) ciphertext.
    assert decoded["d"].shape == (1,)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_crash_the_decoder(data):
    with pytest.raises(paillier.WireFormatError):
        load_array(b"FPEA" + data)
    with pytest.raises(paillier.WireFormatError):
        load_packed(b"FPPK" + data)


def test_packed_wire_checks_its_count(keypair):
    pk, _ = keypair
    packed = paillier.pack(pk.encrypt(np.ones(5)))
    data = bytearray(dump_packed(packed))
    data[9:17] = struct.pack(">Q", 10_000)
    with pytest.raises(paillier.WireFormatError, match="count"):
        load_packed(bytes(data))
