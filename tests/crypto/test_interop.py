"""Ciphertexts cross between this core and python-paillier in both directions, keys too."""

from __future__ import annotations

import numpy as np
import pytest
from phe import paillier as phe

from fate.crypto import interop, paillier


def test_our_ciphertexts_decrypt_with_phe(keypair):
    pk, sk = keypair
    values = np.array([0.0, 1.5, -2.75, 1e-6, -123456.5])
    enc = pk.encrypt(values)
    phe_sk = interop.to_phe_private_key(sk)
    got = [phe_sk.decrypt(x) for x in interop.to_phe(enc)]
    assert np.allclose(got, values, rtol=0, atol=2.0**-60)
    # An odd scale (not a multiple of 4 bits) is lifted to phe's base-16 exponent.
    odd = pk.encrypt(values, frac_bits=9)
    assert [phe_sk.decrypt(x) for x in interop.to_phe(odd)] == pytest.approx(values, abs=2.0**-9)


def test_phe_ciphertexts_decrypt_here(keypair):
    pk, sk = keypair
    phe_pk = interop.to_phe_public_key(pk)
    values = [1.5, -3.25, 1e10, 7, 0, -1e-8, 3e30]  # 3e30 has a positive phe exponent
    numbers = [phe_pk.encrypt(v) for v in values]
    got = sk.decrypt(interop.from_phe(numbers))
    assert got == pytest.approx(values, rel=1e-12, abs=1e-15)
    # Imported arrays compute like native ones.
    assert sk.decrypt(interop.from_phe(numbers) * 2 + pk.encrypt(np.ones(7))) == pytest.approx(
        [2 * v + 1 for v in values], rel=1e-12
    )


def test_keys_convert_both_ways(keypair):
    pk, sk = keypair
    phe_pk, phe_sk = phe.generate_paillier_keypair(n_length=512)
    ours = interop.from_phe_private_key(phe_sk)
    assert ours.public_key == interop.from_phe_public_key(phe_pk)
    assert ours.decrypt(interop.from_phe([phe_pk.encrypt(2.5)])).tolist() == [2.5]
    back = interop.to_phe_private_key(sk)
    assert back.public_key.n == pk.n and {back.p, back.q} == {int(sk.p), int(sk.q)}


def test_phe_numbers_of_another_key_are_refused(keypair, other_keypair):
    pk, _ = keypair
    a = interop.to_phe_public_key(pk).encrypt(1.0)
    b = interop.to_phe_public_key(other_keypair[0]).encrypt(1.0)
    with pytest.raises(paillier.KeyMismatchError):
        interop.from_phe([a, b])
    with pytest.raises(paillier.KeyMismatchError):
        interop.from_phe([b], public_key=pk)
    with pytest.raises(paillier.WireFormatError):
        interop.from_phe([])


def test_imported_arrays_cannot_be_packed_without_a_bound(keypair):
    pk, _ = keypair
    imported = interop.from_phe([interop.to_phe_public_key(pk).encrypt(1.0)])
    with pytest.raises(paillier.EncodingOverflowError, match="unknown magnitude"):
        paillier.pack(imported)


def test_2048_bit_interop(keypair_2048):
    pk, sk = keypair_2048
    enc = pk.encrypt([3.5, -0.125])
    assert [interop.to_phe_private_key(sk).decrypt(x) for x in interop.to_phe(enc)] == [3.5, -0.125]
    number = interop.to_phe_public_key(pk).encrypt(-42.5)
    assert sk.decrypt(interop.from_phe([number])).tolist() == [-42.5]
