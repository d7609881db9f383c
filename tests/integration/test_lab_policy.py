"""A real local lab where the host (10000) has no rule for the guest (9999): every job the guest
proposes waits there until an operator decides with `fatectl job approve|reject`, and the host's
audit log, verified by `fatectl audit --verify`, shows what happened (and when it was tampered with).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fatectl.audit import record_hash
from fatectl.cli import main
from fatectl.lab.local import LocalLab

from .conftest import Lab, psi_job, start_lab, upload_ids

pytestmark = pytest.mark.timeout(300)
GUEST, HOST = 9999, 10000


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = start_lab(tmp_path_factory.mktemp("policy-lab"), "policy-orgs", [GUEST, HOST], exchange=False,
                    manual=[HOST])
    try:
        yield lab
    finally:
        LocalLab.of(lab.fed, lab.root).down()


def _cli(lab: Lab, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"FATECTL_LAB_DIR": str(lab.root)})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _json(lab: Lab, *args: str) -> Any:
    code, out = _cli(lab, *args, "--output", "json")
    assert code == 0, out
    return json.loads(out)


def _until_status(lab: Lab, party: int, job_id: str, wanted: str, timeout: float = 60) -> dict[str, Any]:
    """Polls `fatectl job status`; the proposal may not have reached the party yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code, out = _cli(lab, "job", "status", str(lab.spec), "--party", str(party), job_id, "--output", "json")
        job: dict[str, Any] = json.loads(out)[0] if code == 0 else {"status": ""}
        if job["status"] == wanted:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} on party {party} never became {wanted}")


def _submit(lab: Lab, tmp_path: Path, name: str) -> str:
    upload_ids(lab.client(GUEST), tmp_path, f"{name}-g", [f"id{i}" for i in range(50)])
    upload_ids(lab.client(HOST), tmp_path, f"{name}-h", [f"id{i}" for i in range(25, 80)])
    job_file = tmp_path / f"{name}.yaml"
    job_file.write_text(psi_job({GUEST: f"{name}-g", HOST: f"{name}-h"}, GUEST, [HOST]))
    submitted = _json(lab, "job", "submit", str(lab.spec), "--party", str(GUEST), str(job_file))
    assert submitted["status"] == "waiting", submitted  # submit returns before the host decides
    return str(submitted["id"])


def test_a_job_waits_for_the_hosts_approval_then_runs(lab: Lab, tmp_path: Path) -> None:
    spec = str(lab.spec)
    job_id = _submit(lab, tmp_path, "approved")
    on_host = _until_status(lab, HOST, job_id, "pending")
    assert on_host["reason"].startswith("needs approval by an operator of party 10000 (default) before ")
    assert lab.client(HOST).job(job_id)["worker_pid"] is None

    pending = _json(lab, "job", "pending", spec, "--party", str(HOST))
    assert [(j["id"], j["initiator"], j["our_roles"]) for j in pending] == [(job_id, GUEST, ["host"])]
    assert pending[0]["tables"] == {str(GUEST): "approved-g", str(HOST): "approved-h"}
    assert pending[0]["pipeline"] == [{"name": "intersect", "component": "psi", "params": {}}]
    code, text = _cli(lab, "job", "pending", spec, "--party", str(HOST))
    assert code == 0 and f"job {job_id} '' proposed by party {GUEST}" in text and "intersect: psi {}" in text
    deadline = time.monotonic() + 30
    while lab.client(GUEST).job(job_id)["reason"] != "waiting for approval by parties [10000]":
        assert time.monotonic() < deadline, lab.client(GUEST).job(job_id)
        time.sleep(0.1)
    assert lab.client(GUEST).job(job_id)["status"] == "waiting"

    code, out = _cli(lab, "job", "approve", spec, "--party", str(HOST), job_id, "--reason", "study #7")
    assert code == 0 and f"job {job_id} " in out, out
    done = lab.client(GUEST).wait(job_id, 120, 0.2)
    assert done["status"] == "success", done["reason"]
    assert lab.client(HOST).wait(job_id, 60, 0.2)["status"] == "success"

    report = _json(lab, "audit", spec, "--party", str(HOST), "--verify")
    records = [r for r in report["records"] if r["job_id"] == job_id]
    assert [r["kind"] for r in records[:4]] == ["proposal", "decision", "approval", "start"]
    assert records[-1]["kind"] == "end" and records[-1]["detail"] == {"status": "success", "reason": ""}
    assert records[0]["detail"]["from"] == GUEST and records[0]["detail"]["tables"][str(HOST)] == "approved-h"
    assert records[1]["detail"]["verdict"] == "pending" and records[1]["detail"]["rule"] == "default"
    assert records[2]["actor"] == "operator" and records[2]["detail"]["note"] == "study #7"
    assert {"read", "output"} <= {r["kind"] for r in records}
    read = next(r for r in records if r["kind"] == "read")
    assert read["detail"] == {"table": "approved-h", "rows": 55, "component": "intersect"}
    verification = report["verification"]
    assert verification["records"] == len(report["records"]) and verification["head"]["seq"] == len(report["records"])


def test_a_rejected_job_fails_everywhere_and_never_runs(lab: Lab, tmp_path: Path) -> None:
    spec = str(lab.spec)
    job_id = _submit(lab, tmp_path, "rejected")
    _until_status(lab, HOST, job_id, "pending")
    code, out = _cli(lab, "job", "reject", spec, "--party", str(HOST), job_id, "--reason", "not this table")
    assert code == 0 and "failed: rejected by an operator: not this table" in out, out
    on_guest = lab.client(GUEST).wait(job_id, 60, 0.2)
    assert on_guest["reason"] == "not agreed: party 10000 refused: rejected by an operator of party 10000: not this table"
    code, out = _cli(lab, "job", "approve", spec, "--party", str(HOST), job_id)
    assert code == 4 and "is failed, not waiting for approval" in out
    code, out = _cli(lab, "job", "submit", spec, "--party", str(GUEST), str(tmp_path / "rejected.yaml"), "--wait",
                     "--timeout", "1")
    assert code == 6 and "still waiting after 1s" in out  # --wait says the job waits on the host


def _host_db(lab: Lab) -> Path:
    return LocalLab.of(lab.fed, lab.root).paths.data_dir / f"org-{HOST}" / "flow" / "flow.db"


def _rewrite_history(db_path: Path) -> None:
    """An attacker with the host's database file turns its first decision into an automatic
    acceptance and recomputes every hash after it, so the chain verifies on its own."""
    db = sqlite3.connect(db_path)
    db.row_factory = sqlite3.Row
    db.executescript("DROP TRIGGER IF EXISTS audit_no_update;")
    prev = "0" * 64
    for row in db.execute("SELECT * FROM audit ORDER BY seq").fetchall():
        record = {**dict(row), "detail": json.loads(row["detail"])}
        if record["kind"] == "decision" and record["detail"].get("verdict") == "pending":
            record["detail"] = {**record["detail"], "verdict": "accept", "rule": "rule friends"}
        digest = record_hash(prev, record)
        db.execute("UPDATE audit SET detail=?, prev_hash=?, hash=? WHERE seq=?",
                   (json.dumps(record["detail"]), prev, digest, record["seq"]))
        prev = digest
    db.commit()
    db.close()


def test_audit_verify_catches_a_rewritten_history_and_an_edited_record(lab: Lab, tmp_path: Path) -> None:
    spec = str(lab.spec)
    assert _cli(lab, "audit", spec, "--party", str(HOST), "--verify")[0] == 0  # checkpoint at the current head
    _rewrite_history(_host_db(lab))
    code, out = _cli(lab, "audit", spec, "--party", str(HOST), "--verify")
    assert code == 9 and "the audit log of party 10000 failed verification" in out
    assert "the history was rewritten" in out, out

    db = sqlite3.connect(_host_db(lab))
    db.execute("UPDATE audit SET actor='nobody' WHERE seq=3")
    db.commit()
    db.close()
    code, out = _cli(lab, "audit", spec, "--party", str(HOST), "--verify")
    assert code == 9 and "record 3 (" in out and "does not match its hash: its content was edited" in out, out
