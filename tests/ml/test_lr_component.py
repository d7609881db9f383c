"""The hetero_lr and evaluation components as the flow runs them: one context per party and role.

As in the job file, the arbiter sits on the guest's party (one transport id, two roles): the
component then runs the arbiter-free protocol. A third-party arbiter runs FATE's protocol,
for data parties that trust it. Each context carries its party's own policy (a test lab's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from fate.federation.federation import Federation
from fate.federation.memory import MemoryHub
from fate.flow.jobspec import parse_job
from fate.flow.policy import Policy
from fate.ml import registry
from fate.ml.component import ComponentContext, ComponentError, ComponentResult, Table
from fate.ml.evaluation import auc
from fate.ml.lr_model import PartyModel
from fate.ml.lr_params import parse_params
from fate.ml.plain_lr import fit_plain
from tests.ml.conftest import DATA, Breast
from tests.ml.federated import LAB, run_threads
from tests.ml.test_plain_lr import FLOW_TEST

GUEST, HOST, THIRD = 9999, 10000, 10001
ROLES = {"guest": (GUEST,), "host": (HOST,), "arbiter": (GUEST,)}
THIRD_PARTY = {"guest": (GUEST,), "host": (HOST,), "arbiter": (THIRD,)}
EXAMPLES = DATA.parent
PARAMS = {**FLOW_TEST, "encrypt_param": {"key_length": 512}, "insecure_key": True}
TRUSTING = Policy(min_key_bits=256, allow_insecure_keys=True, trusted_arbiters=(THIRD,))


def _context(hub: MemoryHub, role: str, table: Table | None, sink: dict[str, list[Any]],
             inputs: dict[str, ComponentResult] | None = None, component: str = "lr",
             params: dict[str, Any] | None = None, roles: dict[str, tuple[int, ...]] = ROLES,
             policy: Policy = LAB, timeout: float = 600.0) -> ComponentContext:
    party = roles[role][0]
    fed = Federation(hub.transport(party), "job-1", roles, role, default_timeout=timeout)
    return ComponentContext(
        job_id="job-1", party_id=party, role=role, roles=roles, params=params or {}, federation=fed,
        component=component, inputs=inputs or {},
        table_name=None if table is None else "t", read_table=lambda name: _require(table),
        save_model=lambda obj: sink.setdefault(f"{role}.model", []).append(obj),
        log_metric=lambda name, value: sink.setdefault(f"{role}.{name}", []).append(value),
        policy=policy,
    )


def _require(table: Table | None) -> Table:
    assert table is not None
    return table


def _tables(breast: Breast) -> tuple[Table, Table]:
    guest = Table(breast.ids, tuple(f"g{i}" for i in range(10)), breast.guest, breast.labels)
    # The host's rows arrive in another order: the component aligns them to the guest's ids.
    order = np.random.default_rng(7).permutation(len(breast.ids))
    host = Table(tuple(breast.ids[i] for i in order), tuple(f"h{i}" for i in range(20)), breast.host[order])
    return guest, host


def test_lr_then_evaluation_on_every_role(breast: Breast) -> None:
    hub, sink = MemoryHub(), dict[str, list[Any]]()
    guest_table, host_table = _tables(breast)
    lr = registry.get("hetero_lr")
    # Every party joins the hub before any starts sending, as routers exist before jobs.
    contexts = {role: _context(hub, role, table, sink, params=PARAMS)
                for role, table in (("guest", guest_table), ("host", host_table), ("arbiter", None))}
    jobs: dict[str, Callable[[], ComponentResult]] = {
        role: (lambda ctx=ctx: lr(ctx)) for role, ctx in contexts.items()  # type: ignore[misc]
    }
    trained = run_threads(jobs)
    scored = trained["guest"].data
    assert scored is not None and scored.header == ("predict_score", "predict_result")
    assert auc(breast.labels, scored.features[:, 0]) == pytest.approx(0.975186, abs=1e-4)
    # Each party stored its own slice only; the arbiter role, on the guest's party, had nothing to do.
    host_model = PartyModel.from_dict(sink["host.model"][0])
    assert host_model.role == "host" and host_model.header == host_table.header and host_model.intercept is None
    assert PartyModel.from_dict(sink["guest.model"][0]).weights.shape == (10,)
    assert "arbiter.model" not in sink and trained["arbiter"].model is None

    evaluate = registry.get("evaluation")
    reports = {
        role: evaluate(_context(hub, role, None, sink, {"lr": trained[role]}, component="evaluate"))
        for role in ROLES
    }
    assert reports["guest"].metrics["auc"] == pytest.approx(0.975186, abs=1e-4)
    assert {"ks", "accuracy", "precision", "recall", "roc"} <= set(reports["guest"].metrics)
    assert sink["guest.auc"] == [reports["guest"].metrics["auc"]]
    # Without an arbiter the guest learns the loss, and only it.
    assert len(reports["guest"].metrics["loss"]) == 5 and sink["guest.loss"] == [reports["guest"].metrics["loss"]]
    assert reports["arbiter"].metrics == {} and reports["host"].metrics == {}
    assert hub.pending() == 0


def test_a_trusted_third_party_arbiter_runs_fates_protocol(breast: Breast) -> None:
    hub, sink = MemoryHub(), dict[str, list[Any]]()
    guest_table, host_table = _tables(breast)
    lr = registry.get("hetero_lr")
    contexts = {role: _context(hub, role, table, sink, params=PARAMS, roles=THIRD_PARTY, policy=TRUSTING)
                for role, table in (("guest", guest_table), ("host", host_table), ("arbiter", None))}
    trained = run_threads({role: (lambda ctx=ctx: lr(ctx)) for role, ctx in contexts.items()})  # type: ignore[misc]
    assert auc(breast.labels, trained["guest"].data.features[:, 0]) == pytest.approx(0.975186, abs=1e-4)
    assert PartyModel.from_dict(sink["arbiter.model"][0]).weights.shape == (0,)
    assert len(trained["arbiter"].metrics["loss"]) == 5 and "loss" not in trained["guest"].metrics
    report = registry.get("evaluation")(_context(hub, "arbiter", None, sink, {"lr": trained["arbiter"]},
                                                 component="evaluate", roles=THIRD_PARTY, policy=TRUSTING))
    assert len(report.metrics["loss"]) == 5


@pytest.mark.parametrize("role", ["guest", "host"])
def test_a_data_party_refuses_a_third_party_arbiter_it_does_not_trust(breast: Breast, role: str) -> None:
    hub, sink = MemoryHub(), dict[str, list[Any]]()
    tables = dict(zip(("guest", "host"), _tables(breast), strict=True))
    # LAB trusts 10001, not this arbiter; nothing is sent before the refusal.
    roles = {**THIRD_PARTY, "arbiter": (10005,)}
    with pytest.raises(ComponentError, match=r"party 10005, is not in this party's policy.trusted_arbiters"):
        registry.get("hetero_lr")(_context(hub, role, tables[role], sink, params=PARAMS, roles=roles))
    assert hub.pending() == 0


@pytest.mark.parametrize("arbiter", [GUEST, 10002, None])
def test_two_hosts_need_an_independent_arbiter(breast: Breast, arbiter: int | None) -> None:
    hub, sink = MemoryHub(), dict[str, list[Any]]()
    guest_table, _ = _tables(breast)
    roles = {"guest": (GUEST,), "host": (HOST, 10002), **({"arbiter": (arbiter,)} if arbiter else {})}
    with pytest.raises(ComponentError, match="an independent arbiter is needed with 2 hosts"):
        registry.get("hetero_lr")(_context(hub, "guest", guest_table, sink, params=PARAMS, roles=roles))


def test_bad_params_and_missing_labels_are_component_errors(breast: Breast) -> None:
    hub, sink = MemoryHub(), dict[str, list[Any]]()
    guest_table, _ = _tables(breast)
    lr = registry.get("hetero_lr")
    with pytest.raises(ComponentError, match="max_iter"):
        lr(_context(hub, "guest", guest_table, sink, params={"max_iter": 0}))
    unlabeled = Table(guest_table.ids, guest_table.header, guest_table.features)
    with pytest.raises(ComponentError, match="no label column"):
        lr(_context(hub, "guest", unlabeled, sink, params=PARAMS))
    three_classes = Table(guest_table.ids, guest_table.header, guest_table.features, breast.labels * 2)
    with pytest.raises(ComponentError, match=r"binary classifier.*found 0, 2"):
        lr(_context(hub, "guest", three_classes, sink, params=PARAMS))
    with pytest.raises(ComponentError, match="predict_score"):
        registry.get("evaluation")(_context(hub, "guest", guest_table, sink, component="evaluate"))


def test_example_job_pipeline_psi_lr_evaluation(breast: Breast) -> None:
    """The shipped job file's steps in order, with ids that only partly overlap between the parties."""
    job = parse_job((EXAMPLES / "jobs" / "breast-hetero-lr.yaml").read_text(encoding="utf-8"))
    assert [s.component for s in job.pipeline] == ["psi", "hetero_lr", "evaluation"]
    params = {**dict(job.pipeline[1].params), "max_iter": 3, "encrypt_param": {"key_length": 512}, "insecure_key": True}
    guest_table, host_table = _tables(breast)
    guest_table = guest_table.take(range(0, 500))  # the host lacks rows 500.. and has rows the guest lacks
    hub, sink = MemoryHub(), dict[str, list[Any]]()
    results: dict[str, dict[str, ComponentResult]] = {"guest": {}, "host": {}, "arbiter": {}}
    tables = {"guest": guest_table, "host": host_table.take(range(30, 569)), "arbiter": None}
    for step, step_params in (("intersect", {}), ("lr", params), ("evaluate", {})):
        component = registry.get(job.pipeline[len(results["guest"])].component)
        contexts = {role: _context(hub, role, tables[role], sink, dict(results[role]), step, step_params)
                    for role in ROLES}
        done = run_threads({role: (lambda c=ctx, run=component: run(c)) for role, ctx in contexts.items()})  # type: ignore[misc]
        for role in ROLES:
            results[role][step] = done[role]
    common = sorted(set(guest_table.ids) & set(tables["host"].ids))  # type: ignore[union-attr]
    assert results["guest"]["intersect"].metrics["intersect_count"] == len(common)
    rows = [breast.ids.index(i) for i in common]
    parts = [breast.guest[rows], breast.host[rows]]
    plain = fit_plain(parts, breast.labels[rows], parse_params(params))
    report = results["guest"]["evaluate"].metrics
    assert report["auc"] == pytest.approx(auc(breast.labels[rows], plain.decision(parts)), abs=1e-9)
    assert len(report["roc"]["fpr"]) > 2
    assert len(results["guest"]["evaluate"].metrics["loss"]) == 3


@pytest.mark.parametrize(("init", "expected"), [("zeros", r"hetero_lr \(host\): .*plaintext range"),
                                                ("ones", r"a forward value exceeds 2\^40")])
def test_a_value_outside_the_encoding_range_is_a_component_error(breast: Breast, init: str, expected: str) -> None:
    hub, sink = MemoryHub(), dict[str, list[Any]]()
    guest_table, host_table = _tables(breast)
    features = host_table.features.copy()
    features[3, 4] = 1e200
    params = {**PARAMS, "init_param": {"init_method": init}}
    host = _context(hub, "host", Table(host_table.ids, host_table.header, features), sink, params=params)
    # The guest gives up soon after the host fails (its thread would otherwise wait for the default timeout).
    guest = _context(hub, "guest", guest_table, sink, params=params, timeout=20.0)
    lr = registry.get("hetero_lr")
    with pytest.raises(AssertionError, match=expected):
        run_threads({"host": lambda: lr(host), "guest": lambda: lr(guest)})
