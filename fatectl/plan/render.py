"""What `fatectl render helm|compose -o DIR` would change in DIR, computed without writing.

Per party: files (unified diffs; secrets only "added"/"changed"), and for Helm the
Kubernetes objects of each chart, old and new both rendered by the real Helm library.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from fatectl.lab.compose import env_text
from fatectl.pki import pending_secrets
from fatectl.plan.files import PENDING, compare, files_under
from fatectl.plan.kube import (
    NO_HELM,
    chart_objects,
    chart_objects_from_files,
    compare_objects,
    helm_available,
)
from fatectl.plan.model import FEDERATION, FileChange, PartyPlan, Plan, ResourceChange
from fatectl.project import SECRET_VALUES, SECRETS_DIR, gitignore_text, helm_output
from fatectl.render.compose import render_compose
from fatectl.render.helm import chart_names
from fatectl.spec.model import Federation

STALE = "no longer in the spec; render leaves it in place (remove it, and uninstall its release)"
# Stand-in TLS values for a chart whose certificate does not exist yet: the TLS Secret is then "added".
_PENDING_TLS = {"tls": {"ca": "(to be issued)", "cert": "(to be issued)", "key": "(to be issued)"}}


def owner(fed: Federation, rel: str) -> str:
    """The party (or exchange) a path under a render belongs to, else FEDERATION."""
    parts = rel.split("/")
    names = {n.name for n in fed.nodes()}
    for part in parts[:2]:
        if part in names:
            return part
    return FEDERATION


def group(fed: Federation, files: list[FileChange], resources: Mapping[str, list[ResourceChange]],
          services: Mapping[str, list[Any]] | None = None, path_owner: Any = None) -> tuple[PartyPlan, ...]:
    """One PartyPlan per party (in spec order), then the federation-wide one."""
    find = path_owner or (lambda rel: owner(fed, rel))
    ids = {n.name: n.id for n in fed.nodes()}
    names = [*ids, *sorted({find(f.path) for f in files} - set(ids) - {FEDERATION}), FEDERATION]
    services = services or {}
    return tuple(
        PartyPlan(
            name,
            ids.get(name),
            tuple(f for f in files if find(f.path) == name),
            tuple(resources.get(name, [])),
            tuple(services.get(name, [])),
        )
        for name in names
    )


def secret_changes(fed: Federation, root: Path, secrets_root: Path, only: int | None = None) -> list[FileChange]:
    """Secret files ensure_secrets would add (or trust bundles it would update), relative to root."""
    out = []
    for path, change in pending_secrets(fed, secrets_root, only):
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            rel = str(path)
        trust = path.name == "ca.crt"
        out.append(FileChange(rel, "added" if change == "added" else "changed", secret=not trust,
                              note="trust bundle (CA certificates, CRLs)" if trust else ""))
    return out


def plan_helm(fed: Federation, out: Path, party_id: int | None = None, secrets_dir: Path | None = None) -> Plan:
    secrets_root = secrets_dir or out / SECRETS_DIR
    output = helm_output(fed, party_id, secrets_root, create_secrets=False)
    wanted: dict[str, str | bytes] = {**output.files, **{p: PENDING for p in output.pending}}
    wanted[".gitignore"] = gitignore_text(out, secrets_root, [f"/*/{SECRET_VALUES}"])
    stale = set()
    if party_id is None:
        for chart in sorted(files_under(out)):
            name, _, inner = chart.partition("/")
            if inner == "Chart.yaml" and name not in chart_names(fed):
                stale |= files_under(out, name)
    files = compare(out, wanted, lambda rel: rel in output.secret_paths, stale, STALE)
    files += secret_changes(fed, out, secrets_root, party_id)
    notes = [f"{name} holds its own TLS key: no secret-values.yaml is rendered for it here"
             for name in output.held_elsewhere]
    resources: dict[str, list[ResourceChange]] = {}
    if helm_available():
        for name in output.targets:
            resources[name] = _chart_changes(fed, out, name, output.files)
    else:
        notes.append(NO_HELM)
    return Plan(f"helm charts in {out}", group(fed, files, resources), tuple(notes))


def _chart_changes(fed: Federation, out: Path, name: str, files: Mapping[str, str | bytes]) -> list[ResourceChange]:
    namespace = fed.node_named(name).namespace
    prefix = f"{name}/"
    chart = {rel[len(prefix):]: str(text) for rel, text in files.items()
             if rel.startswith(prefix) and not rel.endswith(SECRET_VALUES) and isinstance(text, str)}
    rendered_values = files.get(prefix + SECRET_VALUES)
    new_values = _load_values(rendered_values) if isinstance(rendered_values, str) else _PENDING_TLS
    before = {}
    if (out / name / "Chart.yaml").is_file():
        old_values_file = out / name / SECRET_VALUES
        old_values = _load_values(old_values_file.read_text("utf-8")) if old_values_file.is_file() else {}
        before = chart_objects(out / name, old_values, name, namespace)
    after = chart_objects_from_files(chart, new_values if fed.security.tls != "none" else {}, name, namespace)
    return compare_objects(before, after)


def _load_values(text: str) -> dict[str, Any]:
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def plan_compose(fed: Federation, out: Path, lab: bool = False) -> Plan:
    """`render compose -o out`, or (lab) what `up compose` writes: the same without a .gitignore."""
    wanted: dict[str, str | bytes] = dict(render_compose(fed))
    wanted[".env"] = env_text()
    if not lab:
        wanted[".gitignore"] = gitignore_text(out, out / SECRETS_DIR, [])
    names = {n.name for n in fed.nodes()}
    stale = {rel for rel in files_under(out, "config") if rel.split("/")[1] not in names}
    files = compare(out, wanted, lambda rel: rel.startswith(f"{SECRETS_DIR}/"), stale,
                    "no longer in the spec; render leaves it in place")
    files += secret_changes(fed, out, out / SECRETS_DIR)
    return Plan(f"compose project in {out}", group(fed, files, {}))
