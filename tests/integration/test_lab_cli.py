"""The operator's commands against real local labs: clear errors, no tracebacks."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from fatectl.cli import main
from fatectl.errors import EnvironmentProblem, Timeout
from fatectl.lab.local import LocalLab
from fatectl.pki import ensure_secrets
from fatectl.spec.loader import load_federation

from .conftest import Lab, spec_text

pytestmark = pytest.mark.timeout(300)


def _cli(lab: Lab, *args: str) -> tuple[int, str]:
    runner = CliRunner()
    result = runner.invoke(main, list(args), env={"FATECTL_LAB_DIR": str(lab.root)})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_upload_and_job_errors_name_the_row_and_field(two_party_lab: Lab, tmp_path: Path) -> None:
    spec = str(two_party_lab.spec)
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("id,x0,x1\na,1,2\nb,3\nc,4,five\n")
    code, out = _cli(two_party_lab, "data", "upload", spec, "--party", "9999", "--name", "bad", str(bad_csv))
    assert code == 4
    assert (
        "line 3: 2 fields, the header has 3" in out
        and "line 4, column 'x1': 'five' is not a finite number" in out
    )
    assert "Traceback" not in out
    bad_job = tmp_path / "job.yaml"
    bad_job.write_text(
        "roles: {guest: [9999], host: [10000]}\ntables: {9999: a, 10000: b}\npipeline: [{name: p, component: magic}]\n"
    )
    code, out = _cli(two_party_lab, "job", "submit", spec, "--party", "9999", str(bad_job))
    assert code == 4 and "pipeline[0].component: 'magic' is not a known component" in out
    assert f"error: {bad_job}: party 9999: invalid job file" in out  # names the file it refused


def test_job_commands_round_trip(two_party_lab: Lab, tmp_path: Path) -> None:
    spec = str(two_party_lab.spec)
    for party, ids in ((9999, "a\nb\nc\n"), (10000, "c\nb\nd\n")):
        f = tmp_path / f"{party}.csv"
        f.write_text("id\n" + ids)
        code, out = _cli(
            two_party_lab,
            "data",
            "upload",
            spec,
            "--party",
            str(party),
            "--name",
            "cli",
            "--overwrite",
            str(f),
        )
        assert code == 0 and "3 rows" in out, out
    job = tmp_path / "psi.yaml"
    job.write_text(
        "roles: {guest: [9999], host: [10000]}\ntables: {9999: cli, 10000: cli}\npipeline: [{name: intersect, component: psi}]\n"
    )
    code, out = _cli(
        two_party_lab, "job", "submit", spec, "--party", "10000", str(job), "--wait", "--output", "json"
    )
    assert code == 0, out
    submitted = json.loads(out[out.index("{") :])
    assert submitted["status"] == "success"
    code, out = _cli(
        two_party_lab, "job", "status", spec, "--party", "9999", submitted["id"], "--output", "json"
    )
    assert code == 0 and json.loads(out)[0]["status"] == "success"
    code, out = _cli(two_party_lab, "job", "list", spec, "--party", "9999")
    assert code == 0 and submitted["id"] in out and out.splitlines()[0].startswith("ID")
    code, out = _cli(
        two_party_lab, "job", "outputs", spec, "--party", "9999", submitted["id"], "--output", "json"
    )
    assert {"name": "intersect_count", "value": 2} in [
        {"name": r["name"], "value": r["value"]} for r in json.loads(out)
    ]
    code, out = _cli(two_party_lab, "job", "logs", spec, "--party", "9999", submitted["id"])
    assert code == 0 and "intersection has 2 ids" in out
    code, out = _cli(two_party_lab, "job", "stop", spec, "--party", "9999", submitted["id"])
    assert code == 4 and "already ended (success)" in out


def test_status_and_idempotent_up(two_party_lab: Lab) -> None:
    code, out = _cli(two_party_lab, "status", str(two_party_lab.spec), "--output", "json")
    rows = json.loads(out)
    assert code == 0
    assert {r["state"] for r in rows if r["process"].startswith("local")} == {"running"}
    assert [r["state"] for r in rows if r["process"].startswith("link")] == ["up", "up"]
    code, out = _cli(two_party_lab, "up", "local", str(two_party_lab.spec), "-q")
    assert code == 0 and "ready" in out and "4 processes" in out


def test_port_in_use_is_named(tmp_path: Path) -> None:
    spec = tmp_path / "busy.yaml"
    spec.write_text(spec_text("busy-orgs", [9999, 10000], exchange=False))
    fed = load_federation(spec)
    port = fed.party(10000).compose.host_ports["flow"]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        with pytest.raises(EnvironmentProblem) as info:
            LocalLab.of(fed, tmp_path / "lab").up(timeout=30)
    assert f"port {port} on 127.0.0.1 (for org-10000/flow) is in use" in str(info.value)
    assert not (tmp_path / "lab" / "busy-orgs" / "local" / "state.json").exists()


def test_a_crashing_process_is_reported_with_its_log(tmp_path: Path) -> None:
    spec = tmp_path / "crash.yaml"
    spec.write_text(spec_text("crash-orgs", [9999, 10000], exchange=False))
    fed = load_federation(spec)
    lab = LocalLab.of(fed, tmp_path / "lab")
    ensure_secrets(fed, lab.secrets_dir)
    (lab.secrets_dir / "org-10000" / "flow_token").write_text("")  # unusable: the flow refuses to start
    try:
        with pytest.raises(Timeout) as info:
            LocalLab.of(fed, tmp_path / "lab").up(timeout=60)
        text = str(info.value)
        assert "org-10000/flow exited" in text
        assert "holds no usable token" in text
    finally:
        LocalLab.of(fed, tmp_path / "lab").down()


@pytest.mark.parametrize("job_id", ["../tables", ".", "..", "a/b"])
def test_a_job_id_never_reaches_another_route(two_party_lab: Lab, job_id: str) -> None:
    code, out = _cli(two_party_lab, "job", "status", str(two_party_lab.spec), "--party", "9999", job_id)
    assert code == 4 and f"no job {job_id!r} on this party" in out, out


def test_wait_timeout_says_the_job_keeps_running(monkeypatch: pytest.MonkeyPatch) -> None:
    from fatectl.flowclient import FlowClient

    monkeypatch.setattr(FlowClient, "job", lambda self, job_id: {"id": job_id, "status": "running"})
    with pytest.raises(Timeout, match=r"job j1 still running after 0s; it keeps running .*`fatectl job stop`"):
        FlowClient("http://127.0.0.1:9", "t", 9999).wait("j1", timeout=0)


def test_a_negative_wait_timeout_is_refused(two_party_lab: Lab, tmp_path: Path) -> None:
    job = tmp_path / "j.yaml"
    job.write_text("roles: {guest: [9999]}\n")
    code, out = _cli(two_party_lab, "job", "submit", str(two_party_lab.spec), "--party", "9999", str(job),
                     "--wait", "--timeout", "-1")
    assert code == 1 and "--timeout" in out  # a usage error is bad input


def test_a_missing_table_or_job_file_is_bad_input_exit_1(two_party_lab: Lab, tmp_path: Path) -> None:
    spec = str(two_party_lab.spec)
    code, out = _cli(two_party_lab, "data", "upload", spec, "--party", "9999", "--name", "t", str(tmp_path / "no.csv"))
    assert code == 1 and "no.csv: no such file" in out
    code, out = _cli(two_party_lab, "job", "submit", spec, "--party", "9999", str(tmp_path / "no.yaml"))
    assert code == 1 and "no.yaml: cannot read the job file" in out
