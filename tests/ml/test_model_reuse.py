"""Scoring in a later job with models an earlier job trained, through real Paillier on breast.

Models go through JSON as the flow's store keeps them; each party is handed only its own part
(fate.flow.models decides that from its store; tests/flow/test_model_reuse.py covers the refusals).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from fate.flow.worker import _jsonable
from fate.ml.component import Table
from fate.ml.evaluation import auc
from tests.ml.conftest import Breast
from tests.ml.pipeline import Step, run_pipeline
from tests.ml.test_plain_lr import FLOW_TEST
from tests.ml.test_secureboost import KEY, breast_tables


def _stored(runs: dict[str, Any], step: str) -> dict[str, Any]:
    """Each role's saved model of `step`, as a store gives it back (JSON)."""
    return {key: json.loads(json.dumps(_jsonable(run.models[step][-1]))) for key, run in runs.items()
            if run.models.get(step)}


@pytest.mark.parametrize(("component", "params"), [
    ("hetero_secureboost", {"num_trees": 2, **KEY}),
    ("hetero_lr", {**FLOW_TEST, "encrypt_param": {"key_length": 1024}, "insecure_key": True}),
])
def test_a_later_job_scores_with_the_earlier_jobs_model_exactly(breast: Breast, component: str,
                                                                 params: dict[str, Any]) -> None:
    guest, host = breast_tables(breast)
    tables = {"guest": guest, "host": host}
    trained = run_pipeline([Step("train", component, params)], tables)
    models = _stored(trained, "train")
    assert set(models) == {"guest", "host"} and models["host"]["role"] == "host"
    # The later job: new rows (the same data reordered and cut), no training, no parameters.
    keep = np.random.default_rng(8).permutation(len(guest))[:400]
    later = {"guest": guest.take(keep.tolist()), "host": host}
    scored = run_pipeline([Step("score", component, {})], later, stored={"score": models})
    before, after = trained["guest"].results["train"].data, scored["guest"].results["score"].data
    assert before is not None and after is not None and after.ids == later["guest"].ids
    np.testing.assert_allclose(after.features, before.features[keep], rtol=0, atol=1e-12)
    assert auc(breast.labels[keep], after.features[:, 0]) > 0.95
    assert scored["host"].models["score"][0] == models["host"]  # the host applied its own part, unchanged


def test_a_model_refuses_a_table_whose_columns_differ_naming_none_of_them(breast: Breast) -> None:
    guest, host = breast_tables(breast)
    trained = run_pipeline([Step("train", "hetero_secureboost", {"num_trees": 1, **KEY})], {"guest": guest, "host": host})
    renamed = Table(host.ids, ("secret_income", *host.header[1:]), host.features)
    with pytest.raises(AssertionError) as err:
        run_pipeline([Step("score", "hetero_secureboost", {})], {"guest": guest, "host": renamed},
                     stored={"score": _stored(trained, "train")}, timeout=60)
    message = str(err.value)
    assert "party host failed" in message and "the model's feature columns do not match" in message
    assert "secret_income" not in message and "h0" not in message
