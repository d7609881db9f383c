"""The one entry point of `fatectl diff`: a plan for a render directory or for a lab."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fatectl.errors import SpecError
from fatectl.plan.lab import plan_compose_lab, plan_local
from fatectl.plan.model import Plan
from fatectl.plan.render import plan_compose, plan_helm
from fatectl.spec.model import Federation


def make_plan(
    fed: Federation,
    out: Path | None = None,
    lab: Literal["local", "compose"] | None = None,
    render: Literal["helm", "compose"] | None = None,
    party_id: int | None = None,
    secrets_dir: Path | None = None,
    root: Path | None = None,
) -> Plan:
    """What `render helm|compose -o out` (the kind found in out unless named) or `up lab` would change."""
    if (out is None) == (lab is None):
        raise SpecError("give either -o DIR (a render directory) or --lab local|compose")
    if lab == "local":
        return plan_local(fed, root)
    if lab == "compose":
        return plan_compose_lab(fed, root)
    assert out is not None
    kind = render or ("compose" if (out / "compose.yaml").is_file() else "helm")
    if kind == "compose":
        if party_id is not None:
            raise SpecError("--party applies to Helm charts (a compose project holds every party)")
        return plan_compose(fed, out)
    if party_id is not None:
        fed.node(party_id)  # an unknown id is bad input, named with the known ones
    return plan_helm(fed, out, party_id, secrets_dir)
