"""Issue 11's attacks, replayed by a malicious member against a real star federation.

Three parties behind a real exchange (routers over mutual TLS, flows, worker processes).
The attacker is party 9999, using what a member really has: its own flow, its own
certificate, job files of its choosing. The victim is party 10000, whose policy grants
9999 one thing only: PSI on its table `shared`, as host, without a person; PSI on any other
table is denied, and anything else waits for a person. 10001 is a
third party that the victim does not trust as an arbiter. After every attack the victim's
audit log must show what was tried, and its chain must verify.

Attacks that need a forged relay or a flood are replayed in tests/federation
(test_malicious_exchange.py, test_quota*.py) and the LR reconstructions in tests/ml
(test_role_privacy.py); this suite drives the ones a member can do through the front door.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fatectl.audit import audit_log
from fatectl.flowclient import FlowClient, client_for
from fatectl.lab.local import LocalLab
from fatectl.spec.loader import load_federation
from fatectl.spec.model import Federation
from tests.integration.conftest import free_ports

pytestmark = pytest.mark.timeout(600)
ATTACKER, VICTIM, THIRD = 9999, 10000, 10001
DATA = Path(__file__).resolve().parents[2] / "examples" / "data"


def _spec(name: str) -> str:
    ports = free_ports(7)
    party = "  - {{id: {id}, name: org-{id}, address: org-{id}.example, modules: [router, flow],\n" \
            "     compose: {{hostPorts: {{router: {r}, flow: {f}}}}},\n     policy: {policy}}}\n"
    lab_keys = "allowInsecureKeys: true, minKeyBits: 1024"
    policies = {
        # The attacker controls its own flow: its own floors would not stop it, so they are lowered.
        ATTACKER: f"{{allowInsecureKeys: true, minKeyBits: 256, minBatchSize: 1, trustedArbiters: [{THIRD}], "
                  "rules: [{name: any, approval: auto}]}",
        VICTIM: f"{{{lab_keys}, rules: [{{name: shared-psi, peers: [{ATTACKER}], components: [psi], "
                "tables: [shared], roles: [host], approval: auto}, "
                f"{{name: no-other-psi, peers: [{ATTACKER}], components: [psi], approval: deny}}]}}",
        THIRD: f"{{{lab_keys}, rules: [{{name: any, approval: auto}}]}}",
    }
    parties = "".join(party.format(id=pid, r=ports[2 * i], f=ports[2 * i + 1], policy=policies[pid])
                      for i, pid in enumerate((ATTACKER, VICTIM, THIRD)))
    return (f"apiVersion: fatectl/v1\nname: {name}\n"
            "security: {tls: mutual, paillierKeyBits: 1024, allowInsecureKeys: true}\n"
            f"exchange: {{enabled: true, name: hub, id: 1, address: 127.0.0.1, compose: {{hostPort: {ports[6]}}}}}\n"
            f"parties:\n{parties}")


class Star:
    def __init__(self, fed: Federation, root: Path) -> None:
        self.fed, self.root = fed, root
        secrets = LocalLab.of(fed, root).secrets_dir
        self.attacker: FlowClient = client_for(fed, ATTACKER, secrets)
        self.victim: FlowClient = client_for(fed, VICTIM, secrets)

    def audit(self) -> list[dict[str, Any]]:
        return [dict(r) for r in audit_log(self.fed, VICTIM, verify=True, root=self.root).records]


@pytest.fixture(scope="module")
def star(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Star]:
    root = tmp_path_factory.mktemp("adversarial")
    (root / "star.yaml").write_text(_spec("attacked"))
    fed = load_federation(root / "star.yaml")
    LocalLab.of(fed, root / "lab").up(timeout=180)
    lab = Star(fed, root / "lab")
    for name in ("shared", "secret"):
        lab.victim.upload_table(name, DATA / "breast_hetero_host.csv", overwrite=True)
    lab.attacker.upload_table("mine", DATA / "breast_hetero_guest.csv", overwrite=True)
    try:
        yield lab
    finally:
        LocalLab.of(fed, root / "lab").down()


def _until(predicate: Callable[[], Any], timeout: float = 90.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _theirs(star: Star, job_id: str) -> dict[str, Any] | None:
    """The victim's record of a job, once the proposal reached it."""
    return next((dict(j) for j in star.victim.jobs(limit=500) if j["id"] == job_id), None)


def _propose(star: Star, job_text: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Submit as the attacker; return its view once agreement ended, and the victim's record if any."""
    job_id = star.attacker.submit(job_text)["id"]
    ended = _until(lambda: (j := star.attacker.job(job_id))["status"] != "waiting" and j, what="an answer")
    return dict(ended), _theirs(star, job_id)


def _lr(roles: str, tables: str, params: str) -> str:
    return (f"roles: {roles}\ntables: {tables}\npipeline:\n  - {{name: intersect, component: psi}}\n"
            f"  - {{name: lr, component: hetero_lr, needs: [intersect], params: {params}}}\ntimeout: 300\n")


def _decisions(records: list[dict[str, Any]], job_id: str) -> list[dict[str, Any]]:
    return [r["detail"] for r in records if r["job_id"] == job_id and r["kind"] == "decision"]


def test_a_job_no_rule_covers_waits_for_a_person_and_never_starts(star: Star) -> None:
    job_text = _lr(f"{{guest: [{ATTACKER}], host: [{VICTIM}], arbiter: [{ATTACKER}]}}",
                   f"{{{ATTACKER}: mine, {VICTIM}: shared}}",
                   "{max_iter: 2, encrypt_param: {key_length: 1024}, insecure_key: true}")
    job_id = star.attacker.submit(job_text)["id"]
    pending = _until(lambda: (j := _theirs(star, job_id)) is not None and j["status"] == "pending" and j,
                     what="pending")
    assert pending.get("worker_pid") is None and star.attacker.job(job_id)["status"] == "waiting"
    records = star.audit()
    assert [d["verdict"] for d in _decisions(records, job_id)] == ["pending"]  # hetero_lr is not in the rule
    proposal = next(r for r in records if r["job_id"] == job_id and r["kind"] == "proposal")
    assert proposal["actor"] == f"party {ATTACKER}"
    star.victim.reject(job_id, "not agreed with us")
    failed = _until(lambda: (j := star.attacker.job(job_id))["status"] == "failed" and j, what="the rejection")
    assert "not agreed with us" in failed["reason"]


@pytest.mark.parametrize(("params", "floor"), [
    ("{max_iter: 2, encrypt_param: {key_length: 256}, insecure_key: true}", "key"),
    ("{max_iter: 2, batch_size: 1, encrypt_param: {key_length: 1024}, insecure_key: true}", "batch"),
])
def test_weak_keys_and_one_row_batches_are_refused_whatever_the_job_file_says(
    star: Star, params: str, floor: str
) -> None:
    roles = f"{{guest: [{ATTACKER}], host: [{VICTIM}], arbiter: [{ATTACKER}]}}"
    ended, theirs = _propose(star, _lr(roles, f"{{{ATTACKER}: mine, {VICTIM}: shared}}", params))
    assert ended["status"] == "failed" and f"party {VICTIM} refused" in ended["reason"]
    assert theirs is not None and theirs["status"] == "failed" and theirs.get("worker_pid") is None
    (decision,) = _decisions(star.audit(), ended["id"])
    assert decision["verdict"] == "refuse" and decision["stage"] == "floors" and floor in decision["reason"]


def test_an_untrusted_third_party_arbiter_is_refused(star: Star) -> None:
    roles = f"{{guest: [{ATTACKER}], host: [{VICTIM}], arbiter: [{THIRD}]}}"
    ended, _ = _propose(star, _lr(roles, f"{{{ATTACKER}: mine, {VICTIM}: shared}}",
                                  "{max_iter: 2, encrypt_param: {key_length: 1024}, insecure_key: true}"))
    assert ended["status"] == "failed" and f"party {VICTIM} refused" in ended["reason"]
    (decision,) = _decisions(star.audit(), ended["id"])
    assert decision["verdict"] == "refuse" and str(THIRD) in decision["reason"]


def test_probing_for_a_table_learns_nothing(star: Star) -> None:
    replies = []
    for table in ("secret", "no_such_table"):  # one exists at the victim, one does not
        job = f"roles: {{guest: [{ATTACKER}], host: [{VICTIM}]}}\ntables: {{{ATTACKER}: mine, {VICTIM}: {table}}}\n" \
              "pipeline:\n  - {name: intersect, component: psi}\ntimeout: 120\n"
        ended, _ = _propose(star, job)
        replies.append(ended["reason"])
    assert replies[0] == replies[1] == f"not agreed: party {VICTIM} refused: refused by party {VICTIM}'s policy"


def test_what_the_rule_grants_still_runs_and_is_recorded(star: Star) -> None:
    job = f"roles: {{guest: [{ATTACKER}], host: [{VICTIM}]}}\ntables: {{{ATTACKER}: mine, {VICTIM}: shared}}\n" \
          "pipeline:\n  - {name: intersect, component: psi}\ntimeout: 300\n"
    job_id = star.attacker.submit(job)["id"]
    done = star.attacker.wait(job_id, timeout=300)
    assert done["status"] == "success", done["reason"]
    kinds = [r["kind"] for r in star.audit() if r["job_id"] == job_id]
    for kind in ("proposal", "decision", "start", "read", "end"):
        assert kind in kinds, (kind, kinds)
