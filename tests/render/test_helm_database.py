"""The flow's store on PostgreSQL through the chart: the URL comes from an existing Secret as an
environment variable, never from the ConfigMap; without the Secret the flow keeps SQLite."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from fate.flow.config import parse_flow_config
from fatectl.project import SECRET_VALUES, write_helm
from fatectl.render.engine import Layout, engine_configs
from fatectl.spec.model import Federation

from .tools import helm_manifests, lint_errors, schema_errors


def _flow_pod(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """flow.yaml as the pod reads it, and the flow container."""
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]["flow.yaml"]
    flow = next(d for d in docs if d["kind"] == "StatefulSet")
    return yaml.safe_load(config), flow["spec"]["template"]["spec"]["containers"][0]


def _with_database_secret(fed: Federation, secret: str) -> Federation:
    party = fed.parties[0]
    modules = tuple(replace(m, database_secret=secret) if m.name == "flow" else m for m in party.modules)
    return replace(fed, parties=(replace(party, modules=modules), *fed.parties[1:]))


def test_the_spec_puts_a_partys_flow_on_postgres(tmp_path: Path, spec_cases: dict[str, Federation]) -> None:
    fed = _with_database_secret(spec_cases["two-party"], "bank-a-db")
    write_helm(fed, tmp_path, party_id=fed.parties[0].id)
    chart = tmp_path / "bank-a"
    secret_values = yaml.safe_load((chart / SECRET_VALUES).read_text())
    values = yaml.safe_load((chart / "values.yaml").read_text())
    assert values["flow"]["database"] == {"existingSecret": "bank-a-db"}
    assert lint_errors(chart, secret_values) == []
    docs = helm_manifests(chart, "bank-a", secret_values)
    assert schema_errors(docs) == []
    config, container = _flow_pod(docs)
    # The chart and fatectl's own renderer agree, and the flow accepts what they write.
    assert config == engine_configs(fed, Layout.helm(release="bank-a"))["bank-a/flow.yaml"]
    assert (config["database_url"], config["database_url_env"]) == ("", "FATE_DATABASE_URL")
    assert parse_flow_config(config).database_url_env == "FATE_DATABASE_URL"
    assert container["env"] == [
        {"name": "FATE_DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "bank-a-db", "key": "database_url"}}},
        {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": "bank-a-db", "key": "database_password",
                                                              "optional": True}}},
    ]
    # The compose and local labs keep SQLite: the Secret is a Kubernetes thing.
    assert "database_url_env" not in engine_configs(fed, Layout.compose())["bank-a/flow.yaml"]


def test_values_alone_switch_a_chart_to_postgres_and_back(tmp_path: Path,
                                                          spec_cases: dict[str, Federation]) -> None:
    write_helm(spec_cases["two-party"], tmp_path, party_id=spec_cases["two-party"].parties[0].id)
    chart = tmp_path / "bank-a"
    secret_values = yaml.safe_load((chart / SECRET_VALUES).read_text())
    sqlite_config, sqlite_container = _flow_pod(helm_manifests(chart, "bank-a", secret_values))
    assert "database_url_env" not in sqlite_config and "env" not in sqlite_container
    overridden = {**secret_values, "flow": {"database": {"existingSecret": "site-db"}}}
    docs = helm_manifests(chart, "bank-a", overridden)
    config, container = _flow_pod(docs)
    assert config["database_url_env"] == "FATE_DATABASE_URL"
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"]} == {"site-db"}
    # No URL and no password in anything the chart renders in the clear.
    assert "postgresql://" not in json.dumps([d for d in docs if d["kind"] != "Secret"])
    with helm_python.Chart.load(str(chart)) as loaded:
        for bad in ({"existingSecret": "Not A Name"}, {"existingSecret": "x", "url": "postgresql://a@b/c"}):
            with pytest.raises(helm_python.HelmValuesError):
                loaded.validate_schema({"flow": {"database": bad}})
