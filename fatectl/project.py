"""What `fatectl render helm|compose` do: render, ensure secrets, write.

Rendering itself is pure (fatectl.render: spec -> {path: text}) and knows nothing of
secrets or labs; this module joins them and is the one place that touches the disk,
so the commands stay thin and the renderers stay testable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fatectl.certs.authority import trust_bundle
from fatectl.files import ensure_directory, write_tree
from fatectl.lab.compose import ComposeLab
from fatectl.pki import SecretsLayout, ensure_secrets, layout_of
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
    # Charts written without secret-values.yaml: the party holds its own key (certs request/import).
    held_elsewhere: tuple[str, ...] = ()


@dataclass(frozen=True)
class HelmOutput:
    """What `render helm` writes under its output directory, secrets included."""

    files: dict[str, str | bytes]
    secret_paths: frozenset[str]
    targets: tuple[str, ...]
    pending: frozenset[str] = frozenset()  # secret files whose material does not exist yet
    held_elsewhere: tuple[str, ...] = ()


def helm_output(
    fed: Federation, party_id: int | None, secrets_root: Path, *, create_secrets: bool
) -> HelmOutput:
    """The charts plus each party's secret-values.yaml; secrets are created only with create_secrets.

    With `party_id`, only that party's secrets are needed: a party renders its own chart from
    its own directory, which holds its key and the CA certificate but no CA key.
    """
    files: dict[str, str | bytes] = dict(render_helm(fed, party_id))
    targets = tuple(sorted({path.split("/", 1)[0] for path in files}))
    secret_paths: set[str] = set()
    pending: set[str] = set()
    held: list[str] = []
    if fed.security.tls != "none":
        layout = ensure_secrets(fed, secrets_root, only=party_id) if create_secrets else layout_of(fed, secrets_root)
        for name in targets:
            party = layout.party(fed.node_named(name).id)
            rel = f"{name}/{SECRET_VALUES}"
            if party.external and not party.key_file.exists():
                held.append(name)
                continue
            secret_paths.add(rel)
            if all(f.is_file() for f in (layout.ca_file, party.cert_file, party.key_file)):
                files[rel] = secret_values(layout, party.party_id)
            else:
                pending.add(rel)
    return HelmOutput(files, frozenset(secret_paths), targets, frozenset(pending), tuple(held))


def write_helm(
    fed: Federation, out: Path, party_id: int | None = None, secrets_dir: Path | None = None
) -> RenderResult:
    ensure_directory(out)
    secrets_root = secrets_dir or out / SECRETS_DIR
    ensure_directory(secrets_root)
    output = helm_output(fed, party_id, secrets_root, create_secrets=True)
    changed = write_tree(out, output.files, output.secret_paths)
    _keep_secrets_private(out, secrets_root, [f"/*/{SECRET_VALUES}"])
    return RenderResult(out, output.targets, tuple(changed), secrets_root, output.held_elsewhere)


def _keep_secrets_private(out: Path, secrets_root: Path, patterns: list[str]) -> None:
    """Rendered trees are meant to be diffed and committed; their keys and tokens are not.

    The secrets directory is closed to other users, and a .gitignore beside the output
    keeps secret files out of a repository the operator commits the render into.
    """
    secrets_root.chmod(0o700)
    write_tree(out, {".gitignore": gitignore_text(out, secrets_root, patterns)})


def gitignore_text(out: Path, secrets_root: Path, patterns: list[str]) -> str:
    ignored = list(patterns)
    if secrets_root.resolve().parent == out.resolve():
        ignored.insert(0, f"/{secrets_root.name}/")
    return "# written by fatectl: keys and tokens never go into git\n" + "\n".join(ignored) + "\n"


def secret_values(layout: SecretsLayout, party_id: int) -> str:
    """Helm values carrying one party's TLS material; passed with -f, never packaged."""
    party = layout.party(party_id)
    return dump_yaml(
        {
            "tls": {
                # The trust bundle as it is now (CAs of a rotation's overlap, CRLs), not a stale copy.
                "ca": trust_bundle(layout.directory).decode("ascii"),
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
