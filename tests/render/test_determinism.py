"""Same spec, same bytes: rendering is pure and writing is idempotent."""

from __future__ import annotations

from pathlib import Path

from fatectl.project import write_compose, write_helm
from fatectl.render.compose import render_compose
from fatectl.render.helm import render_helm
from fatectl.spec.model import Federation


def _tree(root: Path, skip: str = "secrets") -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] != skip
    }


def test_pure_renders_are_identical(spec_cases: dict[str, Federation]) -> None:
    for fed in spec_cases.values():
        assert render_helm(fed) == render_helm(fed)
        assert render_compose(fed) == render_compose(fed)


def test_two_helm_renders_give_byte_identical_trees(
    tmp_path: Path, spec_cases: dict[str, Federation]
) -> None:
    fed = spec_cases["three-party-exchange"]
    secrets = tmp_path / "secrets"
    first = write_helm(fed, tmp_path / "a", secrets_dir=secrets)
    write_helm(fed, tmp_path / "b", secrets_dir=secrets)
    assert first.changed
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    again = write_helm(fed, tmp_path / "a", secrets_dir=secrets)
    assert again.changed == ()


def test_rerendering_compose_changes_nothing_and_keeps_secrets(
    tmp_path: Path, spec_cases: dict[str, Federation]
) -> None:
    fed = spec_cases["two-party"]
    write_compose(fed, tmp_path)
    before = _tree(tmp_path, skip="")
    again = write_compose(fed, tmp_path)
    assert again.changed == ()
    assert _tree(tmp_path, skip="") == before


def test_other_compose_dirs_differ_only_in_secrets(tmp_path: Path, spec_cases: dict[str, Federation]) -> None:
    fed = spec_cases["two-party"]
    write_compose(fed, tmp_path / "a")
    write_compose(fed, tmp_path / "b")
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert _tree(tmp_path / "a" / "secrets", skip="") != _tree(tmp_path / "b" / "secrets", skip="")
