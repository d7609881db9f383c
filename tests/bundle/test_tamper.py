"""Every way of tampering with a bundle is rejected, with a message naming what failed."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from fatectl.bundle.create import create_bundle
from fatectl.bundle.load import load_bundle
from fatectl.bundle.verify import verify_bundle
from fatectl.errors import BundleError
from fatectl.spec.model import Federation

from .fakes import FakeImages

Members = list[tuple[tarfile.TarInfo, bytes]]
IMAGE = "images/fatectl-test-engine_1.tar"
CHART = "charts/bank-a/fate-party-0.1.0.tgz"


def _read(path: Path) -> Members:
    with tarfile.open(path) as tar:
        out = []
        for info in tar.getmembers():
            f = tar.extractfile(info)
            out.append((info, f.read() if f else b""))
        return out


def _write(path: Path, members: Members) -> None:
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def _flip_byte(path: Path, member: str, at: int = 100) -> None:
    """Change one byte inside a member's data, in place, leaving every header intact."""
    with tarfile.open(path) as tar:
        offset = tar.getmember(member).offset_data
    with open(path, "r+b") as f:
        f.seek(offset + at)
        byte = f.read(1)
        f.seek(offset + at)
        f.write(bytes([byte[0] ^ 0xFF]))


def _special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def _regular(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _edit_manifest(members: Members, edit: Callable[[dict], None]) -> Members:
    out = []
    for info, data in members:
        if info.name == "manifest.json":
            doc = json.loads(data)
            edit(doc)
            data = json.dumps(doc).encode()
        out.append((info, data))
    return out


def _insert_before_manifest(members: Members, info: tarfile.TarInfo, data: bytes = b"") -> Members:
    i = next(i for i, (m, _) in enumerate(members) if m.name == "manifest.json")
    return [*members[:i], (info, data), *members[i:]]


def _truncate(path: Path) -> None:
    with tarfile.open(path) as tar:
        cut = tar.getmember(IMAGE).offset_data + 700
    with open(path, "r+b") as f:
        f.truncate(cut)


def _remove(name: str) -> Callable[[Members], Members]:
    return lambda ms: [(i, d) for i, d in ms if i.name != name]


def _with_ca_key(ms: Members) -> Members:
    import hashlib

    data = b"-----BEGIN EC PRIVATE KEY-----\n"
    ms = _insert_before_manifest(ms, _regular("secrets/ca.key"), data)
    return _edit_manifest(
        ms, lambda doc: doc["files"].__setitem__("secrets/ca.key", {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
    )


# (id, rewrite of the members or None, in-place byte edit or None, expected message fragments)
MEMBER_CASES: list[tuple[str, Callable[[Members], Members], tuple[str, ...]]] = [
    ("missing file", _remove(CHART), (CHART, "missing from the bundle")),
    ("missing manifest", _remove("manifest.json"), ("manifest.json is missing",)),
    ("extra file", lambda ms: _insert_before_manifest(ms, _regular("charts/evil.tgz"), b"x"), ("charts/evil.tgz", "extra file")),
    ("path with ..", lambda ms: _insert_before_manifest(ms, _regular("charts/../../evil"), b"x"), ("'..'", "escape")),
    ("absolute path", lambda ms: _insert_before_manifest(ms, _regular("/etc/cron.d/evil"), b"x"), ("absolute path",)),
    ("symlink", lambda ms: _insert_before_manifest(ms, _special("charts/link", tarfile.SYMTYPE, "/etc/passwd")), ("symbolic link",)),
    ("hardlink", lambda ms: _insert_before_manifest(ms, _special("charts/hard", tarfile.LNKTYPE, "/etc/passwd")), ("hard link",)),
    ("device", lambda ms: _insert_before_manifest(ms, _special("charts/dev", tarfile.CHRTYPE)), ("device",)),
    ("directory entry", lambda ms: _insert_before_manifest(ms, _special("charts/dir", tarfile.DIRTYPE)), ("directory",)),
    ("duplicate member", lambda ms: _insert_before_manifest(ms, *next((i, d) for i, d in ms if i.name == CHART)), ("appears twice",)),
    (
        "bad manifest JSON",
        lambda ms: [(i, b"{not json" if i.name == "manifest.json" else d) for i, d in ms],
        ("manifest.json is not valid JSON",),
    ),
    (
        "manifest with wrong types",
        lambda ms: _edit_manifest(ms, lambda doc: doc.__setitem__("files", {CHART: {"sha256": "zz", "size": -1}})),
        ("manifest.json is malformed", "sha256"),
    ),
    (
        "manifest lies about a size",
        lambda ms: _edit_manifest(ms, lambda doc: doc["files"][CHART].__setitem__("size", 1)),
        (CHART, "manifest says 1"),
    ),
    ("replaced file", lambda ms: [(i, b"other" if i.name == CHART else d) for i, d in ms], (CHART, "size 5 bytes")),
    ("CA key carried", _with_ca_key, ("secrets/ca.key", "CA private key")),
]


@pytest.fixture
def unsigned(tmp_path: Path, signed_bundle: tuple[Path, object]) -> Path:
    """A fresh copy of the bundle without its signature, for edits that keep checksums consistent."""
    path = tmp_path / "unsigned.tar"
    _write(path, _remove("manifest.sig")(_read(signed_bundle[0])))
    verify_bundle(path)  # the untouched copy itself is fine
    return path


@pytest.mark.parametrize(("case", "rewrite", "expected"), MEMBER_CASES, ids=[c[0] for c in MEMBER_CASES])
def test_member_tampering_is_rejected(unsigned: Path, case: str, rewrite: Callable[[Members], Members], expected: tuple[str, ...]) -> None:
    _write(unsigned, rewrite(_read(unsigned)))
    with pytest.raises(BundleError) as err:
        verify_bundle(unsigned)
    for fragment in expected:
        assert fragment in str(err.value), (case, str(err.value))


@pytest.mark.parametrize(("member", "at"), [(IMAGE, 9000), (CHART, 100), ("spec/federation.yaml", 3)])
def test_changed_byte_is_rejected(tmp_path: Path, signed_bundle: tuple[Path, object], keypair: tuple[Path, Path], member: str, at: int) -> None:
    copy = tmp_path / "copy.tar"
    shutil.copy(signed_bundle[0], copy)
    _flip_byte(copy, member, at)
    with pytest.raises(BundleError) as err:
        verify_bundle(copy, keypair[1])
    assert member in str(err.value) and "sha256" in str(err.value)


def test_changed_manifest_breaks_the_signature(tmp_path: Path, signed_bundle: tuple[Path, object], keypair: tuple[Path, Path]) -> None:
    copy = tmp_path / "copy.tar"
    _write(copy, _edit_manifest(_read(signed_bundle[0]), lambda doc: doc.__setitem__("federation", "evil")))
    with pytest.raises(BundleError, match="signature does not match manifest.json"):
        verify_bundle(copy, keypair[1])


def test_wrong_key_is_rejected(signed_bundle: tuple[Path, object], other_keypair: tuple[Path, Path]) -> None:
    with pytest.raises(BundleError, match=r"manifest.sig: signed by key [0-9a-f]{16}, but the trusted key is"):
        verify_bundle(signed_bundle[0], other_keypair[1])


def test_unsigned_bundle_is_rejected_when_a_key_is_required(unsigned: Path, keypair: tuple[Path, Path]) -> None:
    with pytest.raises(BundleError, match="not signed"):
        verify_bundle(unsigned, keypair[1])


def test_garbage_signature_is_rejected(tmp_path: Path, signed_bundle: tuple[Path, object], keypair: tuple[Path, Path]) -> None:
    copy = tmp_path / "copy.tar"
    _write(copy, [(i, b"garbage" if i.name == "manifest.sig" else d) for i, d in _read(signed_bundle[0])])
    with pytest.raises(BundleError, match="manifest.sig: not a valid signature document"):
        verify_bundle(copy, keypair[1])


def test_truncated_bundle_is_rejected(tmp_path: Path, signed_bundle: tuple[Path, object]) -> None:
    copy = tmp_path / "copy.tar"
    shutil.copy(signed_bundle[0], copy)
    _truncate(copy)
    with pytest.raises(BundleError, match="truncated or corrupt"):
        verify_bundle(copy)


def test_corrupt_gzip_is_rejected(tmp_path: Path, fed: Federation, wheels_dir: Path) -> None:
    out = tmp_path / "b.tar.gz"
    create_bundle(fed, out, wheels_dir=wheels_dir, images=FakeImages(), compress=True)
    verify_bundle(out)
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0xFF
    out.write_bytes(bytes(data))
    # Depending on where the flip lands, the member hash, a garbled header (the manifest is
    # never reached) or the gzip CRC catches it first.
    with pytest.raises(BundleError, match="truncated|corrupt|sha256"):
        verify_bundle(out)


def test_not_a_tar_is_rejected(tmp_path: Path) -> None:
    bogus = tmp_path / "x.tar"
    bogus.write_bytes(gzip.compress(b"hello"))
    with pytest.raises(BundleError, match="truncated or corrupt"):
        verify_bundle(bogus)
    with pytest.raises(BundleError, match="does not exist"):
        verify_bundle(tmp_path / "missing.tar")


def test_tampered_bundle_is_never_unpacked_or_loaded(tmp_path: Path, signed_bundle: tuple[Path, object]) -> None:
    copy = tmp_path / "copy.tar"
    _write(copy, _insert_before_manifest(_remove("manifest.sig")(_read(signed_bundle[0])), _regular("../escape"), b"x"))
    images = FakeImages()
    with pytest.raises(BundleError, match="escape"):
        load_bundle(copy, allow_unsigned=True, dest=tmp_path / "site", images=images)
    assert not (tmp_path / "site").exists()
    assert not (tmp_path.parent / "escape").exists()
    assert images.loaded == []
    assert [p.name for p in tmp_path.iterdir()] == ["copy.tar"]  # no staging left behind


def _member_types(path: Path) -> dict[str, str]:
    """One non-empty member per top-level directory (images/, charts/, spec/, wheels/, ...)."""
    with tarfile.open(path) as tar:
        found: dict[str, str] = {}
        for info in tar.getmembers():
            if info.isreg() and info.size > 0 and "/" in info.name:
                found.setdefault(info.name.split("/")[0], info.name)
        return found


@pytest.mark.parametrize("bundle", ["signed_bundle", "party_bundle"])
def test_every_member_type_is_checked_by_verify(request: pytest.FixtureRequest, tmp_path: Path, bundle: str) -> None:
    original: Path = request.getfixturevalue(bundle)[0]
    members = _member_types(original)
    expected = {"images", "charts", "spec", "wheels"} | ({"compose"} if bundle == "signed_bundle" else {"secrets"})
    assert set(members) == expected  # the bundle holds every type this test claims to cover
    for kind, member in members.items():
        copy = tmp_path / f"{kind}.tar"
        shutil.copy(original, copy)
        with tarfile.open(copy) as tar:
            size = tar.getmember(member).size
        _flip_byte(copy, member, at=min(size - 1, 10))
        with pytest.raises(BundleError) as err:
            verify_bundle(copy)
        assert f"{member}: sha256" in str(err.value), kind


@pytest.mark.parametrize("kind", ["images", "charts", "spec", "wheels", "compose"])
def test_load_checks_every_member_again_while_unpacking(
    tmp_path: Path, signed_bundle: tuple[Path, object], keypair: tuple[Path, Path], kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The file may change between the verifying pass and the unpacking pass: the second pass must see it."""
    import fatectl.bundle.load as loader

    copy = tmp_path / "copy.tar"
    shutil.copy(signed_bundle[0], copy)
    member = _member_types(copy)[kind]
    real_verify = loader.verify_with_body

    def verify_then_swap(path: Path, pubkey: Path | None, progress: object) -> object:
        verified = real_verify(path, pubkey, progress)  # type: ignore[arg-type]
        with tarfile.open(path) as tar:
            size = tar.getmember(member).size
        _flip_byte(path, member, at=min(size - 1, 10))  # a writer changes the file after verification
        return verified

    monkeypatch.setattr(loader, "verify_with_body", verify_then_swap)
    images = FakeImages()
    with pytest.raises(BundleError) as err:
        load_bundle(copy, keypair[1], dest=tmp_path / "site", images=images)
    assert str(err.value).startswith(f"{member}: sha256") and "changed after it was verified" in str(err.value)
    assert not (tmp_path / "site").exists() and images.loaded == []
