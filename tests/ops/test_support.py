"""`fatectl support-bundle` of a real lab: what a helper needs, and not one secret of the lab."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from fatectl.cli import main
from fatectl.lab.local import LocalLab
from fatectl.support import redact, secret_values, write_support_bundle
from tests.integration.conftest import Lab, psi_job, upload_ids

pytestmark = pytest.mark.timeout(300)


def _members(path: Path) -> dict[str, str]:
    with tarfile.open(path) as tar:
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_the_bundle_of_a_real_lab_holds_no_secret(ops_lab: Lab, tmp_path: Path) -> None:
    guest, host = ops_lab.client(9999), ops_lab.client(10000)
    upload_ids(guest, tmp_path, "ids", ["a", "b", "c"])
    upload_ids(host, tmp_path, "ids", ["b", "c", "d"])
    job = guest.wait(guest.submit(psi_job({9999: "ids", 10000: "ids"}, 9999, [10000]))["id"], timeout=120)
    assert job["status"] == "success"
    lab = LocalLab.of(ops_lab.fed, ops_lab.root)
    token = (lab.secrets_dir / "org-9999" / "flow_token").read_text().strip()
    with open(lab.paths.log_file("org-9999/flow"), "a") as log:  # a secret that leaked into a log line
        log.write(f"debug: Authorization: Bearer {token}\n")

    result = write_support_bundle(ops_lab.fed, 9999, tmp_path / "support.tar.gz", root=ops_lab.root)
    members = _members(result.path)
    for name in ("README.txt", "spec.yaml", "versions.json", "doctor.json", "status.json",
                 "config/org-9999/flow.yaml", "config/org-9999/router.yaml",
                 "logs/org-9999-router.log", "logs/org-9999-flow.log", "jobs/jobs.json", f"jobs/{job['id']}.log.json"):
        assert name in members, name
    assert job["id"] in members["jobs/jobs.json"] and "listening" in members["logs/org-9999-router.log"]
    assert "config/org-10000/flow.yaml" not in members  # one party's view only

    secrets = secret_values(lab.secrets_dir)
    assert len(secrets) > 10  # tokens, passwords and every line of every private key of the lab
    everything = "\n".join(members.values())
    leaked = [s[:12] for s in secrets if s in everything]
    assert leaked == []
    assert "PRIVATE KEY" not in everything and result.redactions >= 1
    assert "Bearer [REDACTED]" in members["logs/org-9999-flow.log"]
    assert (result.path.stat().st_mode & 0o777) == 0o600


def test_redaction_catches_shapes_as_well_as_known_values() -> None:
    text = "x Bearer abcdefghijklmnop y -----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY----- known-secret-value"
    out, count = redact(text, ["known-secret-value"])
    assert out == "x Bearer [REDACTED] y [REDACTED] [REDACTED]" and count == 3


def test_the_cli_writes_the_archive_and_an_unknown_party_is_a_clear_error(ops_lab: Lab, tmp_path: Path) -> None:
    env = {"FATECTL_LAB_DIR": str(ops_lab.root)}
    ok = CliRunner().invoke(main, ["support-bundle", str(ops_lab.spec), "--party", "10000", "-o",
                                   str(tmp_path / "b.tgz")], env=env)
    assert ok.exit_code == 0, ok.output
    assert "secret occurrence(s) redacted" in ok.output and (tmp_path / "b.tgz").is_file()
    bad = CliRunner().invoke(main, ["support-bundle", str(ops_lab.spec), "--party", "4", "-o",
                                    str(tmp_path / "c.tgz")], env=env)
    assert bad.exit_code == 1 and "no party with id 4" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "c.tgz").exists()
