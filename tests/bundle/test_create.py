"""Bundle creation: deterministic bytes, party scoping, real Helm packages, early failures."""

from __future__ import annotations

import tarfile
from pathlib import Path

import helm_python
import pytest

from fatectl.bundle.create import create_bundle
from fatectl.bundle.manifest import Manifest
from fatectl.bundle.tarball import FIXED_MTIME
from fatectl.bundle.verify import verify_bundle
from fatectl.docker.store import SavedImage
from fatectl.errors import BundleError, SpecError
from fatectl.spec.model import Federation

from .fakes import FakeImages


def _names(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


@pytest.mark.parametrize("compress", [False, True], ids=["tar", "tar.gz"])
def test_two_creates_give_identical_bytes(
    tmp_path: Path, fed: Federation, wheels_dir: Path, keypair: tuple[Path, Path], compress: bool
) -> None:
    a, b = tmp_path / "a" / "x.tar", tmp_path / "b" / "x.tar"
    for out in (a, b):
        create_bundle(fed, out, sign_key=keypair[0], wheels_dir=wheels_dir, images=FakeImages(), compress=compress)
    assert a.read_bytes() == b.read_bytes()
    assert verify_bundle(a, keypair[1]).signed


def test_party_bundle_is_deterministic_too(
    tmp_path: Path, fed: Federation, wheels_dir: Path, secrets_dir: Path, party_bundle: tuple[Path, Manifest]
) -> None:
    again = tmp_path / "again.tar"
    create_bundle(
        fed, again, party=9999, secrets_dir=secrets_dir, wheels_dir=wheels_dir, images=FakeImages(), compress=False
    )
    assert again.read_bytes() == party_bundle[0].read_bytes()


def test_headers_are_normalized(signed_bundle: tuple[Path, Manifest]) -> None:
    with tarfile.open(signed_bundle[0]) as tar:
        members = tar.getmembers()
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(FIXED_MTIME, 0, 0, "", "")}
    assert all(m.isreg() and not m.pax_headers for m in members)
    names = [m.name for m in members]
    assert names[:-2] == sorted(names[:-2]) and names[-2:] == ["manifest.json", "manifest.sig"]


def test_whole_bundle_contents(signed_bundle: tuple[Path, Manifest]) -> None:
    path, manifest = signed_bundle
    names = set(_names(path))
    assert {
        "charts/bank-a/fate-party-0.1.0.tgz",
        "charts/bank-b/fate-party-0.1.0.tgz",
        "compose/compose.yaml",
        "compose/config/bank-a/router.yaml",
        "images/fatectl-test-engine_1.tar",
        "spec/federation.yaml",
        "wheels/fatectl-0.1.0-py3-none-any.whl",
        "manifest.json",
        "manifest.sig",
    } <= names
    assert not any(n.startswith("secrets/") for n in names), "a whole-federation bundle carries no keys"
    assert manifest.party is None and manifest.federation == "tiny-fed"
    assert manifest.images[0].tags == ("fatectl-test-engine:1",)
    assert manifest.images[0].id == FakeImages.image_id("fatectl-test-engine:1")
    assert set(manifest.files) == names - {"manifest.json", "manifest.sig"}


def test_party_bundle_carries_only_its_own_chart_and_key(
    tmp_path: Path, party_bundle: tuple[Path, Manifest], secrets_dir: Path
) -> None:
    path, manifest = party_bundle
    names = _names(path)
    assert manifest.party == 9999
    assert [n for n in names if n.startswith("charts/")] == ["charts/bank-a/fate-party-0.1.0.tgz"]
    assert [n for n in names if n.startswith("secrets/")] == [
        "secrets/bank-a/ca.crt",
        "secrets/bank-a/tls.crt",
        "secrets/bank-a/tls.key",
    ]
    assert not any(n.startswith("compose/") for n in names)
    with tarfile.open(path) as tar:
        key = tar.extractfile("secrets/bank-a/tls.key").read()  # type: ignore[union-attr]
        mode = tar.getmember("secrets/bank-a/tls.key").mode
        everything = b"".join(tar.extractfile(m).read() for m in tar.getmembers())  # type: ignore[union-attr]
    assert mode == 0o600
    assert key == (secrets_dir / "bank-a" / "tls.key").read_bytes()
    for foreign in (secrets_dir / "bank-b" / "tls.key", secrets_dir / "ca.key", secrets_dir / "bank-b" / "flow_token"):
        assert foreign.read_bytes().strip() not in everything, foreign


def test_charts_are_real_helm_packages(tmp_path: Path, party_bundle: tuple[Path, Manifest]) -> None:
    with tarfile.open(party_bundle[0]) as tar:
        tar.extract("charts/bank-a/fate-party-0.1.0.tgz", tmp_path, filter="data")
    chart = tmp_path / "charts/bank-a/fate-party-0.1.0.tgz"
    assert 'fatectl/party-id: "9999"' in helm_python.show(str(chart), output_format="chart")
    assert "partyId: 9999" in helm_python.show(str(chart), output_format="values")
    report = helm_python.lint(str(chart))
    assert not report["errors"], report


def test_unknown_party_and_missing_inputs_fail_before_saving(tmp_path: Path, fed: Federation, wheels_dir: Path) -> None:
    images = FakeImages()
    with pytest.raises(SpecError, match="no party with id 4242"):
        create_bundle(fed, tmp_path / "x.tar", party=4242, images=images)
    with pytest.raises(BundleError, match="secrets directory"):
        create_bundle(fed, tmp_path / "x.tar", party=9999, wheels_dir=wheels_dir, images=images)
    with pytest.raises(BundleError, match="no wheels"):
        create_bundle(fed, tmp_path / "x.tar", wheels_dir=tmp_path, images=images)
    bad_key = tmp_path / "bad.key"
    bad_key.write_text("not a key")
    with pytest.raises(BundleError, match="expected an Ed25519 private key"):
        create_bundle(fed, tmp_path / "x.tar", sign_key=bad_key, images=images)
    assert images.saves == 0
    assert not (tmp_path / "x.tar").exists()
    assert not list(tmp_path.glob(".bundle-stage-*")) and not list(tmp_path.glob("*.partial"))


def test_progress_reports_every_long_step(tmp_path: Path, fed: Federation, wheels_dir: Path) -> None:
    seen: dict[str, tuple[int, int]] = {}

    def progress(label: str, advance: int, total: int) -> None:
        done, _ = seen.get(label, (0, 0))
        seen[label] = (done + advance, total)

    out = tmp_path / "p.tar"
    manifest = create_bundle(fed, out, wheels_dir=wheels_dir, images=FakeImages(), progress=progress)
    assert seen["helm package"] == (2, 2)
    assert seen["docker save fatectl-test-engine:1"][0] > 0
    assert seen["writing p.tar"] == (manifest.total_size, manifest.total_size)


EXCHANGE_SPEC = """\
apiVersion: fatectl/v1
name: star-fed
engine: {image: fatectl-test-engine, tag: "1"}
exchange: {enabled: true, name: hub, id: 1, address: hub.example}
parties:
  - {id: 9999, name: bank-a, address: a.example, modules: [router, flow]}
  - {id: 10000, name: bank-b, address: b.example, modules: [router, flow]}
"""


def test_exchange_has_its_own_chart_and_party_bundle(tmp_path: Path, wheels_dir: Path) -> None:
    from fatectl.spec.loader import load_federation

    spec = tmp_path / "star.yaml"
    spec.write_text(EXCHANGE_SPEC)
    star = load_federation(spec)
    whole = create_bundle(star, tmp_path / "all.tar", wheels_dir=wheels_dir, images=FakeImages())
    assert sorted(n.split("/")[1] for n in whole.files if n.startswith("charts/")) == ["bank-a", "bank-b", "hub"]
    hub = create_bundle(star, tmp_path / "hub.tar", party=1, secrets_dir=tmp_path / "s", wheels_dir=wheels_dir, images=FakeImages())
    assert sorted(n for n in hub.files if n.startswith(("charts/", "secrets/"))) == [
        "charts/hub/fate-party-0.1.0.tgz",
        "secrets/hub/ca.crt",
        "secrets/hub/tls.crt",
        "secrets/hub/tls.key",
    ]
    assert verify_bundle(tmp_path / "hub.tar").party == 1


def test_an_image_retagged_during_the_save_is_caught(tmp_path: Path, fed: Federation) -> None:
    class Moving(FakeImages):
        def describe(self, ref: str) -> SavedImage:
            return SavedImage("sha256:" + "1" * 64, (ref,), 1)

    with pytest.raises(BundleError, match="changed while it was being saved"):
        create_bundle(fed, tmp_path / "x.tar", images=Moving())
    assert not (tmp_path / "x.tar").exists()


def test_an_unwritable_destination_is_a_message(tmp_path: Path, fed: Federation) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(BundleError, match="cannot write the bundle"):
        create_bundle(fed, tmp_path / "file" / "x.tar", images=FakeImages())


def test_a_secrets_dir_with_files_but_no_ca_is_refused_untouched(tmp_path: Path, fed: Federation, wheels_dir: Path) -> None:
    wrong = tmp_path / "rendered"
    (wrong / "bank-a").mkdir(parents=True)
    (wrong / "bank-a" / "values.yaml").write_text("x: 1\n")
    before = sorted(p.relative_to(wrong) for p in wrong.rglob("*"))
    with pytest.raises(BundleError, match=r"holds files but no federation CA \(ca.crt\).*fatectl certs create"):
        create_bundle(fed, tmp_path / "b.tar", party=9999, secrets_dir=wrong, wheels_dir=wheels_dir, images=FakeImages())
    assert sorted(p.relative_to(wrong) for p in wrong.rglob("*")) == before  # no CA or key written into it
    assert not (tmp_path / "b.tar").exists()
