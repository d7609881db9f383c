"""Certificate changes applied where they live: a secrets directory, or a running lab.

In a local lab every router and flow rereads its TLS files on SIGHUP (routers also watch
them), so a rotation or revocation reaches running processes without a restart and without
interrupting a job. A compose lab gets new containers (its files are bind-mounted one by one).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from fatectl.certs.expiry import CertificateState, certificate_states
from fatectl.certs.revoke import Revocation, revoke_party
from fatectl.certs.rotate import DEFAULT_OVERLAP_DAYS, Rotation, rotate_certificates
from fatectl.errors import SpecError
from fatectl.lab.compose import ComposeLab
from fatectl.lab.local import LocalLab
from fatectl.spec.model import Federation

LabName = Literal["local", "compose"]


def target(fed: Federation, secrets_dir: Path | None, lab: LabName | None) -> tuple[Path, Callable[[], object]]:
    """The secrets directory to change, and how to make its users take the change."""
    if (secrets_dir is None) == (lab is None):
        raise SpecError("give either --secrets-dir DIR (the CA's directory) or --lab local|compose")
    if lab == "local":
        local = LocalLab.of(fed)
        return local.secrets_dir, local.reload
    if lab == "compose":
        compose = ComposeLab.of(fed)

        def recreate() -> None:
            if compose.recreate():
                compose.wait_ready(300.0)  # the next step (leaves after trust) needs everyone back

        return compose.secrets_dir, recreate
    assert secrets_dir is not None
    return secrets_dir, lambda: None


def rotate(
    fed: Federation,
    secrets_dir: Path | None = None,
    lab: LabName | None = None,
    party_id: int | None = None,
    new_ca: bool = False,
    overlap_days: int = DEFAULT_OVERLAP_DAYS,
    trust_only: bool = False,
) -> Rotation:
    directory, apply = target(fed, secrets_dir, lab)
    result = rotate_certificates(fed, directory, party_id, new_ca, overlap_days, trust_only, settle=apply)
    apply()
    return result


def revoke(fed: Federation, party_id: int, secrets_dir: Path | None = None, lab: LabName | None = None) -> Revocation:
    directory, apply = target(fed, secrets_dir, lab)
    result = revoke_party(fed, directory, party_id)
    apply()
    return result


def certificates(fed: Federation, secrets_dir: Path | None = None, lab: LabName | None = None) -> tuple[CertificateState, ...]:
    directory, _ = target(fed, secrets_dir, lab)
    return certificate_states(fed, directory)
