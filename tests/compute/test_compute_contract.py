"""The compute contract on each backend: every result equals the in-process computation."""

from __future__ import annotations

import secrets

import numpy as np
import pytest
from gmpy2 import mpz

from fate.compute import ops
from fate.compute.contract import ComputeBackend
from fate.compute.tasks import INVALID, task_blind
from fate.crypto import paillier
from fate.crypto.pool import MIN_PARALLEL
from fate.ml import he_pack, psi
from fate.ml.component import ComponentError
from fate.ml.sbt_hist import bin_sums, task_hist

Keys = tuple[paillier.PublicKey, paillier.PrivateKey]
N = 3 * MIN_PARALLEL + 5  # above the in-process threshold, not a multiple of the chunk count


def _residues(pk: paillier.PublicKey, count: int) -> list[int]:
    return [secrets.randbelow(int(pk.n)) for _ in range(count)]


def test_the_backend_says_what_it_is(backend: ComputeBackend, engine: str) -> None:
    assert isinstance(backend, ComputeBackend)
    assert backend.name == engine and backend.workers == 2
    assert len(backend.worker_pids()) >= 1


def test_encryptions_decrypt_in_process_to_the_plaintexts(backend: ComputeBackend, keys: Keys) -> None:
    pk, sk = keys
    residues = _residues(pk, N)
    cts = backend.encrypt(pk, residues)
    assert [int(m) for m in sk.raw_decrypt(cts)] == residues
    assert len(set(cts)) == N  # fresh randomness on every one


def test_decryption_equals_in_process_decryption(backend: ComputeBackend, keys: Keys) -> None:
    pk, sk = keys
    cts = pk.raw_encrypt(_residues(pk, N))
    assert backend.decrypt(sk, cts) == sk.raw_decrypt(cts)


def test_rerandomizing_keeps_plaintexts_and_changes_every_ciphertext(backend: ComputeBackend, keys: Keys) -> None:
    pk, sk = keys
    cts = pk.raw_encrypt(_residues(pk, N))
    fresh = backend.rerandomize(pk, cts)
    assert sk.raw_decrypt(fresh) == sk.raw_decrypt(cts)
    assert all(a != b for a, b in zip(fresh, cts, strict=True))


@pytest.mark.parametrize("frac_bits", [None, 24, 70])  # 70: multipliers beyond int64 take the exact path
def test_matvec_is_ciphertext_for_ciphertext_the_in_process_one(backend: ComputeBackend, keys: Keys,
                                                               frac_bits: int | None) -> None:
    pk, sk = keys
    rng = np.random.default_rng(7)
    x = rng.normal(size=(N, 5))
    x[3] = 0.0  # a zero row and negative multipliers take their own paths in the kernel
    d = pk.encrypt(rng.normal(size=N))
    expected = paillier.matvec_t(x, d, frac_bits=frac_bits)
    got = backend.matvec_t(x, d, frac_bits=frac_bits)
    assert got.ciphertexts == expected.ciphertexts
    assert (got.shape, got.frac_bits, got.bound) == (expected.shape, expected.frac_bits, expected.bound)
    assert np.allclose(sk.decrypt(got), x.T @ sk.decrypt(d), atol=1e-6)


def test_array_operations_on_the_backend_match_fate_crypto(backend: ComputeBackend, keys: Keys) -> None:
    pk, sk = keys
    values = np.random.default_rng(3).normal(size=N) * 1e3
    enc = ops.encrypt(backend, pk, values)
    plain = paillier.encrypt(pk, values)
    assert (enc.shape, enc.frac_bits, enc.bound) == (plain.shape, plain.frac_bits, plain.bound)
    assert np.array_equal(ops.decrypt(backend, sk, enc), sk.decrypt(plain))
    again = ops.rerandomize(backend, enc)
    assert again.bound == enc.bound and np.array_equal(ops.decrypt(None, sk, again), sk.decrypt(enc))


def test_psi_blinding_equals_in_process_and_marks_invalid_points(backend: ComputeBackend) -> None:
    scalar = secrets.token_bytes(32)
    points = psi.hash_ids([f"id{i}" for i in range(N)], "job")
    assert backend.blind(scalar, points) == task_blind(scalar, points)
    low_order = bytes(32)  # the point 0: its product is the all-zero point the curve refuses
    out = backend.blind(scalar, [*points[:N - 1], low_order])
    assert out[-1] == INVALID and INVALID not in out[:-1]
    with pytest.raises(ComponentError, match="invalid curve point"):
        psi.Blinder(backend).blind([*points, low_order])


def test_secureboost_histograms_equal_the_in_process_ones(backend: ComputeBackend, keys: Keys) -> None:
    pk, _ = keys
    rng = np.random.default_rng(11)
    rows, features, max_bin = N, 5, 6
    bins = rng.integers(-1, max_bin, size=(rows, features))  # -1: the missing bin
    cts = pk.raw_encrypt(_residues(pk, rows))
    build = [np.sort(rng.choice(rows, size=rows // 2, replace=False)), np.arange(rows // 2, rows)]
    slots = max_bin + 1
    assert bin_sums(pk.nsquare, cts, bins, build, slots, backend) == bin_sums(pk.nsquare, cts, bins, build, slots)
    codes = np.where(bins < 0, slots - 1, bins).astype(np.int64)
    nodes = np.zeros(rows, dtype=np.int64)
    assert backend.histogram(pk.nsquare, slots, 1, cts, codes, nodes) == task_hist(pk.nsquare, slots, 1, cts, codes,
                                                                                    nodes)


def test_folding_equals_in_process(backend: ComputeBackend, keys: Keys) -> None:
    pk, sk = keys
    sums = pk.raw_encrypt(list(range(N * 4)))
    groups = [sums[i : i + 4] for i in range(0, len(sums), 4)]
    assert backend.fold(pk.nsquare, 20, groups) == he_pack.task_fold(pk.nsquare, 20, groups)
    folded = he_pack.fold(pk, sums, 20, backend)
    assert he_pack.decrypt_ints(sk, folded, backend) == he_pack.decrypt_ints(sk, he_pack.fold(pk, sums, 20))


def test_empty_inputs_give_empty_results(backend: ComputeBackend, keys: Keys) -> None:
    pk, sk = keys
    assert backend.encrypt(pk, []) == []
    assert backend.decrypt(sk, []) == []
    assert backend.rerandomize(pk, []) == []
    assert backend.blind(secrets.token_bytes(32), []) == []
    assert backend.fold(pk.nsquare, 20, []) == []
    empty = backend.histogram(pk.nsquare, 3, 0, [], np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64))
    assert empty == []
    product = backend.matvec_t(np.zeros((0, 3)), paillier.encrypt(pk, np.zeros(0)))
    assert product.shape == (3,) and np.array_equal(sk.decrypt(product), np.zeros(3))


def test_each_worker_builds_a_keys_table_once_and_reuses_it(make_backend: object, keys: Keys) -> None:
    pk, sk = keys
    other, _ = paillier.generate_keypair(1024, insecure=True)
    with make_backend(2) as fresh:  # type: ignore[operator]
        fresh.warm_up(pk)
        for _ in range(3):
            assert [int(m) for m in sk.raw_decrypt(fresh.encrypt(pk, list(range(N))))] == list(range(N))
        tables = fresh.key_tables()
        assert tables and set(tables.values()) == {1}, tables
        fresh.warm_up(other)
        fresh.rerandomize(other, other.raw_encrypt(list(range(N))))
        assert set(fresh.key_tables().values()) == {2}


def test_a_closed_backend_can_be_closed_again(make_backend: object) -> None:
    backend = make_backend(1)  # type: ignore[operator]
    backend.close()
    backend.close()


def test_mpz_results_are_gmpy2_integers(backend: ComputeBackend, keys: Keys) -> None:
    pk, sk = keys
    cts = backend.encrypt(pk, list(range(N)))
    assert all(isinstance(c, type(mpz(1))) for c in cts + backend.decrypt(sk, cts))
