"""A client killed in the middle of homo training: the rounds go on with the survivors."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from fate.federation.federation import Federation
from fate.federation.memory import MemoryHub
from fate.ml.homo.params import parse_params
from fate.ml.homo.train import AggregatorModel, ClientModel, train_aggregator, train_client
from tests.homo.conftest import ARBITER, GUEST, HOSTS, BreastHomo, roles_for


class Killed(Exception):
    """The client's process is gone: it sends nothing more."""


class Dying(Federation):
    """Sends normally until `kill_on` (a tag suffix), which it sends first (or not, with before=True), then dies."""

    kill_on = ""
    before = False

    def remote(self, obj: Any, tag: str, role: str, party_ids: Any = None) -> None:
        if tag.endswith(self.kill_on):
            if not self.before:
                super().remote(obj, tag, role, party_ids)
            raise Killed(tag)
        super().remote(obj, tag, role, party_ids)


def _train(homo: BreastHomo, kill_on: str, before: bool) -> tuple[AggregatorModel, dict[int, ClientModel]]:
    tables = [homo.guest, homo.host_1, homo.host_2]
    params = parse_params({"max_iter": 5, "local_epochs": 2, "learning_rate": 0.5, "early_stop": "none",
                           "secure_aggregate": {"threshold": 2, "client_timeout": 1.0}}, "homo_lr", 3)
    hub, roles = MemoryHub(), roles_for(2)
    victim = HOSTS[1]
    results: dict[int, Any] = {}

    def client(pid: int, role: str, table: Any) -> None:
        cls = Dying if pid == victim else Federation
        fed = cls(hub.transport(pid), "job", roles, role, default_timeout=30.0)
        if isinstance(fed, Dying):
            fed.kill_on, fed.before = kill_on, before
        try:
            results[pid] = train_client(fed, table.header, table.features, table.labels, params, "lr")
        except Killed:
            results[pid] = "killed"

    arbiter = Federation(hub.transport(ARBITER), "job", roles, "arbiter", default_timeout=30.0)
    threads = [threading.Thread(target=client, args=(p, r, t), daemon=True)
               for p, r, t in zip((GUEST, *HOSTS[:2]), ("guest", "host", "host"), tables, strict=True)]
    for t in threads:
        t.start()
    model = train_aggregator(arbiter, params, "lr")
    for t in threads:
        t.join(30)
    assert results[victim] == "killed"
    return model, results


@pytest.mark.parametrize(("kill_on", "before", "sum_holds_victim"), [
    (".sa2.y", False, True),        # killed right after sending its masked update in round 2
    (".sa2.y", True, False),        # killed just before sending it (and its round-2 b shares, which travel with it)
    (".sa2.shares", True, True),    # killed after its masked update, before its unmasking shares
    (".sa0.cts", True, False),      # killed in the first round, before sharing its keys
    (".sa0.shares", True, True),    # killed in the first round, after its masked update
])
def test_training_survives_a_killed_client(homo: BreastHomo, kill_on: str, before: bool, sum_holds_victim: bool) -> None:
    model, results = _train(homo, kill_on, before)
    victim, killed_in = HOSTS[1], int(kill_on.split(".")[1].removeprefix("sa"))
    assert model.rounds == 5
    # The kill round holds the victim's input only when it was sent; it is left out from then on.
    dropped = [set(d) for d in model.dropped]
    assert dropped[:killed_in] == [set()] * killed_in
    assert dropped[killed_in] == (set() if sum_holds_victim else {victim})
    assert dropped[killed_in + 1] == ({victim} if sum_holds_victim else set())
    assert all(d == set() for d in dropped[killed_in + 2:])
    survivors = [results[GUEST], results[HOSTS[0]]]
    assert all(isinstance(r, ClientModel) and r.rounds == 5 for r in survivors)
    assert model.params is not None
    for r in survivors:
        assert np.array_equal(r.params, model.params)
