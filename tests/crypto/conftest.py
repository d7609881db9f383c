"""Shared keys: small insecure keys keep unit tests fast; one real 2048-bit pair for the real thing."""

from __future__ import annotations

import pytest

from fate.crypto import paillier
from fate.crypto.codec import register_ciphertexts


@pytest.fixture(scope="session")
def keypair() -> tuple[paillier.PublicKey, paillier.PrivateKey]:
    return paillier.generate_keypair(512, insecure=True)


@pytest.fixture(scope="session")
def other_keypair() -> tuple[paillier.PublicKey, paillier.PrivateKey]:
    return paillier.generate_keypair(512, insecure=True)


@pytest.fixture(scope="session")
def keypair_2048() -> tuple[paillier.PublicKey, paillier.PrivateKey]:
    return paillier.generate_keypair(2048)


@pytest.fixture(scope="session", autouse=True)
def _ciphertext_codec() -> None:
    """Ciphertexts cross the federation codec here, as in a worker (whose main registers them)."""
    register_ciphertexts()
