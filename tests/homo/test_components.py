"""homo_lr and homo_nn as the flow runs them: accuracy against centralized training, errors, examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fate.flow.jobspec import parse_job
from fate.ml.component import ComponentError, Table
from fate.ml.evaluation import evaluate_binary
from fate.ml.homo.models import fit_central, network_of
from fate.ml.homo.params import parse_params
from tests.homo.conftest import DATA, BreastHomo, run_component

JOBS = DATA.parent / "jobs"
FAST = {"learning_rate": 0.5, "alpha": 0.01, "local_epochs": 5, "early_stop": "none",
        "init_param": {"random_seed": 1}, "test_table": "test"}


def _central(kind: str, params: dict[str, Any], train: list[Table]) -> tuple[Any, np.ndarray]:
    p = parse_params(params, kind, len(train))
    net = p.network(train[0].features.shape[1])
    x = np.vstack([t.features for t in train])
    y = np.concatenate([t.labels for t in train])  # type: ignore[misc]
    return net, fit_central(net, x, y, net.init(p.init_method, p.random_seed), p.training, p.max_iter)


@pytest.mark.parametrize(("kind", "extra"), [("homo_lr", {}), ("homo_nn", {"hidden_layers": [8]})])
def test_secure_federated_model_matches_centralized_training(homo: BreastHomo, kind: str, extra: dict[str, Any]) -> None:
    params = {**FAST, **extra, "max_iter": 30}
    results = run_component(kind, [homo.guest, homo.host], params, extra_tables={"test": homo.test})
    model = results["guest"].model
    net, flat = network_of(model)
    assert np.array_equal(flat, network_of(results["host0"].model)[1])  # one global model
    _, central = _central(kind, params, [homo.guest, homo.host])
    everything = [homo.guest, homo.host, homo.test]
    x = np.vstack([t.features for t in everything])
    y = np.concatenate([t.labels for t in everything])  # type: ignore[misc]
    for rows_x, rows_y in ((homo.test.features, homo.test.labels), (x, y)):
        fed = evaluate_binary(rows_y, net.predict_proba(rows_x, flat)).summary()  # type: ignore[arg-type]
        ref = evaluate_binary(rows_y, net.predict_proba(rows_x, central)).summary()  # type: ignore[arg-type]
        assert abs(fed["accuracy"] - ref["accuracy"]) <= 0.01 and abs(fed["auc"] - ref["auc"]) <= 0.01
    assert results["guest"].metrics["test_accuracy"] >= 0.95
    assert results["host0"].metrics["test_auc"] >= 0.98  # every client evaluates the global model itself
    scored = results["guest"].data
    assert scored is not None and scored.header == ("predict_score", "predict_result") and len(scored) == 69
    assert len(results["arbiter"].metrics["loss"]) == 30


def test_plain_fedavg_and_paillier_give_the_secure_model(homo: BreastHomo) -> None:
    base = {**FAST, "max_iter": 4}
    models = {}
    for method in ("secagg", "none", "paillier"):
        secure = {"method": method, "key_length": 1024, "insecure_key": True}
        results = run_component("homo_lr", [homo.guest, homo.host], {**base, "secure_aggregate": secure},
                                extra_tables={"test": homo.test})
        models[method] = network_of(results["guest"].model)[1]
        if method == "paillier":
            assert "params" not in results["arbiter"].model  # the aggregator never saw the model
    # Fixed point (2^-16 per n_i * w_i) is the only difference from float FedAvg.
    assert np.allclose(models["secagg"], models["none"], atol=1e-5)
    assert np.allclose(models["paillier"], models["none"], atol=1e-5)


def test_three_clients_with_the_example_job(homo: BreastHomo) -> None:
    job = parse_job((JOBS / "breast-homo-lr-3.yaml").read_text(encoding="utf-8"))
    assert len(job.roles["host"]) == 2 and [s.component for s in job.pipeline] == ["homo_lr", "evaluation"]
    params = {**dict(job.pipeline[0].params), "max_iter": 10, "test_table": "test"}
    results = run_component("homo_lr", [homo.guest, homo.host_1, homo.host_2], params,
                            extra_tables={"test": homo.test})
    assert all(results[r].metrics["test_auc"] > 0.98 for r in ("guest", "host0", "host1"))


def test_the_example_jobs_parse_with_valid_params() -> None:
    for name, clients in (("breast-homo-lr.yaml", 2), ("breast-homo-nn.yaml", 2), ("breast-homo-lr-3.yaml", 3)):
        job = parse_job((JOBS / name).read_text(encoding="utf-8"))
        step = job.pipeline[0]
        parse_params(step.params, step.component, clients)


@pytest.mark.parametrize(("params", "message"), [
    ({"secure_aggregate": {"threshold": 3}}, r"params.secure_aggregate.threshold: 3 is above the client count 2"),
    ({"secure_aggregate": {"threshold": 1}}, r"params.secure_aggregate.threshold: at least 2"),
    ({"secure_aggregate": {"method": "magic"}}, r"params.secure_aggregate.method: 'magic' is not one of"),
    ({"secure_aggregate": {"fraction_bits": 40, "bound": 1e9}}, r"params.secure_aggregate.bound: .*could reach"),
    ({"max_iter": 0, "local_epochs": True}, r"params.local_epochs: expected int.*params.max_iter: must be >= 1"),
    ({"hidden_layers": [8]}, r"params.hidden_layers: unknown parameter"),
    ({"learning_rate": -1, "penalty": "L1"}, r"params.penalty: 'L1'.*params.learning_rate: must be > 0"),
    ({"secure_aggregate": {"method": "paillier", "key_length": 1024}}, r"key_length: 1024 bits is insecure"),
])
def test_bad_params_name_their_field(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ComponentError, match=message):
        parse_params(params, "homo_lr", 2)


def test_a_threshold_above_the_neighbourhood_is_refused() -> None:
    with pytest.raises(ComponentError, match=r"threshold: 4 is above the neighbourhood size 3"):
        parse_params({"secure_aggregate": {"neighbors": 2, "threshold": 4}}, "homo_lr", 6)
    with pytest.raises(ComponentError, match=r"params.secure_aggregate.neighbors: an even number from 2 up"):
        parse_params({"secure_aggregate": {"neighbors": 3}}, "homo_lr", 6)
    secure = parse_params({"secure_aggregate": {"neighbors": 4}}, "homo_lr", 10).secure
    assert (secure.neighbors, secure.threshold) == (4, 3)  # a majority of the 5 holding each client's shares


def test_bad_nn_layers_are_refused() -> None:
    with pytest.raises(ComponentError, match=r"params.hidden_layers: up to 8 layer sizes"):
        parse_params({"hidden_layers": [0]}, "homo_nn", 2)


def test_mismatched_columns_between_clients_fail_every_party_clearly(homo: BreastHomo) -> None:
    other = Table(homo.host.ids, tuple(reversed(homo.host.header)), homo.host.features, homo.host.labels)
    with pytest.raises(AssertionError, match="mismatched feature columns between clients: party 10000"):
        run_component("homo_lr", [homo.guest, other], {"max_iter": 2})


def test_a_host_without_labels_is_a_clear_error(homo: BreastHomo) -> None:
    unlabeled = Table(homo.host.ids, homo.host.header, homo.host.features)
    with pytest.raises(AssertionError, match="no label column y"):
        run_component("homo_lr", [homo.guest, unlabeled], {"max_iter": 2})


def test_an_update_beyond_the_bound_is_refused_not_wrapped(homo: BreastHomo) -> None:
    with pytest.raises(AssertionError, match=r"exceeds the secure-aggregation bound 10"):
        run_component("homo_lr", [homo.guest, homo.host], {"max_iter": 2, "secure_aggregate": {"bound": 10}})


def test_the_example_data_is_the_breast_set_split_by_rows(homo: BreastHomo, tmp_path: Path) -> None:
    assert (len(homo.guest), len(homo.host), len(homo.test)) == (227, 273, 69)
    ids = homo.guest.ids + homo.host.ids + homo.test.ids
    assert sorted(map(int, ids)) == list(range(569))
    assert homo.host_1.ids + homo.host_2.ids == homo.host.ids


def test_a_missing_test_table_fails_before_training(homo: BreastHomo) -> None:
    with pytest.raises(AssertionError, match=r"params.test_table: party 9999 cannot read 'nope'"):
        run_component("homo_lr", [homo.guest, homo.host], {"max_iter": 2, "test_table": "nope"})
