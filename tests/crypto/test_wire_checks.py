"""Every check on ciphertext bytes from another organisation, one malformed field at a time.

Each case starts from a well-formed array in the documented layout (fate.crypto.wire) and breaks
exactly one thing, so the check that must catch it is the one that answers (found by mutation
testing: with a single catch-all assertion, removing any one check left the others to raise).
Boundaries are checked from both sides. Key JSON and packing limits are pinned the same way.
"""

from __future__ import annotations

import json
import re
import struct

import gmpy2
import numpy as np
import pytest

from fate.crypto import paillier
from fate.crypto.encoding import scalar_frac_bits
from fate.crypto.errors import EncodingOverflowError, KeyMismatchError, WireFormatError
from fate.crypto.keys import MIN_INSECURE_BITS, SUPPORTED_BITS
from fate.crypto.packing import PackedArray, encrypt_packed, slot_capacity
from fate.crypto.wire import MAGIC, MAX_FRAC_BITS, MAX_NDIM, PACKED_MAGIC, dump_array, load_array, load_packed

KeyPair = tuple[paillier.PublicKey, paillier.PrivateKey]


def modulus(width: int) -> int:
    """An odd modulus filling `width` bytes (load_array checks form, not factorisation)."""
    return (1 << (8 * width - 1)) | 1


def blob(*, magic: bytes = MAGIC, version: int = 1, ndim: int | None = None, width: int = 32, frac_bits: int = 0,
         has_bound: int = 0, shape: tuple[int, ...] = (2,), n: int | None = None, bound: int = 0,
         cts: list[int] | None = None, cut: int = 0) -> bytes:
    """An array in the documented layout: header | shape | n | bound | ciphertexts (2 * width bytes each)."""
    cts = [1, 2] if cts is None else cts
    header = struct.pack(">4sBBHIB", magic, version, len(shape) if ndim is None else ndim, width, frac_bits, has_bound)
    body = b"".join([
        header,
        struct.pack(f">{len(shape)}Q", *shape),
        (modulus(width) if n is None else n).to_bytes(width, "big"),
        bound.to_bytes(width, "big"),
        *(c.to_bytes(2 * width, "big") for c in cts),
    ])
    return body[: len(body) - cut]


def test_the_reference_blob_loads() -> None:
    array = load_array(blob(bound=5))
    assert (array.shape, array.frac_bits, array.ciphertexts, array.bound) == ((2,), 0, [1, 2], None)
    assert array.public_key.n == modulus(32)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("not bytes", "expected bytes, got str"),
        (blob()[:12], "ciphertext array is truncated (no header)"),
        (blob(shape=())[:13], "ciphertext array has 13 bytes, its header says 141"),  # a header, nothing else
        (blob(magic=b"FPEB"), "not a ciphertext array (bad magic)"),
        (blob(version=2), "unsupported ciphertext array version 2"),
        (blob(ndim=MAX_NDIM + 1, shape=()), "ciphertext array header is out of range"),
        (blob(has_bound=2), "ciphertext array header is out of range"),
        (blob(frac_bits=MAX_FRAC_BITS + 1), "ciphertext array header is out of range"),
        (blob(width=MIN_INSECURE_BITS // 8 - 1), f"key width of {MIN_INSECURE_BITS // 8 - 1} bytes is not supported"),
        (blob(width=SUPPORTED_BITS[-1] // 8 + 1), f"key width of {SUPPORTED_BITS[-1] // 8 + 1} bytes is not supported"),
        (blob(width=28), "key width of 28 bytes is not supported"),
        (blob(ndim=3, shape=(), cts=[])[:36], "ciphertext array is truncated (shape)"),
        (blob(cut=1), "ciphertext array has 212 bytes, its header says 213"),
        (blob(n=modulus(32) - 1), "the public modulus in the ciphertext array is malformed"),  # even
        (blob(n=(1 << 247) | 1), "the public modulus in the ciphertext array is malformed"),  # 248 bits in 32 bytes
        (blob(has_bound=1, bound=modulus(32)), "the declared value bound exceeds the key's plaintext range"),
        (blob(cts=[0, 2]), "ciphertext 0 is outside [1, n^2)"),
        (blob(cts=[1, modulus(32) ** 2]), "ciphertext 1 is outside [1, n^2)"),
    ],
    ids=["type", "no-header", "header-only", "magic", "version", "ndim", "has-bound", "frac-bits", "width-small",
         "width-large", "width-28", "shape-truncated", "length", "even-modulus", "short-modulus",
         "bound", "ciphertext-zero", "ciphertext-n2"],
)
def test_each_malformed_field_is_refused_by_its_own_check(data: bytes, message: str) -> None:
    with pytest.raises(WireFormatError, match=f"^{re.escape(message)}$"):
        load_array(data)


def test_the_limits_themselves_are_accepted() -> None:
    assert load_array(blob(ndim=MAX_NDIM, shape=(1,) * MAX_NDIM, cts=[1])).ndim == MAX_NDIM
    assert load_array(blob(frac_bits=MAX_FRAC_BITS)).frac_bits == MAX_FRAC_BITS
    for width in (MIN_INSECURE_BITS // 8, SUPPORTED_BITS[-1] // 8):
        assert load_array(blob(width=width)).public_key.bits == 8 * width
    assert load_array(blob(n=(1 << 248) | 1)).public_key.bits == 249  # up to 7 leading zero bits
    n = modulus(32)
    key = paillier.PublicKey(gmpy2.mpz(n))
    assert load_array(blob(has_bound=1, bound=key.max_int)).bound == key.max_int
    assert load_array(blob(cts=[1, n * n - 1])).ciphertexts == [1, n * n - 1]


def test_dump_writes_the_documented_layout(keypair: KeyPair) -> None:
    public, _ = keypair
    array = paillier.EncryptedArray(public, [gmpy2.mpz(3), gmpy2.mpz(5)], (2,), 7, None)
    width = public.bits // 8
    assert dump_array(array) == blob(width=width, frac_bits=7, n=int(public.n), cts=[3, 5])
    bounded = paillier.EncryptedArray(public, [gmpy2.mpz(3)], (1,), 0, 9)
    assert dump_array(bounded) == blob(width=width, has_bound=1, bound=9, shape=(1,), n=int(public.n), cts=[3])


def _packed(slot_bits: int, count: int, inner: bytes) -> bytes:
    return struct.pack(">4sBIQ", PACKED_MAGIC, 1, slot_bits, count) + inner


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"FPPK", "packed ciphertexts are truncated (no header)"),
        (_packed(8, 1, b"")[:16], "packed ciphertexts are truncated (no header)"),
        (_packed(8, 1, b""), "ciphertext array is truncated (no header)"),  # a packed header, then nothing
        (b"FPPX" + _packed(8, 1, blob(has_bound=1, bound=1, shape=(1,), cts=[1]))[4:],
         "not a packed ciphertext array (bad magic or version)"),
        (_packed(8, 1, blob(has_bound=1, bound=1, shape=(1,), cts=[1]))[:4] + b"\x02"
         + _packed(8, 1, blob(has_bound=1, bound=1, shape=(1,), cts=[1]))[5:],
         "not a packed ciphertext array (bad magic or version)"),
        (_packed(8, 1, blob(has_bound=0, shape=(1,), cts=[1])), "packed ciphertext array header is out of range"),
        (_packed(8, 1, blob(has_bound=1, bound=1, shape=(1, 1), cts=[1])),
         "packed ciphertext array header is out of range"),
        (_packed(1, 1, blob(has_bound=1, bound=1, shape=(1,), cts=[1])), "packed ciphertext array header is out of range"),
        (_packed(8, 1, blob(has_bound=1, bound=1, shape=(2,))), "packed ciphertext count does not match the packed value count"),
        (_packed(8, 1, blob(has_bound=1, bound=200, shape=(1,), cts=[1])),
         "packed ciphertext array is inconsistent: "),
    ],
    ids=["short", "header-cut", "inner-missing", "magic", "version", "no-bound", "two-dims", "slot-bits", "count", "bound-over-slot"],
)
def test_each_malformed_packed_field_is_refused_by_its_own_check(data: bytes, message: str) -> None:
    with pytest.raises(WireFormatError, match=f"^{re.escape(message)}"):
        load_packed(data)


def test_two_bit_slots_are_the_narrowest_accepted() -> None:
    assert load_packed(_packed(2, 1, blob(has_bound=1, bound=1, shape=(1,), cts=[1]))).slot_bits == 2


def test_a_slot_bound_must_stay_below_the_sign_bit(keypair: KeyPair) -> None:
    public, _ = keypair
    assert PackedArray(public, (gmpy2.mpz(1),), 1, 8, 0, 127).bound == 127
    with pytest.raises(EncodingOverflowError):
        PackedArray(public, (gmpy2.mpz(1),), 1, 8, 0, 128)


def test_the_widest_slot_fits_once(keypair: KeyPair) -> None:
    public, _ = keypair
    widest = public.max_int.bit_length() - 1
    assert slot_capacity(public, widest) == 1
    with pytest.raises(EncodingOverflowError, match=f"a {widest + 1}-bit slot does not fit a {public.bits}-bit key"):
        slot_capacity(public, widest + 1)


def test_packing_needs_a_positive_bound_and_at_least_one_summand(keypair: KeyPair) -> None:
    public, private = keypair
    for bound, summands in ((0.0, 1), (1.0, 0)):
        with pytest.raises(ValueError, match="value_bound must be > 0 and max_summands >= 1"):
            encrypt_packed(public, np.ones(2), value_bound=bound, max_summands=summands)
    empty = encrypt_packed(public, np.zeros(0), value_bound=1.0)
    assert empty.count == 0 and empty.bound == 0


def test_packed_arrays_of_another_key_are_refused_by_name(keypair: KeyPair, other_keypair: KeyPair) -> None:
    from fate.crypto.packing import decrypt_packed

    ours = encrypt_packed(keypair[0], np.ones(2), value_bound=2.0)
    theirs = encrypt_packed(other_keypair[0], np.ones(2), value_bound=2.0)
    with pytest.raises(KeyMismatchError, match="^cannot add packed ciphertexts of different Paillier keys$"):
        ours + theirs
    with pytest.raises(KeyMismatchError, match="^these packed ciphertexts were encrypted under a different Paillier key$"):
        decrypt_packed(other_keypair[1], ours)


# ---- key JSON ----


def test_key_json_is_the_documented_lowercase_hex_with_sorted_keys(keypair: KeyPair) -> None:
    public, private = keypair
    assert public.to_json() == json.dumps({"kind": "paillier-public", "n": format(int(public.n), "x")})
    assert private.to_json() == (
        f'{{"kind": "paillier-private", "n": "{int(public.n):x}", "p": "{int(private.p):x}", "q": "{int(private.q):x}"}}')


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not a JSON paillier-public key: "),
        ('{"kind": "paillier-private", "n": "ff"}', "JSON document is not a paillier-public key"),
        ('{"kind": "paillier-public", "n": 255}', "key field 'n' must be a hex string"),
        ('{"kind": "paillier-public", "n": "zz"}', "key field 'n' is not valid hex"),
        ('{"kind": "paillier-public", "n": "0"}', "key field 'n' must be positive"),
    ],
)
def test_malformed_key_json_names_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(WireFormatError, match=f"^{re.escape(message)}"):
        paillier.PublicKey.from_json(text)


def test_a_modulus_of_one_is_positive_but_no_key() -> None:
    with pytest.raises(WireFormatError, match="a Paillier modulus must be an odd integer greater than 2"):
        paillier.PublicKey.from_json('{"kind": "paillier-public", "n": "1"}', insecure=True)


def test_a_private_key_needs_both_factors_prime(keypair: KeyPair) -> None:
    _, private = keypair
    # An even neighbour is composite and keeps n at the key's (even) size: multiplying a factor by 3
    # instead made n 513 bits for about one key in five, refused for its size before the primality check.
    for p, q in ((private.p, private.q - 1), (private.p - 1, private.q)):
        text = json.dumps({"kind": "paillier-private", "n": f"{int(p * q):x}", "p": f"{int(p):x}", "q": f"{int(q):x}"})
        with pytest.raises(WireFormatError):
            paillier.PrivateKey.from_json(text, insecure=True)
    # An even n is refused as a modulus anyway; an odd composite factor reaches the primality check itself
    # (found by mutation: with `or` for `and` one prime factor was enough, and the even n still refused).
    composite = private.q + 2
    while gmpy2.is_prime(composite):
        composite += 2
    for p, q in ((private.p, composite), (composite, private.p)):
        assert (p * q).bit_length() == private.public_key.bits
        text = json.dumps({"kind": "paillier-private", "n": f"{int(p * q):x}", "p": f"{int(p):x}", "q": f"{int(q):x}"})
        with pytest.raises(WireFormatError, match="^private key factors are not prime$"):
            paillier.PrivateKey.from_json(text, insecure=True)


# ---- scalar encoding ----


@pytest.mark.parametrize(
    ("value", "bits"),
    [(0.0, 0), (float("inf"), 0), (float("-inf"), 0), (float("nan"), 0), (1.0, 0), (3.0, 0), (2.0**60, 0),
     (0.5, 1), (-0.75, 2), (1.5, 1), (2.0**-60, 60), (0.1, 55), (1 / 3, 54)],
)
def test_a_scalar_gets_exactly_the_fractional_bits_it_needs(value: float, bits: int) -> None:
    assert scalar_frac_bits(value) == bits
    if bits and np.isfinite(value):
        assert (value * 2**bits).is_integer() and not (value * 2 ** (bits - 1)).is_integer()
