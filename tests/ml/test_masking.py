"""The masking layer's own checks, one at a time (fast: no training run).

In the arbiter-free protocol a party's decryptor is its peer. What the peer answers is read back
with `unmask`; a malicious peer may answer anything, so every malformed answer must be refused
with a clear error, not a traceback and not a silently wrong gradient. And the oracle serves the
loss only when the protocol computes one (`served_lengths`): one more decryption per batch is
one more value the peer would learn. What a party receives is held to the expected length and
scale (`accept`), and a peer's declared gradient length to fewer values than the smallest batch
has rows (`lr_floors.check_declared_length`). Several of these were found by mutation testing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from fate.crypto import paillier
from fate.ml.component import ComponentError
from fate.ml.lr_floors import check_declared_length
from fate.ml.masking import (
    FRAC_BITS,
    PUBLIC_BOUND,
    DecryptionOracle,
    Mask,
    accept,
    encrypt_public,
    mask,
    served_lengths,
    unmask,
)

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


def test_a_received_vector_must_have_the_expected_length_and_scale(
    keys: tuple[paillier.PublicKey, paillier.PrivateKey]
) -> None:
    """Each on its own: a vector of another length (at the right scale) and one at another scale (of the right
    length) are refused; what is accepted carries the public bound, whatever its sender wrote."""
    public, _ = keys
    fresh = encrypt_public(public, [0.0, 1.0, 2.0])
    longer = encrypt_public(public, [0.0, 1.0, 2.0, 3.0])
    with pytest.raises(ComponentError) as err:
        accept(longer, public, "a host's forward", 3, "the arbiter's")
    assert str(err.value) == (f"a host's forward has shape (4,) at scale {FRAC_BITS}, expected (3,) at scale "
                              f"{FRAC_BITS}; refusing to use it")
    rescaled = paillier.EncryptedArray(public, fresh.ciphertexts, fresh.shape, FRAC_BITS + 8, fresh.bound)
    with pytest.raises(ComponentError, match=rf"has shape \(3,\) at scale {FRAC_BITS + 8}, expected"):
        accept(rescaled, public, "a host's forward", 3, "the arbiter's")
    told = paillier.EncryptedArray(public, fresh.ciphertexts, fresh.shape, FRAC_BITS, 7)  # a bound that leaks
    assert accept(told, public, "a host's forward", 3, "the arbiter's").bound == PUBLIC_BOUND
    assert accept(told, public, "the guest's [[d]]", 3, "the arbiter's", summands=3).bound == 3 * PUBLIC_BOUND


def test_a_masked_request_tells_neither_scale_nor_bound(keys: tuple[paillier.PublicKey, paillier.PrivateKey]) -> None:
    public, _ = keys
    masked, held = mask(encrypt_public(public, [0.5, -1.0]))
    assert (masked.frac_bits, masked.bound, masked.shape) == (0, None, (2,))
    assert held.frac_bits == FRAC_BITS  # the scale stays with the masking party


def test_a_second_request_is_refused_naming_its_epoch_and_batch(
    keys: tuple[paillier.PublicKey, paillier.PrivateKey]
) -> None:
    public, private = keys
    oracle = DecryptionOracle(private, {"grad": 2}, "the host")
    oracle.serve((3, 1), "grad", mask(encrypt_public(public, [0.0, 0.0]))[0])
    with pytest.raises(ComponentError) as err:
        oracle.serve((3, 1), "grad", mask(encrypt_public(public, [0.0, 0.0]))[0])
    assert str(err.value) == "the host asks for a second grad decryption in epoch 3, batch 1; refusing"


BATCHES = [np.arange(40), np.arange(40, 72), np.arange(72, 110)]  # the smallest has 32 rows


@pytest.mark.parametrize("length", [1, 2, 31])
def test_a_declared_length_under_the_smallest_batch_is_accepted(length: int) -> None:
    assert check_declared_length(length, BATCHES, "the host") == length


@pytest.mark.parametrize("length", [32, 33, 0, -1, True, 3.0, "3", None])
def test_a_declared_length_that_would_reveal_d_or_is_no_count_is_refused(length: object) -> None:
    """As many gradient values as rows in a batch: X^T d is then a solvable system for d, the guest's residuals."""
    with pytest.raises(ComponentError) as err:
        check_declared_length(length, BATCHES, "the host")
    assert str(err.value) == (f"the host declares gradients of {length!r} values; it must be a count from 1 to 31, "
                              "fewer than the 32 rows of the smallest batch (otherwise X^T d reveals d)")


@pytest.mark.parametrize(("job_bits", "insecure", "allowed", "used"), [
    (1024, True, False, 2048),  # asked for, not allowed by this party: the smallest supported size
    (768, True, True, 768),  # asked for and allowed
    (2048, True, True, 2048),
    (3072, False, True, 3072),
])
def test_a_key_under_the_supported_sizes_needs_insecure_keys_asked_for_and_allowed(
    job_bits: int, insecure: bool, allowed: bool, used: int
) -> None:
    from fate.flow.policy import Policy
    from fate.ml.lr_floors import secure_params
    from fate.ml.lr_params import parse_params

    params = parse_params({"encrypt_param": {"key_length": job_bits}, "insecure_key": insecure})
    secured = secure_params(params, Policy(min_key_bits=256, allow_insecure_keys=allowed))
    assert (secured.key_length, secured.insecure_key) == (used, insecure and allowed)


def test_a_peer_key_that_is_no_key_text_is_refused(keys: tuple[paillier.PublicKey, paillier.PrivateKey]) -> None:
    from fate.ml.lr_floors import read_peer_key
    from fate.ml.lr_params import parse_params

    params = parse_params({"encrypt_param": {"key_length": 2048}})
    with pytest.raises(ComponentError) as err:
        read_peer_key(None, params, "the host's")
    assert str(err.value) == "the host's Paillier public key is malformed"
    with pytest.raises(ComponentError) as err:
        read_peer_key(keys[0].to_json(), parse_params({"encrypt_param": {"key_length": 1024}, "insecure_key": True}),
                      "the host's")
    assert str(err.value) == (
        "the host's Paillier public key has 512 bits, under this party's floor of 1024 (the job's key_length "
        "raised to policy.min_key_bits); refusing to encrypt under it")


def test_a_fresh_public_encryption_tells_the_protocols_constants_not_the_values_magnitude(
    keys: tuple[paillier.PublicKey, paillier.PrivateKey],
) -> None:
    # A host's forward leaves with this header: its scale and bound must not depend on the data.
    public, private = keys
    largest = float(np.nextafter(2.0**40, 0))  # just under the public range 2^VALUE_BITS
    for values in ([0.5], [largest, -3.0]):
        enc = encrypt_public(public, values)
        assert (enc.frac_bits, enc.bound) == (FRAC_BITS, PUBLIC_BOUND)
        np.testing.assert_array_equal(private.decrypt(enc), values)
    with pytest.raises(ComponentError, match=r"^a forward value exceeds 2\^40: scale the features \(e\.g\. standardize them\)$"):
        encrypt_public(public, [1.0, -(2.0**40)])
