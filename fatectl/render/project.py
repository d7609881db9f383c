"""What `fatectl render helm|compose` do: load the spec, render, ensure secrets, write.

Rendering itself is pure (fatectl.render.helm / .compose); this module is the one place
that touches the disk, so the commands stay thin and the renderers stay testable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fatectl.render.compose import render_compose
from fatectl.render.helm import render_helm
from fatectl.render.writer import ensure_directory, write_tree
from fatectl.render.yamltext import dump_yaml
from fatectl.secrets import SecretsLayout, ensure_secrets
from fatectl.spec.model import Federation

SECRETS_DIR = "secrets"
SECRET_VALUES = "secret-values.yaml"


@dataclass(frozen=True)
class RenderResult:
    out: Path
    targets: tuple[str, ...]  # chart directories, or ("compose.yaml",)
    changed: tuple[Path, ...]
    secrets_dir: Path


def _load(spec: str | Path) -> Federation:
    from fatectl.spec.loader import load_federation

    return load_federation(spec)


def render_helm_project(
    spec: str | Path, out: Path, party_id: int | None = None, secrets_dir: Path | None = None
) -> RenderResult:
    """Charts under `out/<name>/`, each with a 0600 secret-values.yaml of its TLS material."""
    return write_helm(_load(spec), out, party_id, secrets_dir)


def write_helm(
    fed: Federation, out: Path, party_id: int | None = None, secrets_dir: Path | None = None
) -> RenderResult:
    files: dict[str, str | bytes] = dict(render_helm(fed, party_id))
    targets = tuple(sorted({path.split("/", 1)[0] for path in files}))
    ensure_directory(out)
    secrets_root = secrets_dir or out / SECRETS_DIR
    ensure_directory(secrets_root)
    secret_paths: set[str] = set()
    if fed.security.tls != "none":
        layout = ensure_secrets(fed, secrets_root)
        for name in targets:
            files[f"{name}/{SECRET_VALUES}"] = secret_values(layout, _id_of(fed, name))
            secret_paths.add(f"{name}/{SECRET_VALUES}")
    changed = write_tree(out, files, frozenset(secret_paths))
    _keep_secrets_private(out, secrets_root, [f"/*/{SECRET_VALUES}"])
    return RenderResult(out, targets, tuple(changed), secrets_root)


def _keep_secrets_private(out: Path, secrets_root: Path, patterns: list[str]) -> None:
    """Rendered trees are meant to be diffed and committed; their keys and tokens are not.

    The secrets directory is closed to other users, and a .gitignore beside the output
    keeps secret files out of a repository the operator commits the render into.
    """
    secrets_root.chmod(0o700)
    ignored = list(patterns)
    if secrets_root.resolve().parent == out.resolve():
        ignored.insert(0, f"/{secrets_root.name}/")
    write_tree(out, {".gitignore": "# written by fatectl: keys and tokens never go into git\n" + "\n".join(ignored) + "\n"})


def secret_values(layout: SecretsLayout, party_id: int) -> str:
    """Helm values carrying one party's TLS material; passed with -f, never packaged."""
    party = layout.party(party_id)
    return dump_yaml(
        {
            "tls": {
                "ca": party.ca_file.read_text(encoding="ascii"),
                "cert": party.cert_file.read_text(encoding="ascii"),
                "key": party.key_file.read_text(encoding="ascii"),
            }
        }
    )


def _id_of(fed: Federation, name: str) -> int:
    if fed.exchange.enabled and name == fed.exchange.name:
        return fed.exchange.id
    return next(p.id for p in fed.parties if p.name == name)


def render_compose_project(spec: str | Path, out: Path) -> RenderResult:
    """`out/compose.yaml`, `out/config/...`, secrets under `out/secrets/` and `out/.env`."""
    return write_compose(_load(spec), out)


def write_compose(fed: Federation, out: Path) -> RenderResult:
    from fatectl.composelab import ComposeLab, prepare

    changed = write_tree(out, render_compose(fed))  # creates `out` or fails with a RenderError
    # The lab's own preparation: secrets created when absent, owned by the containers'
    # user (compose bind-mounts file secrets with host owner and mode), and `.env` naming it.
    prepare(ComposeLab(fed, out))
    _keep_secrets_private(out, out / SECRETS_DIR, [])
    return RenderResult(out, ("compose.yaml",), tuple(changed), out / SECRETS_DIR)
