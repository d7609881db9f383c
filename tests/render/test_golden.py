"""Golden files for the examples: what `render helm` and `render compose` produce, reviewed in
git. Regenerate with `pytest tests/render --update-golden` and read the diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from fatectl.render.compose import render_compose
from fatectl.render.helm import chart_sources, render_helm
from fatectl.spec.loader import load_federation

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLE_NAMES = ["two-party", "two-party-ray", "three-party-exchange"]


def _rendered(example: str) -> dict[str, str]:
    fed = load_federation(EXAMPLES / f"{example}.yaml")
    static = set(chart_sources())
    # Chart files copied verbatim from templates/ are checked there, not duplicated here.
    helm = {
        f"helm/{path}": text for path, text in render_helm(fed).items() if path.split("/", 1)[1] not in static
    }
    compose = {f"compose/{path}": text for path, text in render_compose(fed).items()}
    return {**helm, **compose}


def _golden_files(root: Path) -> dict[str, str]:
    if not root.is_dir():
        return {}
    return {
        str(p.relative_to(root)): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_output_matches_golden(example: str, request: pytest.FixtureRequest) -> None:
    rendered = _rendered(example)
    root = GOLDEN / example
    if request.config.getoption("--update-golden"):
        for stale in set(_golden_files(root)) - set(rendered):
            (root / stale).unlink()
        for path, text in rendered.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text, encoding="utf-8")
    golden = _golden_files(root)
    assert sorted(golden) == sorted(rendered), "file set differs; run with --update-golden and review"
    for path, text in rendered.items():
        assert text == golden[path], (
            f"{example}/{path} differs from golden; run with --update-golden and review"
        )
