"""The audit log: a hash chain that fatectl verifies with its own code, tampering with either
store's database caught (an edited row by the chain, a consistently rewritten chain by the
operator's checkpoint). How the stores keep it (append-only, gapless, migrations) is in
test_store_contract.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fate.flow.audit import AuditLog
from fate.flow.store import Store
from fatectl.audit import Checkpoint, chain_problem, checkpoint_problem, read_checkpoint, record_hash
from fatectl.errors import AuditError
from tests.flow.backends import Backend


def _log(backend: Backend) -> AuditLog:
    log = AuditLog(backend.open())
    log.append("proposal", "j1", "party 9999", {"from": 9999, "tables": {"10000": "breast"}})
    log.append("decision", "j1", "policy", {"verdict": "pending", "rule": "default"})
    log.append("approval", "j1", "operator", {"note": "ok"})
    log.append("start", "j1", "party 9999", {"initiator": 9999})
    return log


def test_an_edited_record_is_named(backend: Backend) -> None:
    log = _log(backend)
    backend.tamper("UPDATE audit SET detail=? WHERE seq=2", json.dumps({"verdict": "accept", "rule": "default"}))
    assert chain_problem(log.records()) == "record 2 (decision, job j1) does not match its hash: its content was edited"


def test_an_edited_record_with_its_own_hash_fixed_breaks_the_next_link(backend: Backend) -> None:
    log = _log(backend)
    forged = {**log.records()[1], "detail": {"verdict": "accept", "rule": "default"}}
    forged_hash = record_hash(forged["prev_hash"], forged)
    backend.tamper("UPDATE audit SET detail=?, hash=? WHERE seq=2", json.dumps(forged["detail"]), forged_hash)
    assert chain_problem(log.records()) == (
        "record 3 (approval, job j1) does not link to record 2: it was dropped, edited or replaced")


def test_a_dropped_record_is_named(backend: Backend) -> None:
    log = _log(backend)
    backend.tamper("DELETE FROM audit WHERE seq=3")
    assert chain_problem(log.records()) == "record 3 is missing: the log goes from record 2 to 4"


def _rewrite(backend: Backend, store: Store, seq: int, detail: dict[str, object]) -> None:
    """Change one record and recompute every hash after it: a chain that verifies on its own."""
    prev = "0" * 64
    for record in AuditLog(store).records():
        row = {**record, "detail": detail if record["seq"] == seq else record["detail"]}
        digest = record_hash(prev, row)
        backend.tamper("UPDATE audit SET detail=?, prev_hash=?, hash=? WHERE seq=?",
                       json.dumps(row["detail"]), prev, digest, row["seq"])
        prev = digest


def test_a_consistently_rewritten_history_is_caught_by_the_checkpoint(backend: Backend) -> None:
    log = _log(backend)
    before = log.records()
    checkpoint = Checkpoint(before[-1]["seq"], before[-1]["hash"], 1_700_000_000.0)
    _rewrite(backend, log.store, 2, {"verdict": "accept", "rule": "rule friends"})
    after = log.records()
    assert chain_problem(after) == ""  # the chain alone cannot tell
    assert checkpoint_problem(after, checkpoint) == (
        f"record 4 (start, job j1) has hash {after[-1]['hash'][:16]}..., but was verified as "
        f"{checkpoint.hash[:16]}... on 2023-11-14 22:13:20 UTC: the history was rewritten")


def test_a_truncated_log_is_caught_by_the_checkpoint(backend: Backend) -> None:
    log = _log(backend)
    records = log.records()
    checkpoint = Checkpoint(4, records[-1]["hash"], 1_700_000_000.0)
    backend.tamper("DELETE FROM audit WHERE seq=4")
    assert chain_problem(log.records()) == ""
    assert "the log ends at record 3, but record 4 was verified on" in checkpoint_problem(log.records(), checkpoint)


def test_a_damaged_checkpoint_is_an_error_not_a_pass(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    path.write_text("{not json")
    with pytest.raises(AuditError, match=r"cannot read the audit checkpoint .*cp.json \(.*\); "
                                         "remove it only if you know why it is damaged$"):
        read_checkpoint(path)
    assert read_checkpoint(tmp_path / "none.json") is None


def test_outputs_holding_inf_or_nan_get_a_digest() -> None:
    from fate.flow.audit import digest

    roc = {"thresholds": [float("inf"), 0.5], "ks": float("nan")}
    assert digest(roc) == digest({"thresholds": [float("inf"), 0.5], "ks": float("nan")})
    assert digest(roc) != digest({"thresholds": [1.0, 0.5], "ks": 0.0})


# ---- what a record holds, and the canonical form both implementations hash (mutation testing) ----


def test_a_record_reads_back_exactly_as_appended(tmp_path: Path) -> None:
    log = AuditLog(Store(tmp_path))
    written = log.append("proposal", "j1", "party 9999", {"from": 9999, "tables": {"10000": "breast"}})
    log.append("decision", "j2", "policy", {"verdict": "accept"})
    log.append("start", "j1", "party 9999", {})
    first = log.records()[0]
    assert first == written
    assert (first["kind"], first["job_id"], first["actor"]) == ("proposal", "j1", "party 9999")
    assert first["detail"] == {"from": 9999, "tables": {"10000": "breast"}}
    assert [r["seq"] for r in log.records(job_id="j1")] == [1, 3]
    assert [r["seq"] for r in log.records(after=1)] == [2, 3]


def test_an_unknown_record_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown audit record kind 'gossip'"):
        AuditLog(Store(tmp_path)).append("gossip", "j1", "party 9999", {})


def test_a_hostile_job_id_or_actor_is_stored_shortened(tmp_path: Path) -> None:
    from fate.flow.audit import MAX_FIELD

    log = AuditLog(Store(tmp_path))
    record = log.append("ignored", "j" * (MAX_FIELD + 1), "a" * MAX_FIELD, {})
    assert record["job_id"] == "j" * MAX_FIELD + "..." and record["actor"] == "a" * MAX_FIELD
    assert chain_problem(log.records()) == ""


# The documented canonical form (docs/flow.md): sorted keys, no spaces, ASCII only (non-ASCII escaped).
CANONICAL = (b'{"actor":"op\\u00e9rateur","detail":{"a":1,"z":"\\u2713"},"job_id":"j1","kind":"approval",'
             b'"seq":1,"ts":1700000000.5}')
UNORDERED = {"ts": 1700000000.5, "seq": 1, "kind": "approval", "job_id": "j1", "actor": "opérateur",
             "detail": {"z": "✓", "a": 1}}


def test_both_implementations_hash_the_documented_canonical_form() -> None:
    import hashlib

    from fate.flow import audit as engine

    expected = hashlib.sha256(b"0" * 64 + CANONICAL).hexdigest()
    assert engine.canonical({k: UNORDERED[k] for k in ("seq", "ts", "kind", "job_id", "actor", "detail")}) == CANONICAL
    assert engine.record_hash("0" * 64, UNORDERED) == expected
    assert record_hash("0" * 64, UNORDERED) == expected


def test_a_record_that_is_not_strict_json_never_enters_or_passes_the_chain(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        AuditLog(Store(tmp_path)).append("end", "j1", "flow", {"loss": float("nan")})
    with pytest.raises(ValueError):
        record_hash("0" * 64, {**UNORDERED, "detail": {"loss": float("inf")}})
    record = {**UNORDERED, "detail": {"loss": float("nan")}, "prev_hash": "0" * 64, "hash": "0" * 64}
    assert chain_problem([record]) == "record 1 (approval, job j1) is malformed"


def test_a_parameters_digest_is_the_same_on_every_party_and_version() -> None:
    import hashlib

    import numpy as np

    from fate.flow.audit import digest

    params = {"lr": {"max_iter": 10, "penalty": "L2"}, "psi": {"table": "clients-é"}}
    assert digest(params) == digest({"psi": {"table": "clients-é"}, "lr": {"penalty": "L2", "max_iter": 10}})
    # Pinned: each party writes this fingerprint into its own log, and operators compare them across parties.
    text = b'{"v":{"lr":{"max_iter":10,"penalty":"L2"},"psi":{"table":"clients-\\u00e9"}}}'
    assert digest(params) == hashlib.sha256(text).hexdigest()[:16]
    assert digest({"n": np.int64(3), "name": "é"}) == digest({"n": "3", "name": "é"})  # non-JSON values as text


def test_a_duplicated_record_is_named_out_of_order() -> None:
    records = [{"seq": 1, "ts": 1.0, "kind": "ignored", "job_id": "", "actor": "flow", "detail": {}}]
    records[0] |= {"prev_hash": "0" * 64, "hash": record_hash("0" * 64, records[0])}
    assert chain_problem(records + records) == "record 1 (ignored) is out of order: expected record 2"


def test_a_checkpoint_still_in_the_log_passes(tmp_path: Path) -> None:
    records = _log(tmp_path).records()
    assert checkpoint_problem(records, Checkpoint(2, records[1]["hash"], 1_700_000_000.0)) == ""


def test_an_emptied_log_is_caught_by_the_checkpoint() -> None:
    problem = checkpoint_problem([], Checkpoint(4, "ab" * 32, 1_700_000_000.0))
    assert problem == ("the log ends at record 0, but record 4 was verified on 2023-11-14 22:13:20 UTC: "
                       "the log was truncated or replaced")


class _Flow:
    """The flow's audit API over a real store, as fatectl's client sees it (paged)."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log

    def audit(self, after: int = 0, limit: int = 1000) -> list[object]:
        return list(self.log.records(after=after, limit=limit))


def _verify(monkeypatch: pytest.MonkeyPatch, log: AuditLog, root: Path, verify: bool = True) -> object:
    import fatectl.audit
    from fatectl.spec.model import Federation
    from tests.federation.specs import federation

    fed = federation()

    def client_for(asked: Federation, party_id: int) -> _Flow:
        assert (asked, party_id) == (fed, 10000)  # the party's own flow is asked
        return _Flow(log)

    monkeypatch.setattr(fatectl.audit, "client_for", client_for)
    if not verify:
        return fatectl.audit.audit_log(fed, 10000, root=root)
    return fatectl.audit.audit_log(fed, 10000, verify=True, root=root)


def test_listing_the_log_verifies_nothing_and_keeps_no_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fatectl.audit

    log = _log(tmp_path / "flow")
    report = _verify(monkeypatch, log, tmp_path / "lab", verify=False)
    assert report == fatectl.audit.AuditReport(10000, log.records(), None)
    assert isinstance(report, fatectl.audit.AuditReport) and report.as_json()["verification"] is None
    assert not (tmp_path / "lab").exists()


def test_verify_keeps_a_checkpoint_and_catches_a_history_rewritten_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fatectl.audit

    log, lab = _log(tmp_path / "flow"), tmp_path / "lab"
    monkeypatch.setattr(fatectl.audit, "PAGE", 3)  # the log is read page by page
    first = _verify(monkeypatch, log, lab)
    records = log.records()
    head = Checkpoint(4, records[-1]["hash"], 0.0)
    assert isinstance(first, fatectl.audit.AuditReport) and first.records == records
    assert first.verification is not None and first.verification.previous is None
    assert first.verification.head is not None and first.verification.records == 4
    assert (first.verification.head.seq, first.verification.head.hash) == (head.seq, head.hash)
    path = Path(first.verification.checkpoint_file)
    assert path == (lab / "testfed" / "audit" / "org-1.json").absolute()
    saved = read_checkpoint(path)
    assert saved is not None and (saved.seq, saved.hash) == (head.seq, head.hash)
    assert saved.verified_at == first.verification.head.verified_at and path.stat().st_mode & 0o777 == 0o600

    log.append("end", "j1", "flow", {"status": "success"})
    second = _verify(monkeypatch, log, lab)
    assert isinstance(second, fatectl.audit.AuditReport) and second.verification is not None
    assert second.verification.previous == saved
    moved = read_checkpoint(path)
    assert moved is not None and moved.seq == 5

    _rewrite(log.store, 2, {"verdict": "accept", "rule": "rule friends"})
    with pytest.raises(AuditError, match="the audit log of party 10000 failed verification") as caught:
        _verify(monkeypatch, log, lab)
    assert "the history was rewritten" in str(caught.value.problems[0])
    assert read_checkpoint(path) == moved  # a failed verification does not move the checkpoint


def test_verify_reports_a_broken_chain_and_keeps_no_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log, lab = _log(tmp_path / "flow"), tmp_path / "lab"
    _tamper(log.store, "DELETE FROM audit WHERE seq=3")
    with pytest.raises(AuditError) as caught:
        _verify(monkeypatch, log, lab)
    assert "record 3 is missing" in str(caught.value.problems[0])
    assert not (lab / "testfed" / "audit" / "org-1.json").exists()


def test_an_empty_log_verifies_and_keeps_no_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fatectl.audit

    report = _verify(monkeypatch, AuditLog(Store(tmp_path / "flow")), tmp_path / "lab")
    assert isinstance(report, fatectl.audit.AuditReport) and report.verification is not None
    assert report.verification.head is None and report.records == []
    assert not (tmp_path / "lab" / "testfed" / "audit" / "org-1.json").exists()
    assert report.as_json() == {"party": 10000, "records": [], "verification": {
        "records": 0, "head": None, "previous": None, "checkpoint_file": report.verification.checkpoint_file}}


def test_a_proposal_is_recorded_with_what_it_asks_of_us() -> None:
    from fate.flow.audit import digest, proposal_detail
    from fate.flow.jobspec import validate_job

    spec = validate_job({"name": "study", "roles": {"guest": [1], "host": [2, 3], "arbiter": [1]},
                         "tables": {1: "a", 2: "b", 3: "c"},
                         "pipeline": [{"name": "p", "component": "psi"},
                                      {"name": "lr", "component": "hetero_lr", "params": {"max_iter": 3}}]})
    assert proposal_detail(1, spec, 2) == {
        "from": 1, "name": "study", "roles": {"guest": [1], "host": [2, 3], "arbiter": [1]}, "our_roles": ["host"],
        "tables": {"1": "a", "2": "b", "3": "c"}, "components": ["psi", "hetero_lr"],
        "params_digest": digest({"p": {}, "lr": {"max_iter": 3}}),
    }
