"""feature_scale in front of hetero_lr: raw breast features train as well as FATE's pre-scaled files."""

from __future__ import annotations

import pytest
from sklearn.datasets import load_breast_cancer

from fate.ml.component import Table
from fate.ml.evaluation import auc
from tests.ml.conftest import Breast
from tests.ml.pipeline import GUEST, HOST, Step, run_pipeline
from tests.ml.test_plain_lr import BENCHMARK

ROLES = {"guest": (GUEST,), "host": (HOST,), "arbiter": (GUEST,)}
LR = {**BENCHMARK, "encrypt_param": {"key_length": 1024}, "insecure_key": True}


def _lr_auc(guest: Table, host: Table, scale: bool, max_iter: int = 30) -> tuple[float, list[str]]:
    steps = [Step("scale", "feature_scale", {"method": "standard"})] if scale else []
    steps.append(Step("lr", "hetero_lr", {**LR, "max_iter": max_iter}))
    runs = run_pipeline(steps, {"guest": guest, "host": host}, roles=ROLES)
    scored = runs["guest"].results["lr"].data
    assert scored is not None and guest.labels is not None
    return auc(guest.labels, scored.features[:, 0]), runs["guest"].log + runs["host"].log


def test_feature_scale_then_lr_on_raw_features_matches_lr_on_fates_scaled_files(breast: Breast) -> None:
    raw = load_breast_cancer().data
    ids = tuple(str(i) for i in range(len(raw)))
    assert ids == breast.ids  # the shipped files are sklearn's rows in sklearn's order, z-scored
    raw_guest = Table(ids, tuple(f"x{i}" for i in range(10)), raw[:, 20:30], breast.labels)
    raw_host = Table(ids, tuple(f"x{i}" for i in range(20)), raw[:, 0:20])
    scaled_guest = Table(ids, raw_guest.header, breast.guest, breast.labels)
    scaled_host = Table(ids, raw_host.header, breast.host)

    reference, quiet = _lr_auc(scaled_guest, scaled_host, scale=False)
    ours, log = _lr_auc(raw_guest, raw_host, scale=True)
    assert ours == pytest.approx(reference, abs=0.005)
    assert not any("far from unit scale" in line for line in quiet + log)

    _, warned = _lr_auc(raw_guest, raw_host, scale=False, max_iter=1)
    assert any(line.startswith("warning: hetero_lr (host)") and "add a feature_scale step" in line for line in warned)
