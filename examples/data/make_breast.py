#!/usr/bin/env python
"""Write the vertically split breast-cancer example data the way FATE lays out its own.

Source: scikit-learn's copy of the Wisconsin diagnostic breast-cancer set (569 rows, 30 features).
Every feature is z-scored with the population standard deviation (ddof=0) and written with six
decimals. The guest file holds the label and the ten "worst *" features (sklearn columns 20-29);
the host file holds the other twenty (columns 0-19). ``id`` is the sklearn row index, so the two
files join on it. Rows are written in id order (FATE ships the same rows shuffled).

    python examples/data/make_breast.py [OUTPUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer

GUEST_COLUMNS = range(20, 30)
HOST_COLUMNS = range(0, 20)


def standardize(features: np.ndarray) -> np.ndarray:
    return (features - features.mean(axis=0)) / features.std(axis=0)


def format_rows(ids: np.ndarray, labels: np.ndarray | None, features: np.ndarray) -> str:
    header = ["id"] + (["y"] if labels is not None else []) + [f"x{i}" for i in range(features.shape[1])]
    lines = [",".join(header)]
    for row, row_id in enumerate(ids):
        cells = [str(int(row_id))]
        if labels is not None:
            cells.append(str(int(labels[row])))
        cells.extend(f"{value:.6f}" for value in features[row])
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def write_breast(directory: Path) -> tuple[Path, Path]:
    data = load_breast_cancer()
    scaled = standardize(np.asarray(data.data, dtype=np.float64))
    ids = np.arange(scaled.shape[0])
    guest = directory / "breast_hetero_guest.csv"
    host = directory / "breast_hetero_host.csv"
    guest.write_text(format_rows(ids, data.target, scaled[:, list(GUEST_COLUMNS)]), encoding="utf-8")
    host.write_text(format_rows(ids, None, scaled[:, list(HOST_COLUMNS)]), encoding="utf-8")
    return guest, host


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for path in write_breast(out):
        print(path)
