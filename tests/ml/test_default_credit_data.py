"""The synthetic default_credit generator keeps the UCI data set's layout, label rate and value sets."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from tests.ml.conftest import DATA

_spec = importlib.util.spec_from_file_location("make_default_credit", DATA / "make_default_credit.py")
assert _spec is not None and _spec.loader is not None
make = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make)


def test_layout_label_rate_and_value_sets_are_the_uci_data_sets() -> None:
    cols, labels = make.generate()
    assert len(make.GUEST) == 13 and len(make.HOST) == 10 and set(cols) == set(make.GUEST) | set(make.HOST)
    assert labels.shape == (30_000,) and int(labels.sum()) == 6_636
    assert len(np.unique(cols["LIMIT_BAL"])) == 81 and cols["LIMIT_BAL"].min() == 10_000
    assert set(np.unique(cols["EDUCATION"])) == set(range(7)) and set(np.unique(cols["MARRIAGE"])) == set(range(4))
    assert cols["AGE"].min() >= 21 and cols["AGE"].max() <= 79
    for name in ("PAY_0", "PAY_2", "PAY_6"):
        assert set(np.unique(cols[name])) <= set(range(-2, 9))
    assert 1 in set(np.unique(cols["PAY_0"])) and 1 not in set(np.unique(cols["PAY_2"]))


def test_files_are_z_scored_and_seeded(tmp_path: Path) -> None:
    guest, host = make.write_default_credit(tmp_path)
    g = np.loadtxt(guest, delimiter=",", skiprows=1)
    h = np.loadtxt(host, delimiter=",", skiprows=1)
    assert g.shape == (30_000, 15) and h.shape == (30_000, 11)
    assert (g[:, 0] == h[:, 0]).all()
    np.testing.assert_allclose(g[:, 2:].std(axis=0), 1.0, atol=1e-4)
    np.testing.assert_allclose(h[:, 1:].mean(axis=0), 0.0, atol=1e-5)
    first = guest.read_bytes()
    make.write_default_credit(tmp_path)
    assert guest.read_bytes() == first
