"""The cross-field rules (fatectl/spec/rules.py): every problem a spec has, each with its place and whole message.

test_malformed.py checks that one problem is reported at its position by a fragment of its words; here
each spec's full list of problems is compared, so a rule reporting too much (a value it should have
skipped, an extra duplicate), too little, at the wrong place or in other words fails. The words are
part of what is tested: users read them to fix their spec. Loading goes through load_federation_text
(no files, no CLI), so this file is quick enough for the mutation run's spec-rules group.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from fatectl.errors import SpecError
from fatectl.spec.loader import load_federation_text
from fatectl.spec.rules import quantity_text

from .cases import HEAD, TWO, VALID

THREE = TWO + "  - id: 10001\n    name: bank-c\n    address: 10.0.0.3\n"  # lines 10-12 after HEAD

Found = tuple[int | None, int | None, str | None, str]  # line, column, dotted path, message


@dataclass(frozen=True)
class RuleCase:
    id: str
    text: str
    problems: list[Found]  # empty: the spec is valid


def problems_of(text: str) -> list[Found]:
    try:
        load_federation_text(text, "spec.yaml")
    except SpecError as err:
        return [(p.line, p.column, p.path, p.message) for p in err.problems]
    return []


NO_ROUTER = "every party needs the router module (peers reach it only through its router)"
NOT_A_PARTY = "is not a party id of the federation"

CASES = [
    # --- ids and names, unique across the parties and the enabled exchange
    RuleCase(
        "unique-after-an-unreadable-id",
        HEAD + THREE.replace("id: 9999", "id: abc").replace("id: 10001", "id: 10000"),
        [
            (4, 9, "parties[0].id", "must be an integer, got string 'abc'"),
            (10, 9, "parties[2].id", "duplicate party id 10000 (already used at parties[1].id)"),
        ],
    ),
    # Ids that are not integers (a boolean is not one) and names that are not strings are the schema's
    # to report, once each: the rule skips them rather than calling two `true`s a duplicate.
    RuleCase(
        "boolean-ids-are-not-duplicates",
        VALID.replace("id: 9999", "id: true").replace("id: 10000", "id: true"),
        [
            (4, 9, "parties[0].id", "must be an integer, got boolean True"),
            (7, 9, "parties[1].id", "must be an integer, got boolean True"),
        ],
    ),
    RuleCase(
        "string-ids-are-not-duplicates",
        VALID.replace("id: 9999", "id: abc").replace("id: 10000", "id: abc"),
        [
            (4, 9, "parties[0].id", "must be an integer, got string 'abc'"),
            (7, 9, "parties[1].id", "must be an integer, got string 'abc'"),
        ],
    ),
    RuleCase(
        "integer-names-are-not-duplicates",
        VALID.replace("name: bank-a", "name: 12").replace("name: bank-b", "name: 12"),
        [
            (5, 11, "parties[0].name", "must be a string, got integer 12 (quote it)"),
            (8, 11, "parties[1].name", "must be a string, got integer 12 (quote it)"),
        ],
    ),
    # --- modules
    RuleCase(
        "board-without-flow-or-router",
        VALID + "    modules: [board]\n",
        [
            (10, 14, "parties[1].modules", NO_ROUTER),
            (10, 14, "parties[1].modules", "module 'board' needs module 'flow'"),
        ],
    ),
    RuleCase(
        "modules-not-a-list",
        VALID + "    modules: router\n",
        [
            (10, 14, "parties[1].modules", "must be a list, got string 'router'"),
        ],
    ),
    RuleCase(
        "settings-of-an-unlisted-module",
        VALID + "    modules: [router, flow]\n    board: {port: 8080}\n",
        [
            (
                11,
                5,
                "parties[1].board",
                "settings for module 'board', which is not in modules (router, flow)",
            ),
        ],
    ),
    RuleCase(
        "settings-with-no-module-listed",
        VALID + "    modules: []\n    flow: {port: 9380}\n",
        [
            (10, 14, "parties[1].modules", "needs at least 1 items"),
            (11, 5, "parties[1].flow", "settings for module 'flow', which is not in modules (none)"),
        ],
    ),
    # --- Paillier key sizes: the federation's keys and each party's floor for its peers' keys
    RuleCase(
        "small-keys",
        HEAD + "security:\n  paillierKeyBits: 1024\n" + TWO,
        [
            (
                4,
                20,
                "security.paillierKeyBits",
                "1024-bit Paillier keys are insecure; use at least 2048 (or set security.allowInsecureKeys: true for a lab)",
            ),
        ],
    ),
    RuleCase(
        "small-keys-in-a-lab",
        HEAD + "security:\n  paillierKeyBits: 1024\n  allowInsecureKeys: true\n" + TWO,
        [],
    ),
    RuleCase(
        "policy-floor",
        VALID + "    policy: {minKeyBits: 1024}\n",
        [
            (
                10,
                26,
                "parties[1].policy.minKeyBits",
                "a floor of 1024 bits accepts insecure keys; use at least 2048 "
                "(or set this party's policy.allowInsecureKeys: true for a lab)",
            ),
        ],
    ),
    RuleCase(
        "policy-floor-in-a-lab", VALID + "    policy: {minKeyBits: 1024, allowInsecureKeys: true}\n", []
    ),
    RuleCase(
        "policy-names-only-parties",
        VALID + "    policy:\n      trustedArbiters: [9999, 7]\n      rules:\n"
        "        - {name: r1, peers: [9999, 12345, 10000], approval: auto}\n        - {name: r1, approval: deny}\n",
        [
            (11, 31, "parties[1].policy.trustedArbiters[1]", f"7 {NOT_A_PARTY}"),
            (13, 36, "parties[1].policy.rules[0].peers[1]", f"12345 {NOT_A_PARTY}"),
            (13, 43, "parties[1].policy.rules[0].peers[2]", "10000 is this party; its own jobs need no rule"),
            (
                14,
                18,
                "parties[1].policy.rules[1].name",
                "duplicate rule name 'r1' (already used at parties[1].policy.rules[0].name)",
            ),
        ],
    ),
    # --- the exchange
    RuleCase(
        "exchange-without-address",
        HEAD + "exchange:\n  enabled: true\n" + TWO,
        [
            (4, 3, "exchange", "an enabled exchange needs an address (where parties reach it)"),
        ],
    ),
    RuleCase(
        "exchange-nodeport-on-a-cluster-ip",
        HEAD + "exchange:\n  enabled: true\n  address: x\n  kubernetes: {nodePort: 30000}\n" + TWO,
        [
            (6, 26, "exchange.kubernetes.nodePort", "a nodePort needs serviceType NodePort or LoadBalancer"),
        ],
    ),
    RuleCase(
        "exchange-nodeport",
        HEAD + "exchange:\n  enabled: true\n  address: x\n"
        "  kubernetes: {serviceType: NodePort, nodePort: 30000}\n" + TWO,
        [],
    ),
    # --- Kubernetes: nodePorts are cluster-wide, the exchange's included
    RuleCase(
        "nodeport-shared-with-the-exchange",
        HEAD + "exchange:\n  enabled: true\n  address: x\n"
        "  kubernetes: {serviceType: NodePort, nodePort: 30001}\n"
        + TWO
        + "    kubernetes: {serviceType: NodePort, nodePorts: {router: 30001}}\n",
        [
            (
                14,
                61,
                "parties[1].kubernetes.nodePorts.router",
                "duplicate nodePort 30001 (already used at exchange.kubernetes.nodePort)",
            ),
        ],
    ),
    # A disabled exchange deploys nothing, so its settings take no port.
    RuleCase(
        "nodeport-of-a-disabled-exchange",
        HEAD + "exchange:\n  enabled: false\n"
        "  kubernetes: {serviceType: NodePort, nodePort: 30001}\n"
        + TWO
        + "    kubernetes: {serviceType: NodePort, nodePorts: {router: 30001}}\n",
        [],
    ),
    RuleCase(
        "nodeport-of-an-unlisted-module",
        VALID + "    modules: [router]\n    kubernetes: {serviceType: NodePort, nodePorts: {board: 30002}}\n",
        [
            (
                11,
                60,
                "parties[1].kubernetes.nodePorts.board",
                "nodePort for module 'board', which is not in modules",
            ),
        ],
    ),
    RuleCase(
        "nodeport-on-a-cluster-ip",
        VALID + "    kubernetes: {nodePorts: {router: 30001}}\n",
        [
            (
                10,
                38,
                "parties[1].kubernetes.nodePorts.router",
                "nodePorts need kubernetes.serviceType NodePort or LoadBalancer",
            ),
        ],
    ),
    RuleCase(
        "ingress-missing-everything",
        VALID + "    kubernetes:\n      ingress: {enabled: true}\n",
        [
            (11, 16, "parties[1].kubernetes.ingress", "an enabled ingress needs a host"),
            (
                11,
                16,
                "parties[1].kubernetes.ingress",
                "an enabled ingress needs tlsSecret: the board's login must not cross plain HTTP",
            ),
            (
                11,
                26,
                "parties[1].kubernetes.ingress.enabled",
                "the ingress serves the board; add 'board' to modules",
            ),
        ],
    ),
    RuleCase(
        "ingress",
        VALID + "    modules: [router, flow, board]\n    kubernetes:\n"
        "      ingress: {enabled: true, host: b.example, tlsSecret: t}\n",
        [],
    ),
    # --- Compose host ports
    RuleCase(
        "host-port-of-an-unlisted-module",
        VALID + "    modules: [router]\n    compose: {hostPorts: {board: 19500}}\n",
        [
            (
                11,
                34,
                "parties[1].compose.hostPorts.board",
                "host port for module 'board', which is not in modules",
            ),
        ],
    ),
    RuleCase(
        "host-port-of-a-disabled-exchange",
        HEAD
        + "exchange: {enabled: false, compose: {hostPort: 19010}}\n"
        + TWO
        + "    compose: {hostPorts: {router: 19010}}\n",
        [],
    ),
    # --- resources
    RuleCase(
        "whole-float-quantities",
        VALID + "    router:\n      resources: {requests: {cpu: 1.0}, limits: {cpu: 2.0}}\n",
        [],
    ),
    RuleCase(
        "request-over-limit",
        VALID + "    flow:\n      resources: {requests: {memory: 8Gi}, limits: {memory: 4Gi}}\n",
        [
            (11, 38, "parties[1].flow.resources.requests.memory", "request 8Gi exceeds the limit 4Gi"),
        ],
    ),
    RuleCase(
        "request-at-limit",
        VALID + "    flow:\n      resources: {requests: {memory: 4Gi}, limits: {memory: 4Gi}}\n",
        [],
    ),
    RuleCase(
        "exchange-request-over-limit",
        HEAD
        + "exchange:\n  enabled: true\n  address: x\n  resources: {requests: {memory: 8Gi}, limits: {memory: 4Gi}}\n"
        + TWO,
        [(6, 34, "exchange.resources.requests.memory", "request 8Gi exceeds the limit 4Gi")],
    ),
    RuleCase(
        "a-text-quantity-is-the-schemas-to-judge",
        VALID + "    router:\n      resources: {limits: {cpu: lots}}\n",
        [
            (
                11,
                33,
                "parties[1].router.resources.limits.cpu",
                "'lots' is not a Kubernetes quantity such as 500m, 2, 512Mi or 10Gi",
            )
        ],
    ),
    RuleCase(
        "a-malformed-party-does-not-stop-the-next-ones-checks",
        HEAD + "parties:\n  - id: 9999\n    name: bank-a\n    address: 10.0.0.1\n    policy: [1]\n"
        "    router:\n      resources: {requests: [1]}\n  - id: 10000\n    name: bank-b\n    address: 10.0.0.2\n"
        "    policy: {minKeyBits: 1024}\n    flow:\n      resources: {requests: {memory: 8Gi}, limits: {memory: 4Gi}}\n",
        [
            (7, 13, "parties[0].policy", "must be a mapping, got list"),
            (9, 29, "parties[0].router.resources.requests", "must be a mapping, got list"),
            (
                13,
                26,
                "parties[1].policy.minKeyBits",
                "a floor of 1024 bits accepts insecure keys; use at least 2048 "
                "(or set this party's policy.allowInsecureKeys: true for a lab)",
            ),
            (15, 38, "parties[1].flow.resources.requests.memory", "request 8Gi exceeds the limit 4Gi"),
        ],
    ),
    # --- what the schema reports, the rules skip: no crash, no second problem for the same value
    RuleCase(
        "node-ports-not-a-mapping",
        VALID + "    kubernetes: {serviceType: NodePort, nodePorts: [30001]}\n",
        [(10, 52, "parties[1].kubernetes.nodePorts", "must be a mapping, got list")],
    ),
    RuleCase(
        "host-ports-not-a-mapping",
        VALID + "    compose: {hostPorts: [19500]}\n",
        [(10, 26, "parties[1].compose.hostPorts", "must be a mapping, got list")],
    ),
    RuleCase(
        "requests-not-a-mapping",
        VALID + "    router:\n      resources: {requests: [1], limits: {cpu: 1}}\n",
        [(11, 29, "parties[1].router.resources.requests", "must be a mapping, got list")],
    ),
    RuleCase(
        "policy-not-a-mapping",
        VALID + "    policy: [1]\n",
        [(10, 13, "parties[1].policy", "must be a mapping, got list")],
    ),
    RuleCase(
        "policy-lists-not-lists",
        VALID
        + "    policy:\n      trustedArbiters: all\n      rules: [{name: r, peers: all, approval: auto}, 7]\n",
        [
            (11, 24, "parties[1].policy.trustedArbiters", "must be a list, got string 'all'"),
            (12, 32, "parties[1].policy.rules[0].peers", "must be a list, got string 'all'"),
            (12, 54, "parties[1].policy.rules[1]", "must be a mapping, got integer 7"),
        ],
    ),
    # Not iterable at all, or a name of another type twice: a rule that stopped skipping them would
    # crash or add a duplicate-name problem (mutation: each type guard's removal survived the above).
    RuleCase(
        "policy-values-of-other-types",
        VALID + "    policy:\n      trustedArbiters: 7\n"
        "      rules: [{name: 5, peers: 7, approval: auto}, {name: 5, approval: auto}]\n",
        [
            (11, 24, "parties[1].policy.trustedArbiters", "must be a list, got integer 7"),
            (12, 22, "parties[1].policy.rules[0].name", "must be a string, got integer 5 (quote it)"),
            (12, 32, "parties[1].policy.rules[0].peers", "must be a list, got integer 7"),
            (12, 59, "parties[1].policy.rules[1].name", "must be a string, got integer 5 (quote it)"),
        ],
    ),
    RuleCase(
        "policy-rules-not-iterable",
        VALID + "    policy:\n      rules: 7\n",
        [(11, 14, "parties[1].policy.rules", "must be a list, got integer 7")],
    ),
    RuleCase(
        "a-party-not-a-mapping",
        HEAD + "parties:\n  - just-a-name\n  - id: 10000\n    name: bank-b\n    address: 10.0.0.2\n",
        [(4, 5, "parties[0]", "must be a mapping, got string 'just-a-name'")],
    ),
    RuleCase(
        "exchange-kubernetes-not-a-mapping",
        HEAD + "exchange:\n  enabled: true\n  address: x\n  kubernetes: [1]\n" + TWO,
        [(6, 15, "exchange.kubernetes", "must be a mapping, got list")],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_problem_of_a_spec_in_place_and_words(case: RuleCase) -> None:
    assert problems_of(case.text) == case.problems


def test_quantity_text_writes_numbers_as_kubernetes_does() -> None:
    assert [quantity_text(v) for v in (1.0, 2.0, 0.5, 3, "1500m")] == ["1", "2", "0.5", "3", "1500m"]
