"""What `fatectl render helm|compose` do: render, ensure secrets, write.

Rendering itself is pure (fatectl.render: spec -> {path: text}) and knows nothing of
secrets or labs; this module joins them and is the one place that touches the disk,
so the commands stay thin and the renderers stay testable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fatectl.files import ensure_directory, write_tree
from fatectl.lab.compose import ComposeLab
from fatectl.pki import SecretsLayout, ensure_secrets
from fatectl.render.compose import render_compose
from fatectl.render.helm import render_helm
from fatectl.render.yamltext import dump_yaml
from fatectl.spec.model import Federation

SECRETS_DIR = "secrets"
SECRET_VALUES = "secret-values.yaml"


@dataclass(frozen=True)
class RenderResult:
    out: Path
    targets: tuple[str, ...]  # chart directories, or ("compose.yaml",)
    changed: tuple[Path, ...]
    secrets_dir: Path


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
            files[f"{name}/{SECRET_VALUES}"] = secret_values(layout, fed.node_named(name).id)
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


def write_compose(fed: Federation, out: Path) -> RenderResult:
    """`out/compose.yaml`, `out/config/...`, secrets under `out/secrets/` and `out/.env`."""
    changed = write_tree(out, render_compose(fed))  # creates `out` or fails with a RenderError
    # The lab's own preparation: secrets created when absent, owned by the containers'
    # user (compose bind-mounts file secrets with host owner and mode), and `.env` naming it.
    ComposeLab.at(fed, out).prepare()
    _keep_secrets_private(out, out / SECRETS_DIR, [])
    return RenderResult(out, ("compose.yaml",), tuple(changed), out / SECRETS_DIR)
