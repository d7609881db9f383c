"""What a site runs after loading a bundle: exact commands, built from the bundled spec.

Paths in the commands are absolute so they can be pasted from anywhere. TLS material
goes to Helm with --set-file, never into a values file or the command line itself.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from fatectl.bundle.manifest import Manifest
from fatectl.spec.model import Federation

SPEC_MEMBER = "spec/federation.yaml"


def engine_target(fed: Federation, registry: str) -> str:
    """Where the engine image goes in a private registry: HOST/PREFIX/<image>:<tag>."""
    return f"{registry.strip('/')}/{fed.engine.image}:{fed.engine.tag}"


def retarget(fed: Federation, ref: str, registry: str) -> str:
    if ref == fed.engine.ref:
        return engine_target(fed, registry)
    return f"{registry.strip('/')}/{ref.rsplit('/', 1)[-1]}"


def _namespace(fed: Federation, name: str) -> str:
    return next((n.namespace for n in fed.nodes() if n.name == name), "default")


def site_commands(dest: Path, fed: Federation, manifest: Manifest, registry: str | None) -> tuple[str, ...]:
    dest = dest.resolve()
    spec = dest / SPEC_MEMBER
    commands: list[str] = []
    if any((dest / "wheels").glob("fatectl-*.whl")):
        commands.append(shlex.join(["pip", "install", "--no-index", "--find-links", str(dest / "wheels"), "fatectl"]))
    if manifest.party is None:
        commands.append(shlex.join(["fatectl", "up", "compose", str(spec)]))
    charts = sorted((dest / "charts").glob("*/*.tgz"))
    secrets = dest / "secrets"
    if charts and not secrets.is_dir():
        # A whole-federation bundle carries no keys: the site makes its own CA and certificates.
        commands.append(shlex.join(["fatectl", "certs", "create", str(spec), "-o", str(secrets)]))
    for chart in charts:
        name = chart.parent.name
        own = secrets / name
        cmd = ["helm", "install", name, str(chart), "--namespace", _namespace(fed, name), "--create-namespace"]
        if fed.security.tls != "none":
            cmd += ["--set-file", f"tls.ca={own / 'ca.crt'}"]
            cmd += ["--set-file", f"tls.cert={own / 'tls.crt'}", "--set-file", f"tls.key={own / 'tls.key'}"]
        if registry:
            cmd += ["--set", f"image.registry={registry.strip('/')}"]
        commands.append(shlex.join(cmd))
    return tuple(commands)
