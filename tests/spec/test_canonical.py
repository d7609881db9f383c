"""Round trip: spec -> Federation -> canonical text -> the same Federation, byte-stable text."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fatectl.spec.canonical import canonical_text
from fatectl.spec.loader import load_federation
from fatectl.spec.model import Federation
from fatectl.spec.sample import generate_spec_text

from .cases import VALID

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

RICH = VALID + """\
    modules: [router, flow, board]
    board:
      port: 8081
      resources: {requests: {cpu: 0.5, memory: 64Mi, ephemeral-storage: 1Gi}, limits: {cpu: 1}}
    flow:
      persistence: {size: 20Gi, storageClass: fast, existingClaim: flow-data}
      database: {existingSecret: bank-b-db}
    kubernetes:
      namespace: bank-b-prod
      serviceType: NodePort
      nodePorts: {router: 31000, board: 31002}
      nodeSelector: {kubernetes.io/os: linux, disk: ssd}
      tolerations:
        - {key: dedicated, operator: Equal, value: fate, effect: NoSchedule}
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
              - matchExpressions: [{key: zone, operator: In, values: [a, b]}]
      ingress: {enabled: true, host: board.bank-b.example, className: nginx, tlsSecret: board-tls}
      existingTlsSecret: bank-b-tls
      existingTokenSecret: bank-b-token
    compose: {hostPorts: {board: 18080}}
"""


def _reload(fed: Federation, tmp_path: Path) -> tuple[Federation, str]:
    text = canonical_text(fed)
    path = tmp_path / "canonical.yaml"
    path.write_text(text, encoding="utf-8")
    return load_federation(path), text


def _same(a: Federation, b: Federation) -> bool:
    return dataclasses.replace(a, source="") == dataclasses.replace(b, source="")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(RICH, id="rich"),
        pytest.param(generate_spec_text(10, True, node_ports=True), id="generated-10-exchange"),
        pytest.param(generate_spec_text(3, False, key_bits=1024, lab_policy=True), id="generated-lab-policy"),
        *(pytest.param(p.read_text(encoding="utf-8"), id=p.name) for p in sorted(EXAMPLES.glob("*.yaml"))),
    ],
)
def test_canonical_round_trip(text: str, tmp_path: Path) -> None:
    original = tmp_path / "spec.yaml"
    original.write_text(text, encoding="utf-8")
    fed = load_federation(original)
    again, first_text = _reload(fed, tmp_path)
    assert _same(fed, again)
    assert canonical_text(again) == first_text


def test_rich_spec_reaches_the_model(tmp_path: Path) -> None:
    path = tmp_path / "rich.yaml"
    path.write_text(RICH, encoding="utf-8")
    b = load_federation(path).party(10000)
    board = b.module("board")
    assert board is not None and board.port == 8081 and board.node_port == 31002
    assert dict(board.resources.requests) == {"cpu": "0.5", "ephemeral-storage": "1Gi", "memory": "64Mi"}
    assert dict(board.resources.limits) == {"cpu": "1"}
    k8s = b.kubernetes
    assert k8s.namespace == "bank-b-prod" and k8s.ingress.class_name == "nginx"
    assert k8s.tolerations[0]["effect"] == "NoSchedule"
    term = k8s.affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"][0]["values"] == ("a", "b")
    assert dict(b.compose.host_ports) == {"router": 19020, "flow": 19021, "board": 18080}
    flow = b.module("flow")
    assert flow is not None and flow.database_secret == "bank-b-db"
