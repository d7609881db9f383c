from __future__ import annotations

import json

import numpy as np
import pytest

from fate.crypto import paillier


def test_default_key_is_2048_bits_and_works(keypair_2048):
    pk, sk = keypair_2048
    assert pk.bits == 2048
    values = np.array([3.25, -1.0, 0.0])
    assert np.array_equal(sk.decrypt(pk.encrypt(values)), values)


@pytest.mark.parametrize("bits", [512, 1024, 1536])
def test_small_keys_need_the_insecure_flag(bits):
    with pytest.raises(paillier.InsecureKeyError, match="insecure"):
        paillier.generate_keypair(bits)
    pk, _ = paillier.generate_keypair(bits, insecure=True)
    assert pk.bits == bits


@pytest.mark.parametrize("bits", [2047, 5000, 100])
def test_unsupported_sizes_are_refused_even_when_insecure(bits):
    with pytest.raises(paillier.InsecureKeyError):
        paillier.generate_keypair(bits, insecure=True)


def test_json_round_trip_keeps_keys_working(keypair):
    pk, sk = keypair
    pk2 = paillier.PublicKey.from_json(pk.to_json(), insecure=True)
    sk2 = paillier.PrivateKey.from_json(sk.to_json(), insecure=True)
    assert pk2 == pk and sk2 == sk
    assert sk2.decrypt(pk2.encrypt([1.5])).tolist() == [1.5]
    # Integers travel as hex strings, never as pickles or floats.
    assert set(json.loads(sk.to_json())) == {"kind", "n", "p", "q"}


def test_loading_a_small_key_needs_the_insecure_flag(keypair):
    pk, sk = keypair
    with pytest.raises(paillier.InsecureKeyError):
        paillier.PublicKey.from_json(pk.to_json())
    with pytest.raises(paillier.InsecureKeyError):
        paillier.PrivateKey.from_json(sk.to_json())


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"kind": "paillier-public"}',
        '{"kind": "paillier-public", "n": 12}',
        '{"kind": "paillier-public", "n": "xyz"}',
        '{"kind": "paillier-public", "n": "-5"}',
        '{"kind": "paillier-public", "n": "10"}',
        '{"kind": "paillier-private", "n": "f"}',
    ],
)
def test_malformed_public_key_json_is_a_clear_error(text):
    with pytest.raises(paillier.WireFormatError):
        paillier.PublicKey.from_json(text, insecure=True)


def test_private_key_with_wrong_factors_is_refused(keypair, other_keypair):
    _, sk = keypair
    _, other = other_keypair
    data = json.loads(sk.to_json())
    data["p"] = format(other.p, "x")
    with pytest.raises(paillier.WireFormatError):
        paillier.PrivateKey.from_json(json.dumps(data), insecure=True)
    data = json.loads(sk.to_json())
    data["p"], data["q"] = "1", data["n"]
    with pytest.raises(paillier.WireFormatError):
        paillier.PrivateKey.from_json(json.dumps(data), insecure=True)


def test_keys_compare_by_modulus_not_by_obfuscation_base(keypair, other_keypair):
    pk, _ = keypair
    assert paillier.PublicKey(pk.n) == pk
    assert hash(paillier.PublicKey(pk.n)) == hash(pk)
    assert other_keypair[0] != pk


def test_keys_loaded_from_json_share_one_obfuscation_table(keypair):
    pk, _ = keypair
    a = paillier.PublicKey.from_json(pk.to_json(), insecure=True)
    b = paillier.EncryptedArray.from_bytes(pk.encrypt([1.0]).to_bytes()).public_key
    assert a is b
