"""Gather what goes into a bundle into a staging directory, deterministically.

Each function writes files under a staging directory and returns the bundle members
(name in the bundle, file on disk, mode). File mtimes and modes inside a packaged Helm
chart come from the chart directory, so they are pinned before Helm packages it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fatectl.bundle.tarball import FIXED_MTIME
from fatectl.errors import BundleError, EnvironmentProblem
from fatectl.files import safe_relative
from fatectl.files import write_tree as write_files
from fatectl.spec.model import Federation

# progress(label, advance, total): called as a long step moves on; the CLI draws bars.
Progress = Callable[[str, int, int], None]
# The party's TLS material a site needs to install its chart; its flow token is left out
# because the chart generates and keeps its own.
PARTY_SECRET_FILES = ("ca.crt", "tls.crt", "tls.key")
_PRIVATE = {"tls.key"}


@dataclass(frozen=True)
class Member:
    name: str
    source: Path
    mode: int = 0o644


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> list[Path]:
    """Write {relative path: content} under root with pinned mtimes and modes; return the paths sorted."""
    write_files(root, files)
    pin_tree(root)
    return [root / safe_relative(rel) for rel in sorted(files)]


def pin_tree(root: Path) -> None:
    """Fix every mtime and mode under root, so archivers that copy them stay reproducible."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            os.chmod(path, 0o644)
            os.utime(path, (FIXED_MTIME, FIXED_MTIME))
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o755)
        os.utime(dirpath, (FIXED_MTIME, FIXED_MTIME))


def stage_charts(fed: Federation, party_id: int | None, stage: Path, progress: Progress) -> list[Member]:
    """Render each chart in scope (parties, and the exchange when enabled) and package it with Helm."""
    try:
        import helm_python
    except ImportError:
        raise EnvironmentProblem(
            "bundle create packages charts with the Helm library: pip install 'fatectl[helm]'"
        ) from None

    from fatectl.render.helm import render_helm

    charts: dict[str, dict[str, str]] = {}
    for rel, text in render_helm(fed, party_id).items():
        name, _, inner = rel.partition("/")
        charts.setdefault(name, {})[inner] = text
    members = []
    for name in sorted(charts):
        chart_dir = stage / "src" / name
        write_tree(chart_dir, charts[name])
        destination = stage / "packaged" / name
        destination.mkdir(parents=True, exist_ok=True)
        try:
            packaged = Path(helm_python.package(chart_dir, destination=destination))
        except helm_python.HelmError as err:
            raise BundleError(f"helm package of the chart of {name} failed: {err}") from None
        members.append(Member(f"charts/{name}/{packaged.name}", packaged))
        progress("helm package", 1, len(charts))
    return members


def stage_compose(fed: Federation, stage: Path) -> list[Member]:
    from fatectl.render.compose import render_compose

    paths = write_tree(stage, render_compose(fed))
    return [Member(f"compose/{p.relative_to(stage).as_posix()}", p) for p in paths]


def stage_party_secrets(fed: Federation, party_id: int, secrets_dir: Path) -> list[Member]:
    """One party's own certificate, key and CA certificate (created when absent, never overwritten)."""
    from fatectl.pki import ensure_secrets

    if secrets_dir.is_dir() and any(secrets_dir.iterdir()) and not (
        (secrets_dir / "ca.crt").exists() or (secrets_dir / "ca.key").exists()
    ):
        # A wrong directory (a render output, say) would otherwise get a brand-new CA and
        # keys sprinkled into it, and the site a certificate no other party trusts.
        raise BundleError(
            f"{secrets_dir} holds files but no federation CA (ca.crt): pass the directory"
            f" `fatectl certs create SPEC -o DIR` wrote"
        )
    own = ensure_secrets(fed, secrets_dir).party(party_id)
    sources = {"ca.crt": own.ca_file, "tls.crt": own.cert_file, "tls.key": own.key_file}
    return [
        Member(f"secrets/{own.name}/{name}", sources[name], 0o600 if name in _PRIVATE else 0o644)
        for name in PARTY_SECRET_FILES
    ]


def stage_wheels(wheels_dir: Path) -> list[Member]:
    wheels = sorted(Path(wheels_dir).glob("*.whl"))
    if not wheels:
        raise BundleError(
            f"no wheels in {wheels_dir}; fill it first (fatectl images wheels -o {wheels_dir}) or bundle without wheels"
        )
    return [Member(f"wheels/{w.name}", w) for w in wheels]


@contextmanager
def io_errors(what: str) -> Iterator[None]:
    """Disk trouble (permissions, a full disk) becomes a message, not a traceback."""
    try:
        yield
    except OSError as err:
        raise BundleError(f"{what}: {err.strerror or err}") from None
