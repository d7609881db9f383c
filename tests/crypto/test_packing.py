from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fate.crypto import paillier


def test_packed_ciphertexts_decrypt_to_all_values(keypair):
    pk, sk = keypair
    values = np.linspace(-5, 5, 23)
    enc = pk.encrypt(values, frac_bits=20)
    packed = paillier.pack(enc)
    assert packed.capacity >= 3
    assert len(packed.ciphertexts) == -(-23 // packed.capacity)
    assert np.allclose(paillier.decrypt_packed(sk, packed), values, atol=2.0**-20)


def test_capacity_at_2048_bits_gives_more_than_ten_values_per_decryption(keypair_2048):
    pk, sk = keypair_2048
    values = np.random.default_rng(1).uniform(-1, 1, 200)
    enc = pk.encrypt(values, frac_bits=32)
    packed = paillier.pack(enc, headroom_bits=8)
    assert packed.count / len(packed.ciphertexts) >= 10
    assert np.allclose(paillier.decrypt_packed(sk, packed), values, atol=2.0**-32)


def test_plaintext_packing_sums_slot_wise_within_the_declared_budget(keypair):
    pk, sk = keypair
    g = np.array([0.5, -0.25, 1.0, -1.0, 0.0])
    packed = paillier.encrypt_packed(pk, g, value_bound=1.0, max_summands=3)
    total = packed + packed + packed
    assert paillier.decrypt_packed(sk, total).tolist() == (3 * g).tolist()
    with pytest.raises(paillier.EncodingOverflowError, match="overflow"):
        _ = total + packed + packed  # 5 summands of |1.0| need a wider slot


def test_values_beyond_the_bound_are_refused(keypair):
    pk, _ = keypair
    with pytest.raises(paillier.EncodingOverflowError, match="declared bound"):
        paillier.encrypt_packed(pk, np.array([2.0]), value_bound=1.0)


def test_packing_with_headroom_allows_that_many_additions(keypair):
    pk, sk = keypair
    enc = pk.encrypt(np.array([1.0, -2.0, 3.0]), frac_bits=8)
    packed = paillier.pack(enc, headroom_bits=2)
    total = packed + packed + packed + packed
    assert paillier.decrypt_packed(sk, total).tolist() == [4.0, -8.0, 12.0]


def test_slots_too_wide_for_the_key_are_an_error(keypair):
    pk, _ = keypair
    with pytest.raises(paillier.EncodingOverflowError):
        paillier.slot_capacity(pk, pk.bits)


def test_packed_arrays_of_other_keys_or_layouts_do_not_mix(keypair, other_keypair):
    pk, sk = keypair
    a = paillier.encrypt_packed(pk, np.ones(3), 1.0, 2)
    b = paillier.encrypt_packed(other_keypair[0], np.ones(3), 1.0, 2)
    with pytest.raises(paillier.KeyMismatchError):
        _ = a + b
    with pytest.raises(paillier.ShapeError):
        _ = a + paillier.encrypt_packed(pk, np.ones(4), 1.0, 2)
    with pytest.raises(paillier.KeyMismatchError):
        paillier.decrypt_packed(other_keypair[1], a)
    with pytest.raises(paillier.UnsupportedOperation):
        _ = pk.encrypt([1.0]) * a
    rerandomized = a.rerandomize()
    assert rerandomized.ciphertexts != a.ciphertexts
    assert paillier.decrypt_packed(sk, rerandomized).tolist() == [1.0, 1.0, 1.0]


def test_a_packed_array_holding_more_values_than_it_declares_is_refused(keypair):
    # Whoever packed the ciphertexts declares how many values they hold; one that declares fewer
    # would have the rest of the plaintext silently dropped (or read into a later value).
    pk, sk = keypair
    packed = paillier.encrypt_packed(pk, np.array([1.0, 2.0, 3.0]), value_bound=4.0)
    assert len(packed.ciphertexts) == 1
    fewer = dataclasses.replace(packed, count=2)
    with pytest.raises(
        paillier.EncodingOverflowError,
        match=r"^packed plaintext has data beyond its slots: a slot overflowed$",
    ):
        paillier.decrypt_packed(sk, fewer)


@settings(max_examples=25, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(1, 40), elements=st.floats(-1000, 1000, allow_nan=False)),
    st.integers(0, 6),
    st.integers(1, 4),
)
def test_pack_then_add_round_trips_any_bounded_values(keypair, values, headroom, copies):
    pk, sk = keypair
    packed = paillier.pack(pk.encrypt(values, frac_bits=16), headroom_bits=headroom)
    total = packed
    for _ in range(min(copies, 2**headroom) - 1):
        total = total + packed
    expected = np.round(values * 2**16) / 2**16 * min(copies, 2**headroom)
    assert np.array_equal(paillier.decrypt_packed(sk, total), expected)
