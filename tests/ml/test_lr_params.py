from __future__ import annotations

import pytest

from fate.ml.lr_params import LRParamError, params_to_dict, parse_params
from tests.ml.test_plain_lr import BENCHMARK


def test_defaults_are_fates() -> None:
    params = parse_params({})
    assert (params.max_iter, params.batch_size, params.tol, params.early_stop) == (100, -1, 1e-4, "diff")
    assert params.optimizer.method == "rmsprop"
    assert (params.optimizer.learning_rate, params.optimizer.alpha, params.optimizer.penalty) == (0.01, 1.0, "L2")
    assert params.init.init_method == "random_uniform" and params.init.fit_intercept
    assert params.key_length == 2048


def test_fate_job_params_round_trip() -> None:
    params = parse_params({**BENCHMARK, "encrypt_param": {"key_length": 1024}, "insecure_key": True})
    assert params.max_iter == 30 and params.key_length == 1024 and params.init.random_seed == 42
    assert parse_params(params_to_dict(params)) == params


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(LRParamError) as err:
        parse_params(
            {
                "max_iter": 0,
                "batch_size": 0,
                "optimizer": "lbfgs",
                "learning_rate": "fast",
                "colour": "red",
                "init_param": {"init_method": "magic"},
                "encrypt_param": {"key_length": 1024},
            }
        )
    problems = err.value.problems
    assert len(problems) == 7, problems
    joined = "\n".join(problems)
    for fragment in ("max_iter", "batch_size", "lbfgs", "learning_rate", "colour", "magic", "insecure"):
        assert fragment in joined
