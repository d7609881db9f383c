"""Loading at a site: verify, unpack safely, docker load, retag/push, print the next commands."""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

import helm_python
import pytest

from fatectl.bundle.load import load_bundle
from fatectl.bundle.manifest import Manifest
from fatectl.errors import BundleError

from .fakes import FakeImages


def test_load_unpacks_verified_files_and_loads_the_image(tmp_path: Path, signed_bundle: tuple[Path, Manifest], keypair: tuple[Path, Path]) -> None:
    images = FakeImages()
    result = load_bundle(signed_bundle[0], keypair[1], dest=tmp_path / "site", images=images)
    assert result.manifest.signed
    for name, entry in result.manifest.files.items():
        assert (tmp_path / "site" / name).stat().st_size == entry.size
    assert (tmp_path / "site" / "manifest.json").is_file() and (tmp_path / "site" / "manifest.sig").is_file()
    assert len(images.loaded) == 1 and result.images == ("fatectl-test-engine:1",)
    assert images.pushed == []
    spec = (tmp_path / "site" / "spec" / "federation.yaml").resolve()
    assert f"fatectl up compose {spec}" in result.commands
    assert any(c.startswith("pip install --no-index --find-links") for c in result.commands)
    # No keys travel in a whole-federation bundle: the site makes its own before installing charts.
    assert f"fatectl certs create {spec} -o {(tmp_path / 'site' / 'secrets').resolve()}" in result.commands


def test_party_load_keeps_the_key_private_and_prints_helm_install(tmp_path: Path, party_bundle: tuple[Path, Manifest]) -> None:
    images = FakeImages()
    result = load_bundle(party_bundle[0], None, "registry.bank-a.example:5000/fate", allow_unsigned=True, dest=tmp_path / "site", images=images)
    key = tmp_path / "site" / "secrets" / "bank-a" / "tls.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # A party's secrets directory is its own too; what is not secret is readable (the umask still applies).
    umask = os.umask(0)
    os.umask(umask)
    chart = tmp_path / "site" / "charts" / "bank-a" / "fate-party-0.1.0.tgz"
    modes = [stat.S_IMODE(p.stat().st_mode) for p in (key.parent, chart.parent, chart)]
    assert modes == [0o700, 0o755 & ~umask, 0o644 & ~umask]
    assert images.pushed == [(FakeImages.image_id("fatectl-test-engine:1"), "registry.bank-a.example:5000/fate/fatectl-test-engine:1")]
    assert "registry.bank-a.example:5000/fate/fatectl-test-engine:1" in result.images
    helm = [shlex.split(c) for c in result.commands if c.startswith("helm install")]
    assert len(helm) == 1
    site = (tmp_path / "site").resolve()
    assert helm[0][:7] == ["helm", "install", "bank-a", str(site / "charts/bank-a/fate-party-0.1.0.tgz"), "--namespace", "fate-9999", "--create-namespace"]
    assert f"tls.key={site / 'secrets/bank-a/tls.key'}" in helm[0]
    assert "image.registry=registry.bank-a.example:5000/fate" in helm[0]
    assert not any("up compose" in c for c in result.commands)
    # The printed --set-file values are the ones the chart takes: lint renders it with them.
    files = dict(helm[0][i + 1].split("=", 1) for i, arg in enumerate(helm[0]) if arg == "--set-file")
    tls = {key.removeprefix("tls."): Path(path).read_text() for key, path in files.items()}
    report = helm_python.lint(helm[0][3], {"tls": {"mode": "mutual", **tls}}, strict=True)
    assert not report["errors"] and not [m for m in report["messages"] if m["severity"] >= 2], report


def test_load_refuses_an_existing_destination(tmp_path: Path, signed_bundle: tuple[Path, Manifest]) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "keep").write_text("mine")
    with pytest.raises(BundleError, match="already exists"):
        load_bundle(signed_bundle[0], allow_unsigned=True, dest=tmp_path / "site", images=FakeImages())
    assert (tmp_path / "site" / "keep").read_text() == "mine"


def test_load_rejects_an_image_whose_id_differs(tmp_path: Path, signed_bundle: tuple[Path, Manifest]) -> None:
    class Liar(FakeImages):
        def load(self, archive: Path) -> tuple[str, ...]:
            return ("sha256:" + "0" * 64,)

    with pytest.raises(BundleError, match="manifest says sha256:"):
        load_bundle(signed_bundle[0], allow_unsigned=True, dest=tmp_path / "site", images=Liar())


def test_default_destination_is_named_after_the_bundle(tmp_path: Path, signed_bundle: tuple[Path, Manifest], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = load_bundle(signed_bundle[0], allow_unsigned=True, images=FakeImages())
    assert result.directory == tmp_path / "tiny-fed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-fed"]


def test_verify_and_unpack_progress_count_the_bytes_of_the_file(tmp_path: Path, signed_bundle: tuple[Path, Manifest]) -> None:
    seen: dict[str, list[int]] = {}

    def progress(label: str, advance: int, total: int) -> None:
        seen.setdefault(label, [0, total])[0] += advance

    load_bundle(signed_bundle[0], allow_unsigned=True, dest=tmp_path / "site", images=FakeImages(), progress=progress)
    size = signed_bundle[0].stat().st_size
    assert seen == {"verifying tiny-fed.tar": [size, size], "unpacking tiny-fed.tar": [size, size]}


def test_an_unwritable_destination_is_a_message(tmp_path: Path, signed_bundle: tuple[Path, Manifest]) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(BundleError, match="cannot unpack into"):
        load_bundle(signed_bundle[0], allow_unsigned=True, dest=tmp_path / "file" / "site", images=FakeImages())


def test_load_without_a_key_needs_allow_unsigned_and_says_so(tmp_path: Path, signed_bundle: tuple[Path, Manifest]) -> None:
    images = FakeImages()
    with pytest.raises(BundleError, match=r"--pubkey KEY\.pub.*--allow-unsigned"):
        load_bundle(signed_bundle[0], dest=tmp_path / "site", images=images)
    assert not (tmp_path / "site").exists() and images.loaded == []
    result = load_bundle(signed_bundle[0], allow_unsigned=True, dest=tmp_path / "site", images=images)
    assert not result.manifest.signed  # the signature was there but nobody checked it: never reported as checked


def test_the_default_destination_is_the_bundle_name_without_its_archive_suffix() -> None:
    from fatectl.bundle.load import default_directory

    assert [default_directory(Path(n)) for n in ("site.tar.gz", "site.tgz", "site.tar", "site.bin")] == [
        "site", "site", "site", "site.bin.d"]
