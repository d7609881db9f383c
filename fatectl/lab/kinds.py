"""Which lab a command means: named by the user (`up local|compose`), or found (`status`, `logs`)."""

from __future__ import annotations

from pathlib import Path

from fatectl.lab.compose import ComposeLab
from fatectl.lab.contract import Lab
from fatectl.lab.local import LocalLab
from fatectl.lab.paths import LabKind
from fatectl.spec.model import Federation


def open_lab(fed: Federation, kind: LabKind, root: Path | None = None) -> Lab:
    if kind == "compose":
        return ComposeLab.of(fed, root)
    return LocalLab.of(fed, root)


def current_lab(fed: Federation, root: Path | None = None) -> Lab:
    """The lab this federation runs as.

    A started local lab wins (it has process state); otherwise a rendered compose lab;
    with neither, the local view, whose flow probes then say that nothing answers.
    """
    local, compose = LocalLab.of(fed, root), ComposeLab.of(fed, root)
    if not local.state_file.exists() and compose.compose_file.exists():
        return compose
    return local
