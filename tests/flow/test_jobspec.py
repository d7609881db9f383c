"""Job-file validation: malformed files are refused with every problem naming its field."""

from __future__ import annotations

import pytest

from fate.flow.errors import BadRequest
from fate.flow.jobspec import parse_job

GOOD = """
name: demo
roles: {guest: [9999], host: [10000, 10001]}
tables: {9999: g, 10000: h1, "10001": h2}
pipeline:
  - {name: intersect, component: psi}
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(BadRequest) as info:
        parse_job(text)
    return list(info.value.problems) or [info.value.message]


def test_good_job() -> None:
    job = parse_job(GOOD)
    assert job.parties == (9999, 10000, 10001)
    assert job.tables == {9999: "g", 10000: "h1", 10001: "h2"}
    assert job.pipeline[0].component == "psi"
    assert job.roles_of(10001) == ("host",)


def test_json_is_accepted_and_round_trips() -> None:
    job = parse_job(GOOD)
    import json

    assert parse_job(json.dumps(job.to_dict())) == job


def test_every_problem_names_its_field() -> None:
    problems = _problems(
        """
roles: {guest: [9999, 1], host: [x], judge: [3]}
tables: {9999: "bad name!", 42: t}
pipeline:
  - {name: a, component: nope, params: [1], color: red}
  - {name: a, component: psi, needs: [zzz]}
timeout: -5
extra: 1
"""
    )
    expected = [
        "extra: unknown field",
        "roles.judge: unknown role",
        "roles.host[0]: 'x' is not a party id",
        "roles.guest: exactly one guest party",
        "tables.9999: 'bad name!' is not a table name",
        "tables.42: party 42 has no role in this job",
        "tables.1: party 1 is a guest and needs an input table",
        "pipeline[0].color: unknown field",
        "pipeline[0].component: 'nope' is not a known component",
        "pipeline[0].params: expected a mapping",
        "pipeline[1].name: duplicate component name 'a'",
        "pipeline[1].needs: 'zzz' is not an earlier component",
        "timeout: expected seconds",
    ]
    for text in expected:
        assert any(p.startswith(text) for p in problems), (text, problems)


def test_missing_sections() -> None:
    problems = _problems("name: x\n")
    assert any(p.startswith("roles: required") for p in problems)
    assert any(p.startswith("tables: required") for p in problems)
    assert any(p.startswith("pipeline: required") for p in problems)


def test_not_yaml_or_not_a_mapping() -> None:
    assert "not valid YAML" in _problems("roles: [unclosed\n")[0]
    assert "must be a mapping" in _problems("- 1\n- 2\n")[0]
