"""KubeFATE cluster.yaml files (one per party, 1.x `rollsite` or 2.x `osx`) -> one fatectl spec.

Each party's file knows its own id, namespace, modules and router Service, and, in
`partyList`, where it believes its peers are; `exchange` (or an exchange cluster's file)
makes a star. The import joins them, checks that the parties agree about each other (a
stale partyList is KubeFATE's most common day-2 failure) and reports every setting that
has no fatectl equivalent at its file:line. Credentials are never copied, not even into
the report: it names the key, never its value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fatectl.errors import Problem, SpecError
from fatectl.spec.document import Document, PathKey, read_document

ROUTERS = ("rollsite", "osx")  # 1.x eggroll's router, 2.x's
MODULE_MAP = {"rollsite": "router", "osx": "router", "python": "flow", "fateflow": "flow", "fateboard": "board"}
NO_EQUIVALENT = {
    "clustermanager": "eggroll's cluster manager: fatectl runs jobs in worker processes of the flow",
    "nodemanager": "eggroll node managers: fatectl runs jobs in worker processes of the flow",
    "mysql": "MySQL: the flow keeps its store in SQLite on its own volume; credentials not copied",
    "client": "the notebook client: no equivalent",
    "lbrollsite": "the load-balanced rollsite: one router per party",
    **{m: f"the {m} backend: fatectl has one built-in computing/federation engine"
       for m in ("spark", "hdfs", "nginx", "rabbitmq", "pulsar")},
}
IGNORED_KEYS = {
    "chartName", "chartVersion", "imageTag", "istio", "podSecurityPolicy", "computing", "federation", "storage",
    "algorithm", "device", "backend", "servingIp", "servingPort", "skippedKeys", "gpu",
}
SECRET_KEY = re.compile(r"(?i)pass(word)?|secret|token|credential|default_pass")
NODE_PORTS = range(30000, 32768)


@dataclass
class Cluster:
    """One cluster.yaml as read, with where each value came from."""

    doc: Document
    party_id: int
    name: str
    namespace: str
    modules: list[str]
    router_key: str | None  # "rollsite" | "osx" | None
    is_exchange: bool

    @property
    def data(self) -> dict[str, Any]:
        return self.doc.data

    def get(self, *keys: str | int) -> Any:
        value: Any = self.doc.data
        for key in keys:
            if isinstance(value, dict):
                value = value.get(key)
            elif isinstance(value, list) and isinstance(key, int) and key < len(value):
                value = value[key]
            else:
                return None
        return value

    def note(self, path: PathKey, message: str) -> Problem:
        return self.doc.problem(path, message)


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)  # the import cannot go on
    notes: list[Problem] = field(default_factory=list)  # settings with no equivalent, approximations


def _dns_label(text: str, fallback: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:40].strip("-")
    return label or fallback


def read_cluster(path: Path) -> Cluster:
    doc = read_document(path)
    data = doc.data
    problems = []
    party_id = data.get("partyId")
    if isinstance(party_id, str) and party_id.isdigit():
        party_id = int(party_id)
    if not isinstance(party_id, int) or isinstance(party_id, bool) or party_id < 0:
        problems.append(doc.problem(("partyId",), f"partyId must be a party id (integer), got {party_id!r}"))
    modules = data.get("modules")
    if isinstance(modules, dict):  # the oldest charts: modules: {rollsite: {include: true}, ...}
        modules = [m for m, v in modules.items() if not isinstance(v, dict) or v.get("include", True)]
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        problems.append(doc.problem(("modules",), "modules must be a list of module names"))
        modules = []
    if problems or not isinstance(party_id, int):
        raise SpecError(f"{path}: not a KubeFATE cluster.yaml", problems)
    router = next((r for r in ROUTERS if r in modules or isinstance(data.get(r), dict)), None)
    chart = str(data.get("chartName") or "")
    is_exchange = chart == "fate-exchange" or (router is not None and "python" not in modules
                                              and "fateflow" not in modules and not _exchange_of(data, router))
    name = str(data.get("name") or f"fate-{party_id}")
    namespace = str(data.get("namespace") or f"fate-{party_id}")
    return Cluster(doc, party_id, _dns_label(name, f"party-{party_id}"), namespace, list(modules), router,
                   is_exchange)


def _exchange_of(data: dict[str, Any], router: str | None) -> dict[str, Any] | None:
    section = data.get(router) if router else None
    exchange = section.get("exchange") if isinstance(section, dict) else None
    return exchange if isinstance(exchange, dict) and exchange.get("ip") else None


def party_list(cluster: Cluster) -> Iterator[tuple[int, str, int | None, PathKey]]:
    """(peer id, ip, port, where) for each entry of the router's partyList (or a top-level one)."""
    for base in ((cluster.router_key, "partyList") if cluster.router_key else (), ("partyList",)):
        entries = cluster.get(*base) if base else None
        if not isinstance(entries, list):
            continue
        for index, entry in enumerate(entries):
            if isinstance(entry, dict) and str(entry.get("partyId", "")).isdigit() and entry.get("partyIp"):
                port = entry.get("partyPort")
                yield (int(entry["partyId"]), str(entry["partyIp"]), port if isinstance(port, int) else None,
                       (*base, index))
        return


def unmapped_notes(cluster: Cluster) -> Iterator[Problem]:
    """Every setting of a cluster.yaml that the spec does not carry, named but never quoted."""
    for module in cluster.modules:
        if module in NO_EQUIVALENT:
            yield cluster.note(("modules",), f"module {module}: {NO_EQUIVALENT[module]}")
        elif module not in MODULE_MAP:
            yield cluster.note(("modules",), f"module {module}: unknown to fatectl, ignored")
    for key in sorted(k for k in cluster.data if isinstance(k, str)):
        if key in IGNORED_KEYS:
            yield cluster.note((key,), "a KubeFATE/FATE setting with no fatectl equivalent, ignored")
        elif key.startswith("externalMysql"):
            yield cluster.note((key,), "external MySQL: not used by fatectl; value not copied")
        elif key in NO_EQUIVALENT:
            yield cluster.note((key,), NO_EQUIVALENT[key])
    for path in _secret_paths(cluster.data, ()):
        yield cluster.note(path, "credential not copied (fatectl generates its own flow tokens and TLS keys)")
    python = cluster.get("python")
    if isinstance(python, dict):
        for key in ("httpNodePort", "grpcNodePort", "nodePort"):
            if key in python:
                yield cluster.note(("python", key), "fatectl's flow is reached inside the cluster only; "
                                                    "peers reach the router alone")
    if cluster.data.get("persistence") is False and not cluster.is_exchange:
        yield cluster.note(("persistence",), "false here; fatectl's flow always keeps its data on a "
                                             "PersistentVolumeClaim (flow.persistence)")
    ingress = cluster.get("ingress", "fateboard", "hosts", 0, "name") or cluster.get("host", "fateboard")
    if ingress:
        yield cluster.note(("ingress",), f"board host {ingress}: set kubernetes.ingress (enabled, host, tlsSecret) "
                                         "yourself: fatectl serves the board's login over TLS only")


def _secret_paths(value: Any, path: PathKey) -> Iterator[PathKey]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if isinstance(key, str) and SECRET_KEY.search(key) and not isinstance(inner, dict | list):
                yield (*path, key)
            else:
                yield from _secret_paths(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _secret_paths(inner, (*path, index))
