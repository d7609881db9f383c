"""The data the hetero LR benchmarks train on: FATE's breast example and a seeded synthetic split.

Imported by the scripts in this folder after they put the repository root on sys.path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fate.flow.tables import parse_csv
from fate.ml.component import Table

DATA = Path(__file__).resolve().parents[1] / "examples" / "data"


def load_breast() -> tuple[Table, Table, np.ndarray]:
    """The guest's and the host's breast tables, the host's rows in the guest's order, and the guest's labels."""
    guest = parse_csv(DATA / "breast_hetero_guest.csv")
    host = parse_csv(DATA / "breast_hetero_host.csv").select(guest.ids)
    assert guest.labels is not None
    return guest, host, guest.labels


def make_synthetic(rng: np.random.Generator, rows: int, guest_cols: int,
                   host_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standard-normal guest and host features and labels from a random linear model plus noise, so there is
    something to learn. Draws from the caller's `rng`, which it may go on using (scale.py does): the same
    seed gives the same data and the same draws after it as when each script made its own."""
    guest = rng.standard_normal((rows, guest_cols))
    host = rng.standard_normal((rows, host_cols))
    truth = rng.standard_normal(guest_cols + host_cols) / np.sqrt(guest_cols + host_cols)
    labels = (np.hstack([guest, host]) @ truth + 0.5 * rng.standard_normal(rows) > 0).astype(np.float64)
    return guest, host, labels
