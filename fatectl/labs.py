"""Which lab a spec runs as: `fatectl status` works the same for local and compose labs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fatectl import composelab, locallab
from fatectl.spec.loader import load_federation


def status_rows(spec: str | Path) -> list[dict[str, Any]]:
    """Rows (party, name, process, state, detail) of the lab this spec runs as.

    A running local lab wins (it has process state); otherwise a rendered compose lab;
    with neither, the local view, whose flow probes then say that nothing answers.
    """
    fed = load_federation(spec)
    if not locallab.lab_for(fed).state_file.exists() and composelab.lab_for(fed).compose_file.exists():
        return composelab.status_rows(fed)
    return locallab.status_rows(spec)
