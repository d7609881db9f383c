"""Every chart lints with the real Helm library, renders, and every manifest validates
against the Kubernetes schemas in strict mode; plus the chart's behaviour per value."""

from __future__ import annotations

import ipaddress
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from fate.flow.policy import Policy, parse_policy
from fatectl.project import SECRET_VALUES, write_helm
from fatectl.render.engine import Layout, engine_configs
from fatectl.render.helm import chart_sources, render_helm
from fatectl.render.ray import ENVIRONMENT as RAY_ENVIRONMENT
from fatectl.spec.model import Engine, Federation, Persistence, freeze

from .tools import (
    CASES,
    helm_manifests,
    lint_errors,
    pod_specs,
    schema_errors,
    schema_errors_reference,
    write_cases,
)

# The 50-party federation is the scale criterion of the issue; it takes several seconds.
PARAMS = [pytest.param(c, marks=pytest.mark.slow) if c.startswith("generated-50") else c for c in CASES]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, spec_cases: dict[str, Federation]) -> dict[str, Path]:
    return write_cases(tmp_path_factory.mktemp("helm"), spec_cases, write_helm)


def _charts(fed: Federation) -> list[str]:
    return sorted({path.split("/", 1)[0] for path in render_helm(fed)})


def _secret_values(chart: Path) -> dict[str, Any] | None:
    path = chart / SECRET_VALUES
    return yaml.safe_load(path.read_text()) if path.exists() else None


def _by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


@pytest.mark.parametrize("case", PARAMS)
def test_every_chart_lints_renders_and_validates(
    case: str, spec_cases: dict[str, Federation], rendered: dict[str, Path]
) -> None:
    fed = spec_cases[case]
    expected = [p.name for p in fed.parties] + ([fed.exchange.name] if fed.exchange.enabled else [])
    assert _charts(fed) == sorted(expected)
    helm_configs = {name: engine_configs(fed, Layout.helm(release=name)) for name in expected}
    for name in expected:
        chart = rendered[case] / name
        secret_values = _secret_values(chart)
        assert lint_errors(chart) == []
        assert lint_errors(chart, secret_values) == []
        docs = helm_manifests(chart, name, secret_values)
        assert schema_errors(docs) == []
        kinds = sorted({d["kind"] for d in docs})
        assert {"ConfigMap", "Deployment", "NetworkPolicy", "Service"} <= set(kinds)
        # The route table in the ConfigMap is exactly what the engine contract says.
        config = _by_kind(docs, "ConfigMap")[0]["data"]
        for file, text in config.items():
            assert yaml.safe_load(text) == helm_configs[name][f"{name}/{file}"], file


@pytest.mark.parametrize("case", CASES)
def test_pods_meet_the_restricted_pod_security_standard(
    case: str, rendered: dict[str, Path], spec_cases: dict[str, Federation]
) -> None:
    name = spec_cases[case].parties[0].name
    chart = rendered[case] / name
    for where, pod in pod_specs(helm_manifests(chart, name, _secret_values(chart))):
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] > 0, where
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert pod["automountServiceAccountToken"] is False, where
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert "readinessProbe" in c and "livenessProbe" in c, where
            assert c["resources"] is not None, where
            # Ray's variables say where its token file is and that it is required: never a secret.
            literals = {e["name"] for e in c.get("env", []) if "value" in e}
            assert literals <= set(RAY_ENVIRONMENT), f"{where}: environment literals {literals}"
            assert {"/tmp"} <= {m["mountPath"] for m in c["volumeMounts"]}, where
        for volume in pod["volumes"]:
            assert "hostPath" not in volume, where


def test_no_secret_value_outside_secret_objects(rendered: dict[str, Path]) -> None:
    chart = rendered["two-party"] / "bank-a"
    secret_values = _secret_values(chart)
    assert secret_values is not None
    key_pem = secret_values["tls"]["key"]
    assert "PRIVATE KEY" in key_pem
    assert key_pem.splitlines()[1] not in (chart / "values.yaml").read_text()
    assert (chart / SECRET_VALUES).stat().st_mode & 0o777 == 0o600
    assert SECRET_VALUES in (chart / ".helmignore").read_text()
    docs = helm_manifests(chart, "bank-a", secret_values)
    secrets = _by_kind(docs, "Secret")
    assert sorted(s["metadata"]["name"] for s in secrets) == ["bank-a-tls", "bank-a-token"]
    token = secrets[1]["data"]["flow_token"]
    for doc in docs:
        if doc["kind"] != "Secret":
            text = yaml.safe_dump(doc)
            assert "PRIVATE KEY" not in text and token not in text, doc["kind"]


def test_network_policy_admits_only_declared_peers(
    rendered: dict[str, Path], spec_cases: dict[str, Federation]
) -> None:
    # Direct topology: every other party's address; star: only the exchange.
    fed = spec_cases["two-party"]
    chart = rendered["two-party"] / "bank-a"
    policy = next(
        d
        for d in _by_kind(helm_manifests(chart, "bank-a", _secret_values(chart)), "NetworkPolicy")
        if d["metadata"]["name"] == "bank-a-router"
    )
    sources = policy["spec"]["ingress"][0]["from"]
    assert sources[1:] == [
        {
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": fed.parties[1].kubernetes.namespace}
            }
        }
    ]

    star = spec_cases["three-party-exchange"]
    chart = rendered["three-party-exchange"] / "hospital-a"
    docs = helm_manifests(chart, "hospital-a", _secret_values(chart))
    policy = next(d for d in _by_kind(docs, "NetworkPolicy") if d["metadata"]["name"] == "hospital-a-router")
    assert policy["spec"]["ingress"][0]["from"][1:] == [{"ipBlock": {"cidr": f"{star.exchange.address}/32"}}]
    flow_policy = next(
        d for d in _by_kind(docs, "NetworkPolicy") if d["metadata"]["name"] == "hospital-a-flow"
    )
    assert [list(s) for s in flow_policy["spec"]["ingress"][0]["from"]] == [["podSelector"]]

    chart = rendered["three-party-exchange"] / "exchange"
    policy = next(
        d for d in helm_manifests(chart, "exchange", _secret_values(chart)) if d["kind"] == "NetworkPolicy"
    )
    cidrs = [s["ipBlock"]["cidr"] for s in policy["spec"]["ingress"][0]["from"][1:]]
    assert cidrs == [f"{ipaddress.ip_address(p.address)}/32" for p in star.parties]


def test_exchange_chart_is_a_router_only(rendered: dict[str, Path]) -> None:
    chart = rendered["three-party-exchange"] / "exchange"
    docs = helm_manifests(chart, "exchange", _secret_values(chart))
    assert sorted(d["metadata"]["name"] for d in _by_kind(docs, "Deployment")) == ["exchange-router"]
    assert _by_kind(docs, "StatefulSet") == []
    service = _by_kind(docs, "Service")[0]
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    assert [s["metadata"]["name"] for s in _by_kind(docs, "Secret")] == ["exchange-tls"]


def test_board_ingress_and_host_name_peer(rendered: dict[str, Path]) -> None:
    chart = rendered["built-board-ingress"] / "party-0"
    docs = helm_manifests(chart, "party-0", _secret_values(chart))
    ingress = _by_kind(docs, "Ingress")[0]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["host"] == "board.party-0.example.org"
    assert "party-0-board" in {d["metadata"]["name"] for d in _by_kind(docs, "Deployment")}


def test_existing_secrets_and_claim_replace_generated_ones(rendered: dict[str, Path]) -> None:
    chart = rendered["two-party"] / "bank-a"
    values = {
        "tls": {"existingSecret": "site-tls"},
        "token": {"existingSecret": "site-token"},
        "flow": {"persistence": {"existingClaim": "site-data"}},
    }
    assert lint_errors(chart, values) == []
    docs = helm_manifests(chart, "bank-a", values)
    assert schema_errors(docs) == []
    assert _by_kind(docs, "Secret") == []
    flow = _by_kind(docs, "StatefulSet")[0]
    assert "volumeClaimTemplates" not in flow["spec"]
    volumes = {v["name"]: v for v in flow["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"] == {"claimName": "site-data"}
    sources = [s["secret"]["name"] for s in volumes["secrets"]["projected"]["sources"]]
    assert sources == ["site-tls", "site-token"]


def test_tls_none_mounts_no_certificates(rendered: dict[str, Path]) -> None:
    chart = rendered["built-tls-none"] / "party-0"
    assert not (chart / SECRET_VALUES).exists()
    docs = helm_manifests(chart, "party-0")
    assert [s["metadata"]["name"] for s in _by_kind(docs, "Secret")] == ["party-0-token"]
    router = next(d for d in _by_kind(docs, "Deployment") if d["metadata"]["name"] == "party-0-router")
    assert "secrets" not in {v["name"] for v in router["spec"]["template"]["spec"]["volumes"]}


def test_router_spool_is_size_limited(rendered: dict[str, Path]) -> None:
    # Peers make the router hold bodies on disk: a bounded emptyDir backs up the router's own quotas.
    for case, name, values in (("two-party", "bank-a", None), ("three-party-exchange", "exchange", None),
                               ("two-party", "bank-a", {"router": {"spool": {"sizeLimit": "5Gi"}}})):
        chart = rendered[case] / name
        docs = helm_manifests(chart, name, {**(_secret_values(chart) or {}), **(values or {})})
        router = next(d for d in _by_kind(docs, "Deployment") if d["metadata"]["name"] == f"{name}-router")
        volumes = {v["name"]: v for v in router["spec"]["template"]["spec"]["volumes"]}
        assert volumes["spool"]["emptyDir"] == {"sizeLimit": "5Gi" if values else "2Gi"}, (case, name)
    with helm_python.Chart.load(str(rendered["two-party"] / "bank-a")) as loaded, pytest.raises(
        helm_python.HelmValuesError
    ):
        loaded.validate_schema({"router": {"spool": {"sizeLimit": "lots"}}})


def test_values_schema_rejects_bad_overrides(rendered: dict[str, Path]) -> None:
    with helm_python.Chart.load(str(rendered["two-party"] / "bank-a")) as chart:
        chart.validate_schema({})
        bads: list[dict[str, Any]] = [{"router": {"port": 70000}}, {"tls": {"mode": "half"}}, {"routerr": {}}]
        for bad in bads:
            with pytest.raises(helm_python.HelmValuesError):
                chart.validate_schema(bad)


def test_release_name_drives_resource_names_and_routes(
    rendered: dict[str, Path], spec_cases: dict[str, Federation]
) -> None:
    chart = rendered["two-party"] / "bank-a"
    docs = helm_manifests(chart, "prod-a", _secret_values(chart))
    flow = yaml.safe_load(_by_kind(docs, "ConfigMap")[0]["data"]["flow.yaml"])
    assert flow == engine_configs(spec_cases["two-party"], Layout.helm(release="prod-a"))["bank-a/flow.yaml"]
    assert flow["router"]["host"] == "prod-a-router"


def test_static_chart_files_are_copied_verbatim(spec_cases: dict[str, Federation]) -> None:
    files = render_helm(spec_cases["two-party"], party_id=10000)
    assert sorted({p.split("/", 1)[0] for p in files}) == ["bank-b"]
    for path, text in chart_sources().items():
        assert files[f"bank-b/{path}"] == text
    assert "{{" in files["bank-b/templates/_helpers.tpl"]
    assert "{{" not in files["bank-b/values.yaml"] and "{%" not in files["bank-b/values.yaml"]


def test_schema_cache_agrees_with_kubernetes_validate(rendered: dict[str, Path]) -> None:
    chart = rendered["three-party-exchange"] / "hospital-a"
    docs = helm_manifests(chart, "hospital-a", _secret_values(chart))
    assert schema_errors(docs) == schema_errors_reference(docs) == []
    broken = [dict(d) for d in docs if d["kind"] in ("Service", "StatefulSet")]
    broken[0]["spec"] = {**broken[0]["spec"], "replicaz": 2}
    broken[1]["spec"] = {**broken[1]["spec"], "ports": "9370"}
    found = schema_errors(broken)
    assert len(found) == 2 and found == schema_errors_reference(broken)


def test_packaged_chart_leaves_the_secret_values_out(rendered: dict[str, Path], tmp_path: Path) -> None:
    chart = rendered["two-party"] / "bank-a"
    assert (chart / SECRET_VALUES).exists()
    archive = helm_python.package(str(chart), destination=str(tmp_path))
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "fate-party/templates/_helpers.tpl" in names and "fate-party/values.yaml" in names
    assert not [n for n in names if n.endswith(SECRET_VALUES)]


def test_scheduling_image_and_storage_settings_reach_the_pods(
    tmp_path: Path, spec_cases: dict[str, Federation]
) -> None:
    base = spec_cases["built-board-ingress"]
    party = base.parties[0]
    kubernetes = replace(
        party.kubernetes,
        service_type="LoadBalancer",
        node_selector=freeze({"disk": "ssd"}),
        tolerations=freeze([{"key": "fate", "operator": "Exists", "effect": "NoSchedule"}]),
        affinity=freeze(
            {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                        ]
                    }
                }
            }
        ),
        ingress=replace(party.kubernetes.ingress, tls_secret="board-tls"),
    )
    flow_module = party.module("flow")
    assert flow_module is not None
    flow = replace(flow_module, persistence=Persistence(size="5Gi", storage_class="fast"))
    modules = tuple(flow if m.name == "flow" else m for m in party.modules)
    fed = replace(
        base,
        engine=Engine(registry="registry.example:5000/fate", image_pull_secrets=("regcred",)),
        parties=(replace(party, kubernetes=kubernetes, modules=modules), *base.parties[1:]),
    )
    write_helm(fed, tmp_path, party_id=party.id)
    chart = tmp_path / party.name
    assert lint_errors(chart, _secret_values(chart)) == []
    docs = helm_manifests(chart, party.name, _secret_values(chart))
    assert schema_errors(docs) == []
    for where, pod in pod_specs(docs):
        assert pod["nodeSelector"] == {"disk": "ssd"}, where
        assert pod["tolerations"][0]["key"] == "fate", where
        assert "nodeAffinity" in pod["affinity"], where
        assert pod["imagePullSecrets"] == [{"name": "regcred"}], where
        assert pod["containers"][0]["image"] == "registry.example:5000/fate/fate-engine:0.1.0", where
    claim = _by_kind(docs, "StatefulSet")[0]["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["storageClassName"] == "fast" and claim["resources"]["requests"]["storage"] == "5Gi"
    router = next(d for d in _by_kind(docs, "Service") if d["metadata"]["name"].endswith("-router"))
    assert router["spec"]["type"] == "LoadBalancer" and "nodePort" not in router["spec"]["ports"][0]
    assert _by_kind(docs, "Ingress")[0]["spec"]["tls"] == [
        {"hosts": [party.kubernetes.ingress.host], "secretName": "board-tls"}
    ]


def test_the_chart_gives_the_flow_the_partys_own_policy(
    rendered: dict[str, Path], spec_cases: dict[str, Federation]
) -> None:
    """bank-b's rule reaches its flow through Helm exactly as through the other targets, and the
    flow reads it; a values.yaml without a policy leaves the flow on the secure defaults."""
    chart = rendered["two-party"] / "bank-b"
    docs = helm_manifests(chart, "bank-b", _secret_values(chart))
    flow = yaml.safe_load(_by_kind(docs, "ConfigMap")[0]["data"]["flow.yaml"])
    assert flow == engine_configs(spec_cases["two-party"], Layout.helm(release="bank-b"))["bank-b/flow.yaml"]
    policy = parse_policy(flow["policy"])
    assert [(r.name, r.peers, r.tables, r.approval) for r in policy.rules] == [
        ("breast-study", (9999,), ("breast_hetero_host",), "auto")]
    with helm_python.Chart.load(str(chart)) as loaded:
        for bad in ({"approval": "always"}, {"min_key_bits": "2048"}, {"rules": [{"name": "x"}]}, {"colour": 1}):
            with pytest.raises(helm_python.HelmValuesError):
                loaded.validate_schema({"flow": {"policy": bad}})
    unset = {**(_secret_values(chart) or {}), "flow": {"policy": None}}  # null removes a chart default
    bare = yaml.safe_load(_by_kind(helm_manifests(chart, "bank-b", unset), "ConfigMap")[0]["data"]["flow.yaml"])
    assert "policy" not in bare and parse_policy(bare.get("policy")) == Policy()
