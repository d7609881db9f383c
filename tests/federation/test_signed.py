"""A relay that tampers with signed messages is caught by the receiver, which names what was done.

The network is the in-memory hub, which, like an exchange, lets whoever holds a
raw transport post under any party id: the relay takes a signed message off the
wire and delivers it altered, under another sender, to another receiver, or
again. Keys and certificates are real (fatectl's PKI); the routers' own part is
tested over mTLS in test_malicious_exchange.py.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from fate.federation.errors import ConfigError
from fate.federation.federation import Federation
from fate.federation.memory import MemoryHub, MemoryTransport
from fate.federation.signed import SignedTransport, signed
from fate.federation.signing import HEADER_MAX, MAGIC, AuthenticationError, Signer, Verifier
from fate.federation.transport import Transport
from fatectl.pki import SecretsLayout, create_ca, ensure_secrets, issue_certificate, write_pem_pair
from tests.federation.forgery import PrivateKey, envelope, forge
from tests.federation.lab import tls_of
from tests.federation.specs import federation

A, B, C = 9999, 10000, 10001


@dataclass
class Net:
    hub: MemoryHub
    secrets: SecretsLayout
    parties: dict[int, Transport]
    wire: list[bytes]

    def relay(self, as_party: int) -> MemoryTransport:
        """What a relay holds: the wire itself, able to post under any party id."""
        return MemoryTransport(self.hub, as_party)

    def intercept(self, job: str, tag: str, src: int, dst: int) -> bytes:
        """Take a message off the wire before its receiver sees it."""
        return self.relay(dst).recv(job, tag, src, timeout=5)


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> SecretsLayout:
    return ensure_secrets(federation((A, B, C)), tmp_path_factory.mktemp("secrets"))


@pytest.fixture
def net(secrets: SecretsLayout) -> Iterator[Net]:
    wire: list[bytes] = []
    hub = MemoryHub(on_wire=lambda job, tag, src, dst, payload: wire.append(payload))
    yield Net(hub, secrets, {p: signed(hub.transport(p), tls_of(secrets, p)) for p in (A, B, C)}, wire)


def _job() -> str:
    return f"job-{os.urandom(3).hex()}"


def test_the_honest_path_works_and_is_signed(net: Net) -> None:
    job = _job()
    net.parties[A].send(job, "t", B, b"hello")
    assert net.parties[B].recv(job, "t", A, timeout=5) == b"hello"
    assert net.wire[-1].startswith(MAGIC) and net.wire[-1].endswith(b"hello")


def test_an_altered_payload_byte_is_refused(net: Net) -> None:
    job = _job()
    net.parties[A].send(job, "t", B, b"transfer 100 to party 10000")
    raw = bytearray(net.intercept(job, "t", A, B))
    raw[-1] ^= 0x01
    net.relay(A).send(job, "t", B, bytes(raw))
    with pytest.raises(AuthenticationError, match="the payload was altered in transit"):
        net.parties[B].recv(job, "t", A, timeout=5)


def test_an_altered_header_is_refused(net: Net) -> None:
    job = _job()
    net.parties[A].send(job, "t", B, b"x")
    raw = net.intercept(job, "t", A, B).replace(job.encode(), b"job-forged")
    net.relay(A).send("job-forged", "t", B, raw)
    with pytest.raises(AuthenticationError, match="the signature does not verify"):
        net.parties[B].recv("job-forged", "t", A, timeout=5)


def test_a_forged_sender_is_refused(net: Net) -> None:
    job = _job()
    net.parties[A].send(job, "t", B, b"from A")
    net.relay(C).send(job, "t", B, net.intercept(job, "t", A, B))
    with pytest.raises(AuthenticationError, match=r"from party 10001: it was signed by party 9999 \(a forged sender\)"):
        net.parties[B].recv(job, "t", C, timeout=5)


def test_a_message_redirected_to_another_party_is_refused(net: Net) -> None:
    job = _job()
    net.parties[A].send(job, "t", B, b"for B only")
    net.relay(A).send(job, "t", C, net.intercept(job, "t", A, B))
    with pytest.raises(AuthenticationError, match=r"addressed to party 10000, not to this party \(10001\): redirected"):
        net.parties[C].recv(job, "t", A, timeout=5)


def test_replays_into_a_new_tag_another_job_or_the_same_key_are_refused(net: Net) -> None:
    job = _job()
    net.parties[A].send(job, "round1", B, b"old")
    assert net.parties[B].recv(job, "round1", A, timeout=5) == b"old"
    old = net.wire[-1]
    net.relay(A).send(job, "round2", B, old)
    with pytest.raises(AuthenticationError, match="signed for tag 'round1' \\(replayed into another tag\\)"):
        net.parties[B].recv(job, "round2", A, timeout=5)
    net.relay(A).send("other-job", "round1", B, old)
    with pytest.raises(AuthenticationError, match="replayed from another job"):
        net.parties[B].recv("other-job", "round1", A, timeout=5)
    net.relay(A).send(job, "round1", B, old)
    with pytest.raises(AuthenticationError, match="was already received \\(a replay\\)"):
        net.parties[B].recv(job, "round1", A, timeout=5)
    # The channel still works for what A really sends next.
    net.parties[A].send(job, "round2", B, b"new")
    assert net.parties[B].recv(job, "round2", A, timeout=5) == b"new"


def test_a_certificate_from_another_ca_is_refused(net: Net, tmp_path: Path) -> None:
    # The impostor's certificate even names party A; only the CA signature tells it apart.
    ca_key, ca = create_ca("impostor CA")
    cert_file, key_file = write_pem_pair(tmp_path, *issue_certificate(ca_key, ca, A))
    impostor = Signer(A, str(cert_file), str(key_file))
    job = _job()
    net.relay(A).send(job, "t", B, impostor.seal(job, "t", B, os.urandom(16), 0, b"trust me"))
    with pytest.raises(AuthenticationError, match="not issued by the federation CA"):
        net.parties[B].recv(job, "t", A, timeout=5)


def test_a_certificate_of_another_party_is_refused(net: Net) -> None:
    # Party C (or the exchange, with its own federation certificate) signs a message claiming to be A.
    job = _job()
    net.relay(A).send(job, "t", B, forge(net.secrets, signer=C, src=A, dst=B, job=job, tag="t", payload=b"as A"))
    with pytest.raises(AuthenticationError, match="certificate of party-10001, which cannot speak for party 9999"):
        net.parties[B].recv(job, "t", A, timeout=5)


def test_unsigned_and_malformed_messages_are_refused(net: Net) -> None:
    job = _job()
    net.relay(A).send(job, "plain", B, b'{"type": "propose"}')
    with pytest.raises(AuthenticationError, match="it is not signed"):
        net.parties[B].recv(job, "plain", A, timeout=5)
    net.relay(A).send(job, "short", B, MAGIC + (2**31).to_bytes(4, "big") + b"\x80")
    with pytest.raises(AuthenticationError, match="signature header is malformed"):
        net.parties[B].recv(job, "short", A, timeout=5)
    net.relay(A).send(job, "junk", B, MAGIC + (3).to_bytes(4, "big") + b"\xc1\xc1\xc1")
    with pytest.raises(AuthenticationError, match="signature header is malformed"):
        net.parties[B].recv(job, "junk", A, timeout=5)


def test_a_swapped_public_key_never_reaches_the_guest(net: Net) -> None:
    # The arbiter's Paillier key travels like any message: a relay cannot substitute its own.
    job, roles = _job(), {"guest": [A], "arbiter": [C]}
    arbiter, guest = Federation(net.parties[C], job, roles, "arbiter"), Federation(net.parties[A], job, roles, "guest")
    arbiter.remote({"n": 2**1024 + 643}, "pubkey", "guest")
    net.intercept(job, "pubkey|arbiter>guest", C, A)
    relay = Federation(net.relay(C), job, roles, "arbiter")
    relay.remote({"n": 2**1024 + 1}, "pubkey", "guest")  # the relay's own key, unsigned
    with pytest.raises(AuthenticationError, match="it is not signed"):
        guest.get("pubkey", "arbiter")


def test_keys_that_are_not_the_party_s_own_are_a_config_error(secrets: SecretsLayout) -> None:
    files = secrets.party(B)
    with pytest.raises(ConfigError, match="is not the certificate of party-9999"):
        Signer(A, str(files.cert_file), str(files.key_file))
    with pytest.raises(ConfigError, match="is not the key of"):
        Signer(A, str(secrets.party(A).cert_file), str(files.key_file))
    own = Signer(A, str(secrets.party(A).cert_file), str(secrets.party(A).key_file))
    with pytest.raises(ValueError, match="do not belong to party 10000"):
        SignedTransport(MemoryHub().transport(B), own, Verifier(A, str(secrets.ca_file)))


def test_without_tls_there_is_nothing_to_sign_with() -> None:
    inner = MemoryHub().transport(A)
    assert signed(inner, {"mode": "none"}) is inner


# ---- certificates the federation CA issued that still may not sign (mutation testing) ----


def _mint(secrets: SecretsLayout, name: str, *, ca: bool = False, may_sign: bool = True, rsa_key: bool = False,
          valid_from: float = -3600.0, valid_for: float = 7200.0) -> tuple[PrivateKey, bytes]:
    """A certificate issued by the federation CA itself, with the one property under test."""
    ca_key = serialization.load_pem_private_key(secrets.ca_key_file.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(secrets.ca_file.read_bytes())
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key: PrivateKey = rsa.generate_private_key(65537, 2048) if rsa_key else ec.generate_private_key(ec.SECP256R1())
    start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=valid_from)
    usage = dict.fromkeys(("content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
                           "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(seconds=valid_for))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=may_sign, **{**usage, "key_agreement": not may_sign}),
                       critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize(
    ("kind", "refusal"),
    [
        ({"ca": True}, "the signer's certificate is a CA certificate"),
        ({"may_sign": False}, "the certificate of party-9999 may not sign"),
        ({"name": "exchange"}, "the signer's certificate names no party-<id> with an EC key"),
        ({"rsa_key": True}, "the signer's certificate names no party-<id> with an EC key"),
        ({"valid_from": -7200.0, "valid_for": 3600.0}, "the certificate of party-9999 is not valid now"),
        ({"valid_from": 3600.0}, "the certificate of party-9999 is not valid now"),
    ],
    ids=["ca-certificate", "no-digital-signature", "no-party-name", "rsa-key", "expired", "not-yet-valid"],
)
def test_a_federation_certificate_unfit_for_signing_is_refused(net: Net, kind: dict[str, Any], refusal: str) -> None:
    options = dict(kind)  # the parameter itself is shared by every run of this test
    name = options.pop("name", f"party-{A}")
    key, cert = _mint(net.secrets, name, **options)
    job = _job()
    net.relay(A).send(job, "t", B, envelope(key, cert, A, B, job, "t", b"sign me"))
    with pytest.raises(AuthenticationError) as refused:
        net.parties[B].recv(job, "t", A, timeout=5)
    assert str(refused.value) == f"rejected 't' of job {job} from party {A}: {refusal}"


def test_any_message_already_read_is_refused_again_in_order_or_not(net: Net) -> None:
    job = _job()
    for n in range(4):
        net.parties[A].send(job, f"t{n}", B, f"m{n}".encode())
    sent = net.wire[-4:]
    for n in (0, 1, 3, 2):  # read partly out of order: the window has a gap for a while
        assert net.parties[B].recv(job, f"t{n}", A, timeout=5) == f"m{n}".encode()
    for n in (0, 1, 2, 3):
        net.relay(A).send(job, f"t{n}", B, sent[n])
        with pytest.raises(AuthenticationError, match=f"message {n} of this sender was already received"):
            net.parties[B].recv(job, f"t{n}", A, timeout=5)


def test_a_signature_header_is_read_only_up_to_its_limit(net: Net) -> None:
    key, cert = _mint(net.secrets, f"party-{A}")
    job = _job()
    # A header of exactly HEADER_MAX bytes is parsed (and its padded certificate then refused) ...
    net.relay(A).send(job, "t", B, envelope(key, cert, A, B, job, "t", b"", header_size=HEADER_MAX))
    with pytest.raises(AuthenticationError, match="the signer's certificate is malformed"):
        net.parties[B].recv(job, "t", A, timeout=5)
    # ... one byte more is refused before any of it is read, however well-formed.
    net.relay(A).send(job, "t", B, envelope(key, cert, A, B, job, "t", b"", header_size=HEADER_MAX + 1))
    with pytest.raises(AuthenticationError, match=f"rejected 't' of job {job} from party {A}: "
                                                  "its signature header is malformed"):
        net.parties[B].recv(job, "t", A, timeout=5)


def test_unreadable_key_files_are_a_config_error_naming_them(secrets: SecretsLayout, tmp_path: Path) -> None:
    files = secrets.party(A)
    with pytest.raises(ConfigError, match=f"cannot load the party key \\({tmp_path}/none.crt, "):
        Signer(A, str(tmp_path / "none.crt"), str(files.key_file))
    rsa_key = rsa.generate_private_key(65537, 2048)
    (tmp_path / "rsa.key").write_bytes(rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(ConfigError, match="rsa.key: the party key must be an EC key"):
        Signer(A, str(files.cert_file), str(tmp_path / "rsa.key"))
    with pytest.raises(ConfigError, match=f"cannot load the federation CA {tmp_path}/none.crt"):
        Verifier(A, str(tmp_path / "none.crt"))


def test_a_verifier_of_another_party_is_refused(secrets: SecretsLayout) -> None:
    files = secrets.party(B)
    own = Signer(B, str(files.cert_file), str(files.key_file))
    with pytest.raises(ValueError, match="do not belong to party 10000"):
        SignedTransport(MemoryHub().transport(B), own, Verifier(A, str(secrets.ca_file)))


def test_without_tls_the_party_is_warned_that_nothing_is_signed(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fate.federation.signed"):
        signed(MemoryHub().transport(A), {"mode": "none"})
    assert caplog.messages == ["tls mode none: messages of party 9999 are neither signed nor verified"]


def test_ending_one_job_keeps_the_replay_protection_of_the_others(net: Net, monkeypatch: pytest.MonkeyPatch) -> None:
    live, ended = _job(), _job()
    net.parties[A].send(live, "t", B, b"once")
    assert net.parties[B].recv(live, "t", A, timeout=5) == b"once"
    once = net.wire[-1]
    receiver = net.parties[B]
    assert isinstance(receiver, SignedTransport)
    dropped: list[str] = []
    monkeypatch.setattr(receiver.inner, "drop_job", lambda job_id: dropped.append(job_id) or 7)
    assert receiver.drop_job(ended) == 7 and dropped == [ended]  # the router frees the ended job's mailbox
    net.relay(A).send(live, "t", B, once)
    with pytest.raises(AuthenticationError, match="message 0 of this sender was already received"):
        receiver.recv(live, "t", A, timeout=5)


def test_the_signed_statement_is_each_field_length_prefixed_in_a_fixed_order() -> None:
    """The bytes a signature covers, spelled out independently of `statement`: a domain string, then job,
    tag, src, dst, session, seq and the payload's digest, each after its length (4 bytes, big-endian);
    numbers as 8 bytes big-endian. A peer built from this description must verify our signatures."""
    from fate.federation.signing import statement

    def field(raw: bytes) -> bytes:
        return len(raw).to_bytes(4, "big") + raw

    digest, session = bytes(range(32)), b"s" * 16
    expected = b"".join(field(p) for p in (
        b"fate.federation signed message v1", b"job-1", b"hetero_lr.0.0.d", bytes(6) + b"\x27\x0f",
        bytes(6) + b"\x27\x10", session, bytes(7) + b"\x05", digest))
    assert statement("job-1", "hetero_lr.0.0.d", 9999, 10000, session, 5, digest) == expected


@pytest.mark.parametrize("number", [-1, 2**64, 2**64 + 1, 3**41])
def test_a_party_id_or_sequence_number_outside_64_bits_is_refused(number: int) -> None:
    from fate.federation.errors import TransportError
    from fate.federation.signing import statement

    with pytest.raises(TransportError) as err:
        statement("j", "t", 9999, 10000, b"s", number, bytes(32))
    assert str(err.value) == f"{number} is not a party id or sequence number"
    assert statement("j", "t", 9999, 10000, b"s", 2**64 - 1, bytes(32)).endswith(
        (8).to_bytes(4, "big") + b"\xff" * 8 + (32).to_bytes(4, "big") + bytes(32))


def test_opening_a_job_opens_it_on_the_transport_underneath(net: Net, monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = net.parties[B]
    assert isinstance(receiver, SignedTransport)
    opened: list[str] = []
    monkeypatch.setattr(receiver.inner, "open_job", opened.append)
    receiver.open_job("j-open")
    assert opened == ["j-open"]


def _reheader(raw: bytes, edit: Any) -> bytes:
    """A genuine envelope with its header unpacked, edited by `edit` (which returns the new header) and packed again."""
    size = int.from_bytes(raw[len(MAGIC) : len(MAGIC) + 4], "big")
    start = len(MAGIC) + 4 + size
    header = edit(msgpack.unpackb(raw[len(MAGIC) + 4 : start], raw=False))
    packed = msgpack.packb(header)
    return MAGIC + len(packed).to_bytes(4, "big") + packed + raw[start:]


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda h: {**h, "note": "hi"}, id="an-extra-field"),
        pytest.param(lambda h: {k: v for k, v in h.items() if k != "seq"}, id="a-missing-field"),
        pytest.param(lambda h: {**h, "src": str(h["src"])}, id="a-number-as-text"),
        pytest.param(lambda h: {**h, "tag": h["tag"].encode()}, id="text-as-bytes"),
        pytest.param(lambda h: {**h, "dst": True}, id="a-boolean-for-a-number"),
        pytest.param(lambda h: {**h, "seq": -1}, id="a-negative-number"),
        pytest.param(lambda h: 7, id="not-a-map"),
    ],
)
def test_a_signature_header_with_other_fields_or_types_is_refused_and_logged(
    net: Net, edit: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The header is read strictly before the signature is checked: exactly the signed fields, each of its
    # type (ids and numbers non-negative integers, not booleans), or the message is refused as malformed,
    # not half-read into a crash or a TransportError of another kind.
    job = _job()
    net.relay(A).send(job, "t", B, _reheader(forge(net.secrets, A, A, B, job, "t", b"x"), edit))
    refusal = f"rejected 't' of job {job} from party {A}: its signature header is malformed"
    with caplog.at_level(logging.WARNING, logger="fate.federation.signed"), pytest.raises(AuthenticationError) as err:
        net.parties[B].recv(job, "t", A, timeout=5)
    assert str(err.value) == refusal
    assert caplog.messages == [refusal]


def test_a_restarted_sender_is_not_taken_for_a_replay(net: Net) -> None:
    # Replay windows are per session: a party that restarts draws a new session and numbers from 0 again.
    job = _job()
    net.parties[A].send(job, "before", B, b"1")
    assert net.parties[B].recv(job, "before", A, timeout=5) == b"1"
    restarted = signed(net.hub.transport(A), tls_of(net.secrets, A))
    restarted.send(job, "after", B, b"2")
    assert net.parties[B].recv(job, "after", A, timeout=5) == b"2"
