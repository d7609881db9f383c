"""SecureBoost trees, feature importance and binning tables on the board: drawn from real models, escaped, no script."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from fate.board.model_views import binning_table, importance_svg, model_blocks, tree_svg
from fate.board.views import sections
from fate.crypto.codec import register_ciphertexts
from fate.ml.component import Table
from tests.ml.pipeline import HOST, Step, run_pipeline

KEY = {"he_param": {"key_length": 1024}, "insecure_key": True}


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    register_ciphertexts()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 5))
    y = (x[:, 0] - x[:, 3] + 0.3 * rng.normal(size=300) > 0).astype(float)
    ids = tuple(str(i) for i in range(300))
    guest = Table(ids, ("<script>alert(1)</script>", "g1"), x[:, :2], y)
    host = Table(ids, ("h0", "h1", "h2"), x[:, 2:])
    runs = run_pipeline([Step("bin", "hetero_feature_binning", KEY),
                         Step("sbt", "hetero_secureboost", {"num_trees": 2, **KEY}, needs=("bin",))],
                        {"guest": guest, "host": host})
    # As the board gets them: JSON from the flow.
    return {f"{role}.{step}": json.loads(json.dumps(runs[role].models[step][0]))
            for role in ("guest", "host") for step in ("bin", "sbt")}


def test_guest_trees_show_host_splits_as_party_and_split_id_only(models: dict[str, Any]) -> None:
    html = "".join(model_blocks(models["guest.sbt"]))
    assert f"host {HOST} · split" in html and "<svg" in html
    assert "h0" not in html and "h1" not in html and "h2" not in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "feature importance (total gain)" in html


def test_host_board_shows_its_own_lookup_table_and_edges(models: dict[str, Any]) -> None:
    html = "".join(model_blocks(models["host.sbt"]))
    assert "split lookup table" in html and "feature importance (split count)" in html
    splits = models["host.sbt"]["splits"]
    assert all(s["feature"] in html for s in splits.values())
    assert "bin edges of this party's 3 columns" in "".join(model_blocks(models["host.bin"]))


def test_binning_tables_show_woe_and_iv_per_bin(models: dict[str, Any]) -> None:
    column = models["guest.bin"]["host_columns"][f"host_{HOST}_1"]
    html = binning_table(f"host_{HOST}_1", column)
    assert html is not None
    assert f"IV {column['iv']:.4f}" in html and html.count("<tr>") == len(column["woe"]) + 1
    assert f"{column['woe'][0]:.4f}" in html and "bin 0" in html  # host bins have no edges on the guest
    own = binning_table("g1", models["guest.bin"]["columns"]["g1"])
    assert own is not None and "(-inf, " in own


def test_sections_carry_the_drawings(models: dict[str, Any]) -> None:
    rows = [{"component": "sbt", "role": "guest", "kind": "model", "name": "model", "value": models["guest.sbt"]}]
    (section,) = sections(rows, ["sbt"])
    assert section.models and any("<svg" in block for block in section.models)


@pytest.mark.parametrize("bad", [
    {"format": "fate.hetero_secureboost/1", "trees": [[{"id": 0, "party": "guest", "left": 0, "right": 0}]]},
    {"format": "fate.hetero_secureboost/1", "trees": "nope", "feature_importance": {"a": {"split": "x"}}},
    {"format": "fate.hetero_feature_binning/1", "columns": {"a": {"woe": [1.0], "event": [1, 2]}}},
    [1, 2, 3],
])
def test_malformed_models_draw_nothing(bad: Any) -> None:
    assert model_blocks(bad) == ()


def test_a_cyclic_tree_is_not_drawn() -> None:
    assert tree_svg([{"id": 0, "party": "guest", "left": 1, "right": 1}, {"id": 1, "party": None}], 0) is None
    assert importance_svg({}) is None
