"""The e2e tests run on a real Docker engine: the engine image is built once per session.

Without an engine they skip, unless FATECTL_E2E=1 (CI sets it): then a missing engine is a
failure, so a broken CI host can never pass by skipping.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from fatectl.docker.build import BuiltImage, build_image, docker_client
from fatectl.errors import EnvironmentProblem
from fatectl.spec.loader import load_federation
from tests.lab.specs import write_spec

E2E_ENV = "FATECTL_E2E"
REPO = Path(__file__).resolve().parents[2]
JOB = REPO / "examples" / "jobs" / "breast-hetero-lr.yaml"


@pytest.fixture(scope="session")
def docker_engine() -> None:
    try:
        docker_client()
    except EnvironmentProblem as err:
        if os.environ.get(E2E_ENV) == "1":
            pytest.fail(f"{E2E_ENV}=1 but {err}", pytrace=False)
        pytest.skip(f"{err} (set {E2E_ENV}=1 to make this a failure)")


@pytest.fixture(scope="session")
def engine_image(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    """The engine image as `fatectl images build` makes it (default base, else the Debian one)."""
    spec = write_spec(tmp_path_factory.mktemp("image"), 2, False, "e2e-image")
    return build_image(load_federation(spec), wheels_dir=REPO / ".cache" / "wheels")


@dataclass
class Cli:
    """Runs `fatectl` as a user would, in its own process, with the lab root of this session."""

    lab_root: Path

    def run(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "FATECTL_LAB_DIR": str(self.lab_root)}
        proc = subprocess.run(
            [sys.executable, "-m", "fatectl.cli", *args], capture_output=True, text=True, env=env, timeout=timeout
        )
        if check and proc.returncode != 0:
            pytest.fail(f"fatectl {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}", pytrace=False)
        return proc


@pytest.fixture(scope="session")
def cli(tmp_path_factory: pytest.TempPathFactory, monkeypatch_session: pytest.MonkeyPatch) -> Cli:
    root = tmp_path_factory.mktemp("labs")
    # In-process calls (composelab, client) must find the same labs as the CLI processes.
    monkeypatch_session.setenv("FATECTL_LAB_DIR", str(root))
    return Cli(root)


@pytest.fixture(scope="session")
def monkeypatch_session() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def job_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The breast PSI -> hetero LR -> evaluation job with 1024-bit keys: the e2e labs test wiring, not key strength."""
    yaml = YAML(typ="safe")
    job = yaml.load(JOB.read_text())
    lr = next(step for step in job["pipeline"] if step["component"] == "hetero_lr")
    lr["params"]["encrypt_param"] = {"key_length": 1024}
    lr["params"]["insecure_key"] = True
    path = tmp_path_factory.mktemp("job") / "breast-hetero-lr-1024.yaml"
    with path.open("w") as fh:
        yaml.dump(job, fh)
    return path
