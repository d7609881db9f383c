"""The shipped breast example data, loaded once per session; ciphertexts registered with the codec."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from fate.crypto.codec import register_ciphertexts

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"


@dataclass(frozen=True, eq=False)
class Breast:
    ids: tuple[str, ...]
    labels: np.ndarray
    guest: np.ndarray  # 569 x 10
    host: np.ndarray  # 569 x 20

    @property
    def joined(self) -> np.ndarray:
        return np.hstack([self.guest, self.host])


def _read(path: Path) -> tuple[list[str], np.ndarray]:
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [line.split(",") for line in lines[1:]]
    return [r[0] for r in rows], np.array([r[1:] for r in rows], dtype=np.float64)


@pytest.fixture(scope="session")
def breast() -> Breast:
    gids, guest = _read(DATA / "breast_hetero_guest.csv")
    hids, host = _read(DATA / "breast_hetero_host.csv")
    assert gids == hids
    return Breast(tuple(gids), guest[:, 0], guest[:, 1:], host)


@pytest.fixture(scope="session", autouse=True)
def _ciphertext_codec() -> None:
    """Ciphertexts cross the federation codec here, as in a worker (whose main registers them)."""
    register_ciphertexts()
