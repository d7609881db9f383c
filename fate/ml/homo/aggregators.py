"""How client vectors become one sum at the aggregator: plaintext FedAvg, SecAgg, or Paillier.

Every kind has a client half (`submit` a vector for a round, `open` what the aggregator
broadcasts) and an aggregator half (`collect` a round from the invited clients). A client
that does not answer within `client_timeout` is left out of the round, in every kind.

- none: vectors in the clear; the aggregator sees each client's update.
- secagg: `fate.ml.homo.secagg`; the aggregator learns only the sum.
- paillier: the guest makes a key pair and hands the private key to each host directly
  (X25519 + ChaCha20-Poly1305 over the guest-host link, never through the aggregator);
  clients send packed ciphertexts, the aggregator adds them and learns nothing, not even
  the sum. Decryption happens on the clients.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from fate.crypto import paillier
from fate.crypto import secagg as sa
from fate.crypto.packing import PackedArray, decrypt_packed, encrypt_packed
from fate.federation.federation import Federation
from fate.federation.transport import TransportError
from fate.ml.homo.params import SecureAggregate
from fate.ml.homo.secagg import ARBITER, Roster, SecAggAbort, SecAggClient, Setting
from fate.ml.homo.secagg_server import SecAggServer

Log = Callable[[str], None]


@dataclass(frozen=True)
class RoundResult:
    payload: Any  # what the clients are sent: the sum, or its ciphertext
    total: np.ndarray | None  # the sum, when the aggregator may read it
    included: tuple[int, ...]
    dropped: tuple[int, ...]


class ClientSide(Protocol):
    def submit(self, round_no: int, vector: np.ndarray) -> bool: ...
    def open(self, payload: Any) -> np.ndarray: ...


class AggregatorSide(Protocol):
    def collect(self, round_no: int, clients: Sequence[int], size: int) -> RoundResult: ...


def gather(fed: Federation, roster: Roster, tag: str, parties: Sequence[int], timeout: float,
           log: Log) -> dict[int, Any]:
    """Whatever each party sends on `tag` within one shared deadline; latecomers count as dropped."""
    deadline = time.monotonic() + timeout
    got = {}
    for p in parties:
        try:
            got[p] = fed.get(tag, roster.roles[p], p, timeout=max(0.0, deadline - time.monotonic()))
        except TransportError as err:
            log(f"party {p} dropped at {tag}: {err}")
    return got


def _gather_updates(fed: Federation, tag: str, round_no: int, clients: Sequence[int], timeout: float, log: Log,
                   fits: Callable[[Any], bool]) -> tuple[dict[int, Any], tuple[int, ...], tuple[int, ...]]:
    """A round's updates that `fits` accepts, the clients they came from in roster order, and the rest,
    dropped; a round in which no update fits is aborted."""
    roster = Roster.of(fed)
    got = {p: v for p, v in gather(fed, roster, tag, clients, timeout, log).items() if fits(v)}
    if not got:
        raise SecAggAbort(f"round {round_no}: no client sent an update")
    return got, roster.sort(set(got)), tuple(p for p in clients if p not in got)


# ---- plaintext FedAvg --------------------------------------------------------------------


@dataclass
class PlainClient:
    fed: Federation
    prefix: str

    def submit(self, round_no: int, vector: np.ndarray) -> bool:
        self.fed.remote(np.asarray(vector, dtype=np.float64), f"{self.prefix}.r{round_no}.plain", ARBITER)
        return True

    def open(self, payload: Any) -> np.ndarray:
        return np.asarray(payload, dtype=np.float64)


@dataclass
class PlainAggregator:
    fed: Federation
    prefix: str
    timeout: float
    log: Log

    def collect(self, round_no: int, clients: Sequence[int], size: int) -> RoundResult:
        got, included, dropped = _gather_updates(self.fed, f"{self.prefix}.r{round_no}.plain", round_no, clients,
                                                self.timeout, self.log,
                                                lambda v: isinstance(v, np.ndarray) and v.shape == (size,))
        total = np.sum([got[p] for p in included], axis=0)
        return RoundResult(total, total, included, dropped)


# ---- secure aggregation ------------------------------------------------------------------


def _setting(fed: Federation, prefix: str, secure: SecureAggregate) -> Setting:
    return Setting(secure.threshold, secure.encoding, secure.client_timeout, f"{fed.job_id}/{prefix}",
                   secure.rekey_every_round, secure.neighbors)


@dataclass
class SecAggClientSide:
    client: SecAggClient

    def submit(self, round_no: int, vector: np.ndarray) -> bool:
        return self.client.submit(round_no, vector)

    def open(self, payload: Any) -> np.ndarray:
        return np.asarray(payload, dtype=np.float64)


@dataclass
class SecAggAggregator:
    server: SecAggServer

    def collect(self, round_no: int, clients: Sequence[int], size: int) -> RoundResult:
        done = self.server.round(round_no, clients, size)
        return RoundResult(done.total, done.total, done.included, done.dropped)


# ---- Paillier ----------------------------------------------------------------------------


@dataclass
class PaillierClient:
    fed: Federation
    prefix: str
    secure: SecureAggregate
    public: paillier.PublicKey | None = None
    private: paillier.PrivateKey | None = None

    def setup(self) -> None:
        """The guest's key pair reaches every client; only the guest-host links carry it."""
        ctx = f"{self.fed.job_id}/{self.prefix}/paillier".encode()
        me, channel = self.fed.party_id, sa.KeyPair.generate()
        tag = f"{self.prefix}.pk"
        if self.fed.local_role == "guest":
            hosts = self.fed.parties("host")
            self.public, self.private = paillier.generate_keypair(self.secure.key_length, self.secure.insecure_key)
            self.fed.remote(channel.public, f"{tag}.chan", "host")
            peers = self.fed.get_all(f"{tag}.chan", "host")
            for host, peer in zip(hosts, peers, strict=True):
                key = sa.agree(channel.private, peer, "paillier", ctx)
                sealed = sa.seal(key, self.private.to_json().encode(), ctx + f"|{me}>{host}".encode())
                self.fed.remote({"public": self.public.to_json(), "sealed": sealed}, f"{tag}.key", "host", [host])
            return
        guest = self.fed.parties("guest")[0]
        self.fed.remote(channel.public, f"{tag}.chan", "guest")
        peer = self.fed.get(f"{tag}.chan", "guest")
        sent = self.fed.get(f"{tag}.key", "guest")
        key = sa.agree(channel.private, peer, "paillier", ctx)
        text = sa.open_sealed(key, sent["sealed"], ctx + f"|{guest}>{me}".encode())
        self.private = paillier.PrivateKey.from_json(text, insecure=self.secure.insecure_key)
        self.public = self.private.public_key

    def submit(self, round_no: int, vector: np.ndarray) -> bool:
        assert self.public is not None, "setup() first"
        enc = self.secure.encoding
        packed = encrypt_packed(self.public, vector, enc.bound, enc.summands, enc.fraction_bits)
        self.fed.remote(packed, f"{self.prefix}.r{round_no}.enc", ARBITER)
        return True

    def open(self, payload: Any) -> np.ndarray:
        assert self.private is not None, "setup() first"
        if not isinstance(payload, PackedArray):
            raise SecAggAbort("the aggregator sent no ciphertext sum")
        return decrypt_packed(self.private, payload)


@dataclass
class PaillierAggregator:
    fed: Federation
    prefix: str
    secure: SecureAggregate
    log: Log

    def collect(self, round_no: int, clients: Sequence[int], size: int) -> RoundResult:
        got, included, dropped = _gather_updates(self.fed, f"{self.prefix}.r{round_no}.enc", round_no, clients,
                                                self.secure.client_timeout, self.log,
                                                lambda v: isinstance(v, PackedArray) and v.count == size)
        total = got[included[0]]
        for p in included[1:]:
            total = total + got[p]  # KeyMismatchError if a client used another key
        return RoundResult(total, None, included, dropped)


def client_side(fed: Federation, prefix: str, secure: SecureAggregate, wait: float) -> ClientSide:
    if secure.method == "secagg":
        return SecAggClientSide(SecAggClient(fed, prefix, _setting(fed, prefix, secure), wait))
    if secure.method == "paillier":
        client = PaillierClient(fed, prefix, secure)
        client.setup()
        return client
    return PlainClient(fed, prefix)


def aggregator_side(fed: Federation, prefix: str, secure: SecureAggregate, log: Log) -> AggregatorSide:
    if secure.method == "secagg":
        return SecAggAggregator(SecAggServer(fed, prefix, _setting(fed, prefix, secure), log))
    if secure.method == "paillier":
        return PaillierAggregator(fed, prefix, secure, log)
    return PlainAggregator(fed, prefix, secure.client_timeout, log)
