"""The canonical spec of a Federation: every default and derived value written out.

Loading the canonical text gives the same Federation back, and writing it again
gives the same bytes; bundles and reviews can ship it instead of a terse spec.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML

from fatectl.spec.model import Compute, Exchange, Federation, Module, Party, PartyPolicy, Resources, thaw


def canonical_data(fed: Federation) -> dict[str, Any]:
    """fed as spec data (camelCase keys, schema order), with nothing left to defaults."""
    engine, security = fed.engine, fed.security
    return {
        "apiVersion": fed.api_version,
        "name": fed.name,
        "engine": {
            "registry": engine.registry,
            "image": engine.image,
            "tag": engine.tag,
            "pullPolicy": engine.pull_policy,
            "imagePullSecrets": list(engine.image_pull_secrets),
        },
        "security": {
            "tls": security.tls,
            "paillierKeyBits": security.paillier_key_bits,
            "allowInsecureKeys": security.allow_insecure_keys,
        },
        "exchange": _exchange(fed.exchange),
        "parties": [_party(p) for p in fed.parties],
    }


def canonical_text(fed: Federation) -> str:
    """canonical_data as YAML text (block style, stable order, no timestamps)."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]  # schema order reads top-down
    out = io.StringIO()
    yaml.dump(canonical_data(fed), out)
    return out.getvalue()


def _resources(resources: Resources) -> dict[str, Any]:
    return {"requests": dict(resources.requests), "limits": dict(resources.limits)}


def _exchange(exchange: Exchange) -> dict[str, Any]:
    compose = {"hostPort": exchange.host_port} if exchange.host_port is not None else {}
    k8s: dict[str, Any] = {"namespace": exchange.namespace, "serviceType": exchange.service_type}
    if exchange.node_port is not None:
        k8s["nodePort"] = exchange.node_port
    return {
        "enabled": exchange.enabled,
        "name": exchange.name,
        "id": exchange.id,
        "address": exchange.address,
        "port": exchange.port,
        "resources": _resources(exchange.resources),
        "compose": compose,
        "kubernetes": k8s,
    }


def _module(module: Module) -> dict[str, Any]:
    out: dict[str, Any] = {"port": module.port, "resources": _resources(module.resources)}
    if module.persistence is not None:
        p = module.persistence
        out["persistence"] = {"size": p.size, "storageClass": p.storage_class, "existingClaim": p.existing_claim}
    if module.name == "flow":
        out["database"] = {"existingSecret": module.database_secret}
    return out


def _party(party: Party) -> dict[str, Any]:
    k8s = party.kubernetes
    out: dict[str, Any] = {
        "id": party.id,
        "name": party.name,
        "address": party.address,
        "modules": list(party.module_names),
    }
    out.update({m.name: _module(m) for m in party.modules})
    out["kubernetes"] = {
        "namespace": k8s.namespace,
        "serviceType": k8s.service_type,
        "nodePorts": {m.name: m.node_port for m in party.modules if m.node_port is not None},
        "nodeSelector": thaw(k8s.node_selector),
        "tolerations": thaw(k8s.tolerations),
        "affinity": thaw(k8s.affinity),
        "ingress": {
            "enabled": k8s.ingress.enabled,
            "host": k8s.ingress.host,
            "className": k8s.ingress.class_name,
            "tlsSecret": k8s.ingress.tls_secret,
        },
        "existingTlsSecret": k8s.existing_tls_secret,
        "existingTokenSecret": k8s.existing_token_secret,
        "existingRayTokenSecret": k8s.existing_ray_token_secret,
    }
    out["compose"] = {"hostPorts": dict(party.compose.host_ports)}
    out["policy"] = _policy(party.policy)
    out["compute"] = _compute(party.compute)
    return out


def _compute(compute: Compute) -> dict[str, Any]:
    """Only the keys the engine uses: the rules refuse Ray sizes with engine local, memory with rayAddress."""
    out: dict[str, Any] = {"engine": compute.engine, "workers": compute.workers}
    if compute.engine == "ray":
        out["cpusPerWorker"] = compute.cpus_per_worker
        if compute.ray_address:
            out["rayAddress"] = compute.ray_address
        else:
            out["memory"] = compute.memory
    return out


def _policy(policy: PartyPolicy) -> dict[str, Any]:
    return {
        "approval": policy.approval,
        "minKeyBits": policy.min_key_bits,
        "allowInsecureKeys": policy.allow_insecure_keys,
        "minBatchSize": policy.min_batch_size,
        "trustedArbiters": list(policy.trusted_arbiters),
        "maxParties": policy.max_parties,
        "approvalTimeout": policy.approval_timeout,
        "modelReuse": policy.model_reuse,
        "rules": [
            {"name": r.name, "peers": list(r.peers), "components": list(r.components), "tables": list(r.tables),
             "roles": list(r.roles), "approval": r.approval}
            for r in policy.rules
        ],
    }
