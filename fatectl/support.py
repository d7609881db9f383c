"""`fatectl support-bundle`: what a vendor or a partner's operator needs to help, in one archive.

The archive holds one party's view: the canonical spec, its engine configs, versions,
status, doctor checks, the last log lines of each of its services and its recent jobs with
their logs. Every secret the lab holds (tokens, the board password, private keys) is
replaced by a marker wherever it appears, and so is anything shaped like a bearer token
or a PEM private key, so a secret that reached a log line does not leave with the archive.
"""

from __future__ import annotations

import dataclasses
import io
import json
import platform
import re
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fate
from fatectl import __version__
from fatectl.doctor import diagnose
from fatectl.errors import FatectlError
from fatectl.files import write_file
from fatectl.flowclient import client_for
from fatectl.lab.contract import Lab
from fatectl.lab.kinds import current_lab
from fatectl.render.engine import Layout, engine_configs
from fatectl.spec.canonical import canonical_text
from fatectl.spec.model import Federation, Node

REDACTED = "[REDACTED]"
LOG_LINES = 1000
RECENT_JOBS = 20
_CREDENTIALS = ("flow_token", "flow_reader_token", "board_password")
_PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")


@dataclass(frozen=True)
class SupportResult:
    path: Path
    size: int
    members: tuple[str, ...]
    redactions: int


def secret_values(secrets_dir: Path) -> list[str]:
    """Every secret string under a lab's secrets directory: credentials, and private keys line by line."""
    found: list[str] = []
    for path in sorted(secrets_dir.rglob("*")) if secrets_dir.is_dir() else ():
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.name in _CREDENTIALS:
            found.append(text.strip())
        elif path.suffix == ".key":
            found.append(text.strip())
            found += [line for line in text.splitlines() if len(line) >= 16 and not line.startswith("-----")]
    return sorted({s for s in found if s}, key=len, reverse=True)  # longest first: no partial leftovers


def redact(text: str, secrets: list[str]) -> tuple[str, int]:
    count = 0
    for secret in secrets:
        hits = text.count(secret)
        if hits:
            text, count = text.replace(secret, REDACTED), count + hits
    text, n = _PEM_KEY.subn(REDACTED, text)
    count += n
    text, n = _BEARER.subn(lambda m: m.group(1) + REDACTED, text)
    return text, count + n


def gather(fed: Federation, party_id: int, root: Path | None = None) -> dict[str, str]:
    """The archive's members as {name: text}, before redaction."""
    lab = current_lab(fed, root)
    node = fed.node(party_id)
    members = {
        "README.txt": _readme(fed, node, lab),
        "spec.yaml": canonical_text(fed),
        "versions.json": _json(_versions()),
        "doctor.json": _json([dataclasses.asdict(c) for c in diagnose(fed, party_id, root)]),
        "status.json": _json(lab.status().rows()),
    }
    layout = (Layout.local(str(lab.paths.secrets_dir), str(lab.paths.data_dir)) if lab.kind == "local"
              else Layout.compose())
    for name, config in engine_configs(fed, layout).items():
        if name.startswith(f"{node.name}/"):
            members[f"config/{name}"] = _json(config)
    for module in node.module_names:
        members[f"logs/{node.name}-{module}.log"] = _logs(lab, party_id, module)
    if "flow" in node.module_names and not node.is_exchange:
        members.update(_jobs(fed, party_id, lab))
    return members


def write_support_bundle(fed: Federation, party_id: int, out: Path, root: Path | None = None) -> SupportResult:
    """Gather, redact and write the archive (0600: it describes the party's internals)."""
    lab = current_lab(fed, root)
    secrets = secret_values(lab.paths.secrets_dir)
    members, total = {}, 0
    for name, text in gather(fed, party_id, root).items():
        members[name], count = redact(text, secrets)
        total += count
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in sorted(members.items()):
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"support-{fed.name}-{party_id}/{name}")
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    write_file(out, buffer.getvalue(), 0o600)
    return SupportResult(out, len(buffer.getvalue()), tuple(sorted(members)), total)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str) + "\n"


def _readme(fed: Federation, node: Node, lab: Lab) -> str:
    return (
        f"Support bundle of {node.role} {node.id} ({node.name}) in federation {fed.name}, {lab.kind} lab.\n"
        "spec.yaml: the canonical spec; config/: this party's engine configs; versions.json; status.json;\n"
        "doctor.json: `fatectl doctor` checks; logs/: the last lines of each service; jobs/: recent jobs.\n"
        f"Secrets (tokens, passwords, private keys) are replaced by {REDACTED}.\n"
    )


def _versions() -> dict[str, str]:
    versions = {"fatectl": __version__, "fate": fate.__version__, "python": sys.version.split()[0],
                "platform": platform.platform()}
    try:
        from fatectl.docker.client import docker_client

        versions["docker"] = str(docker_client().version().get("Version", "?"))
    except FatectlError as err:
        versions["docker"] = f"unavailable ({err.message[:80]})"
    return versions


def _logs(lab: Lab, party_id: int, module: str) -> str:
    try:
        return "\n".join(lab.logs(party_id, module, tail=LOG_LINES)) + "\n"
    except FatectlError as err:
        return f"(no logs: {err.message})\n"


def _jobs(fed: Federation, party_id: int, lab: Lab) -> dict[str, str]:
    try:
        client = client_for(fed, party_id, lab.paths.secrets_dir)
        jobs = client.jobs(limit=RECENT_JOBS)
        out = {"jobs/jobs.json": _json(jobs)}
        for job in jobs:
            out[f"jobs/{job['id']}.log.json"] = _json(client.logs(job["id"]))
        return out
    except FatectlError as err:
        return {"jobs/jobs.json": _json({"unavailable": err.message})}
