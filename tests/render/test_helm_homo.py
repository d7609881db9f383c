"""A horizontal federation (three hospitals, homo_lr / homo_nn with secure aggregation) in Helm.

Nothing in the charts is homo-specific: what matters is that each hospital's policy can name the
homo components, that its charts lint, render and validate like every other federation's, and
that the flow each chart configures accepts the shipped three-client job under that policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fate.flow.jobspec import parse_job
from fate.flow.policy import decide, parse_policy
from fatectl.project import SECRET_VALUES, write_helm
from fatectl.spec.loader import load_federation

from .tools import helm_manifests, lint_errors, schema_errors

JOB = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "breast-homo-lr-3.yaml"
TABLES = {9999: "breast_homo_guest", 10000: "breast_homo_host_1", 10001: "breast_homo_host_2"}


def _spec(tmp: Path) -> Path:
    lines = ["apiVersion: fatectl/v1", "name: hospitals", "security: {tls: mutual}", "parties:"]
    for i, (pid, table) in enumerate(TABLES.items()):
        lines += [f"  - id: {pid}", f"    name: hospital-{'abc'[i]}", f"    address: fate.hospital-{'abc'[i]}.example",
                  "    modules: [router, flow]"]
        if pid != 9999:  # the guest proposes; the others let it run the study on their table, as host
            lines += ["    policy:", "      approval: manual", "      rules:",
                      "        - {name: homo-study, peers: [9999], components: [homo_lr, homo_nn, evaluation],",
                      f"           tables: [{table}], roles: [host], approval: auto}}"]
    path = tmp / "hospitals.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _values(chart: Path) -> dict[str, Any] | None:
    path = chart / SECRET_VALUES
    return yaml.safe_load(path.read_text()) if path.exists() else None


def test_hospital_charts_lint_render_validate_and_their_flows_accept_the_homo_job(tmp_path: Path) -> None:
    fed = load_federation(_spec(tmp_path))
    write_helm(fed, tmp_path / "out")
    job = parse_job(JOB.read_text(encoding="utf-8"))
    components = [s.component for s in job.pipeline]
    assert components == ["homo_lr", "evaluation"]
    for party in fed.parties:
        chart = tmp_path / "out" / party.name
        assert lint_errors(chart, _values(chart)) == [], party.name
        docs = helm_manifests(chart, party.name, _values(chart))
        assert schema_errors(docs) == [], party.name
        flow = yaml.safe_load(next(d for d in docs if d["kind"] == "ConfigMap")["data"]["flow.yaml"])
        decision = decide(parse_policy(flow.get("policy")), party.id, 9999, components, job.tables.get(party.id),
                          job.roles_of(party.id))
        assert decision.verdict == "accept", (party.name, decision)
    # The rule is as narrow as written: another table of the same hospital still waits for a person.
    chart = tmp_path / "out" / "hospital-b"
    flow = yaml.safe_load(next(d for d in helm_manifests(chart, "hospital-b", _values(chart))
                               if d["kind"] == "ConfigMap")["data"]["flow.yaml"])
    other = decide(parse_policy(flow["policy"]), 10000, 9999, components, "icu_records", ("host",))
    assert other.verdict == "pending"
