"""hetero_secureboost parameters: FATE 2.x's names and defaults (HeteroSecureBoostGuest), checked at once.

FATE 2.2: num_trees 3, max_depth 3, learning_rate 0.3, objective binary:bce, max_bin 32,
l2 0.1, l1 0, min_impurity_split 0.01, min_sample_split 2, min_leaf_node 1, min_child_weight 1,
hist_sub true, he_param {kind: paillier, key_length: 2048}. Early stopping uses FATE 1.x's
names: `early_stopping_rounds` (on the validate side table's log loss) and `n_iter_no_change`
with `tol` (on the training loss). `boost_from_average` (not FATE's; default false, FATE's
initial score 0) starts from the labels' prior log-odds as scikit-learn and LightGBM do.
Multi-class and regression objectives are not built yet and are refused by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from fate.ml.params import ParamReader, key_params

OBJECTIVES = ("binary:bce",)
NOT_YET = ("multi:ce", "regression:l2")


@dataclass(frozen=True)
class SBTParams:
    num_trees: int = 3
    max_depth: int = 3
    learning_rate: float = 0.3
    objective: str = "binary:bce"
    max_bin: int = 32
    l2: float = 0.1
    l1: float = 0.0
    min_impurity_split: float = 1e-2
    min_sample_split: int = 2
    min_leaf_node: int = 1
    min_child_weight: float = 1.0
    hist_sub: bool = True
    boost_from_average: bool = False  # start from the prior log-odds (scikit-learn, LightGBM) rather than 0 (FATE)
    early_stopping_rounds: int | None = None
    n_iter_no_change: bool = False
    tol: float = 1e-4
    threshold: float = 0.5  # score at or above which predict_result is 1
    key_length: int = 2048
    insecure_key: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["he_param"] = {"kind": "paillier", "key_length": out.pop("key_length")}
        return out


def parse_params(raw: Mapping[str, Any]) -> SBTParams:
    p = ParamReader("hetero_secureboost", raw)
    objective = p.raw_value("objective") or "binary:bce"
    if objective in NOT_YET:
        p.fail("objective", f"{objective!r} is not supported yet (binary:bce only)")
        objective = "binary:bce"
    else:
        objective = p.choice("objective", OBJECTIVES, "binary:bce")
    rounds_raw = p.raw_value("early_stopping_rounds")
    rounds = None if rounds_raw is None else p.int("early_stopping_rounds", 1, low=1)
    params = SBTParams(
        num_trees=p.int("num_trees", 3, low=1, high=10_000),
        max_depth=p.int("max_depth", 3, low=1, high=16),
        learning_rate=p.number("learning_rate", 0.3, low=0.0, low_open=True),
        objective=objective,
        max_bin=p.int("max_bin", 32, low=2, high=256),
        l2=p.number("l2", 0.1, low=0.0),
        l1=p.number("l1", 0.0, low=0.0),
        min_impurity_split=p.number("min_impurity_split", 1e-2, low=0.0),
        min_sample_split=p.int("min_sample_split", 2, low=2),
        min_leaf_node=p.int("min_leaf_node", 1, low=1),
        min_child_weight=p.number("min_child_weight", 1.0, low=0.0),
        hist_sub=p.bool("hist_sub", True),
        boost_from_average=p.bool("boost_from_average", False),
        early_stopping_rounds=rounds,
        n_iter_no_change=p.bool("n_iter_no_change", False),
        tol=p.number("tol", 1e-4, low=0.0),
        threshold=p.number("threshold", 0.5, low=0.0, high=1.0, low_open=True),
    )
    bits, insecure = key_params(p)
    p.done()
    return SBTParams(**{**asdict(params), "key_length": bits, "insecure_key": insecure})


def params_from_model(raw: Mapping[str, Any]) -> SBTParams:
    """The params a stored model was trained with (already validated then)."""
    return parse_params({k: v for k, v in raw.items() if k != "he_param"} | {"he_param": raw.get("he_param", {})})
