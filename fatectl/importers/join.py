"""Join the parties' KubeFATE cluster.yaml files into one spec, and check that they agree.

`fatectl import kubefate` calls `import_kubefate`; its result is spec text that already
passed fatectl's validation, plus every note (file:line) the operator should read.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from fatectl.errors import Problem, SpecError
from fatectl.files import write_file
from fatectl.importers.kubefate import (
    MODULE_MAP,
    NODE_PORTS,
    Cluster,
    party_list,
    read_cluster,
    unmapped_notes,
)
from fatectl.spec.loader import load_federation_text
from fatectl.spec.model import Federation
from fatectl.spec.schema import API_VERSION, SERVICE_TYPES


@dataclass(frozen=True)
class Imported:
    text: str
    federation: Federation
    notes: tuple[Problem, ...]


@dataclass(frozen=True)
class _Sighting:
    """Where one cluster.yaml says a party's router is."""

    ip: str
    port: int | None
    by: Cluster
    where: tuple[str | int, ...]


def _router(cluster: Cluster, key: str) -> Any:
    return cluster.get(cluster.router_key, key) if cluster.router_key else None


def _node_port(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value in NODE_PORTS else None


def _sightings(clusters: list[Cluster]) -> dict[int, list[_Sighting]]:
    seen: dict[int, list[_Sighting]] = {}
    for cluster in clusters:
        for peer, ip, port, where in party_list(cluster):
            seen.setdefault(peer, []).append(_Sighting(ip, port, cluster, where))
    return seen


def _address(party_id: int, own: Cluster | None, seen: list[_Sighting], notes: list[Problem]) -> str:
    """The address most files agree on; every file that disagrees (a stale partyList) is named."""
    if not seen:
        where = own.note(("partyId",), "") if own is not None else None
        placeholder = f"party-{party_id}.example.invalid"
        notes.append(Problem(f"no partyList names party {party_id}'s address: set parties[].address "
                             f"(written as {placeholder})", where.file if where else None, where.line if where else None))
        return placeholder
    ip, _ = Counter(s.ip for s in seen).most_common(1)[0]
    for s in seen:
        if s.ip != ip:
            notes.append(s.by.note(s.where, f"says party {party_id} is at {s.ip}; other files say {ip} (kept)"))
    own_port = _node_port(_router(own, "nodePort")) if own is not None else None
    for s in seen:
        if own_port is not None and s.port is not None and s.port != own_port:
            notes.append(s.by.note(s.where, f"reaches party {party_id} on port {s.port}, but its router's "
                                            f"nodePort is {own_port}: a stale route (fatectl derives routes)"))
    return ip


def _party(cluster: Cluster, seen: list[_Sighting], notes: list[Problem]) -> dict[str, Any]:
    modules = [m for m in ("router", "flow", "board") if m in {MODULE_MAP.get(k) for k in cluster.modules}]
    if "router" not in modules:
        notes.append(cluster.note(("modules",), "no rollsite/osx: added fatectl's router, which every party needs"))
        modules.insert(0, "router")
    if "board" in modules and "flow" not in modules:
        modules.remove("board")
        notes.append(cluster.note(("modules",), "fateboard without python (fateflow): the board needs the flow; left out"))
    party: dict[str, Any] = {"id": cluster.party_id, "name": cluster.name,
                             "address": _address(cluster.party_id, cluster, seen, notes), "modules": _flow(modules)}
    k8s: dict[str, Any] = {"namespace": cluster.namespace}
    kind = _router(cluster, "type")
    k8s["serviceType"] = kind if kind in SERVICE_TYPES else "NodePort"  # KubeFATE's default
    port = _node_port(_router(cluster, "nodePort"))
    if port is not None and k8s["serviceType"] != "ClusterIP":
        k8s["nodePorts"] = _flow({"router": port})
    selector = _router(cluster, "nodeSelector")
    if isinstance(selector, dict) and selector:
        k8s["nodeSelector"] = {str(k): str(v) for k, v in selector.items()}
        notes.append(cluster.note((str(cluster.router_key), "nodeSelector"), "the router's nodeSelector now applies "
                                                                              "to every pod of the party"))
    party["kubernetes"] = k8s
    if cluster.data.get("persistence") is True and "flow" in modules:
        store = cluster.get("nodemanager") or {}
        first = (store.get("list") or [{}])[0] if isinstance(store, dict) else {}
        size = (first if isinstance(first, dict) else {}).get("size") or store.get("size")
        storage_class = (first if isinstance(first, dict) else {}).get("storageClass") or store.get("storageClass")
        persistence = {k: str(v) for k, v in (("size", size), ("storageClass", storage_class)) if v and v != "-"}
        if persistence:
            party["flow"] = {"persistence": persistence}
            notes.append(cluster.note(("nodemanager",), "the node managers' volume settings now size the flow's "
                                                        "volume (tables, models, job store)"))
    return party


def _engine(parties: list[Cluster], notes: list[Problem]) -> dict[str, Any]:
    """One engine image for every party: the first value each file gives, conflicts noted."""
    engine: dict[str, Any] = {}
    chosen: dict[str, Cluster] = {}
    for cluster in sorted(parties, key=lambda c: c.party_id):
        for key in ("registry", "pullPolicy"):
            value = cluster.data.get(key)
            if value in (None, "") or (key == "pullPolicy" and value not in ("Always", "IfNotPresent", "Never")):
                continue
            if key not in engine:
                engine[key], chosen[key] = str(value), cluster
            elif engine[key] != value:
                notes.append(cluster.note((key,), f"differs from {chosen[key].doc.file}'s {engine[key]!r}; "
                                                  "one engine image for all: kept that one"))
        secrets = cluster.data.get("imagePullSecrets")
        for entry in secrets if isinstance(secrets, list) else []:
            if isinstance(entry, dict) and entry.get("name"):
                engine.setdefault("imagePullSecrets", [])
                if str(entry["name"]) not in engine["imagePullSecrets"]:
                    engine["imagePullSecrets"].append(str(entry["name"]))
    if "registry" in engine:
        notes.append(chosen["registry"].note(("registry",), "kept as the prefix of fatectl's engine image "
                                                            "(push fate-engine there: fatectl bundle load --registry)"))
    return engine


def _exchange(exchanges: list[Cluster], parties: list[Cluster], taken: set[int], notes: list[Problem]) -> dict[str, Any]:
    hints = [(c, c.get(c.router_key, "exchange")) for c in parties if c.router_key]
    hints = [(c, h) for c, h in hints if isinstance(h, dict) and h.get("ip")]
    if not exchanges and not hints:
        return {"enabled": False}
    exchange: dict[str, Any] = {"enabled": True}
    if exchanges:
        hub = exchanges[0]
        exchange.update(id=hub.party_id, name=hub.name)
        kind = _router(hub, "type")
        k8s: dict[str, Any] = {"namespace": hub.namespace, "serviceType": kind if kind in SERVICE_TYPES else "NodePort"}
        port = _node_port(_router(hub, "nodePort"))
        if port is not None and k8s["serviceType"] != "ClusterIP":
            k8s["nodePort"] = port
        exchange["kubernetes"] = k8s
    else:
        free = next(i for i in range(1, len(taken) + 2) if i not in taken)
        exchange.update(id=free, name="exchange")
        notes.append(hints[0][0].note((str(hints[0][0].router_key), "exchange"),
                                      f"no exchange cluster.yaml given: its party id is unknown, written as {free}"))
    if hints:
        ip, _ = Counter(str(h["ip"]) for _, h in hints).most_common(1)[0]
        exchange["address"] = ip
        for cluster, hint in hints:
            if str(hint["ip"]) != ip:
                notes.append(cluster.note((str(cluster.router_key), "exchange", "ip"),
                                          f"says the exchange is at {hint['ip']}; others say {ip} (kept)"))
    else:
        exchange["address"] = f"{exchange['name']}.example.invalid"
        notes.append(Problem("no party names the exchange's address: set exchange.address", exchanges[0].doc.file))
    return exchange


def import_kubefate(paths: list[Path], name: str, source: str = "federation.yaml") -> Imported:
    clusters = [read_cluster(p) for p in paths]
    problems: list[Problem] = []
    first_seen: dict[int, Cluster] = {}
    for cluster in clusters:
        if cluster.party_id in first_seen:
            problems.append(cluster.note(("partyId",), f"party {cluster.party_id} is also {first_seen[cluster.party_id].doc.file}"))
        first_seen.setdefault(cluster.party_id, cluster)
    exchanges = [c for c in clusters if c.is_exchange]
    parties = [c for c in clusters if not c.is_exchange]
    if len(exchanges) > 1:
        problems.append(exchanges[1].note(("chartName",), f"a second exchange (the first: {exchanges[0].doc.file})"))
    if not parties:
        problems.append(Problem("no party cluster.yaml among the files (only exchanges)", str(paths[0])))
    if problems:
        raise SpecError("cannot import these KubeFATE files", problems)
    notes = [n for c in clusters for n in unmapped_notes(c)]
    seen = _sightings(clusters)
    spec_parties = [_party(c, seen.get(c.party_id, []), notes) for c in parties]
    exchange_ids = {c.party_id for c in exchanges}
    for peer in sorted(set(seen) - set(first_seen) - exchange_ids):
        sighting = seen[peer][0]
        notes.append(sighting.by.note(sighting.where, f"party {peer} has no cluster.yaml here: imported from this "
                                                      "partyList with default settings"))
        entry: dict[str, Any] = {"id": peer, "name": f"party-{peer}", "address": _address(peer, None, seen[peer], notes)}
        port = _node_port(sighting.port)
        if port is not None:
            entry["kubernetes"] = {"serviceType": "NodePort", "nodePorts": {"router": port}}
        spec_parties.append(entry)
    spec_parties.sort(key=lambda p: int(p["id"]))  # ports derive from list positions: a stable order
    data: dict[str, Any] = {"apiVersion": API_VERSION, "name": name, "engine": _engine(parties, notes),
                            "security": {"tls": "mutual"},
                            "exchange": _exchange(exchanges, parties, {p["id"] for p in spec_parties}, notes),
                            "parties": spec_parties}
    text = _text(data, paths)
    try:
        fed = load_federation_text(text, source)
    except SpecError as err:
        raise SpecError("the imported spec does not validate (fix the cluster.yaml files or edit it by hand)",
                        err.problems) from None
    return Imported(text, fed, tuple(notes))


def _flow(value: Any) -> Any:
    """Short lists and mappings on one line, as people write them."""
    flow = CommentedSeq(value) if isinstance(value, list) else CommentedMap(value)
    flow.fa.set_flow_style()
    return flow


def _text(data: dict[str, Any], paths: list[Path]) -> str:
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(data, out)
    header = ["# Imported from KubeFATE by `fatectl import kubefate`:",
              *(f"#   {p}" for p in paths),
              "# Read the import report: settings without an equivalent were left out, none was copied blindly.",
              "# Routers talk mutual TLS with certificates from one federation CA (`fatectl certs`)."]
    return "\n".join(header) + "\n" + out.getvalue()


def write_import(paths: list[Path], out: Path, name: str, force: bool = False) -> Imported:
    """import_kubefate, written to `out` (never over an existing file unless `force`)."""
    if out.exists() and not force:
        raise SpecError(f"{out} exists; choose another -o or pass --force to replace it")
    imported = import_kubefate(paths, name, str(out))
    write_file(out, imported.text, 0o644)
    return imported
