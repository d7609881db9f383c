"""The audit log: a hash chain that fatectl verifies with its own code, tampering with either
store's database caught (an edited row by the chain, a consistently rewritten chain by the
operator's checkpoint). How the stores keep it (append-only, gapless, migrations) is in
test_store_contract.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
        f"{before[-1]['hash'][:16]}... on 2023-11-14 22:13:20 UTC: the history was rewritten")


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
    with pytest.raises(AuditError) as err:
        read_checkpoint(path)
    assert str(err.value).startswith(f"cannot read the audit checkpoint {path} (")
    assert str(err.value).endswith("); remove it only if you know why it is damaged")
    assert read_checkpoint(tmp_path / "none.json") is None


def test_outputs_holding_inf_or_nan_get_a_digest() -> None:
    from fate.flow.audit import digest

    roc = {"thresholds": [float("inf"), 0.5], "ks": float("nan")}
    assert digest(roc) == digest({"thresholds": [float("inf"), 0.5], "ks": float("nan")})
    assert digest(roc) != digest({"thresholds": [1.0, 0.5], "ks": 0.0})


def test_an_intact_log_verifies_against_the_checkpoint_read_back(backend: Backend, tmp_path: Path) -> None:
    """The whole round trip `fatectl audit --verify` makes, and text the flow stores beyond ASCII: the flow's
    hash and fatectl's own recomputation must agree on it, or an honest log would read as tampered."""
    log = _log(backend)
    log.append("rejection", "j2", "operator", {"note": "geprüft ✓ — nicht jetzt"})
    records = log.records()
    assert chain_problem(records) == ""
    path = tmp_path / "cp.json"
    path.write_text(json.dumps({"seq": 5, "hash": records[-1]["hash"], "verified_at": 1_700_000_000.5}))
    checkpoint = read_checkpoint(path)
    assert checkpoint == Checkpoint(5, records[-1]["hash"], 1_700_000_000.5)
    assert checkpoint_problem(records, checkpoint) == ""


def test_a_record_without_a_job_is_named_by_its_kind_alone(backend: Backend) -> None:
    log = AuditLog(backend.open())
    log.append("ignored", "", "party 9999", {"why": "garbage"})
    log.append("decision", "j1", "policy", {"verdict": "refuse"})
    backend.tamper("UPDATE audit SET actor='nobody' WHERE seq=1")
    assert chain_problem(log.records()) == "record 1 (ignored) does not match its hash: its content was edited"


def test_an_emptied_log_is_caught_by_the_checkpoint() -> None:
    problem = checkpoint_problem([], Checkpoint(4, "a" * 64, 1_700_000_000.0))
    assert problem == ("the log ends at record 0, but record 4 was verified on 2023-11-14 22:13:20 UTC: "
                       "the log was truncated or replaced")


def test_a_digest_depends_on_the_value_only() -> None:
    """Two parties fingerprinting the same parameters get the same 16 hex digits, whatever the key order,
    and any value the parameters may hold (a path, say) has one."""
    from fate.flow.audit import digest

    one = digest({"alpha": 0.01, "encrypt_param": {"key_length": 2048, "method": "paillier"}})
    assert one == digest({"encrypt_param": {"method": "paillier", "key_length": 2048}, "alpha": 0.01})
    assert len(one) == 16 and int(one, 16) >= 0
    assert digest({"path": Path("/data/x.csv")}) == digest({"path": Path("/data/x.csv")})
    assert digest({"path": Path("/data/x.csv")}) != digest({"path": Path("/data/y.csv")})


class _PagingClient:
    """The flow API's /v1/audit over a real AuditLog, with a small page (the HTTP hop is tested in test_api)."""

    def __init__(self, log: AuditLog, page: int) -> None:
        self.log, self.page = log, page
        self.calls: list[int] = []

    def audit(self, after: int = 0, limit: int = 1000) -> list[Any]:
        self.calls.append(after)
        return list(self.log.records(after, min(limit, self.page)))


def test_audit_verify_pages_moves_the_checkpoint_and_refuses_a_rewritten_history(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `fatectl audit --verify` does with the log: every page fetched, the chain and the checkpoint
    checked, the checkpoint moved to the head and kept private; a rewritten history is an AuditError."""
    import fatectl.audit as cli_audit
    from fatectl.lab.paths import audit_checkpoint
    from fatectl.spec.loader import load_federation

    fed = load_federation(Path(__file__).resolve().parents[2] / "examples" / "two-party.yaml")
    log = _log(backend)
    client = _PagingClient(log, page=3)
    monkeypatch.setattr(cli_audit, "PAGE", 3)
    monkeypatch.setattr(cli_audit, "client_for", lambda fed_, party, root=None: client)
    path = audit_checkpoint(fed.name, fed.party(10000).name, tmp_path)

    unverified = cli_audit.audit_log(fed, 10000, root=tmp_path)
    assert [r["seq"] for r in unverified.records] == [1, 2, 3, 4] and unverified.verification is None
    assert client.calls == [0, 3] and not path.exists()  # a full page, then the rest; nothing written
    assert unverified.as_json() == {"party": 10000, "records": unverified.records, "verification": None}

    report = cli_audit.audit_log(fed, 10000, verify=True, root=tmp_path)
    head = log.records()[-1]
    assert report.verification is not None and report.verification.records == 4
    assert report.verification.previous is None and report.verification.checkpoint_file == str(path)
    saved = read_checkpoint(path)
    assert saved is not None and (saved.seq, saved.hash) == (4, head["hash"]) and path.stat().st_mode & 0o077 == 0
    assert report.as_json()["verification"]["head"]["hash"] == head["hash"] and report.as_json()["party"] == 10000

    log.append("end", "j1", "flow", {"status": "success"})
    again = cli_audit.audit_log(fed, 10000, verify=True, root=tmp_path)
    assert again.verification is not None and again.verification.previous == saved
    saved = read_checkpoint(path)
    assert saved is not None and saved.seq == 5

    _rewrite(backend, log.store, 2, {"verdict": "accept", "rule": "rule friends"})
    with pytest.raises(AuditError) as err:
        cli_audit.audit_log(fed, 10000, verify=True, root=tmp_path)
    assert err.value.message == "the audit log of party 10000 failed verification"
    assert "the history was rewritten" in str(err.value)
    assert read_checkpoint(path) == saved  # a failed verification does not move the checkpoint


def test_a_record_holds_what_was_appended_and_its_hash_chains_it(backend: Backend) -> None:
    # The chain tests above edit records; here the record itself: each field as given, its detail
    # through JSON, its hash recomputed by fatectl from the previous one.
    log = AuditLog(backend.open())
    first = log.append("proposal", "j1", "party 9999", {"from": 9999, "tables": {"10000": "breast"}})
    second = log.append("decision", "j1", "policy", {"verdict": "refuse", "reasons": ("a", "b")})
    assert {k: first[k] for k in ("seq", "kind", "job_id", "actor", "detail", "prev_hash")} == {
        "seq": 1, "kind": "proposal", "job_id": "j1", "actor": "party 9999",
        "detail": {"from": 9999, "tables": {"10000": "breast"}}, "prev_hash": "0" * 64,
    }
    assert (second["seq"], second["prev_hash"], second["detail"]) == (
        2, first["hash"], {"verdict": "refuse", "reasons": ["a", "b"]})
    for prev, record in (("0" * 64, first), (first["hash"], second)):
        assert record["hash"] == record_hash(prev, record)
    assert log.records() == [first, second]


def test_what_a_peer_chooses_is_kept_short_and_only_json_is_recorded(backend: Backend) -> None:
    log = AuditLog(backend.open())
    record = log.append("ignored", "j" * 257, "a" * 256, {})
    assert (record["job_id"], record["actor"]) == ("j" * 256 + "...", "a" * 256)  # at most 256 kept as is
    with pytest.raises(ValueError, match="^unknown audit record kind 'gossip'$"):
        log.append("gossip", "j1", "party 9999", {})
    with pytest.raises(ValueError, match="not JSON compliant"):  # NaN is not JSON: no reader could hash it
        log.append("output", "j1", "worker", {"auc": float("nan")})
    assert [r["seq"] for r in log.records()] == [1]


def test_audit_verify_of_an_empty_log_writes_no_checkpoint(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fatectl.audit as cli_audit
    from fatectl.lab.paths import audit_checkpoint
    from fatectl.spec.loader import load_federation

    fed = load_federation(Path(__file__).resolve().parents[2] / "examples" / "two-party.yaml")
    log = AuditLog(backend.open())
    monkeypatch.setattr(cli_audit, "client_for", lambda fed_, party, root=None: _PagingClient(log, page=3))
    report = cli_audit.audit_log(fed, 10000, verify=True, root=tmp_path)
    assert report.records == [] and report.verification is not None
    assert (report.verification.records, report.verification.head, report.verification.previous) == (0, None, None)
    assert not audit_checkpoint(fed.name, fed.party(10000).name, tmp_path).exists()
    log.append("start", "j1", "flow", {})
    assert [r["seq"] for r in cli_audit.audit_log(fed, 10000, verify=True, root=tmp_path).records] == [1]


def test_records_out_of_order_or_malformed_are_named(backend: Backend) -> None:
    records = _log(backend).records()
    assert chain_problem([*records, records[-1]]) == "record 4 (start, job j1) is out of order: expected record 5"
    broken = [*records[:3], {k: v for k, v in records[3].items() if k != "detail"}]
    assert chain_problem(broken) == "record 4 (start, job j1) is malformed"
    # NaN is not JSON: the flow cannot have written it, so fatectl does not hash it either.
    assert chain_problem([*records[:3], {**records[3], "detail": {"x": float("nan")}}]) == (
        "record 4 (start, job j1) is malformed"
    )


def test_a_jobs_records_are_only_that_jobs(backend: Backend) -> None:
    log = _log(backend)
    log.append("proposal", "j2", "party 9999", {"from": 9999})
    assert [r["seq"] for r in log.records(job_id="j2")] == [5]
    assert [r["seq"] for r in log.records(after=2, limit=2)] == [3, 4]


def test_a_proposal_is_recorded_by_who_what_which_tables_and_a_fingerprint_of_its_parameters() -> None:
    from fate.flow.audit import digest, proposal_detail
    from fate.flow.jobspec import validate_job

    job: dict[str, Any] = {
        "name": "study", "roles": {"guest": [1], "host": [2], "arbiter": [1]}, "tables": {1: "a", 2: "ours"},
        "pipeline": [{"name": "p", "component": "psi"},
                     {"name": "lr", "component": "hetero_lr", "params": {"batch_size": 64}}],
    }
    detail = proposal_detail(1, validate_job(job), 2)
    assert detail == {
        "from": 1, "name": "study", "roles": {"guest": [1], "host": [2], "arbiter": [1]}, "our_roles": ["host"],
        "tables": {"1": "a", "2": "ours"}, "components": ["psi", "hetero_lr"],
        "params_digest": digest({"p": {}, "lr": {"batch_size": 64}}),
    }
    job["pipeline"][1]["params"]["batch_size"] = 32
    assert proposal_detail(1, validate_job(job), 2)["params_digest"] != detail["params_digest"]
