"""Where a lab keeps its files: the one owner of every lab root, secret, token and state path.

Labs live under `.lab/<federation>/<kind>/` (kind: local | compose); `FATECTL_LAB_DIR`
moves the root. Clients find a running lab's flow tokens here too, so no other module
builds a lab path by hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

LAB_ROOT_ENV = "FATECTL_LAB_DIR"
LabKind = Literal["local", "compose"]
KINDS: tuple[LabKind, ...] = ("local", "compose")


def lab_root(root: Path | None = None) -> Path:
    """The directory holding every lab: `root`, else $FATECTL_LAB_DIR, else ./.lab."""
    return root if root is not None else Path(os.environ.get(LAB_ROOT_ENV, ".lab"))


@dataclass(frozen=True)
class LabPaths:
    directory: Path  # <root>/<federation>/<kind>, absolute

    @property
    def secrets_dir(self) -> Path:
        return self.directory / "secrets"

    @property
    def state_file(self) -> Path:
        """The local lab's pids; its presence means a local lab was started."""
        return self.directory / "state.json"

    @property
    def compose_file(self) -> Path:
        """The compose lab's project file; its presence means a compose lab was rendered."""
        return self.directory / "compose.yaml"

    @property
    def config_dir(self) -> Path:
        return self.directory / "config"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    def log_file(self, process: str) -> Path:
        return self.directory / "logs" / f"{process.replace('/', '.')}.log"

    def token_file(self, party_name: str) -> Path:
        return self.secrets_dir / party_name / "flow_token"


def lab_paths(federation: str, kind: LabKind, root: Path | None = None) -> LabPaths:
    return LabPaths((lab_root(root) / federation / kind).absolute())


def audit_checkpoint(federation: str, party_name: str, root: Path | None = None) -> Path:
    """Where `fatectl audit --verify` keeps the last verified (seq, hash) of a party's audit log.

    The operator's side, outside any lab kind: it must outlive `down --volumes` and a relabelled
    lab, since a checkpoint is what reveals a history rewritten from its start.
    """
    return (lab_root(root) / federation / "audit" / f"{party_name}.json").absolute()


def token_candidates(federation: str, party_name: str, root: Path | None = None) -> list[Path]:
    """Where a party's flow token may be, likeliest first.

    A running local lab wins; with none, a compose lab is the likelier owner.
    """
    local, compose = lab_paths(federation, "local", root), lab_paths(federation, "compose", root)
    ordered = [local, compose] if local.state_file.exists() else [compose, local]
    return [paths.token_file(party_name) for paths in ordered]
