"""Packed fixed-width blocks: what a Ray actor receives instead of pickled big integers."""

from __future__ import annotations

import secrets

import numpy as np
import pytest
from gmpy2 import mpz

from fate.compute.blocks import pack, pack_cells, unpack, unpack_cells, width
from fate.crypto import paillier


def test_ciphertexts_round_trip_through_one_contiguous_uint8_block() -> None:
    pk, _ = paillier.generate_keypair(512, insecure=True)
    cts = pk.raw_encrypt([secrets.randbelow(int(pk.n)) for _ in range(50)])
    block = pack(cts, width(pk.nsquare))
    assert block.dtype == np.uint8 and block.shape == (50, 128) and block.flags["C_CONTIGUOUS"]
    assert unpack(block) == cts
    assert pack([], 16).shape == (0, 16) and unpack(np.zeros((0, 16), dtype=np.uint8)) == []


def test_a_value_outside_the_width_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="wider than 4 bytes"):
        pack([mpz(1) << 40], 4)
    with pytest.raises(ValueError, match="negative"):
        pack([-1], 4)


def test_histogram_cells_keep_their_empty_ones() -> None:
    cells = [mpz(7), None, mpz(2) ** 100, None]
    block, present = pack_cells(cells, width(2**101))
    assert block.shape == (2, 13) and present.tolist() == [True, False, True, False]
    assert unpack_cells(block, present) == cells
