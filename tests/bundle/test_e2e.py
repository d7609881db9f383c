"""Bundles against the real Docker engine, driven through the CLI as an operator would.

With FATECTL_E2E=1 a missing Docker engine fails these tests; otherwise they are skipped.
"""

from __future__ import annotations

import io
import os
import shlex
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from fatectl.cli import main

pytestmark = pytest.mark.e2e

TINY_REF = "fatectl-bundle-e2e/tiny:1"
LAB_SPEC = """\
apiVersion: fatectl/v1
name: bundle-lab
engine: {image: fatectl-bundle-e2e/fate-engine, tag: "0.1.0", pullPolicy: Never}
security: {tls: mutual}
exchange: {enabled: false}
parties:
  - id: 9999
    name: bank-a
    address: a.example
    modules: [router, flow]
    compose: {hostPorts: {router: 19610, flow: 19611}}
  - id: 10000
    name: bank-b
    address: b.example
    modules: [router, flow]
    compose: {hostPorts: {router: 19620, flow: 19621}}
"""


@pytest.fixture(scope="module")
def client() -> Any:
    import docker

    try:
        c = docker.from_env(timeout=300)
        c.ping()
    except docker.errors.DockerException as err:
        if os.environ.get("FATECTL_E2E") == "1":
            pytest.fail(f"FATECTL_E2E=1 but no Docker engine answers: {err}")
        pytest.skip(f"no Docker engine answers ({err}); FATECTL_E2E=1 makes this a failure")
    return c


def _cli(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == 0, f"fatectl {' '.join(args)} exited {result.exit_code}:\n{result.output}"
    return result


def _absent(client: Any, ref: str) -> bool:
    import docker

    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return True
    return False


@pytest.fixture
def tiny_image(client: Any) -> Iterator[str]:
    """A one-file image made with `docker import`: no registry, no base image needed."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"bundled\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    repository, tag = TINY_REF.split(":")
    client.api.import_image_from_data(buf.getvalue(), repository=repository, tag=tag)
    yield TINY_REF
    if not _absent(client, TINY_REF):
        client.images.remove(TINY_REF, force=True)


def test_tiny_image_round_trip_without_the_image(tmp_path: Path, client: Any, tiny_image: str) -> None:
    spec = tmp_path / "federation.yaml"
    spec.write_text(LAB_SPEC.replace("fatectl-bundle-e2e/fate-engine", "fatectl-bundle-e2e/tiny").replace('"0.1.0"', '"1"'))
    _cli("bundle", "keygen", "-o", str(tmp_path / "sign.key"))
    made = [tmp_path / "a" / "b.tar.gz", tmp_path / "b" / "b.tar.gz"]
    for out in made:
        _cli("bundle", "create", str(spec), "-o", str(out), "--no-wheels", "--sign-key", str(tmp_path / "sign.key"))
    assert made[0].read_bytes() == made[1].read_bytes(), "real docker save + helm package must be reproducible"

    image_id = client.images.get(tiny_image).id
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(made[0], site / "b.tar.gz")
    shutil.copy(tmp_path / "sign.key.pub", site / "vendor.pub")
    client.images.remove(tiny_image, force=True)
    assert _absent(client, tiny_image)

    verified = _cli("bundle", "verify", str(site / "b.tar.gz"), "--pubkey", str(site / "vendor.pub"))
    assert "signature OK" in verified.output
    loaded = _cli("bundle", "load", str(site / "b.tar.gz"), "--pubkey", str(site / "vendor.pub"), "-d", str(site / "x"))
    assert client.images.get(tiny_image).id == image_id
    assert f"image {tiny_image}" in loaded.output and "helm install bank-a" in loaded.output


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """A private registry on 127.0.0.1 (Debian's docker-registry), like a site's own."""
    import socket
    import subprocess
    import time

    import httpx

    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage: {{filesystem: {{rootdirectory: {tmp_path / 'registry'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "docker-registry did not start"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_load_pushes_to_a_private_registry(tmp_path: Path, client: Any, tiny_image: str, registry: str) -> None:
    import httpx

    spec = tmp_path / "federation.yaml"
    spec.write_text(LAB_SPEC.replace("fatectl-bundle-e2e/fate-engine", "fatectl-bundle-e2e/tiny").replace('"0.1.0"', '"1"'))
    _cli("bundle", "create", str(spec), "-o", str(tmp_path / "b.tar.gz"), "--no-wheels")
    image_id = client.images.get(tiny_image).id
    client.images.remove(tiny_image, force=True)
    target = f"{registry}/site/fatectl-bundle-e2e/tiny:1"
    loaded = _cli("bundle", "load", str(tmp_path / "b.tar.gz"), "--allow-unsigned", "--registry", f"{registry}/site", "-d", str(tmp_path / "x"))
    assert f"image {target}" in loaded.output and f"image.registry={registry}/site" in loaded.output
    assert "UNSIGNED: loaded without checking who made it" in loaded.output
    tags = httpx.get(f"http://{registry}/v2/site/fatectl-bundle-e2e/tiny/tags/list", timeout=5).json()
    assert tags["tags"] == ["1"]
    # What the site's nodes will do: pull it back from the registry alone.
    client.images.remove(target, force=True)
    client.images.remove(tiny_image, force=True)
    assert client.images.pull(target).id == image_id
    client.images.remove(target, force=True)


@pytest.fixture
def bundle_engine(client: Any, tmp_path: Path) -> Iterator[str]:
    """The engine image of the current source, under a tag no other lab uses."""
    from fatectl.docker.build import build_image
    from fatectl.spec.loader import load_federation

    spec = tmp_path / "build.yaml"
    spec.write_text(LAB_SPEC)
    built = build_image(load_federation(spec))
    yield built.ref
    if not _absent(client, built.ref):
        client.images.remove(built.ref)


@pytest.mark.slow
def test_compose_lab_runs_from_the_bundle_alone(tmp_path: Path, client: Any, bundle_engine: str) -> None:
    spec = tmp_path / "vendor" / "federation.yaml"
    spec.parent.mkdir()
    spec.write_text(LAB_SPEC)
    _cli("bundle", "keygen", "-o", str(tmp_path / "vendor" / "sign.key"))
    bundle = tmp_path / "vendor" / "bundle-lab.tar.gz"
    wheels = Path(__file__).resolve().parents[2] / ".cache" / "wheels"
    wheel_args = ["--wheels-dir", str(wheels)] if any(wheels.glob("fatectl-*.whl")) else ["--no-wheels"]
    _cli("bundle", "create", str(spec), "-o", str(bundle), "--sign-key", str(tmp_path / "vendor" / "sign.key"), *wheel_args)

    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(bundle, site / bundle.name)
    shutil.copy(tmp_path / "vendor" / "sign.key.pub", site / "vendor.pub")
    shutil.rmtree(tmp_path / "vendor")  # the site has the bundle and the public key, nothing else
    image_id = client.images.get(bundle_engine).id
    client.images.remove(bundle_engine)
    assert _absent(client, bundle_engine)

    loaded = _cli("bundle", "load", str(site / bundle.name), "--pubkey", str(site / "vendor.pub"), "-d", str(site / "lab"))
    assert client.images.get(bundle_engine).id == image_id
    up = next(line.strip() for line in loaded.output.splitlines() if line.strip().startswith("fatectl up compose"))
    env = {"FATECTL_LAB_DIR": str(site / ".lab")}
    bundled_spec = str(site / "lab" / "spec" / "federation.yaml")
    try:
        started = _cli(*shlex.split(up)[1:], "--timeout", "240", env=env)
        assert "ready" in started.output.lower(), started.output
    finally:
        CliRunner().invoke(main, ["down", "compose", bundled_spec, "--volumes"], env=env)
