"""The federation spec schema, as data (Cerberus rules + defaults + docs in `meta`).

`meta.doc` documents a field for docs/spec.md; `meta.derived` describes a default
that depends on other fields (filled in by the builder, not by Cerberus).
Cross-field rules (uniqueness, collisions, dependencies) live in rules.py.
"""

from __future__ import annotations

from typing import Any

from fatectl.spec.compute import COMPUTE
from fatectl.spec.model import APPROVALS, COMPONENTS, DEFAULT_PORTS, JOB_ROLES, MODULES
from fatectl.spec.patterns import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    HOST,
    IMAGE,
    LABEL_KEY,
    LABEL_VALUE,
    PATTERNS,
    PLAIN_NAME,
    QUANTITY,
    REGISTRY,
    TAG,
)

API_VERSION = "fatectl/v1"
# Names get suffixes (-router, -flow-0, release names), so leave room under the 63-char DNS limit.
NAME_MAX = 40
# Re-exported: the reference generator and the validator name patterns through the schema.
__all__ = ["PATTERNS", "QUANTITY", "SCHEMA"]
SERVICE_TYPES = ["ClusterIP", "NodePort", "LoadBalancer"]
MAX_ID = 2**31 - 1
# Compose host ports when none are given: slot 0 is the exchange, party i (0-based) takes slot i+1,
# module offsets router 0, flow 1, board 2; a port already taken explicitly moves to the next free one.
HOST_PORT_BASE = 19000
HOST_PORT_SLOT = 10
EXCHANGE_HOST_PORT = f"{HOST_PORT_BASE}, or the next free port"
PARTY_HOST_PORT = f"{HOST_PORT_BASE} + {HOST_PORT_SLOT}*(index+1) + (router 0, flow 1, board 2), or the next free port"



def _doc(text: str, **extra: str) -> dict[str, str]:
    return {"doc": text, **extra}


def _port(default: int | None, doc: str, **derived: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"type": "integer", "min": 1, "max": 65535, "meta": _doc(doc, **derived)}
    if default is not None:
        rule["default"] = default
    return rule


def _namespace(derived: str) -> dict[str, Any]:
    return {"type": "string", "regex": DNS_LABEL, "maxlength": 63,
            "meta": _doc("Kubernetes namespace of the release", derived=derived)}


def _node_port(doc: str) -> dict[str, Any]:
    return {"type": "integer", "min": 30000, "max": 32767, "meta": _doc(doc)}


def _name(doc: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "regex": DNS_LABEL, "maxlength": NAME_MAX, "meta": _doc(doc), **extra}


def _quantities(default: dict[str, str], doc: str) -> dict[str, Any]:
    quantity = {"type": ["string", "integer", "float"], "regex": QUANTITY, "min": 0}
    return {
        "type": "dict",
        "default": default,
        "schema": {key: dict(quantity) for key in ("cpu", "memory", "ephemeral-storage")},
        "meta": _doc(doc),
    }


def _resources(cpu: tuple[str, str], memory: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "dict",
        "default": {},
        "meta": _doc("Kubernetes resources of the container (also the compose memory/CPU limits)."),
        "schema": {
            "requests": _quantities({"cpu": cpu[0], "memory": memory[0]}, "guaranteed cpu/memory/ephemeral-storage"),
            "limits": _quantities({"cpu": cpu[1], "memory": memory[1]}, "cap on cpu/memory/ephemeral-storage"),
        },
    }


def _module(name: str, doc: str, resources: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "dict",
        "default": {},
        "meta": _doc(doc),
        "schema": {
            "port": _port(DEFAULT_PORTS[name], f"container port of the {name}"),
            "resources": resources,
            **extra,
        },
    }


def _per_module(rule: dict[str, Any], doc: str) -> dict[str, Any]:
    return {"type": "dict", "default": {}, "meta": _doc(doc), "schema": {m: dict(rule) for m in MODULES}}


_STRING = {"type": "string", "default": ""}
_SECRET_NAME = {"type": "string", "default": "", "regex": f"({DNS_SUBDOMAIN})?"}

ENGINE: dict[str, Any] = {
    "registry": {**_STRING, "regex": REGISTRY, "meta": _doc("registry host[:port][/path] prefix; empty = local")},
    "image": {"type": "string", "default": "fate-engine", "regex": IMAGE, "meta": _doc("engine image name")},
    "tag": {"type": "string", "default": "0.1.0", "regex": TAG, "meta": _doc("engine image tag (quote numbers)")},
    "pullPolicy": {
        "type": "string",
        "default": "IfNotPresent",
        "allowed": ["Always", "IfNotPresent", "Never"],
        "meta": _doc("Kubernetes imagePullPolicy"),
    },
    "imagePullSecrets": {
        "type": "list",
        "default": [],
        "schema": {"type": "string", "regex": DNS_SUBDOMAIN},
        "meta": _doc("names of existing Secrets holding registry credentials"),
    },
}

SECURITY: dict[str, Any] = {
    "tls": {
        "type": "string",
        "default": "mutual",
        "allowed": ["none", "mutual"],
        "meta": _doc("router transport: mutual TLS with per-party certificates from one federation CA, or none"),
    },
    "paillierKeyBits": {
        "type": "integer",
        "default": 2048,
        "min": 256,
        "max": 8192,
        "meta": _doc("Paillier modulus size; at least 2048 unless allowInsecureKeys"),
    },
    "allowInsecureKeys": {
        "type": "boolean",
        "default": False,
        "meta": _doc("LAB ONLY: permit paillierKeyBits below 2048 (fast, breakable)"),
    },
}

EXCHANGE: dict[str, Any] = {
    "enabled": {"type": "boolean", "default": False, "meta": _doc("route all traffic through the exchange (star)")},
    "name": _name("name of the exchange (service and chart name)", default="exchange"),
    "id": {
        "type": "integer",
        "default": 0,
        "min": 0,
        "max": MAX_ID,
        "meta": _doc("party id of the exchange router (certificate CN party-<id>); not a data party"),
    },
    "address": {
        "type": "string",
        "default": "",
        "regex": f"({HOST})?",
        "meta": _doc("where parties reach the exchange; required when enabled"),
    },
    "port": _port(DEFAULT_PORTS["router"], "port of the exchange router"),
    "resources": _resources(("200m", "1"), ("256Mi", "1Gi")),
    "compose": {
        "type": "dict",
        "default": {},
        "meta": _doc("compose lab settings"),
        "schema": {"hostPort": _port(None, "router port published on 127.0.0.1", derived=EXCHANGE_HOST_PORT)},
    },
    "kubernetes": {
        "type": "dict",
        "default": {},
        "meta": _doc("Kubernetes settings of the exchange"),
        "schema": {
            "namespace": _namespace("fate-<name>"),
            "serviceType": {"type": "string", "default": "ClusterIP", "allowed": SERVICE_TYPES,
                            "meta": _doc("Service type of the exchange router")},
            "nodePort": _node_port("NodePort of the router service (serviceType NodePort/LoadBalancer)"),
        },
    },
}

TOLERATION: dict[str, Any] = {
    "key": {"type": "string", "regex": LABEL_KEY},
    "operator": {"type": "string", "allowed": ["Exists", "Equal"]},
    "value": {"type": "string", "regex": LABEL_VALUE},
    "effect": {"type": "string", "allowed": ["NoSchedule", "PreferNoSchedule", "NoExecute"]},
    "tolerationSeconds": {"type": "integer", "min": 0},
}

KUBERNETES: dict[str, Any] = {
    "namespace": _namespace("fate-<id>"),
    "serviceType": {"type": "string", "default": "ClusterIP", "allowed": SERVICE_TYPES,
                    "meta": _doc("Service type of the router (the only thing peers reach)")},
    "nodePorts": _per_module(_node_port("NodePort"), "fixed NodePorts per module (30000-32767, unique)"),
    "nodeSelector": {"type": "dict", "default": {}, "keysrules": {"type": "string", "regex": LABEL_KEY},
                     "valuesrules": {"type": "string", "regex": LABEL_VALUE},
                     "meta": _doc("node labels the pods must match")},
    "tolerations": {"type": "list", "default": [], "schema": {"type": "dict", "schema": TOLERATION},
                    "meta": _doc("pod tolerations (key, operator, value, effect, tolerationSeconds)")},
    "affinity": {"type": "dict", "default": {},
                 "schema": {k: {"type": "dict"} for k in ("nodeAffinity", "podAffinity", "podAntiAffinity")},
                 "meta": _doc("pod affinity, as in the Kubernetes Pod spec")},
    "ingress": {
        "type": "dict",
        "default": {},
        "meta": _doc("Ingress for the board (needs the board module)"),
        "schema": {
            "enabled": {"type": "boolean", "default": False, "meta": _doc("create an Ingress for the board")},
            "host": {**_STRING, "regex": f"({DNS_SUBDOMAIN})?", "meta": _doc("host name; required when enabled")},
            "className": {**_STRING, "meta": _doc("ingressClassName; empty = cluster default")},
            "tlsSecret": {**_SECRET_NAME, "meta": _doc("existing TLS Secret for the host; required when enabled (the board's login never crosses plain HTTP)")},
        },
    },
    "existingTlsSecret": {**_SECRET_NAME, "meta": _doc("existing Secret with ca.crt/tls.crt/tls.key")},
    "existingTokenSecret": {**_SECRET_NAME, "meta": _doc("existing Secret with flow_token, flow_reader_token (and board_password with a board)")},
    "existingRayTokenSecret": {**_SECRET_NAME, "meta": _doc(
        "existing Secret with key auth_token, Ray's token: the chart's Ray cluster uses it instead of generating "
        "one; with compute.rayAddress the flow presents it to that cluster (KubeRay's Secret has this key)")},
}

def _list(item: dict[str, Any], doc: str) -> dict[str, Any]:
    return {"type": "list", "default": [], "schema": item, "meta": _doc(doc)}


_PARTY_ID = {"type": "integer", "min": 1, "max": MAX_ID}

POLICY_RULE: dict[str, Any] = {
    "name": {"type": "string", "required": True, "regex": PLAIN_NAME,
             "meta": _doc("unique among the party's rules; decisions and the audit log name it")},
    "peers": _list(dict(_PARTY_ID), "initiating parties (ids of the federation); empty = any peer"),
    "components": _list({"type": "string", "allowed": list(COMPONENTS)},
                        "every component of the job must be listed; empty = any"),
    "tables": _list({"type": "string", "regex": PLAIN_NAME}, "this party's input table; empty = any"),
    "roles": _list({"type": "string", "allowed": list(JOB_ROLES)},
                   "every role this party is asked to play must be listed; empty = any"),
    "approval": {"type": "string", "required": True, "allowed": list(APPROVALS),
                 "meta": _doc("auto: run it; manual: wait for `fatectl job approve`; deny: refuse it")},
}

POLICY: dict[str, Any] = {
    "approval": {"type": "string", "default": "manual", "allowed": list(APPROVALS),
                 "meta": _doc("jobs other parties propose that no rule covers: manual (a person approves), auto, deny")},
    "minKeyBits": {"type": "integer", "default": 2048, "min": 256, "max": 8192,
                   "meta": _doc("smallest Paillier key this party computes with; under 2048 needs allowInsecureKeys")},
    "allowInsecureKeys": {"type": "boolean", "default": False,
                          "meta": _doc("LAB ONLY: this party accepts keys under 2048 bits (its own flag)")},
    "minBatchSize": {"type": "integer", "default": 32, "min": 1,
                     "meta": _doc("smallest hetero LR mini-batch (rows) this party computes gradients over")},
    "trustedArbiters": _list(dict(_PARTY_ID), "third parties this party lets be the arbiter (key holder) of its jobs"),
    "maxParties": {"type": "integer", "default": 16, "min": 2, "max": 1000,
                   "meta": _doc("most parties in a job this party takes part in")},
    "modelReuse": {"type": "string", "default": "manual", "allowed": list(APPROVALS),
                   "meta": _doc("jobs other parties propose that score with a model stored here (job `model:`), "
                                "on top of `rules`: auto, manual (a person approves) or deny")},
    "approvalTimeout": {"type": "integer", "default": 86400, "min": 1, "max": 30 * 86400,
                        "meta": _doc("seconds a job may wait for a person's approval before it fails everywhere")},
    "rules": _list({"type": "dict", "schema": POLICY_RULE},
                   "the first rule covering a proposal decides it; else `approval`"),
}

PARTY: dict[str, Any] = {
    "id": {"type": "integer", "required": True, "min": 1, "max": MAX_ID,
           "meta": _doc("party id, unique in the federation (certificate CN party-<id>)")},
    "name": _name("party name, unique; names charts, services and the compose services", required=True),
    "address": {"type": "string", "required": True, "regex": HOST, "maxlength": 253,
                "meta": _doc("host or IP where peers (or the exchange) reach this party's router")},
    "modules": {"type": "list", "default": ["router", "flow"], "minlength": 1,
                "schema": {"type": "string", "allowed": list(MODULES)},
                "meta": _doc("modules this party runs; router is mandatory, flow needs router, board needs flow")},
    "router": _module("router", "the party's gateway: the only service peers reach",
                      _resources(("200m", "1"), ("256Mi", "1Gi"))),
    "flow": _module(
        "flow",
        "the job service: REST API, store, workers",
        _resources(("500m", "2"), ("1Gi", "4Gi")),
        persistence={
            "type": "dict",
            "default": {},
            "meta": _doc("volume for the flow data directory (tables, models, SQLite)"),
            "schema": {
                "size": {"type": "string", "default": "10Gi", "regex": QUANTITY,
                         "meta": _doc("PVC size")},
                "storageClass": {**_STRING, "meta": _doc("StorageClass; empty = cluster default")},
                "existingClaim": {**_SECRET_NAME, "meta": _doc("use this PVC instead of creating one")},
            },
        },
        database={
            "type": "dict",
            "default": {},
            "meta": _doc("Kubernetes only: the flow's store on PostgreSQL instead of SQLite on its volume"),
            "schema": {
                "existingSecret": {**_SECRET_NAME, "meta": _doc(
                    "existing Secret with database_url (postgresql://USER@HOST:PORT/DB) and optionally "
                    "database_password; empty = SQLite")},
            },
        },
    ),
    "board": _module("board", "the web board over flow", _resources(("50m", "500m"), ("64Mi", "256Mi"))),
    "kubernetes": {"type": "dict", "default": {}, "schema": KUBERNETES, "meta": _doc("Kubernetes settings")},
    "compose": {
        "type": "dict",
        "default": {},
        "meta": _doc("compose lab settings"),
        "schema": {
            "hostPorts": _per_module(
                _port(None, "port on 127.0.0.1", derived=PARTY_HOST_PORT),
                "ports published on 127.0.0.1; unique across the lab",
            )
        },
    },
    "compute": {"type": "dict", "default": {}, "schema": COMPUTE,
                "meta": _doc("where the flow's heavy work runs: local processes or Ray (docs/render.md, Ray)")},
    "policy": {"type": "dict", "default": {}, "schema": POLICY,
               "meta": _doc("what this party runs for others (rules, approvals) and its security floors")},
}

SCHEMA: dict[str, Any] = {
    "apiVersion": {"type": "string", "required": True, "allowed": [API_VERSION],
                   "meta": _doc(f"always {API_VERSION}")},
    "name": _name("federation name (compose project name, chart labels)", required=True),
    "engine": {"type": "dict", "default": {}, "schema": ENGINE, "meta": _doc("the engine image every party runs")},
    "security": {"type": "dict", "default": {}, "schema": SECURITY, "meta": _doc("transport and crypto settings")},
    "exchange": {"type": "dict", "default": {}, "schema": EXCHANGE, "meta": _doc("optional star-topology hub")},
    "parties": {"type": "list", "required": True, "minlength": 2, "maxlength": 1000,
                "schema": {"type": "dict", "schema": PARTY},
                "meta": _doc("the organisations of the federation (at least two)")},
}
