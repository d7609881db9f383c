"""Editing a spec file in place: ruamel.yaml round-trip, so comments, quotes and layout survive.

The file itself is the subject here, so these functions take its path. An edit is built as
text, validated like any spec (fatectl.spec.loader) and only then replaces the file.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from fatectl.errors import Problem, SpecError
from fatectl.spec.document import read_document


@dataclass(frozen=True)
class NewParty:
    """What `fatectl party add` writes for a party; everything else takes the spec defaults."""

    id: int
    name: str
    address: str
    modules: tuple[str, ...] = ("router", "flow")
    host_ports: Mapping[str, int] = field(default_factory=dict)
    node_port: int | None = None
    service_type: str | None = None
    namespace: str | None = None

    def as_yaml(self) -> CommentedMap:
        party = CommentedMap([("id", self.id), ("name", self.name), ("address", self.address)])
        party["modules"] = _flow_seq(list(self.modules))
        k8s = CommentedMap()
        if self.namespace:
            k8s["namespace"] = self.namespace
        if self.service_type:
            k8s["serviceType"] = self.service_type
        if self.node_port is not None:
            k8s["nodePorts"] = _flow_map({"router": self.node_port})
        if k8s:
            party["kubernetes"] = k8s
        if self.host_ports:
            party["compose"] = CommentedMap([("hostPorts", _flow_map(dict(self.host_ports)))])
        return party


def _flow_seq(items: list[Any]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def _flow_map(items: dict[str, Any]) -> CommentedMap:
    mapping = CommentedMap(items)
    mapping.fa.set_flow_style()
    return mapping


@dataclass
class SpecText:
    """A spec file opened for a round-trip edit."""

    path: Path
    original: str
    data: Any
    yaml: YAML

    def dump(self) -> str:
        out = io.StringIO()
        self.yaml.dump(self.data, out)
        return out.getvalue()

    def parties(self) -> CommentedSeq:
        parties = self.data.get("parties") if isinstance(self.data, CommentedMap) else None
        if not isinstance(parties, CommentedSeq):
            raise SpecError(f"{self.path}: the spec has no parties list to edit")
        return parties

    def index_of(self, party_id: int) -> int:
        for index, party in enumerate(self.parties()):
            if isinstance(party, Mapping) and party.get("id") == party_id:
                return index
        known = ", ".join(str(p.get("id")) for p in self.parties() if isinstance(p, Mapping))
        raise SpecError(f"no party with id {party_id} in {self.path} (parties: {known})")

    def append_party(self, party: NewParty) -> None:
        parties = self.parties()
        parties.append(party.as_yaml())
        parties.yaml_set_comment_before_after_key(len(parties) - 1, before="added by `fatectl party add`",
                                                  indent=self._item_indent())

    def remove_party(self, party_id: int) -> list[str]:
        """Delete the party, and every grant that named it in the others' policies; returns notes.

        A rule whose `peers` named only this party is deleted rather than left with an empty
        list: an empty list matches every peer, which would widen the grant to everyone.
        """
        del self.parties()[self.index_of(party_id)]
        notes = []
        for party in self.parties():
            policy = party.get("policy") if isinstance(party, Mapping) else None
            if not isinstance(policy, CommentedMap):
                continue
            arbiters = policy.get("trustedArbiters")
            if isinstance(arbiters, list) and party_id in arbiters:
                arbiters.remove(party_id)
            rules = policy.get("rules")
            for rule in list(rules) if isinstance(rules, list) else []:
                peers = rule.get("peers") if isinstance(rule, Mapping) else None
                if isinstance(peers, list) and party_id in peers:
                    peers.remove(party_id)
                    if not peers:
                        rules.remove(rule)
                        notes.append(f"party {party.get('id')}'s policy rule {rule.get('name', '?')!r} covered only "
                                     f"party {party_id}: deleted")
        return notes

    def pin_host_ports(self, party_id: int, ports: Mapping[str, int]) -> None:
        """Write a party's host ports explicitly (so removing another party cannot move them)."""
        party = self.parties()[self.index_of(party_id)]
        compose = party.setdefault("compose", CommentedMap())
        compose["hostPorts"] = _flow_map(dict(ports))

    def _item_indent(self) -> int:
        match = re.search(r"^( *)- ", self.original.split("\nparties:", 1)[-1], re.MULTILINE)
        return len(match.group(1)) if match else 2


def open_spec(path: Path) -> SpecText:
    """Open a spec for editing; it must be a readable spec already (SpecError otherwise)."""
    read_document(path)  # every reading problem reported the usual way, with file and line
    text = path.read_text(encoding="utf-8").removeprefix("\ufeff")
    try:
        _, sequence, offset = load_yaml_guess_indent(text)
        yaml = YAML(typ="rt")
        yaml.preserve_quotes = True
        yaml.width = 4096  # never re-wrap a user's long lines
        yaml.indent(mapping=_mapping_indent(text), sequence=sequence or 4, offset=offset or 2)
        data = yaml.load(text)
    except YAMLError as err:
        raise SpecError(f"{path}: cannot edit", [Problem(str(err), str(path))]) from None
    return SpecText(path, text, data, yaml)


def _mapping_indent(text: str) -> int:
    """The indentation of the first nested mapping key (ruamel guesses sequences, not mappings)."""
    lines = text.splitlines()
    for above, line in zip(lines, lines[1:], strict=False):
        if re.match(r"^[A-Za-z_][\w-]*:\s*(#.*)?$", above):
            match = re.match(r"^( +)[A-Za-z_\"'][^:]*:", line)
            if match:
                return len(match.group(1))
    return 2
