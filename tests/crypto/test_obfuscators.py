"""Offline/online obfuscation: every precomputed factor is served once, per key, per process."""

from __future__ import annotations

import os
import pickle
import threading

import numpy as np
import pytest
from gmpy2 import mpz

from fate.crypto import paillier
from fate.crypto.obfuscators import ObfuscatorPool, capacity_for


def _fresh_key() -> tuple[paillier.PublicKey, paillier.PrivateKey]:
    return paillier.generate_keypair(256, insecure=True)


def test_precomputed_factors_encrypt_and_rerandomize_correctly() -> None:
    public, private = _fresh_key()
    public.obfuscators.fill(40)
    assert public.obfuscators.ready() == 40
    enc = paillier.encrypt(public, np.array([1.5, -2.25, 0.0]))
    again = enc.rerandomize()
    assert public.obfuscators.served_offline == 6 and public.obfuscators.served_online == 0
    assert set(enc.ciphertexts).isdisjoint(again.ciphertexts)
    np.testing.assert_array_equal(private.decrypt(again), [1.5, -2.25, 0.0])


def test_a_factor_is_a_valid_obfuscator_of_its_own_key_only() -> None:
    public, private = _fresh_key()
    other, _ = _fresh_key()
    public.obfuscators.fill(3)
    other.obfuscators.fill(3)
    mine = public.obfuscators.take(3)
    assert set(mine).isdisjoint(other.obfuscators.take(3))
    # Decrypting 1 * f gives 0 exactly when f is an n-th residue of this key.
    assert [int(m) for m in private.raw_decrypt(mine)] == [0, 0, 0]


def test_no_factor_is_served_twice_across_threads() -> None:
    public, _ = _fresh_key()
    pool = public.obfuscators
    pool.fill_async(600)
    taken: list[list[mpz]] = []
    lock = threading.Lock()

    def consumer() -> None:
        got: list[mpz] = []
        for _ in range(25):
            got.extend(pool.take(7))
        with lock:
            taken.append(got)

    threads = [threading.Thread(target=consumer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pool.wait()
    everything = [f for got in taken for f in got]
    assert len(everything) == 6 * 25 * 7
    assert len(set(everything)) == len(everything)
    # Every factor served from the pool was produced once; the rest were made online, none counted twice.
    assert pool.served_offline + pool.served_online == len(everything)
    assert pool.served_offline + pool.ready() == pool.produced
    assert pool.served_offline > 0


def test_background_fill_is_bounded_by_the_capacity() -> None:
    counter = iter(range(10**6))
    pool = ObfuscatorPool(lambda: mpz(next(counter)), capacity=50)
    pool.fill_async(10_000)
    pool.wait(10)
    assert pool.ready() == 50
    assert pool.fill(10_000) == 0
    assert capacity_for(2048) * 512 <= 64 * 2**20


def test_drop_forgets_factors_for_key_rotation() -> None:
    public, _ = _fresh_key()
    public.obfuscators.fill(10)
    before = set(public.obfuscators.take(2))
    public.obfuscators.drop()
    assert public.obfuscators.ready() == 0
    assert before.isdisjoint(public.obfuscators.take(3))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_a_forked_child_never_serves_the_parents_factors() -> None:
    public, _ = _fresh_key()
    public.obfuscators.fill(20)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report what it would serve, then leave without running pytest's exit handlers
        try:
            pool = public.obfuscators
            line = f"{pool.ready()} {pool.take(1)[0]}"
            os.write(write_end, line.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    ready, factor = os.read(read_end, 10_000).decode().split()
    os.close(read_end)
    assert ready == "0"
    assert mpz(factor) not in set(public.obfuscators.take(20))


def test_a_pickled_key_carries_neither_table_nor_factors() -> None:
    public, private = _fresh_key()
    public.obfuscators.fill(5)
    copy = pickle.loads(pickle.dumps(public))
    assert copy == public and copy.obfuscators.ready() == 0
    assert copy.hs == public._table.pow(1)  # the same h_s, so workers' ciphertexts match the parent's
    assert len(pickle.dumps(public)) < 400
    np.testing.assert_array_equal(private.decrypt(paillier.encrypt(copy, [3.0])), [3.0])


def test_the_owner_makes_the_same_kind_of_factor_by_crt_and_fills_the_public_pool() -> None:
    public, private = _fresh_key()
    factors = [private.obfuscator() for _ in range(5)]
    assert len(set(factors)) == 5 and all(0 < f < public.nsquare for f in factors)
    assert [int(m) for m in private.raw_decrypt(factors)] == [0] * 5
    # Same h_s: the CRT factor for alpha equals the public table's power for alpha.
    tp, tq, psq, _ = private._crt_tables
    assert tp.pow(12345) == public._table.pow(12345) % psq
    private.precompute(8)
    public.obfuscators.wait(10)
    assert public.obfuscators.ready() == 8
    enc = paillier.encrypt(public, [0.5, -4.0])
    np.testing.assert_array_equal(private.decrypt(enc.rerandomize()), [0.5, -4.0])


def test_the_process_pool_fills_in_small_batches_and_no_factor_repeats() -> None:
    public, private = _fresh_key()
    with paillier.CryptoPool(2) as pool:
        public.precompute(50, pool=pool)
        public.obfuscators.wait(60)
        assert public.obfuscators.ready() == 50 and public.obfuscators.batch == 16
        factors = public.obfuscators.take(50)
        private.precompute(10, pool=pool)  # the owner uses the pool too when there is one
        public.obfuscators.wait(60)
        factors += public.obfuscators.take(10)
    assert len(set(factors)) == 60 and public.obfuscators.served_online == 0
    assert [int(m) for m in private.raw_decrypt(factors)] == [0] * 60


def test_an_obfuscators_exponent_is_as_long_as_half_the_key_by_either_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """h_s^alpha hides a plaintext only if alpha has about half n's bits of randomness (the DJN variant):
    a shorter draw weakens every ciphertext while they still decrypt. The owner's CRT path must draw as
    many bits and give the same factor as the public path for the same alpha."""
    public, private = _fresh_key()
    asked: list[int] = []
    alpha = (1 << 127) + 12345  # a fixed draw, so both paths can be compared

    def randbits(k: int) -> int:
        asked.append(k)
        return alpha

    monkeypatch.setattr("fate.crypto.keys.secrets.randbits", randbits)
    assert public.obfuscator() == private.obfuscator()
    assert asked == [(public.bits + 1) // 2] * 2 == [128, 128]


def test_a_key_without_its_table_yet_pickles_as_its_modulus_alone() -> None:
    # A key just read from the wire has no h_s until its first encryption; pool workers then pick their own.
    public, _ = _fresh_key()
    received = paillier.PublicKey(public.n)
    copy = pickle.loads(pickle.dumps(received))
    assert copy == public and copy.hs is None and "_table" not in received.__dict__
