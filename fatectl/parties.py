"""`fatectl party add|remove`: a federation grows or shrinks in one previewable step.

The spec is edited in place (comments kept), the party's certificate is issued or revoked,
and everything derived from the spec follows: every other party's routes, peers and
NetworkPolicy (Helm values), engine configs (labs). A running local lab applies it without
restarting anyone else: routers and flows reload (SIGHUP); for Helm the upgrade commands
come out in a safe order. Removing a party pins the host ports of the parties after it, which
are derived from their position, so no other party moves.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fatectl.certs.authority import has_ca_key
from fatectl.certs.revoke import revoke_party
from fatectl.errors import Problem, SpecError
from fatectl.files import write_file
from fatectl.lab.compose import ComposeLab
from fatectl.lab.contract import LabStatus
from fatectl.lab.local import LocalLab
from fatectl.pki import ensure_secrets
from fatectl.project import SECRET_VALUES, SECRETS_DIR, write_helm
from fatectl.spec.document import Document, read_document
from fatectl.spec.edit import NewParty, SpecText, open_spec
from fatectl.spec.loader import load_federation, load_federation_text
from fatectl.spec.model import Federation, Node

LabName = Literal["local", "compose"]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Target:
    """Where the change goes besides the spec: a lab, a secrets directory, a Helm render directory."""

    lab: LabName | None = None
    secrets_dir: Path | None = None
    helm_dir: Path | None = None
    timeout: float = 120.0


@dataclass(frozen=True)
class PartyChange:
    spec: Path
    spec_diff: str
    before: Federation
    after: Federation
    party_id: int
    written: bool
    status: LabStatus | None = None
    helm_commands: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())


def _collisions(doc: Document, fed: Federation, party: NewParty) -> list[Problem]:
    """Every way the new party clashes with the spec, each at the existing value's file:line."""
    problems: list[Problem] = []
    index = {p.id: i for i, p in enumerate(fed.parties)}

    def at(owner: Node, field_path: tuple[str | int, ...], message: str) -> Problem:
        path = ("exchange", *field_path[-1:]) if owner.is_exchange else ("parties", index[owner.id], *field_path)
        return doc.problem(path, message)

    for node in fed.nodes():
        if node.id == party.id:
            problems.append(at(node, ("id",), f"party id {party.id} is already {node.name}'s"))
        if node.name == party.name:
            problems.append(at(node, ("name",), f"name {party.name!r} is already taken"))
    taken = {port: (p, m) for p in fed.parties for m, port in p.compose.host_ports.items()}
    for module, port in sorted(party.host_ports.items()):
        if port in taken:
            owner, owner_module = taken[port]
            problems.append(at(fed.node(owner.id), ("compose", "hostPorts", owner_module),
                               f"host port {port} (asked for {module}) is {owner.name}'s {owner_module}"))
        if fed.exchange.enabled and port == fed.exchange.host_port:
            problems.append(doc.problem(("exchange", "compose", "hostPort"), f"host port {port} is the exchange's"))
    if party.node_port is not None:
        for p in fed.parties:
            for m in p.modules:
                if m.node_port == party.node_port:
                    problems.append(at(fed.node(p.id), ("kubernetes", "nodePorts", m.name),
                                       f"nodePort {party.node_port} is {p.name}'s {m.name}"))
        if fed.exchange.enabled and fed.exchange.node_port == party.node_port:
            problems.append(doc.problem(("exchange", "kubernetes", "nodePort"), f"nodePort {party.node_port} is the exchange's"))
    return problems


def _edited(spec: SpecText, before: Federation, what: str) -> tuple[str, Federation]:
    """The edited text and its Federation; host ports that would move are pinned first."""
    for _ in range(2):
        text = spec.dump()
        try:
            after = load_federation_text(text, str(spec.path))
        except SpecError as err:
            raise SpecError(f"{spec.path}: the spec {what} would be invalid; nothing was written", err.problems) from None
        moved = [p for p in after.parties if p.id in {q.id for q in before.parties}
                 and dict(p.compose.host_ports) != dict(before.party(p.id).compose.host_ports)]
        if not moved:
            return text, after
        for p in moved:
            spec.pin_host_ports(p.id, before.party(p.id).compose.host_ports)
    raise AssertionError("host ports still move after pinning")


def _diff(spec: SpecText, text: str) -> str:
    name = str(spec.path)
    return "".join(difflib.unified_diff(spec.original.splitlines(True), text.splitlines(True),
                                        f"{name} (now)", f"{name} (edited)"))


def _write(spec: Path, text: str) -> None:
    write_file(spec, text, spec.stat().st_mode & 0o777)


def _secrets_dir(fed: Federation, target: Target) -> Path | None:
    if target.lab == "local":
        return LocalLab.of(fed).secrets_dir
    if target.lab == "compose":
        return ComposeLab.of(fed).secrets_dir
    if target.secrets_dir is not None:
        return target.secrets_dir
    return target.helm_dir / SECRETS_DIR if target.helm_dir is not None else None


def _apply(after: Federation, before: Federation, target: Target, progress: Progress) -> tuple[LabStatus | None, list[str]]:
    if target.lab == "local":
        if not LocalLab.of(before).state_file.exists():
            return None, ["the local lab is not running: `fatectl up local SPEC` starts it with the new party"]
        return LocalLab.of(after).up(target.timeout, progress), []
    if target.lab == "compose":
        if not ComposeLab.of(before).compose_file.exists():
            return None, ["the compose lab was never started: `fatectl up compose SPEC` starts it"]
        return ComposeLab.of(after).up(max(target.timeout, 300.0), progress), []
    return None, []


def helm_commands(fed: Federation, out: Path, first: list[Node], last: list[str]) -> tuple[str, ...]:
    """`helm upgrade` for `first` in order, then the `last` commands (install or uninstall)."""
    commands = [f"helm upgrade {n.name} {out / n.name} -n {n.namespace} -f {out / n.name / SECRET_VALUES}"
                if fed.security.tls != "none" else f"helm upgrade {n.name} {out / n.name} -n {n.namespace}"
                for n in first]
    return tuple([*commands, *last])


def _upgrade_order(fed: Federation, skip: int) -> list[Node]:
    # The exchange first: in a star it holds every route, so it must know a party before anyone talks to it.
    nodes = [n for n in fed.nodes() if n.id != skip]
    return sorted(nodes, key=lambda n: (not n.is_exchange, nodes.index(n)))


def add_party(spec: Path, party: NewParty, target: Target, dry_run: bool = False,
              progress: Progress = lambda _: None) -> PartyChange:
    before = load_federation(spec)
    problems = _collisions(read_document(spec), before, party)
    if problems:
        raise SpecError(f"{spec}: cannot add party {party.id} ({party.name})", problems)
    edit = open_spec(spec)
    edit.append_party(party)
    text, after = _edited(edit, before, f"with party {party.id} added")
    change = _diff(edit, text)
    if dry_run:
        return PartyChange(spec, change, before, after, party.id, False)
    _write(spec, text)
    notes: list[str] = []
    secrets = _secrets_dir(after, target)
    if secrets is not None and after.security.tls != "none":
        ensure_secrets(after, secrets, only=party.id)
        notes.append(f"certificate of party-{party.id} issued in {secrets}")
    commands: tuple[str, ...] = ()
    if target.helm_dir is not None:
        write_helm(after, target.helm_dir)
        new = after.node(party.id)
        values = f" -f {target.helm_dir / new.name / SECRET_VALUES}" if after.security.tls != "none" else ""
        install = f"helm install {new.name} {target.helm_dir / new.name} -n {new.namespace} --create-namespace{values}"
        commands = helm_commands(after, target.helm_dir, _upgrade_order(after, party.id), [install])
    status, more = _apply(after, before, target, progress)
    return PartyChange(spec, change, before, after, party.id, True, status, commands, tuple(notes + more))


def remove_party(spec: Path, party_id: int, target: Target, dry_run: bool = False,
                 progress: Progress = lambda _: None) -> PartyChange:
    before = load_federation(spec)
    gone = before.party(party_id)  # an unknown id names the known ones
    if len(before.parties) <= 2:
        raise SpecError(f"{spec}: cannot remove party {party_id}: a federation needs at least two parties "
                        f"(it has {len(before.parties)})")
    edit = open_spec(spec)
    policy_notes = edit.remove_party(party_id)
    text, after = _edited(edit, before, f"without party {party_id}")
    change = _diff(edit, text)
    if dry_run:
        return PartyChange(spec, change, before, after, party_id, False)
    _write(spec, text)
    notes: list[str] = list(policy_notes)
    secrets = _secrets_dir(before, target)
    if secrets is not None and before.security.tls != "none" and has_ca_key(secrets):
        revoked = revoke_party(before, secrets, party_id)
        ensure_secrets(after, secrets)
        notes.append(f"{len(revoked.serials)} certificate(s) of party-{party_id} revoked (CRL in every ca.crt)")
    elif before.security.tls != "none":
        notes.append(f"party-{party_id}'s certificate is not revoked here: `fatectl certs revoke` where the CA is")
    commands: tuple[str, ...] = ()
    if target.helm_dir is not None:
        write_helm(after, target.helm_dir)
        uninstall = f"helm uninstall {gone.name} -n {gone.kubernetes.namespace}"
        commands = helm_commands(after, target.helm_dir, _upgrade_order(after, party_id), [uninstall])
        notes.append(f"{target.helm_dir / gone.name} is no longer rendered; delete it after the uninstall")
    status, more = _apply(after, before, target, progress)
    if target.lab is not None:
        notes.append(f"{gone.name}'s data stays in the lab directory until `down --volumes`")
    return PartyChange(spec, change, before, after, party_id, True, status, commands, tuple(notes + more))
