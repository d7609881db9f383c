"""Role-addressed messaging for one job: what components use to talk to other parties.

A component says "send this to the host(s)" or "get that from the guest"; the
Federation maps roles to party ids, serializes with the safe codec, and uses
the party's Transport. One party may hold several roles in a job (FATE puts
the arbiter on the guest's party), so the wire tag carries both roles and a
message to one's own party loops back through the transport like any other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fate.federation import codec
from fate.federation.transport import Transport, TransportError

WireHook = Callable[[str, str, int, int, bytes], None]

DEFAULT_TIMEOUT = 600.0


class FederationError(TransportError):
    """A role or party id that is not part of this job was addressed."""


def wire_tag(tag: str, src_role: str, dst_role: str) -> str:
    return f"{tag}|{src_role}>{dst_role}"


class Federation:
    """Messaging of one party acting as `local_role` in job `job_id`.

    roles maps role name -> party ids in a fixed order (that order is the
    order of lists returned by `get` when a role has several parties).
    on_wire(job, wire_tag, src, dst, payload) sees every payload this party
    sends, exactly as it crosses the boundary.
    """

    def __init__(
        self,
        transport: Transport,
        job_id: str,
        roles: Mapping[str, Sequence[int]],
        local_role: str,
        on_wire: WireHook | None = None,
        default_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.transport = transport
        self.job_id = job_id
        self.roles: dict[str, tuple[int, ...]] = {r: tuple(int(p) for p in ids) for r, ids in roles.items()}
        self.local_role = local_role
        self.on_wire = on_wire
        self.default_timeout = default_timeout
        if transport.party_id not in self.roles.get(local_role, ()):
            raise FederationError(
                f"party {transport.party_id} does not hold role {local_role!r} in job {job_id} "
                f"(roles: {self._describe_roles()})"
            )

    @property
    def party_id(self) -> int:
        return self.transport.party_id

    def parties(self, role: str) -> tuple[int, ...]:
        try:
            return self.roles[role]
        except KeyError:
            raise FederationError(f"job {self.job_id} has no role {role!r} (roles: {self._describe_roles()})") from None

    def _describe_roles(self) -> str:
        return ", ".join(f"{r}={list(ids)}" for r, ids in self.roles.items()) or "none"

    def _select(self, role: str, party_ids: Sequence[int] | None) -> tuple[int, ...]:
        members = self.parties(role)
        if party_ids is None:
            return members
        chosen = tuple(int(p) for p in party_ids)
        strangers = [p for p in chosen if p not in members]
        if strangers:
            raise FederationError(f"parties {strangers} do not hold role {role!r} in job {self.job_id}")
        return chosen

    def remote(self, obj: Any, tag: str, role: str, party_ids: Sequence[int] | None = None) -> None:
        """Send obj to every party of `role` (or the given subset of them)."""
        targets = self._select(role, party_ids)
        payload = codec.encode(obj)
        name = wire_tag(tag, self.local_role, role)
        for dst in targets:
            if self.on_wire is not None:
                self.on_wire(self.job_id, name, self.party_id, dst, payload)
            self.transport.send(self.job_id, name, dst, payload)

    def get(self, tag: str, role: str, party_id: int | None = None, timeout: float | None = None) -> Any:
        """Receive `tag` from the party of `role`; a list (in role order) when the role has several."""
        if party_id is not None:
            return self.get_all(tag, role, [party_id], timeout)[0]
        values = self.get_all(tag, role, None, timeout)
        return values[0] if len(values) == 1 else values

    def get_all(
        self, tag: str, role: str, party_ids: Sequence[int] | None = None, timeout: float | None = None
    ) -> list[Any]:
        """Receive `tag` from every (or each given) party of `role`, always as a list in role order."""
        sources = self._select(role, party_ids)
        # One deadline for the whole round, not one per party.
        deadline = time.monotonic() + (self.default_timeout if timeout is None else timeout)
        name = wire_tag(tag, role, self.local_role)
        values = []
        for src in sources:
            remaining = max(deadline - time.monotonic(), 0.0)
            values.append(codec.decode(self.transport.recv(self.job_id, name, src, remaining)))
        return values
