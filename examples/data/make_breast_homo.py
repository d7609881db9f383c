#!/usr/bin/env python
"""Write the horizontally split breast-cancer example data (FATE's breast_homo layout).

Same source and scaling as make_breast.py (scikit-learn's 569 rows, every feature z-scored with
ddof=0, six decimals), but split by rows instead of columns: every file holds the label ``y`` and
all 30 features. Rows are dealt by a permutation with seed 42 into FATE's sizes: 227 for the
guest, 273 for the host and 69 held out as test rows; the host's rows are also written in two
halves (137 + 136) for the three-client example. ``id`` is the sklearn row index; each file is
in id order.

    python examples/data/make_breast_homo.py [OUTPUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_breast import format_rows, standardize  # noqa: E402 - the sibling script, for one scaling

SIZES = {"guest": 227, "host": 273, "test": 69}
SEED = 42


def write_breast_homo(directory: Path) -> list[Path]:
    data = load_breast_cancer()
    scaled = standardize(np.asarray(data.data, dtype=np.float64))
    order = np.random.default_rng(SEED).permutation(scaled.shape[0])
    parts, start = {}, 0
    for name, size in SIZES.items():
        parts[name] = np.sort(order[start : start + size])
        start += size
    host = parts["host"]
    parts["host_1"], parts["host_2"] = np.sort(host[: (len(host) + 1) // 2]), np.sort(host[(len(host) + 1) // 2 :])
    written = []
    for name, rows in parts.items():
        path = directory / f"breast_homo_{name}.csv"
        path.write_text(format_rows(rows, data.target[rows], scaled[rows]), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for path in write_breast_homo(out):
        print(path)
