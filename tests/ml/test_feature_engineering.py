"""feature_scale, statistics, data_split, hetero_feature_binning and hetero_feature_selection through the flow's contract."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fate.crypto import paillier
from fate.federation import codec
from fate.ml.binning import bin_columns, bin_label_counts, woe_iv
from fate.ml.component import Table
from fate.ml.data_split import split_rows
from tests.ml.conftest import Breast
from tests.ml.pipeline import GUEST, HOST, Step, run_pipeline

KEY = {"he_param": {"key_length": 1024}, "insecure_key": True}


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list | tuple):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def tables(breast: Breast, host_missing: bool = True) -> tuple[Table, Table]:
    guest = Table(breast.ids, tuple(f"g{i}" for i in range(10)), breast.guest, breast.labels)
    x = breast.host.copy()
    if host_missing:
        x[::9, 2] = np.nan  # a host column with missing values gets a missing bin
    return guest, Table(breast.ids, tuple(f"h{i}" for i in range(20)), x)


@pytest.mark.parametrize("method", ["quantile", "bucket"])
def test_binning_woe_and_iv_equal_a_plaintext_computation_on_the_joined_data(breast: Breast, method: str) -> None:
    guest, host = tables(breast)
    params = {"method": method, "n_bins": 8, **KEY}
    runs = run_pipeline([Step("bin", "hetero_feature_binning", params)], {"guest": guest, "host": host})
    model = runs["guest"].models["bin"][0]
    joined = np.hstack([guest.features, host.features])
    names = list(guest.header) + [f"host_{HOST}_{j}" for j in range(20)]
    binned = bin_columns(joined, method, 8)
    y = breast.labels
    totals = (int(y.sum()), int(len(y) - y.sum()))
    for j, name in enumerate(names):
        ev, ne = bin_label_counts(binned.bins[:, j], y, binned.bin_counts[j])
        keep = binned.bin_counts[j] + (1 if ev[-1] + ne[-1] else 0)
        expected = woe_iv(ev[:keep], ne[:keep], *totals)
        got = model["columns"].get(name) or model["host_columns"][name]
        assert got["event"] == list(expected.event) and got["non_event"] == list(expected.non_event), name
        np.testing.assert_allclose(got["woe"], expected.woe, atol=1e-6)
        np.testing.assert_allclose(got["iv_per_bin"], expected.iv_per_bin, atol=1e-6)
        assert got["iv"] == pytest.approx(expected.iv, abs=1e-6)
    assert model["host_columns"][f"host_{HOST}_2"]["missing_bin"]
    assert "edges" not in model["host_columns"][f"host_{HOST}_0"]
    host_model = runs["host"].models["bin"][0]
    assert host_model["columns"]["h0"]["edges"] == [float(e) for e in binned.edges[10]]
    assert "woe" not in host_model["columns"]["h0"]  # the host learns no label statistic


def test_binning_hosts_see_labels_only_encrypted_and_the_guest_no_host_edge(breast: Breast) -> None:
    guest, host = tables(breast)
    seen: list[tuple[str, int, int, bytes]] = []
    runs = run_pipeline([Step("bin", "hetero_feature_binning", KEY)], {"guest": guest, "host": host},
                        on_wire=lambda job, tag, src, dst, payload: seen.append((tag, src, dst, bytes(payload))))
    label_bytes = [breast.labels.tobytes(), breast.labels.astype(np.int64).tobytes(), np.packbits(breast.labels > 0)]
    host_edges = [np.float64(e).tobytes() for c in runs["host"].models["bin"][0]["columns"].values() for e in c["edges"]]
    for tag, src, dst, payload in seen:
        value = codec.decode(payload)
        if src == GUEST:
            assert not any(bytes(lb) in payload for lb in label_bytes), tag
            rows = value["rows"]
            n = int(rows.public_key.n)
            assert all(int(c) % n != 1 for c in rows.ciphertexts) and len(set(rows.ciphertexts)) == len(rows.ciphertexts)
        else:
            assert dst == GUEST and set(value) == {"sums", "sizes", "missing"}
            assert isinstance(value["sums"], paillier.EncryptedArray)
            assert not any(e in payload for e in host_edges), "a host bin edge travels to the guest"
            assert not any(isinstance(leaf, str) and leaf in host.header for leaf in _leaves(value))


def test_selection_ranks_guest_and_host_columns_by_iv_and_applies_to_side_tables(breast: Breast) -> None:
    guest, host = tables(breast, host_missing=False)
    steps = [Step("split", "data_split", {"train_size": 0.6, "validate_size": 0.2, "test_size": 0.2,
                                          "random_state": 3}),
             Step("bin", "hetero_feature_binning", KEY),
             Step("select", "hetero_feature_selection", {"iv_param": {"filter_type": "top_k", "threshold": 6}})]
    runs = run_pipeline(steps, {"guest": guest, "host": host})
    ivs = runs["guest"].metrics["bin"]["iv"]
    top = sorted(ivs, key=lambda n: (-ivs[n], n))[:6]
    g_sel, h_sel = runs["guest"].results["select"], runs["host"].results["select"]
    assert g_sel.data is not None and h_sel.data is not None
    assert set(g_sel.data.header) == {n for n in top if not n.startswith("host_")}
    host_positions = sorted(int(n.rsplit("_", 1)[1]) for n in top if n.startswith("host_"))
    assert list(h_sel.data.header) == [f"h{j}" for j in host_positions]
    for result in (g_sel, h_sel):
        assert set(result.side_data) == {"validate", "test"}
        assert all(t.header == result.data.header for t in result.side_data.values())  # type: ignore[union-attr]


def test_feature_scale_fits_on_train_and_applies_unchanged_to_side_tables_and_downstream(breast: Breast) -> None:
    guest, host = tables(breast, host_missing=False)
    raw = Table(host.ids, host.header, host.features * 100.0 + 7.0)
    steps = [Step("split", "data_split", {"random_state": 11}),
             Step("std", "feature_scale", {"method": "standard"}),
             Step("mm", "feature_scale", {"method": "min_max", "feature_range": [-1, 1]}, needs=("split",)),
             Step("again", "feature_scale", {}, needs=("std", "split"))]
    runs = run_pipeline(steps, {"guest": guest, "host": raw})
    split = runs["host"].results["split"]
    train, test = split.data, split.side_data["validate"]
    assert train is not None
    mean, std = train.features.mean(axis=0), train.features.std(axis=0, ddof=1)
    std_result = runs["host"].results["std"]
    np.testing.assert_allclose(std_result.data.features, (train.features - mean) / std, atol=1e-12)  # type: ignore[union-attr]
    np.testing.assert_allclose(std_result.side_data["validate"].features, (test.features - mean) / std, atol=1e-12)
    mm = runs["host"].results["mm"]
    assert mm.data is not None and mm.data.features.min() == -1.0 and mm.data.features.max() == 1.0
    assert mm.side_data["validate"].features.min() >= -1.0  # strict_range clips unseen values
    again = runs["host"].results["again"]  # the upstream model applied, not refitted
    np.testing.assert_allclose(again.data.features, std_result.data.features, atol=1e-12)  # type: ignore[union-attr]


def test_statistics_per_party_equal_numpy(breast: Breast) -> None:
    guest, host = tables(breast)
    params = {"metrics": ["count", "missing_count", "mean", "std", "min", "max", "50%", "90%", "skewness"]}
    runs = run_pipeline([Step("stats", "statistics", params)], {"guest": guest, "host": host})
    column = host.features[:, 2]
    present = column[~np.isnan(column)]
    got = runs["host"].metrics["stats"]["statistics"]["h2"]
    assert got["count"] == present.size and got["missing_count"] == column.size - present.size
    assert got["mean"] == pytest.approx(present.mean()) and got["std"] == pytest.approx(present.std(ddof=1))
    assert got["50%"] == pytest.approx(np.median(present)) and got["90%"] == pytest.approx(np.quantile(present, 0.9))
    centred = present - present.mean()
    assert got["skewness"] == pytest.approx((centred**3).mean() / (centred**2).mean() ** 1.5)
    assert set(runs["guest"].metrics["stats"]["statistics"]) == set(guest.header)  # each party its own columns


def test_data_split_is_stratified_seeded_and_the_same_on_every_party(breast: Breast) -> None:
    guest, host = tables(breast)
    params = {"train_size": 0.6, "validate_size": 0.2, "test_size": 0.2, "stratified": True, "random_state": 42}
    first = run_pipeline([Step("split", "data_split", params)], {"guest": guest, "host": host})
    again = run_pipeline([Step("split", "data_split", params)], {"guest": guest, "host": host})
    for name in ("validate", "test"):
        g, h = first["guest"].results["split"].side_data[name], first["host"].results["split"].side_data[name]
        assert g.ids == h.ids == again["guest"].results["split"].side_data[name].ids
        assert g.labels is not None
        assert abs(g.labels.mean() - breast.labels.mean()) < 0.01
    train = first["guest"].results["split"].data
    assert train is not None and (len(train), 114, 114) == (341, 114, 114)


def test_split_sizes_depend_on_the_row_count_only() -> None:
    rng = np.random.default_rng(0)
    for positives in (10, 47, 90):
        labels = np.r_[np.ones(positives), np.zeros(100 - positives)]
        rng.shuffle(labels)
        parts = split_rows(100, (70, 20, 10), labels, 1)
        assert [len(p) for p in parts] == [70, 20, 10]
        assert all((np.diff(p) > 0).all() for p in parts)  # in table order, never grouped by class


@pytest.mark.parametrize(("component", "params", "field"), [
    ("feature_scale", {"method": "zscore"}, "params.method"),
    ("feature_scale", {"scale_col": {"guest": ["nope"]}}, "params.scale_col.guest: no column 'nope'"),
    ("feature_scale", {"scale_col": {"arbiter": ["g0"]}}, "params.scale_col.arbiter"),
    ("feature_scale", {"feature_range": [1, 0], "method": "min_max"}, "params.feature_range"),
    ("statistics", {"metrics": ["mean", "mode"]}, "params.metrics"),
    ("data_split", {"train_size": 0.5, "validate_size": 0.2, "test_size": 0.2}, "params.train_size"),
    ("data_split", {"stratifed": True}, "params.stratifed: unknown parameter"),
    ("hetero_feature_binning", {"n_bins": 1, **KEY}, "params.n_bins"),
    ("hetero_feature_binning", {"method": "chi2", **KEY}, "params.method"),
    ("hetero_feature_selection", {"iv_param": {"filter_type": "top_k", "threshold": 2.5}},
     "params.iv_param.threshold"),
])
def test_bad_params_are_refused_naming_the_field(breast: Breast, component: str, params: dict[str, Any],
                                                  field: str) -> None:
    guest, host = tables(breast)
    with pytest.raises(AssertionError, match=f"invalid {component} params") as info:
        run_pipeline([Step("s", component, params)], {"guest": guest, "host": host}, timeout=30)
    assert field in str(info.value)


@pytest.mark.parametrize(("component", "params"), [
    ("hetero_feature_binning", KEY),
    ("data_split", {"stratified": True}),
])
def test_a_table_without_labels_is_refused_where_labels_are_needed(breast: Breast, component: str,
                                                                    params: dict[str, Any]) -> None:
    guest, host = tables(breast)
    unlabeled = Table(guest.ids, guest.header, guest.features)
    with pytest.raises(AssertionError, match="no label column 'y'"):
        run_pipeline([Step("s", component, params)], {"guest": unlabeled, "host": host}, timeout=30)
