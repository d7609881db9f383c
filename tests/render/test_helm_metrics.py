"""The chart's metrics options: the router's metrics listener behind a Service of its own that
peers cannot reach, ServiceMonitors only when asked for, and the log format reaching every engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from fatectl.project import write_helm
from fatectl.spec.model import Federation

from .tools import CRD_KINDS, helm_manifests, lint_errors, schema_errors

ON = {"metrics": {"enabled": True, "sources": [{"namespaceSelector": {"matchLabels": {
    "kubernetes.io/metadata.name": "monitoring"}}}], "serviceMonitor": {"enabled": True, "labels": {
        "release": "kube-prometheus-stack"}}}, "logging": {"format": "json"}}


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory, spec_cases: dict[str, Federation]) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("helm-metrics")
    write_helm(spec_cases["two-party"], out / "two-party")
    write_helm(spec_cases["three-party-exchange"], out / "star")
    return {"bank-a": out / "two-party" / "bank-a", "exchange": out / "star" / "exchange"}


def _values(chart: Path, extra: dict[str, Any]) -> dict[str, Any]:
    path = chart / "secret-values.yaml"
    return {**(yaml.safe_load(path.read_text()) if path.exists() else {}), **extra}


def _named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def test_by_default_no_metrics_listener_and_no_service_monitor(charts: dict[str, Path]) -> None:
    docs = helm_manifests(charts["bank-a"], "bank-a", _values(charts["bank-a"], {}))
    assert not [d for d in docs if d["kind"] in CRD_KINDS or d["metadata"]["name"].endswith("-metrics")]
    config = yaml.safe_load(_named(docs, "ConfigMap", "bank-a-config")["data"]["router.yaml"])
    assert "metrics" not in config
    router = _named(docs, "Deployment", "bank-a-router")["spec"]["template"]["spec"]["containers"][0]
    assert router["command"][-2:] == ["--log-format", "text"]


@pytest.mark.parametrize("name", ["bank-a", "exchange"])
def test_metrics_on_lint_validate_and_stay_off_the_peers_port(charts: dict[str, Path], name: str) -> None:
    chart = charts[name]
    values = _values(chart, ON)
    assert lint_errors(chart, values) == []
    docs = helm_manifests(chart, name, values)
    assert schema_errors(docs) == []  # every kind but the ServiceMonitor CRD, which is checked below
    config = yaml.safe_load(_named(docs, "ConfigMap", f"{name}-config")["data"]["router.yaml"])
    assert config["metrics"] == {"host": "0.0.0.0", "port": 9102}
    pod = _named(docs, "Deployment", f"{name}-router")["spec"]["template"]["spec"]
    assert {"name": "metrics", "containerPort": 9102, "protocol": "TCP"} in pod["containers"][0]["ports"]
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet"):
            assert d["spec"]["template"]["spec"]["containers"][0]["command"][-2:] == ["--log-format", "json"]
    # The peer-facing Service never carries the metrics port; a ClusterIP Service of its own does.
    peer_facing = _named(docs, "Service", f"{name}-router")
    assert [p["name"] for p in peer_facing["spec"]["ports"]] == ["router"]
    metrics = _named(docs, "Service", f"{name}-router-metrics")
    assert metrics["spec"]["type"] == "ClusterIP" and [p["name"] for p in metrics["spec"]["ports"]] == ["metrics"]
    # NetworkPolicy: the peers reach the router port only; the metrics port admits this release
    # and metrics.sources.
    rules = _named(docs, "NetworkPolicy", f"{name}-router")["spec"]["ingress"]
    assert [[p["port"] for p in r["ports"]] for r in rules] == [["router"], ["metrics"]]
    assert not [s for s in rules[1]["from"] if "ipBlock" in s]
    assert ON["metrics"]["sources"][0] in rules[1]["from"]


def test_service_monitors_scrape_the_metrics_services(charts: dict[str, Path]) -> None:
    docs = helm_manifests(charts["bank-a"], "bank-a", _values(charts["bank-a"], ON))
    monitors = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ServiceMonitor"}
    assert sorted(monitors) == ["bank-a-flow", "bank-a-router"]
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    for monitor in monitors.values():
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        wanted = monitor["spec"]["selector"]["matchLabels"]
        # Exactly one Service matches each selector, and it has the port the endpoint names.
        matched = [s for s in services.values() if wanted.items() <= s["metadata"]["labels"].items()]
        assert len(matched) == 1, (monitor["metadata"]["name"], [s["metadata"]["name"] for s in matched])
        endpoint = monitor["spec"]["endpoints"][0]
        assert endpoint["path"] == "/metrics" and endpoint["interval"] == "30s"
        assert endpoint["port"] in [p["name"] for p in matched[0]["spec"]["ports"]]
    assert "authorization" not in monitors["bank-a-router"]["spec"]["endpoints"][0]
    # The flow is scraped with the read-only credential, never the flow token.
    auth = monitors["bank-a-flow"]["spec"]["endpoints"][0]["authorization"]
    assert auth == {"type": "Bearer", "credentials": {"name": "bank-a-token", "key": "flow_reader_token"}}
    flow_sources = _named(docs, "NetworkPolicy", "bank-a-flow")["spec"]["ingress"][0]["from"]
    assert ON["metrics"]["sources"][0] in flow_sources


def test_the_schema_refuses_a_service_monitor_without_metrics_and_a_shared_port(charts: dict[str, Path]) -> None:
    chart = charts["bank-a"]
    with helm_python.Chart.load(str(chart)) as loaded:
        loaded.validate_schema({"metrics": {"enabled": True, "serviceMonitor": {"enabled": True}}})
        for bad in ({"metrics": {"serviceMonitor": {"enabled": True}}},
                    {"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}},
                    {"metrics": {"serviceMonitor": {"interval": "soon"}}},
                    {"logging": {"format": "xml"}}):
            with pytest.raises(helm_python.HelmValuesError):
                loaded.validate_schema(bad)
    with pytest.raises(Exception, match="metrics.port must differ from router.port"):
        helm_manifests(chart, "bank-a", _values(chart, {"metrics": {"enabled": True, "port": 9370}}))
