"""Job files: parse and validate, naming the field of every problem at once.

```yaml
name: psi-demo
roles: {guest: [9999], host: [10000], arbiter: [9999]}
tables: {9999: guest_ids, 10000: host_ids}   # each data party's input table
pipeline:
  - {name: intersect, component: psi, params: {}}
  - {name: lr, component: hetero_lr, needs: [intersect], params: {max_iter: 10}}
  # Score with a model an earlier job trained (every party loads only its own part of it):
  # - {name: score, component: hetero_secureboost, needs: [intersect], model: {job: 0a1b2c3d4e5f, component: sbt}}
timeout: 3600        # seconds for the whole job
stall_timeout: 900   # seconds a role may wait for one message before the job fails
```
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from fate.flow.errors import BadRequest
from fate.ml import registry

ROLES = ("guest", "host", "arbiter")
DATA_ROLES = ("guest", "host")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TOP_KEYS = ("name", "roles", "tables", "pipeline", "timeout", "stall_timeout")
STEP_KEYS = ("name", "component", "params", "needs", "model")
# Components that can score with a model an earlier job trained instead of training one (`model:`).
REUSABLE = ("hetero_secureboost", "hetero_lr")
DEFAULT_TIMEOUT = 3600
DEFAULT_STALL_TIMEOUT = 900


@dataclass(frozen=True)
class ModelRef:
    """A model an earlier job trained: that job's id and the pipeline step (component name) that trained it."""

    job: str
    component: str

    def to_dict(self) -> dict[str, str]:
        return {"job": self.job, "component": self.component}


@dataclass(frozen=True)
class Step:
    name: str
    component: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    needs: tuple[str, ...] = ()
    model: ModelRef | None = None


@dataclass(frozen=True)
class JobSpec:
    roles: Mapping[str, tuple[int, ...]]
    tables: Mapping[int, str]
    pipeline: tuple[Step, ...]
    name: str = ""
    timeout: int = DEFAULT_TIMEOUT
    stall_timeout: int = DEFAULT_STALL_TIMEOUT

    @property
    def parties(self) -> tuple[int, ...]:
        """Every participating party id, sorted, each once."""
        return tuple(sorted({p for ids in self.roles.values() for p in ids}))

    def roles_of(self, party_id: int) -> tuple[str, ...]:
        return tuple(r for r in ROLES if party_id in self.roles.get(r, ()))

    @property
    def initiator_role_party(self) -> int:
        return self.roles["guest"][0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "roles": {r: list(ids) for r, ids in self.roles.items()},
            "tables": {str(p): t for p, t in sorted(self.tables.items())},
            "pipeline": [
                {"name": s.name, "component": s.component, "params": dict(s.params), "needs": list(s.needs)}
                | ({"model": s.model.to_dict()} if s.model else {})
                for s in self.pipeline
            ],
            "timeout": self.timeout,
            "stall_timeout": self.stall_timeout,
        }


def _party_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _check_roles(raw: Any, problems: list[str]) -> dict[str, tuple[int, ...]]:
    roles: dict[str, tuple[int, ...]] = {}
    if not isinstance(raw, Mapping) or not raw:
        problems.append(
            "roles: required, a mapping of role -> list of party ids (e.g. {guest: [9999], host: [10000]})"
        )
        return roles
    for role, ids in raw.items():
        where = f"roles.{role}"
        if role not in ROLES:
            problems.append(f"{where}: unknown role (expected one of {', '.join(ROLES)})")
            continue
        if not isinstance(ids, list) or not ids:
            problems.append(f"{where}: expected a non-empty list of party ids")
            continue
        parsed = [_party_id(i) for i in ids]
        for pos, (given, pid) in enumerate(zip(ids, parsed, strict=True)):
            if pid is None:
                problems.append(f"{where}[{pos}]: {given!r} is not a party id (a non-negative integer)")
        good = [p for p in parsed if p is not None]
        if len(set(good)) != len(good):
            problems.append(f"{where}: party ids must be unique")
        roles[role] = tuple(good)
    if "guest" not in raw:
        problems.append("roles.guest: required (exactly one party id)")
    elif len(roles.get("guest", ())) > 1:
        problems.append("roles.guest: exactly one guest party is supported")
    if "host" not in raw:
        problems.append("roles.host: required (at least one party id)")
    return roles


def _check_tables(raw: Any, roles: Mapping[str, tuple[int, ...]], problems: list[str]) -> dict[int, str]:
    tables: dict[int, str] = {}
    if not isinstance(raw, Mapping):
        problems.append("tables: required, a mapping of party id -> input table name")
        return tables
    participants = {p for ids in roles.values() for p in ids}
    for key, name in raw.items():
        pid = _party_id(key)
        if pid is None:
            problems.append(f"tables.{key}: {key!r} is not a party id")
            continue
        if pid not in participants:
            problems.append(f"tables.{key}: party {pid} has no role in this job")
        if not isinstance(name, str) or not NAME.match(name):
            problems.append(f"tables.{key}: {name!r} is not a table name (letters, digits, _ . -; up to 64)")
            continue
        tables[pid] = name
    for role in DATA_ROLES:
        for pid in roles.get(role, ()):
            if pid not in tables and str(pid) not in {str(k) for k in raw}:
                problems.append(f"tables.{pid}: party {pid} is a {role} and needs an input table")
    return tables


def _check_pipeline(raw: Any, problems: list[str]) -> tuple[Step, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append("pipeline: required, a non-empty list of components")
        return ()
    steps: list[Step] = []
    seen: set[str] = set()
    known = registry.names()
    for pos, item in enumerate(raw):
        where = f"pipeline[{pos}]"
        if not isinstance(item, Mapping):
            problems.append(f"{where}: expected a mapping with name, component, params")
            continue
        for key in item:
            if key not in STEP_KEYS:
                problems.append(f"{where}.{key}: unknown field (expected {', '.join(STEP_KEYS)})")
        name, component = item.get("name"), item.get("component")
        params, needs = item.get("params", {}), item.get("needs", [])
        if not isinstance(name, str) or not NAME.match(name):
            problems.append(f"{where}.name: required, letters, digits, _ . - (got {name!r})")
        elif name in seen:
            problems.append(f"{where}.name: duplicate component name {name!r}")
        if not isinstance(component, str) or component not in known:
            problems.append(f"{where}.component: {component!r} is not a known component ({', '.join(known)})")
        if not isinstance(params, Mapping):
            problems.append(f"{where}.params: expected a mapping")
            params = {}
        if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
            problems.append(f"{where}.needs: expected a list of earlier component names")
            needs = []
        for n in needs:
            if n not in seen:
                problems.append(f"{where}.needs: {n!r} is not an earlier component in the pipeline")
        model = _check_model(item.get("model"), component, params, where, problems) if "model" in item else None
        if isinstance(name, str):
            seen.add(name)
            steps.append(Step(str(name), str(component), MappingProxyType(dict(params)), tuple(needs), model))
    return tuple(steps)


def _check_model(raw: Any, component: Any, params: Any, where: str, problems: list[str]) -> ModelRef | None:
    """`model: {job: JOB_ID, component: STEP}`: score with that earlier job's model rather than train one."""
    where = f"{where}.model"
    if component not in REUSABLE:
        problems.append(f"{where}: {component!r} cannot load a stored model (only {', '.join(REUSABLE)})")
        return None
    if params:
        problems.append(f"{where[:-6]}.params: a step that loads a stored model takes its parameters from the model")
    if not isinstance(raw, Mapping) or set(raw) != {"job", "component"}:
        problems.append(f"{where}: expected {{job: <earlier job id>, component: <its step name>}}, got {raw!r}")
        return None
    bad = [k for k in ("job", "component") if not isinstance(raw[k], str) or not NAME.match(raw[k])]
    for key in bad:
        problems.append(f"{where}.{key}: {raw[key]!r} is not a name (letters, digits, _ . -; up to 64)")
    return None if bad else ModelRef(raw["job"], raw["component"])


def validate_job(raw: Any) -> JobSpec:
    """Validate a parsed job document; BadRequest lists every problem with its field path."""
    if not isinstance(raw, Mapping):
        raise BadRequest("job file must be a mapping with roles, tables and pipeline")
    problems: list[str] = [
        f"{k}: unknown field (expected {', '.join(TOP_KEYS)})" for k in raw if k not in TOP_KEYS
    ]
    roles = _check_roles(raw.get("roles"), problems)
    tables = _check_tables(raw.get("tables"), roles, problems)
    pipeline = _check_pipeline(raw.get("pipeline"), problems)
    name = raw.get("name", "")
    if not isinstance(name, str) or len(name) > 128:
        problems.append("name: expected a string of up to 128 characters")
    timeout = raw.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 7 * 86400:
        problems.append(f"timeout: expected seconds between 1 and 604800 (got {timeout!r})")
    stall = raw.get("stall_timeout", min(DEFAULT_STALL_TIMEOUT, timeout) if isinstance(timeout, int) else 1)
    if isinstance(stall, bool) or not isinstance(stall, int) or not 1 <= stall <= 7 * 86400:
        problems.append(f"stall_timeout: expected seconds between 1 and 604800 (got {stall!r})")
    if problems:
        raise BadRequest("invalid job file", problems)
    return JobSpec(
        roles=MappingProxyType(roles),
        tables=MappingProxyType(tables),
        pipeline=pipeline,
        name=name,
        timeout=timeout,
        stall_timeout=stall,
    )


def parse_job(text: str) -> JobSpec:
    """Parse a YAML (or JSON, a YAML subset) job document and validate it."""
    try:
        raw = YAML(typ="safe", pure=True).load(text)
    except YAMLError as err:
        raise BadRequest(f"job file is not valid YAML/JSON: {err}") from None
    return validate_job(raw)


def job_from_json(text: str) -> JobSpec:
    return validate_job(json.loads(text))
