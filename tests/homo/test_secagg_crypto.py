"""The secure-aggregation primitives: Shamir, the PRG, the share channel, and the no-wrap encoding."""

from __future__ import annotations

import contextlib
import itertools

import numpy as np
import pytest

from fate.crypto import secagg as sa
from fate.crypto import shamir
from fate.crypto.errors import EncodingOverflowError


def test_any_threshold_shares_rebuild_the_secret_and_fewer_do_not() -> None:
    secret = sa.random_seed()
    shares = sa.split(secret, 3, [1, 2, 3, 4, 5])
    for subset in itertools.combinations(shares.items(), 3):
        assert sa.combine(dict(subset), 3) == secret
    with pytest.raises(sa.SecAggError, match="2 shares cannot rebuild"):
        sa.combine(dict(list(shares.items())[:2]), 3)
    # Two shares and a made-up third rebuild something else (or nothing valid), never the secret.
    forged = dict(list(shares.items())[:2]) | {5: (shares[5] + 1) % sa.PRIME}
    with contextlib.suppress(sa.SecAggError):
        assert sa.combine(forged, 3) != secret


def test_key_agreement_is_symmetric_and_bound_to_purpose_and_round() -> None:
    a, b = sa.KeyPair.generate(), sa.KeyPair.generate()
    assert sa.agree(a.private, b.public, "mask", b"r1") == sa.agree(b.private, a.public, "mask", b"r1")
    assert sa.agree(a.private, b.public, "mask", b"r1") != sa.agree(a.private, b.public, "channel", b"r1")
    assert sa.agree(a.private, b.public, "mask", b"r1") != sa.agree(a.private, b.public, "mask", b"r2")
    assert sa.KeyPair.from_private(a.private) == a


def test_prg_is_deterministic_uniform_looking_and_reduced() -> None:
    seed = sa.random_seed()
    words = sa.prg_words(seed, 10_000, 40)
    assert np.array_equal(words, sa.prg_words(seed, 10_000, 40))
    assert words.dtype == np.uint64 and int(words.max()) < 1 << 40
    assert abs(float(words.mean()) / (1 << 40) - 0.5) < 0.02
    assert not np.array_equal(words, sa.prg_words(sa.random_seed(), 10_000, 40))


def test_sealed_shares_open_only_for_their_addressee() -> None:
    key = sa.random_seed()
    sealed = sa.seal(key, b"share", b"ctx|1>2")
    assert sa.open_sealed(key, sealed, b"ctx|1>2") == b"share"
    with pytest.raises(sa.SecAggError, match="authentication"):
        sa.open_sealed(key, sealed, b"ctx|1>3")  # redirected to another peer
    with pytest.raises(sa.SecAggError, match="authentication"):
        sa.open_sealed(key, sealed[:-1] + bytes([sealed[-1] ^ 1]), b"ctx|1>2")


def test_fixed_point_sums_exactly_within_the_bound() -> None:
    enc = sa.FixedPoint(fraction_bits=16, modulus_bits=48, bound=1000.0, summands=4)
    xs = [np.random.default_rng(i).uniform(-1000, 1000, 50) for i in range(4)]
    total = np.zeros(50, dtype=np.uint64)
    for x in xs:
        total = total + enc.encode(x)
    expected = sum(np.rint(x * 2**16) for x in xs) / 2**16
    assert np.array_equal(enc.decode(total), expected)


def test_an_encoding_that_could_wrap_is_refused() -> None:
    risky = sa.FixedPoint(fraction_bits=30, modulus_bits=64, bound=2.0**32, summands=10)
    assert any("could reach" in p and "wrap" in p for p in risky.problems())
    with pytest.raises(EncodingOverflowError, match="wrap modulo 2\\^64"):
        risky.encode(np.zeros(3))


def test_a_value_beyond_the_bound_is_refused_not_wrapped() -> None:
    enc = sa.FixedPoint(fraction_bits=16, modulus_bits=64, bound=100.0, summands=3)
    with pytest.raises(EncodingOverflowError, match="exceeds the secure-aggregation bound 100"):
        enc.encode(np.array([1.0, -100.5]))
    for bad in (np.nan, np.inf, -np.inf):  # one pass finds them among ordinary values too
        with pytest.raises(EncodingOverflowError, match="NaN or infinite"):
            enc.encode(np.array([1.0, bad, -2.0]))


def test_a_sum_outside_the_proven_range_is_detected() -> None:
    enc = sa.FixedPoint(fraction_bits=16, modulus_bits=64, bound=100.0, summands=3)
    garbage = sa.prg_words(sa.random_seed(), 100, 64)  # what masks that did not cancel look like
    with pytest.raises(EncodingOverflowError, match="masks did not cancel"):
        enc.decode(garbage)


@pytest.mark.parametrize("count", [1, 8, 9, 17])
def test_packed_secrets_rebuild_from_any_threshold_of_holders(count: int) -> None:
    values = [sa.random_seed() for _ in range(count)]
    shares = sa.split_packed(values, 3, [1, 2, 3, 4, 5])
    assert all(len(s) == -(-count // sa.PACK) * sa.PACK_SHARE for s in shares.values())
    for holders in ([1, 2, 3], [2, 4, 5], [1, 3, 5, 4]):
        assert sa.combine_packed({x: shares[x] for x in holders}, 3, count) == values
    with pytest.raises(sa.SecAggError, match="2 shares cannot rebuild a secret that needs 3"):
        sa.combine_packed({x: shares[x] for x in (1, 2)}, 3, count)
    with pytest.raises(sa.SecAggError, match="packed secrets is"):
        sa.combine_packed({x: shares[x][:-1] for x in (1, 2, 3)}, 3, count)


def test_a_forged_packed_share_does_not_rebuild_the_secrets() -> None:
    values = [sa.random_seed() for _ in range(4)]
    shares = sa.split_packed(values, 3, [1, 2, 3])
    forged = dict(shares)
    forged[2] = bytes(b ^ 1 for b in shares[2][:-1]) + shares[2][-1:]
    try:
        rebuilt = sa.combine_packed(forged, 3, 4)
    except sa.SecAggError as err:
        assert "inconsistent or forged" in str(err) or "outside the field" in str(err)
    else:
        assert rebuilt != values


def test_prg_streams_of_one_key_are_independent_and_repeatable() -> None:
    key = sa.random_seed()
    assert np.array_equal(sa.prg_words(key, 1000, 64, 3), sa.prg_words(key, 1000, 64, 3))
    assert not np.array_equal(sa.prg_words(key, 1000, 64, 0), sa.prg_words(key, 1000, 64, 1))
    with pytest.raises(sa.SecAggError, match="stream number"):
        sa.prg_words(key, 10, 64, -1)


def test_prg_into_a_buffer_writes_the_same_words_and_refuses_a_wrong_buffer() -> None:
    key = sa.random_seed()
    buffer = np.full(1000, 7, dtype=np.uint64)
    assert sa.prg_words(key, 1000, 40, 2, out=buffer) is buffer
    assert np.array_equal(buffer, sa.prg_words(key, 1000, 40, 2))
    assert int(buffer.max()) < 1 << 40
    for wrong in (np.empty(999, dtype=np.uint64), np.empty(1000, dtype=np.int64)):
        with pytest.raises(sa.SecAggError, match="output buffer"):
            sa.prg_words(key, 1000, 64, out=wrong)


def test_prf_values_depend_on_key_purpose_and_counter_and_nothing_else() -> None:
    key, other = sa.random_seed(), sa.random_seed()
    value = sa.prf(key, "mask-seed", 5)
    assert len(value) == sa.KEY_BYTES and value == sa.prf(key, "mask-seed", 5)
    assert len({value, sa.prf(other, "mask-seed", 5), sa.prf(key, "other", 5), sa.prf(key, "mask-seed", 6)}) == 4
    with pytest.raises(sa.SecAggError, match="32 bytes"):
        sa.prf(key[:16], "mask-seed", 0)
    with pytest.raises(sa.SecAggError, match="counter"):
        sa.prf(key, "mask-seed", -1)


def test_polynomial_coefficients_are_uniform_field_elements_by_rejection() -> None:
    """Drawn from one CSPRNG read per polynomial; a prime far below its bit length forces redraws."""
    prime = 257  # 9 bits: about half of the raw draws are rejected
    drawn = shamir._random_elements(6000, prime)
    assert len(drawn) == 6000 and all(0 <= v < prime for v in drawn)
    counts = np.bincount(drawn, minlength=prime)
    assert counts.min() > 0 and counts.max() < 3 * 6000 / prime  # every element, none favoured
    assert len(set(shamir._random_elements(50, shamir.PRIME))) == 50
    shares = shamir.split_int(42, 3, [1, 2, 3, 4], prime)
    assert shamir.combine_int({x: shares[x] for x in (2, 3, 4)}, 3, prime) == 42
