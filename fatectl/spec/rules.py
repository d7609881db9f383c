"""Cross-field rules the schema cannot express.

Rules run even when the schema found problems, so a user sees everything at
once; each rule therefore reads the data defensively and skips what is
malformed (the schema already reports that).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from fatectl.errors import Problem
from fatectl.spec.compute import compute_problems
from fatectl.spec.document import Document, PathKey, dotted
from fatectl.spec.model import MODULE_DEPENDENCIES, MODULES
from fatectl.spec.patterns import QUANTITY, quantity_value

MIN_SECURE_KEY_BITS = 2048

Rule = Callable[[Document, dict[str, Any]], Iterator[Problem]]


def rule_problems(doc: Document, data: dict[str, Any]) -> list[Problem]:
    """Problems of every cross-field rule; data is the defaulted document."""
    return [problem for rule in RULES for problem in rule(doc, data)]


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _parties(data: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    parties = data.get("parties")
    if isinstance(parties, list):
        for index, party in enumerate(parties):
            if isinstance(party, dict):
                yield index, party


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _modules(party: dict[str, Any]) -> list[str]:
    modules = party.get("modules")
    return [m for m in modules if isinstance(m, str)] if isinstance(modules, list) else []


def _exchange_enabled(data: dict[str, Any]) -> bool:
    return _get(data, "exchange", "enabled") is True


def _unique(doc: Document, what: str, seen: list[tuple[Any, PathKey]]) -> Iterator[Problem]:
    first: dict[Any, PathKey] = {}
    for value, path in seen:
        if value is None:
            continue
        if value in first:
            yield doc.problem(path, f"duplicate {what} {value!r} (already used at {dotted(first[value])})")
        else:
            first[value] = path


def unique_ids_and_names(doc: Document, data: dict[str, Any]) -> Iterator[Problem]:
    """Party ids and names are unique, the enabled exchange's id and name included."""
    ids: list[tuple[Any, PathKey]] = []
    names: list[tuple[Any, PathKey]] = []
    if _exchange_enabled(data):
        ids.append((_int(_get(data, "exchange", "id")), ("exchange", "id")))
        names.append((_get(data, "exchange", "name"), ("exchange", "name")))
    for index, party in _parties(data):
        ids.append((_int(party.get("id")), ("parties", index, "id")))
        name = party.get("name")
        names.append((name if isinstance(name, str) else None, ("parties", index, "name")))
    # The exchange is listed first, so a clash is reported at the party that collides with it.
    yield from _unique(doc, "party id", ids)
    yield from _unique(doc, "name", names)


def module_dependencies(doc: Document, data: dict[str, Any]) -> Iterator[Problem]:
    """Modules are listed once; every party runs a router; flow needs router, board needs flow;
    a module's settings section only appears when the module is listed."""
    raw = doc.data.get("parties")
    for index, party in _parties(data):
        modules = _modules(party)
        path: PathKey = ("parties", index, "modules")
        yield from _unique(doc, "module", [(m, (*path, i)) for i, m in enumerate(modules)])
        missing = [
            (module, needed)
            for module in dict.fromkeys(modules)
            for needed in MODULE_DEPENDENCIES.get(module, ())
            if needed not in modules
        ]
        for module, needed in missing:
            yield doc.problem(path, f"module '{module}' needs module '{needed}'")
        if modules and "router" not in modules and all(needed != "router" for _, needed in missing):
            yield doc.problem(path, "every party needs the router module (peers reach it only through its router)")
        written = raw[index] if isinstance(raw, list) and index < len(raw) and isinstance(raw[index], dict) else {}
        for module in MODULES:
            if module in written and module not in modules:
                yield doc.problem(
                    ("parties", index, module),
                    f"settings for module '{module}', which is not in modules ({', '.join(modules) or 'none'})",
                    key=True,
                )


def key_size(doc: Document, data: dict[str, Any]) -> Iterator[Problem]:
    """Paillier keys have at least 2048 bits unless security.allowInsecureKeys is true (labs only)."""
    bits = _int(_get(data, "security", "paillierKeyBits"))
    if bits is not None and bits < MIN_SECURE_KEY_BITS and _get(data, "security", "allowInsecureKeys") is not True:
        yield doc.problem(
            ("security", "paillierKeyBits"),
            f"{bits}-bit Paillier keys are insecure; use at least {MIN_SECURE_KEY_BITS} "
            "(or set security.allowInsecureKeys: true for a lab)",
        )


def exchange_consistency(doc: Document, data: dict[str, Any]) -> Iterator[Problem]:
    """An enabled exchange has an address; its nodePort needs serviceType NodePort or LoadBalancer."""
    if not _exchange_enabled(data):
        return
    if not _get(data, "exchange", "address"):
        yield doc.problem(("exchange",), "an enabled exchange needs an address (where parties reach it)")
    port_type = _get(data, "exchange", "kubernetes", "serviceType")
    if _get(data, "exchange", "kubernetes", "nodePort") is not None and port_type == "ClusterIP":
        yield doc.problem(
            ("exchange", "kubernetes", "nodePort"), "a nodePort needs serviceType NodePort or LoadBalancer"
        )


def kubernetes_settings(doc: Document, data: dict[str, Any]) -> Iterator[Problem]:
    """nodePorts only for listed modules and non-ClusterIP services, unique across the whole spec;
    an enabled ingress has a host and a board to serve."""
    node_ports: list[tuple[Any, PathKey]] = []
    if _exchange_enabled(data):
        node_ports.append((_int(_get(data, "exchange", "kubernetes", "nodePort")), ("exchange", "kubernetes", "nodePort")))
    for index, party in _parties(data):
        modules = _modules(party)
        k8s: PathKey = ("parties", index, "kubernetes")
        ports = _get(party, "kubernetes", "nodePorts")
        for module, port in (ports.items() if isinstance(ports, dict) else []):
            path = (*k8s, "nodePorts", module)
            node_ports.append((_int(port), path))
            if port is not None and module in MODULES and module not in modules:
                yield doc.problem(path, f"nodePort for module '{module}', which is not in modules")
            elif port is not None and _get(party, "kubernetes", "serviceType") == "ClusterIP":
                yield doc.problem(path, "nodePorts need kubernetes.serviceType NodePort or LoadBalancer")
        if _get(party, "kubernetes", "ingress", "enabled") is True:
            if not _get(party, "kubernetes", "ingress", "host"):
                yield doc.problem((*k8s, "ingress"), "an enabled ingress needs a host")
            if not _get(party, "kubernetes", "ingress", "tlsSecret"):
                yield doc.problem((*k8s, "ingress"), "an enabled ingress needs tlsSecret: the board's login must not cross plain HTTP")
            if "board" not in modules:
                yield doc.problem((*k8s, "ingress", "enabled"), "the ingress serves the board; add 'board' to modules")
    # NodePorts are cluster-wide; parties may share a cluster (labs, tests), so keep them all distinct.
    yield from _unique(doc, "nodePort", node_ports)


def compose_host_ports(doc: Document, data: dict[str, Any]) -> Iterator[Problem]:
    """Compose host ports only for listed modules, and no two services (exchange included) share one."""
    taken: list[tuple[Any, PathKey]] = []
    if _exchange_enabled(data):
        taken.append((_int(_get(data, "exchange", "compose", "hostPort")), ("exchange", "compose", "hostPort")))
    for index, party in _parties(data):
        modules = _modules(party)
        ports = _get(party, "compose", "hostPorts")
        for module, port in (ports.items() if isinstance(ports, dict) else []):
            path: PathKey = ("parties", index, "compose", "hostPorts", module)
            taken.append((_int(port), path))
            if port is not None and module in MODULES and module not in modules:
                yield doc.problem(path, f"host port for module '{module}', which is not in modules")
    yield from _unique(doc, "host port", taken)


def quantity_text(value: int | float | str) -> str:
    """A resource value as Kubernetes writes it: 1.0 -> "1", 0.5 -> "0.5"; strings unchanged."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _resource_sections(data: dict[str, Any]) -> Iterator[tuple[PathKey, Any]]:
    yield ("exchange", "resources"), _get(data, "exchange", "resources")
    for index, party in _parties(data):
        for module in _modules(party):
            yield ("parties", index, module, "resources"), _get(party, module, "resources")


def numeric_quantities(doc: Document, data: dict[str, Any]) -> Iterator[Problem]:
    """A resource given as a YAML number is finite and reads as a Kubernetes quantity (0.5, 2, 1500)."""
    for path, resources in _resource_sections(data):
        for kind in ("requests", "limits"):
            values = _get(resources, kind)
            for name, value in (values.items() if isinstance(values, dict) else []):
                numeric = isinstance(value, int | float) and not isinstance(value, bool)
                if numeric and not re.fullmatch(QUANTITY, quantity_text(value)):
                    yield doc.problem(
                        (*path, kind, name), f"{value!r} is not a Kubernetes quantity; write it as a string"
                    )


def requests_within_limits(doc: Document, data: dict[str, Any]) -> Iterator[Problem]:
    """A resource request (given or default) never exceeds the limit for the same resource."""
    # Kubernetes refuses a pod whose request exceeds its limit; say so before anything is rendered.
    for path, resources in _resource_sections(data):
        requests, limits = _get(resources, "requests"), _get(resources, "limits")
        if not isinstance(requests, dict) or not isinstance(limits, dict):
            continue
        for name, wanted in requests.items():
            asked, cap = quantity_value(wanted), quantity_value(limits.get(name))
            if asked is not None and cap is not None and asked > cap:
                given = (*path, "requests", name) in doc.values
                yield doc.problem(
                    (*path, "requests", name),
                    f"request {wanted}{'' if given else ' (the default)'} exceeds the limit {limits[name]}",
                )


def party_policies(doc: Document, data: dict[str, Any]) -> Iterator[Problem]:
    """A party's policy names parties of the federation (rule peers other than itself, trusted
    arbiters); its rule names are unique; its minKeyBits is at least 2048 unless its own
    policy.allowInsecureKeys is true."""
    ids = {_int(p.get("id")) for _, p in _parties(data)} - {None}
    for index, party in _parties(data):
        policy = party.get("policy")
        if not isinstance(policy, dict):
            continue
        path: PathKey = ("parties", index, "policy")
        arbiters = policy.get("trustedArbiters")
        for i, arbiter in enumerate(arbiters if isinstance(arbiters, list) else []):
            if _int(arbiter) is not None and arbiter not in ids:
                yield doc.problem((*path, "trustedArbiters", i), f"{arbiter} is not a party id of the federation")
        rules = policy.get("rules")
        rules = [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []
        for i, rule in enumerate(rules):
            peers = rule.get("peers")
            for j, peer in enumerate(peers if isinstance(peers, list) else []):
                where = (*path, "rules", i, "peers", j)
                if _int(peer) is not None and peer not in ids:
                    yield doc.problem(where, f"{peer} is not a party id of the federation")
                elif peer == party.get("id"):
                    yield doc.problem(where, f"{peer} is this party; its own jobs need no rule")
        names = [(r.get("name") if isinstance(r.get("name"), str) else None, (*path, "rules", i, "name"))
                 for i, r in enumerate(rules)]
        yield from _unique(doc, "rule name", names)
        bits = _int(policy.get("minKeyBits"))
        if bits is not None and bits < MIN_SECURE_KEY_BITS and policy.get("allowInsecureKeys") is not True:
            yield doc.problem(
                (*path, "minKeyBits"),
                f"a floor of {bits} bits accepts insecure keys; use at least {MIN_SECURE_KEY_BITS} "
                f"(or set this party's policy.allowInsecureKeys: true for a lab)",
            )


RULES: tuple[Rule, ...] = (
    unique_ids_and_names,
    module_dependencies,
    key_size,
    party_policies,
    exchange_consistency,
    kubernetes_settings,
    compose_host_ports,
    numeric_quantities,
    requests_within_limits,
    compute_problems,
)
