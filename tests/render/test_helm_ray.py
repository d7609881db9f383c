"""A party's Ray in its chart: with engine ray and no rayAddress, a head Deployment + Service and a
worker Deployment (restricted Pod Security, resources from the spec), a NetworkPolicy admitting only
the release's flow and Ray pods, Ray's token in a Secret (generated, or an existing one), and the
flow pointed at the head; with rayAddress, nothing Ray and the flow joins the given cluster.
Every manifest is linted and validated against the Kubernetes schemas by the generic tests
(tests/render/test_helm.py runs the two-party-ray case); these check what is Ray's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from fatectl.project import SECRET_VALUES, write_helm
from fatectl.render.engine import Layout, engine_configs
from fatectl.spec.model import Federation

from .tools import helm_manifests, lint_errors, schema_errors

RAY_KINDS = {("Deployment", "bank-a-ray-head"), ("Deployment", "bank-a-ray-worker"), ("Service", "bank-a-ray-head"),
             ("NetworkPolicy", "bank-a-ray"), ("Secret", "bank-a-ray-token")}


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory, spec_cases: dict[str, Federation]) -> Path:
    out = tmp_path_factory.mktemp("helm-ray")
    write_helm(spec_cases["two-party-ray"], out, party_id=9999)
    return out / "bank-a"


def _render(chart: Path, values: dict[str, Any] | None = None, release: str = "bank-a") -> list[dict[str, Any]]:
    secret_values = yaml.safe_load((chart / SECRET_VALUES).read_text())
    merged = {**secret_values, **(values or {})}
    assert lint_errors(chart, merged) == []
    docs = helm_manifests(chart, release, merged)
    assert schema_errors(docs) == []
    return docs


def _named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def _flow(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    config = yaml.safe_load(_named(docs, "ConfigMap", "bank-a-config")["data"]["flow.yaml"])
    pod = _named(docs, "StatefulSet", "bank-a-flow")["spec"]["template"]["spec"]
    return config, pod


def test_head_workers_and_their_sizes(chart: Path) -> None:
    docs = _render(chart)
    assert {(d["kind"], d["metadata"]["name"]) for d in docs} >= RAY_KINDS
    head = _named(docs, "Deployment", "bank-a-ray-head")
    workers = _named(docs, "Deployment", "bank-a-ray-worker")
    assert head["spec"]["replicas"] == 1 and workers["spec"]["replicas"] == 2
    worker = workers["spec"]["template"]["spec"]["containers"][0]
    assert worker["command"][:3] == ["ray", "start", "--address=bank-a-ray-head:6379"]
    assert "--num-cpus=1" in worker["command"]
    assert worker["resources"] == {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    head_container = head["spec"]["template"]["spec"]["containers"][0]
    assert "--head" in head_container["command"] and "--num-cpus=0" in head_container["command"]
    service = _named(docs, "Service", "bank-a-ray-head")
    assert service["spec"]["type"] == "ClusterIP"
    assert {p["port"] for p in service["spec"]["ports"]} == {6379, 10001}
    for deployment in (head, workers):
        pod = deployment["spec"]["template"]["spec"]
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        # A read-only root: Ray's session directory and object store are emptyDirs.
        assert volumes[mounts["/tmp"]]["emptyDir"] and volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"
        assert pod["containers"][0]["readinessProbe"]["exec"]["command"][:2] == ["ray", "health-check"]


def test_only_the_partys_flow_and_ray_pods_reach_ray(chart: Path) -> None:
    docs = _render(chart)
    policy = _named(docs, "NetworkPolicy", "bank-a-ray")["spec"]
    instance = {"app.kubernetes.io/instance": "bank-a", "app.kubernetes.io/name": "fate-party"}
    assert policy["podSelector"]["matchLabels"] == instance
    assert policy["podSelector"]["matchExpressions"] == [
        {"key": "app.kubernetes.io/component", "operator": "In", "values": ["ray-head", "ray-worker"]}]
    assert policy["policyTypes"] == ["Ingress"]
    [rule] = policy["ingress"]
    assert rule["from"] == [{"podSelector": {
        "matchLabels": instance,
        "matchExpressions": [{"key": "app.kubernetes.io/component", "operator": "In",
                              "values": ["flow", "ray-head", "ray-worker"]}]}}]
    # The pods the policy selects are exactly the Ray pods, and the flow is among its sources.
    for name in ("bank-a-ray-head", "bank-a-ray-worker"):
        labels = _named(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] in ("ray-head", "ray-worker")
    flow_labels = _named(docs, "StatefulSet", "bank-a-flow")["spec"]["template"]["metadata"]["labels"]
    assert flow_labels["app.kubernetes.io/component"] == "flow"
    # The router (which peers reach) and a peer's namespace are not sources.
    router = _named(docs, "NetworkPolicy", "bank-a-router")["spec"]["ingress"][0]["from"]
    assert any("namespaceSelector" in s or "ipBlock" in s for s in router)
    assert not any("namespaceSelector" in s or "ipBlock" in s for s in rule["from"])


def test_token_in_a_secret_mounted_as_a_file(chart: Path) -> None:
    docs = _render(chart)
    secret = _named(docs, "Secret", "bank-a-ray-token")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    token = secret["data"]["auth_token"]
    assert len(token) >= 48
    for doc in docs:
        if doc["kind"] != "Secret":
            assert token not in yaml.safe_dump(doc), doc["metadata"]["name"]
    config, pod = _flow(docs)
    pods = [pod, *(_named(docs, "Deployment", n)["spec"]["template"]["spec"]
                   for n in ("bank-a-ray-head", "bank-a-ray-worker"))]
    for spec in pods:
        env = {e["name"]: e["value"] for e in spec["containers"][0]["env"] if "value" in e}
        assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN_PATH"] == "/run/secrets/ray_token"
        sources = [s["secret"] for v in spec["volumes"] if "projected" in v for s in v["projected"]["sources"]]
        assert {"name": "bank-a-ray-token", "items": [{"key": "auth_token", "path": "ray_token"}]} in sources
    assert config["compute"]["token_file"] == "/run/secrets/ray_token"
    # Two installs generate two tokens; an upgrade keeps the live one (`lookup`, read in the template).
    assert _named(_render(chart), "Secret", "bank-a-ray-token")["data"]["auth_token"] != token
    assert 'lookup "v1" "Secret"' in (chart / "templates" / "secret-ray-token.yaml").read_text()


def test_an_existing_token_secret_replaces_the_generated_one(chart: Path) -> None:
    docs = _render(chart, {"ray": {"token": {"existingSecret": "site-ray"}}})
    assert "bank-a-ray-token" not in {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
    _, pod = _flow(docs)
    names = [s["secret"]["name"] for v in pod["volumes"] if "projected" in v for s in v["projected"]["sources"]]
    assert "site-ray" in names


def test_the_flow_points_at_the_head_under_any_release_name(chart: Path, spec_cases: dict[str, Federation]) -> None:
    docs = _render(chart, release="prod-a")
    config = yaml.safe_load(next(d for d in docs if d["kind"] == "ConfigMap")["data"]["flow.yaml"])
    assert config["compute"]["address"] == "ray://prod-a-ray-head:10001"
    assert config == engine_configs(spec_cases["two-party-ray"], Layout.helm(release="prod-a"))["bank-a/flow.yaml"]
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Service"} >= {"prod-a-ray-head"}


def test_with_a_ray_address_nothing_ray_is_rendered(chart: Path) -> None:
    address = "ray://raycluster-kuberay-head-svc.ray:10001"
    docs = _render(chart, {"compute": {"rayAddress": address}})
    assert not [d for d in docs if "-ray" in d["metadata"]["name"]]
    config, pod = _flow(docs)
    assert config["compute"] == {"engine": "ray", "workers": 2, "cpus_per_worker": 1, "address": address,
                                 "token_file": ""}
    assert "env" not in pod["containers"][0]
    # KubeRay's generated token Secret (key auth_token): the flow presents it to that cluster.
    docs = _render(chart, {"compute": {"rayAddress": address}, "ray": {"token": {"existingSecret": "kuberay-auth"}}})
    assert not [d for d in docs if "-ray" in d["metadata"]["name"]]
    config, pod = _flow(docs)
    assert config["compute"]["token_file"] == "/run/secrets/ray_token"
    names = [s["secret"]["name"] for v in pod["volumes"] if "projected" in v for s in v["projected"]["sources"]]
    assert "kuberay-auth" in names


def test_engine_local_renders_no_ray(chart: Path) -> None:
    docs = _render(chart, {"compute": {"engine": "local"}})
    assert not [d for d in docs if "-ray" in d["metadata"]["name"]]
    config, _ = _flow(docs)
    assert config["compute"] == {"engine": "local", "workers": 2, "cpus_per_worker": 1, "address": "",
                                 "token_file": ""}


def test_values_schema_refuses_bad_compute(chart: Path) -> None:
    with helm_python.Chart.load(str(chart)) as loaded:
        loaded.validate_schema({"compute": {"engine": "ray", "workers": 3, "rayAddress": "ray://head:10001"}})
        bads: list[dict[str, Any]] = [
            {"compute": {"engine": "spark"}}, {"compute": {"workers": 0}}, {"compute": {"memory": "lots"}},
            {"compute": {"rayAddress": "http://head:10001"}}, {"compute": {"cpusPerWorker": 0.5}},
            {"ray": {"token": {"existingSecret": "Not A Name"}}}, {"ray": {"objectStoreMemory": 1000}},
        ]
        for bad in bads:
            with pytest.raises(helm_python.HelmValuesError):
                loaded.validate_schema(bad)
