"""apiVersion migrations: a registry, chained steps, comments kept, validated before writing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml.comments import CommentedMap

from fatectl.errors import SpecError
from fatectl.spec.loader import load_federation
from fatectl.spec.migrate import Migration, migrate_file, path_from, register

OLD = """\
# An old spec: comments must survive the migration.
apiVersion: fatectl/v0alpha
name: old-banks
parties:
  - id: 9999        # the guest
    name: bank-a
    address: 10.0.0.1
    routerPort: 9371   # v0alpha kept the router port here
  - id: 10000
    name: bank-b
    address: 10.0.0.2
"""


def _router_port_moves(data: Any) -> list[str]:
    notes = []
    for party in data["parties"]:
        if "routerPort" in party:
            party["router"] = CommentedMap([("port", party.pop("routerPort"))])
            notes.append(f"party {party['id']}: routerPort -> router.port")
    return notes


def _renames(data: Any) -> list[str]:
    data["name"] = data["name"] + "-v2"
    return ["name gains -v2"]


@pytest.fixture
def registry() -> dict[str, Migration]:
    test_registry: dict[str, Migration] = {}
    register(Migration("fatectl/v0alpha", "fatectl/v0beta", "routerPort moved under router", _router_port_moves),
             test_registry)
    register(Migration("fatectl/v0beta", "fatectl/v1", "nothing else changed", lambda data: []), test_registry)
    return test_registry


def test_an_old_spec_is_migrated_in_two_steps_with_comments_kept(tmp_path: Path, registry: dict[str, Migration]) -> None:
    spec = tmp_path / "old.yaml"
    spec.write_text(OLD)
    with pytest.raises(SpecError, match=r"apiVersion 'fatectl/v0alpha' is not 'fatectl/v1': `fatectl migrate"):
        load_federation(spec)
    preview = migrate_file(spec, dry_run=True, registry=registry)
    assert not preview.written and spec.read_text() == OLD
    result = migrate_file(spec, registry=registry)
    assert [s.split(":")[0] for s in result.steps] == ["fatectl/v0alpha -> fatectl/v0beta", "fatectl/v0beta -> fatectl/v1"]
    text = spec.read_text()
    assert "# An old spec: comments must survive the migration." in text and "# the guest" in text
    fed = load_federation(spec)
    assert fed.party(9999).router_port == 9371 and fed.api_version == "fatectl/v1"
    assert migrate_file(spec, registry=registry).steps == ()  # already current: nothing to do


def test_a_chain_can_go_beyond_the_current_version_without_validation(tmp_path: Path, registry: dict[str, Migration]) -> None:
    register(Migration("fatectl/v1", "fatectl/v2", "a future rename", _renames), registry)
    spec = tmp_path / "old.yaml"
    spec.write_text(OLD)
    result = migrate_file(spec, target="fatectl/v2", registry=registry)
    assert result.federation is None and "apiVersion: fatectl/v2" in spec.read_text()
    assert "name: old-banks-v2" in spec.read_text()


def test_unknown_versions_and_double_registrations_are_refused(tmp_path: Path, registry: dict[str, Migration]) -> None:
    with pytest.raises(SpecError, match=r"no migration from apiVersion 'fatectl/v9' to 'fatectl/v1'"):
        path_from("fatectl/v9", registry=registry)
    with pytest.raises(ValueError, match="already registered"):
        register(Migration("fatectl/v0alpha", "fatectl/v1", "again", lambda d: []), registry)
    spec = tmp_path / "bad.yaml"
    spec.write_text(OLD.replace("routerPort: 9371", "routerPort: 99999"))
    with pytest.raises(SpecError, match="migrated spec would be invalid; nothing was written") as err:
        migrate_file(spec, registry=registry)
    assert "router.port" in str(err.value) and spec.read_text().startswith("# An old spec")
