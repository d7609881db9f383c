"""The masking layer's own checks, one at a time (fast: no training run).

In the arbiter-free protocol a party's decryptor is its peer. What the peer answers is read back
with `unmask`; a malicious peer may answer anything, so every malformed answer must be refused
with a clear error, not a traceback and not a silently wrong gradient. And the oracle serves the
loss only when the protocol computes one (`served_lengths`): one more decryption per batch is
one more value the peer would learn.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from fate.crypto import paillier
from fate.ml.component import ComponentError
from fate.ml.masking import FRAC_BITS, DecryptionOracle, Mask, encrypt_public, mask, served_lengths, unmask

MALFORMED = "the peer's decryption answer is malformed"


@pytest.fixture(scope="module")
def keys() -> tuple[paillier.PublicKey, paillier.PrivateKey]:
    return paillier.generate_keypair(512, insecure=True)


def _unmasked(public: paillier.PublicKey, answer: object) -> np.ndarray:
    """What an answer unmasks to when the mask is zero: the answer's own residues, decoded."""
    return unmask(answer, Mask(public, (0, 0), FRAC_BITS), "the peer's")


def test_every_residue_of_the_range_is_an_answer(keys: tuple[paillier.PublicKey, paillier.PrivateKey]) -> None:
    public, _ = keys
    n = int(public.n)
    # 0 and n - 1 are the ends of Z_n: 0 and -2^-FRAC_BITS.
    np.testing.assert_array_equal(_unmasked(public, [0, n - 1]), [0.0, -(2.0**-FRAC_BITS)])


@pytest.mark.parametrize("answer", [
    lambda n: "not a list",
    lambda n: (0, 0),  # a tuple is not what the codec makes of a list: refused, whatever its values
    lambda n: [0],  # too short
    lambda n: [0, 0, 0],  # too long
    lambda n: [0, True],  # a bool is no residue
    lambda n: [0, 1.0],
    lambda n: [0, "1"],
    lambda n: [0, -1],
    lambda n: [0, n],  # residues are below n
], ids=["str", "tuple", "short", "long", "bool", "float", "str-item", "negative", "n"])
def test_a_malformed_answer_is_refused(keys: tuple[paillier.PublicKey, paillier.PrivateKey],
                                       answer: Callable[[int], object]) -> None:
    public, _ = keys
    with pytest.raises(ComponentError) as err:
        _unmasked(public, answer(int(public.n)))
    assert str(err.value) == MALFORMED


def test_an_answer_that_does_not_unmask_in_range_is_refused(keys: tuple[paillier.PublicKey, paillier.PrivateKey]) -> None:
    public, _ = keys
    with pytest.raises(ComponentError) as err:
        _unmasked(public, [0, int(public.n) // 2])  # the band between +max_int and n - max_int
    assert str(err.value) == ("the peer's decryption answer does not unmask to a value in range; "
                              "the peer answered wrongly")


def test_an_honest_answer_unmasks_to_the_value(keys: tuple[paillier.PublicKey, paillier.PrivateKey]) -> None:
    public, private = keys
    masked, held = mask(encrypt_public(public, [1.5, -2.25]))
    answer = [int(m) for m in private.raw_decrypt(masked.ciphertexts)]
    np.testing.assert_array_equal(unmask(answer, held, "the peer's"), [1.5, -2.25])


def test_the_oracle_serves_the_loss_only_when_the_protocol_has_one(
    keys: tuple[paillier.PublicKey, paillier.PrivateKey]
) -> None:
    assert served_lengths(7, with_loss=True) == {"grad": 7, "loss": 1}
    assert served_lengths(7, with_loss=False) == {"grad": 7}
    public, private = keys
    oracle = DecryptionOracle(private, served_lengths(2, with_loss=False), "the host")
    with pytest.raises(ComponentError, match=r"the host asks for a decryption \(loss\) the protocol has no use for"):
        oracle.serve((0, 0), "loss", mask(encrypt_public(public, [0.0]))[0])
