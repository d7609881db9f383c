"""flow.yaml's compute: section: parsed with the rest of the config, every problem named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fate.compute import config as compute_config
from fate.compute.config import ComputeConfig, build_backend, parse_compute
from fate.compute.contract import ComputeError
from fate.compute.local import LocalBackend
from fate.flow.config import parse_flow_config
from fate.flow.errors import ConfigError


def _flow(compute: Any) -> dict[str, Any]:
    return {"party_id": 9999, "listen": {"host": "127.0.0.1", "port": 9380}, "router": {"host": "r", "port": 9370},
            "token_file": "/t", "data_dir": "/d", "compute": compute}


def test_no_section_means_local_with_one_process_per_core() -> None:
    config, problems = parse_compute(None)
    assert problems == [] and config == ComputeConfig()
    assert config.engine == "local" and config.worker_count >= 1
    assert parse_flow_config(_flow(None)).compute == ComputeConfig()


def test_the_interface_the_charts_render_parses() -> None:
    section = {"engine": "ray", "workers": 2, "cpus_per_worker": 1, "address": "ray://guest-ray-head:10001",
               "token_file": "/run/secrets/ray/token"}
    config = parse_flow_config(_flow(section)).compute
    assert config == ComputeConfig("ray", 2, 1.0, "ray://guest-ray-head:10001", "/run/secrets/ray/token")
    assert parse_compute({"engine": "ray", "address": "guest-ray-head:6379"})[1] == []
    assert parse_compute({"engine": "local", "workers": 2, "address": "", "token_file": ""})[1] == []


@pytest.mark.parametrize(("section", "problem"), [
    ({"engine": "spark"}, "compute.engine: expected one of local, ray, got 'spark'"),
    ({"workers": 0}, "compute.workers: expected an integer >= 1, got 0"),
    ({"workers": True}, "compute.workers: expected an integer >= 1, got True"),
    ({"engine": "ray", "cpus_per_worker": 0}, "compute.cpus_per_worker: expected a number > 0, got 0"),
    ({"engine": "ray", "address": 6379}, "compute.address: expected a string, got int"),
    ({"engine": "ray", "address": "head"}, "compute.address: expected \"\" (a private local Ray)"),
    ({"engine": "local", "address": "ray://h:10001"}, "compute.address: only used with engine: ray"),
    ({"worker": 2}, "compute.worker: unknown key"),
    ("ray", "compute: expected a mapping"),
])
def test_a_wrong_section_is_named_field_by_field(section: Any, problem: str) -> None:
    _, problems = parse_compute(section)
    assert any(p.startswith(problem) for p in problems), problems
    with pytest.raises(ConfigError) as caught:
        parse_flow_config(_flow(section), "flow.yaml")
    assert any(p.startswith(problem) for p in caught.value.problems)


def test_ray_missing_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compute_config, "ray_installed", lambda: False)
    _, problems = parse_compute({"engine": "ray"})
    assert problems == ["compute.engine: ray is not installed here; install it with `pip install fatectl[ray]` "
                        "(or use engine: local)"]


def test_every_problem_is_reported_at_once() -> None:
    _, problems = parse_compute({"engine": "x", "workers": -1, "colour": "red"})
    assert len(problems) == 3


def test_build_backend_gives_the_local_pool_by_default() -> None:
    with build_backend(ComputeConfig(workers=2)) as backend:
        assert isinstance(backend, LocalBackend) and backend.workers == 2


def test_a_token_file_that_cannot_be_read_is_named_and_its_content_never_shown(tmp_path: Path) -> None:
    from fate.compute.ray import read_token

    with pytest.raises(ComputeError, match="token_file .*missing: No such file"):
        read_token(str(tmp_path / "missing"))
    empty = tmp_path / "empty"
    empty.write_text("  \n")
    with pytest.raises(ComputeError, match="is empty"):
        read_token(str(empty))
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-token-value\n")
    assert read_token(str(secret)) == "s3cr3t-token-value"
