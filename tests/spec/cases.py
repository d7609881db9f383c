"""Malformed specs and exactly where fatectl must say the problem is.

Each case is a whole file (so line numbers are visible in the source), the
position expected in the message, the dotted path and a fragment of the message.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DIRECTORY = object()  # the spec path is a directory
MISSING = object()  # the spec path does not exist


@dataclass(frozen=True)
class Case:
    id: str
    content: str | bytes | object
    line: int | None
    column: int | None
    path: str | None
    fragment: str

    def write(self, directory: Path) -> Path:
        target = directory / f"{self.id}.yaml"
        if self.content is DIRECTORY:
            target.mkdir()
        elif isinstance(self.content, bytes):
            target.write_bytes(self.content)
        elif isinstance(self.content, str):
            target.write_text(textwrap.dedent(self.content).lstrip("\n"), encoding="utf-8")
        return target

    def expected(self, file: Path | str) -> str:
        """The start of the problem line: FILE[:LINE[:COL]][ PATH]:"""
        where = str(file)
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where} {self.path}:" if self.path else f"{where}:"


def schema_fields(schema: dict[str, Any], prefix: str = "") -> list[str]:
    """Every field path the schema defines, e.g. parties[].router.port."""
    out = []
    for key, rule in schema.items():
        path = f"{prefix}.{key}" if prefix else key
        out.append(path)
        inner = rule.get("schema", {})
        if rule.get("type") == "list" and isinstance(inner.get("schema"), dict):
            out += schema_fields(inner["schema"], f"{path}[]")
        elif rule.get("type") == "dict" and inner:
            out += schema_fields(inner, path)
    return out


HEAD = "apiVersion: fatectl/v1\nname: lab\n"
TWO = """\
parties:
  - id: 9999
    name: bank-a
    address: 10.0.0.1
  - id: 10000
    name: bank-b
    address: 10.0.0.2
"""
VALID = HEAD + TWO  # lines 1-9; cases below append from line 10 or edit a line


def _with(line: int, text: str) -> str:
    """VALID with its 1-based line replaced by text (which may span several lines)."""
    lines = VALID.splitlines()
    lines[line - 1] = text
    return "\n".join(lines) + "\n"


CASES: list[Case] = [
    # --- the file itself
    Case("missing-file", MISSING, None, None, None, "no such file"),
    Case("directory", DIRECTORY, None, None, None, "is a directory"),
    Case("empty", "", 1, 1, None, "the spec is empty"),
    Case("only-comments", "# nothing here\n# yet\n", 1, 1, None, "the spec is empty"),
    Case("top-level-list", "- id: 1\n- id: 2\n", 1, 1, None, "top level must be a mapping"),
    Case("top-level-scalar", "just a string\n", 1, 1, None, "top level must be a mapping"),
    Case("binary", b"apiVersion: fatectl/v1\n\x00\x01\x02\xff\xfe", 2, None, None, "binary content"),
    Case("not-utf8", b"apiVersion: fatectl/v1\nname: caf\xe9\n", 2, 10, None, "invalid UTF-8 byte 0xe9"),
    Case("huge-file", "#" + "x" * (1024 * 1024 + 10) + "\n", None, None, None, "specs are limited to"),
    # --- YAML syntax
    Case("unclosed-bracket", HEAD + "parties: [1, 2\n", 4, 1, None, "expected ',' or ']'"),
    Case("duplicate-key", "apiVersion: fatectl/v1\nname: a\nname: b\n", 3, 1, None, 'duplicate key "name"'),
    Case("tab-indent", HEAD + "parties:\n\t- id: 1\n", 4, 1, None, "tab used for indentation"),
    Case("deep-nesting", HEAD + "x: " + "[" * 40 + "]" * 40 + "\n", 3, 35, None, "nesting deeper than 32"),
    Case("huge-number", _with(4, "  - id: " + "9" * 200), 4, 9, None, "number too large (200 digits)"),
    Case("python-tag", HEAD + "x: !!python/object/apply:os.system [ls]\n", 3, 4, None, "unsupported YAML tag"),
    Case("two-documents", VALID + "---\nname: other\n", 10, 1, None, "expected a single document"),
    Case("mapping-key-list", HEAD + "? [a, b]\n: 1\n" + TWO, 3, 3, None, "mapping keys must be plain strings"),
    # --- top level
    Case("missing-apiversion", "name: lab\n" + TWO, 1, 1, "apiVersion", "required field is missing"),
    Case("wrong-apiversion", _with(1, "apiVersion: fatectl/v2"), 1, 13, "apiVersion", "must be one of: fatectl/v1"),
    Case("missing-name", "apiVersion: fatectl/v1\n" + TWO, 1, 1, "name", "required field is missing"),
    Case("bad-federation-name", _with(2, "name: My_Lab"), 2, 7, "name", "is not a DNS label"),
    Case("unknown-top-key", VALID + "partys: []\n", 10, 1, "partys", "did you mean 'parties'?"),
    Case("missing-parties", HEAD, 1, 1, "parties", "required field is missing"),
    Case("parties-not-list", HEAD + "parties: {id: 1}\n", 3, 10, "parties", "must be a list, got mapping"),
    Case("one-party", HEAD + "parties:\n  - {id: 1, name: a, address: h}\n", 4, 3, "parties", "needs at least 2 items"),
    # --- parties
    Case("id-string", _with(4, "  - id: abc"), 4, 9, "parties[0].id", "must be an integer, got string 'abc'"),
    Case("id-zero", _with(4, "  - id: 0"), 4, 9, "parties[0].id", "min value is 1"),
    Case("id-too-big", _with(4, "  - id: 99999999999"), 4, 9, "parties[0].id", "max value is 2147483647"),
    Case("duplicate-id", _with(7, "  - id: 9999"), 7, 9, "parties[1].id", "duplicate party id 9999"),
    Case("duplicate-name", _with(8, "    name: bank-a"), 8, 11, "parties[1].name", "duplicate name 'bank-a'"),
    Case("name-too-long", _with(5, "    name: " + "a" * 41), 5, 11, "parties[0].name", "at most 40 characters"),
    Case("name-trailing-dash", _with(5, "    name: bank-"), 5, 11, "parties[0].name", "is not a DNS label"),
    Case("bad-address", _with(6, "    address: 'bank a!'"), 6, 14, "parties[0].address", "host name or IP"),
    Case("missing-address", _with(6, "    modules: [router]"), 4, 5, "parties[0].address", "required field is missing"),
    Case("unknown-party-key", _with(6, "    adress: 10.0.0.1"), 6, 5, "parties[0].adress", "did you mean 'address'?"),
    Case("unknown-nested-key", VALID + "    router: {prot: 9370}\n", 10, 14, "parties[1].router.prot",
         "did you mean 'port'?"),
    # --- ports
    Case("port-too-big", VALID + "    router:\n      port: 70000\n", 11, 13, "parties[1].router.port",
         "max value is 65535"),
    Case("port-zero", VALID + "    flow: {port: 0}\n", 10, 18, "parties[1].flow.port", "min value is 1"),
    Case("port-string", VALID + "    flow: {port: http}\n", 10, 18, "parties[1].flow.port", "must be an integer"),
    Case("port-bool", VALID + "    flow: {port: true}\n", 10, 18, "parties[1].flow.port", "got boolean True"),
    # --- modules
    Case("unknown-module", VALID + "    modules: [router, flwo]\n", 10, 23, "parties[1].modules[1]",
         "did you mean 'flow'?"),
    Case("empty-modules", VALID + "    modules: []\n", 10, 14, "parties[1].modules", "needs at least 1 items"),
    Case("flow-without-router", VALID + "    modules: [flow]\n", 10, 14, "parties[1].modules",
         "module 'flow' needs module 'router'"),
    Case("board-without-flow", VALID + "    modules: [router, board]\n", 10, 14, "parties[1].modules",
         "module 'board' needs module 'flow'"),
    Case("duplicate-module", VALID + "    modules: [router, flow, router]\n", 10, 29, "parties[1].modules[2]",
         "duplicate module 'router'"),
    Case("settings-without-module", VALID + "    modules: [router]\n    flow: {port: 9380}\n", 11, 5,
         "parties[1].flow", "not in modules"),
    # --- kubernetes
    Case("nodeport-range", VALID + "    kubernetes:\n      serviceType: NodePort\n      nodePorts: {router: 8080}\n",
         12, 27, "parties[1].kubernetes.nodePorts.router", "min value is 30000"),
    Case("nodeport-clusterip", VALID + "    kubernetes:\n      nodePorts: {router: 30001}\n", 11, 27,
         "parties[1].kubernetes.nodePorts.router", "need kubernetes.serviceType NodePort"),
    Case("nodeport-duplicate",
         _with(6, "    address: 10.0.0.1\n    kubernetes: {serviceType: NodePort, nodePorts: {router: 30001}}")
         + "    kubernetes: {serviceType: NodePort, nodePorts: {flow: 30001}}\n",
         11, 59, "parties[1].kubernetes.nodePorts.flow", "duplicate nodePort 30001"),
    Case("service-type", VALID + "    kubernetes: {serviceType: Nodeport}\n", 10, 31,
         "parties[1].kubernetes.serviceType", "did you mean 'NodePort'?"),
    Case("toleration-operator", VALID + "    kubernetes:\n      tolerations:\n        - {key: gpu, operator: In}\n",
         12, 32, "parties[1].kubernetes.tolerations[0].operator", "must be one of: Exists, Equal"),
    Case("node-selector-value", VALID + "    kubernetes:\n      nodeSelector: {disk: 'fast ssd'}\n", 11, 28,
         "parties[1].kubernetes.nodeSelector.disk", "is not a Kubernetes label value"),
    Case("ingress-no-host", VALID + "    modules: [router, flow, board]\n    kubernetes:\n"
         "      ingress: {enabled: true, tlsSecret: board-tls}\n",
         12, 16, "parties[1].kubernetes.ingress", "an enabled ingress needs a host"),
    Case("ingress-no-tls", VALID + "    modules: [router, flow, board]\n    kubernetes:\n"
         "      ingress: {enabled: true, host: board.example}\n",
         12, 16, "parties[1].kubernetes.ingress", "an enabled ingress needs tlsSecret"),
    Case("ingress-no-board", VALID + "    kubernetes:\n      ingress: {enabled: true, host: fate.example, tlsSecret: t}\n",
         11, 26, "parties[1].kubernetes.ingress.enabled", "add 'board' to modules"),
    Case("bad-quantity", VALID + "    router:\n      resources:\n        limits: {cpu: lots}\n", 12, 23,
         "parties[1].router.resources.limits.cpu", "is not a Kubernetes quantity"),
    Case("infinite-quantity", VALID + "    router:\n      resources: {limits: {memory: .inf}}\n", 11, 36,
         "parties[1].router.resources.limits.memory", "inf is not a Kubernetes quantity; write it as a string"),
    Case("nan-quantity", VALID + "    router:\n      resources: {requests: {cpu: .nan}}\n", 11, 35,
         "parties[1].router.resources.requests.cpu", "nan is not a Kubernetes quantity"),
    Case("exponent-quantity", VALID + "    flow:\n      resources: {limits: {cpu: 1.0e-7}}\n", 11, 33,
         "parties[1].flow.resources.limits.cpu", "1e-07 is not a Kubernetes quantity"),
    Case("persistence-size", VALID + "    flow:\n      persistence: {size: 10}\n", 11, 27,
         "parties[1].flow.persistence.size", "(quote it)"),
    Case("request-over-limit", VALID + "    flow:\n      resources: {requests: {memory: 8Gi}}\n", 11, 38,
         "parties[1].flow.resources.requests.memory", "request 8Gi exceeds the limit 4Gi"),
    Case("default-request-over-limit", VALID + "    router:\n      resources: {limits: {cpu: 100m}}\n", 11, 18,
         "parties[1].router.resources.requests.cpu", "request 200m (the default) exceeds the limit 100m"),
    # --- compose
    Case("host-port-collision", _with(6, "    address: 10.0.0.1\n    compose: {hostPorts: {flow: 19500}}")
         + "    compose: {hostPorts: {router: 19500}}\n", 11, 35, "parties[1].compose.hostPorts.router",
         "duplicate host port 19500 (already used at parties[0].compose.hostPorts.flow)"),
    # --- engine and security
    Case("tag-float", HEAD + "engine: {tag: 1.0}\n" + TWO, 3, 15, "engine.tag", "must be a string, got number 1.0"),
    Case("pull-policy", HEAD + "engine:\n  pullPolicy: ifnotpresent\n" + TWO, 4, 15, "engine.pullPolicy",
         "did you mean 'IfNotPresent'?"),
    Case("tls-mode", HEAD + "security: {tls: yes}\n" + TWO, 3, 17, "security.tls", "must be one of: none, mutual"),
    Case("small-keys", HEAD + "security:\n  paillierKeyBits: 1024\n" + TWO, 4, 20, "security.paillierKeyBits",
         "use at least 2048 (or set security.allowInsecureKeys: true"),
    Case("tiny-keys-even-in-lab", HEAD + "security: {paillierKeyBits: 128, allowInsecureKeys: true}\n" + TWO,
         3, 29, "security.paillierKeyBits", "min value is 256"),
    # --- exchange
    Case("exchange-no-address", HEAD + "exchange:\n  enabled: true\n" + TWO, 4, 3, "exchange",
         "an enabled exchange needs an address"),
    Case("exchange-id-clash", HEAD + "exchange: {enabled: true, id: 10000, address: x.example}\n" + TWO, 8, 9,
         "parties[1].id", "duplicate party id 10000 (already used at exchange.id)"),
    Case("exchange-name-clash", HEAD + "exchange: {enabled: true, name: bank-b, address: x.example}\n" + TWO, 9, 11,
         "parties[1].name", "duplicate name 'bank-b' (already used at exchange.name)"),
    Case("exchange-host-port", HEAD + "exchange: {enabled: true, address: x, compose: {hostPort: 19010}}\n" + TWO
         + "    compose: {hostPorts: {router: 19010}}\n", 11, 35, "parties[1].compose.hostPorts.router",
         "duplicate host port 19010 (already used at exchange.compose.hostPort)"),
    Case("exchange-nodeport-clusterip", HEAD + "exchange:\n  enabled: true\n  address: x\n  kubernetes: {nodePort: 30000}\n"
         + TWO, 6, 26, "exchange.kubernetes.nodePort", "needs serviceType NodePort or LoadBalancer"),
    # --- a party's policy
    Case("policy-approval", VALID + "    policy: {approval: always}\n", 10, 24, "parties[1].policy.approval",
         "unallowed value 'always', must be one of: manual, auto, deny"),
    Case("policy-unknown-key", VALID + "    policy: {minKeyBit: 4096}\n", 10, 14, "parties[1].policy.minKeyBit",
         "did you mean 'minKeyBits'?"),
    Case("policy-insecure-floor", VALID + "    policy: {minKeyBits: 1024}\n", 10, 26, "parties[1].policy.minKeyBits",
         "a floor of 1024 bits accepts insecure keys; use at least 2048 (or set this party's "
         "policy.allowInsecureKeys: true"),
    Case("policy-unknown-peer", VALID + "    policy:\n      rules:\n        - {name: r1, peers: [12345], approval: auto}\n",
         12, 30, "parties[1].policy.rules[0].peers[0]", "12345 is not a party id of the federation"),
    Case("policy-self-peer", VALID + "    policy:\n      rules:\n        - {name: r1, peers: [10000], approval: auto}\n",
         12, 30, "parties[1].policy.rules[0].peers[0]", "10000 is this party; its own jobs need no rule"),
    Case("policy-duplicate-rule", VALID + "    policy:\n      rules:\n        - {name: r1, approval: auto}\n"
         "        - {name: r1, approval: deny}\n", 13, 18, "parties[1].policy.rules[1].name",
         "duplicate rule name 'r1' (already used at parties[1].policy.rules[0].name)"),
    Case("policy-unknown-arbiter", VALID + "    policy: {trustedArbiters: [7]}\n", 10, 32,
         "parties[1].policy.trustedArbiters[0]", "7 is not a party id of the federation"),
    Case("policy-rule-component", VALID + "    policy:\n      rules: [{name: r1, components: [hetero-lr], approval: auto}]\n",
         11, 39, "parties[1].policy.rules[0].components[0]", "did you mean 'hetero_lr'?"),
    Case("policy-rule-role", VALID + "    policy:\n      rules: [{name: r1, roles: [judge], approval: auto}]\n",
         11, 34, "parties[1].policy.rules[0].roles[0]", "must be one of: guest, host, arbiter"),
    Case("policy-rule-no-approval", VALID + "    policy:\n      rules:\n        - {name: r1, tables: [t]}\n",
         12, 11, "parties[1].policy.rules[0].approval", "required field is missing"),
    Case("policy-rule-bad-table", VALID + "    policy:\n      rules: [{name: r1, tables: ['../etc'], approval: auto}]\n",
         11, 35, "parties[1].policy.rules[0].tables[0]", "'../etc' is not a name"),
    # --- a party's compute (Ray)
    Case("compute-engine", VALID + "    compute: {engine: spark}\n", 10, 23, "parties[1].compute.engine",
         "unallowed value 'spark', must be one of: local, ray"),
    Case("compute-workers-zero", VALID + "    compute: {engine: ray, workers: 0}\n", 10, 37,
         "parties[1].compute.workers", "min value is 1"),
    Case("compute-workers-type", VALID + "    compute: {workers: two}\n", 10, 24, "parties[1].compute.workers",
         "must be an integer, got string 'two'"),
    Case("compute-memory-quantity", VALID + "    compute: {engine: ray, memory: 2GB}\n", 10, 36,
         "parties[1].compute.memory", "'2GB' is not a Kubernetes quantity"),
    Case("compute-memory-too-small", VALID + "    compute: {engine: ray, memory: 64Mi}\n", 10, 36,
         "parties[1].compute.memory", "64Mi is too little for a Ray node; give at least 512Mi"),
    Case("compute-cpus-zero", VALID + "    compute: {engine: ray, cpusPerWorker: 0}\n", 10, 43,
         "parties[1].compute.cpusPerWorker", "min value is 1"),
    Case("compute-cpus-fraction", VALID + "    compute: {engine: ray, cpusPerWorker: 0.5}\n", 10, 43,
         "parties[1].compute.cpusPerWorker", "must be an integer, got number 0.5"),
    Case("compute-address-local", VALID + "    compute: {rayAddress: 'ray-head:6379'}\n", 10, 15,
         "parties[1].compute.rayAddress", "rayAddress is a Ray setting; it needs engine: ray"),
    Case("compute-cpus-local", VALID + "    compute: {engine: local, cpusPerWorker: 2}\n", 10, 30,
         "parties[1].compute.cpusPerWorker", "cpusPerWorker is a Ray setting; it needs engine: ray"),
    Case("compute-address-format", VALID + "    compute: {engine: ray, rayAddress: 'http://head:6379'}\n", 10, 40,
         "parties[1].compute.rayAddress", "is not host:port of a Ray cluster, or ray://host:port"),
    Case("compute-address-no-port", VALID + "    compute: {engine: ray, rayAddress: ray://head}\n", 10, 40,
         "parties[1].compute.rayAddress", "is not host:port of a Ray cluster, or ray://host:port"),
    Case("compute-address-port-range", VALID + "    compute: {engine: ray, rayAddress: 'head:70000'}\n", 10, 40,
         "parties[1].compute.rayAddress", "port 70000 of 'head:70000' is not in 1-65535"),
    Case("compute-memory-with-address", VALID + "    compute: {engine: ray, rayAddress: 'ray://head:10001', memory: 4Gi}\n",
         10, 60, "parties[1].compute.memory", "with rayAddress the cluster is yours to size"),
    Case("compute-ray-without-flow", VALID + "    modules: [router]\n    compute: {engine: ray}\n", 11, 23,
         "parties[1].compute.engine", "engine ray runs the flow's work; add 'flow' to modules"),
    Case("compute-unknown-key", VALID + "    compute: {engine: ray, cpus: 2}\n", 10, 28,
         "parties[1].compute.cpus", "unknown field 'cpus'; known fields: cpusPerWorker, engine, memory"),
    Case("alias-bomb", HEAD + "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'lol'] * 10)}]\n" for i in range(7))
         + TWO, 1, 1, None, "more than 200000 values after expanding aliases"),
]
