"""A real two-party local lab for the operator tools (doctor, support bundle), started once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fatectl.lab.local import LocalLab
from fatectl.spec.loader import load_federation
from tests.integration.conftest import Lab, spec_text


@pytest.fixture(scope="module")
def ops_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("ops")
    spec = tmp / "ops.yaml"
    spec.write_text(spec_text("ops-orgs", [9999, 10000], exchange=False))
    fed = load_federation(spec)
    LocalLab.of(fed, tmp / "lab").up(timeout=120)
    try:
        yield Lab(fed, spec, tmp / "lab")
    finally:
        LocalLab.of(fed, tmp / "lab").down()


def fresh_federation(tmp: Path, name: str):  # type: ignore[no-untyped-def]
    spec = tmp / f"{name}.yaml"
    spec.write_text(spec_text(name, [9999, 10000], exchange=False))
    return load_federation(spec)
