"""Which rows form each batch, decided jointly: no party dictates the composition of a batch.

In FATE the guest cuts the batches and the hosts take its ranges, so a guest that also sees
gradients (an arbiter on its party) can ask for one-row batches and read a host's rows from
X_h^T d. Here the row order comes from a seed every data party contributes to, by
commit-reveal, and each party computes it itself:

    guest -> hosts   the intersected ids, C_g = H(seed_g)                      (commit)
    (several hosts:  host -> guest C_i;  guest -> hosts [C_1..C_k])
    host  -> guest   seed_h
    guest -> hosts   seed_g and every host's seed                              (reveal)

Each host checks C_g (and every C_i) before using the seeds. The guest is bound to seed_g
before it sees a host's seed, and a host's seed is picked before seed_g is revealed, so the
joint seed H(seed_g || seed_h...) is uniform if either side is honest. With several hosts each
host commits first too: otherwise a host colluding with the guest could choose its seed
after seeing another host's. Rows are ordered by H(joint || id) and cut into batches of the
agreed size (`lr_floors.batch_sizes`). What a party can still do is abort and rerun the job;
that shows as a failed job on every party.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

import numpy as np

from fate.federation.federation import Federation
from fate.flow.policy import Policy
from fate.ml.component import ComponentError
from fate.ml.lr_floors import batch_sizes, check_batch_floor

SEED_BYTES = 32
_DOMAIN = b"fatectl/hetero_lr/batches/v1"


def commitment(seed: bytes) -> bytes:
    return hashlib.sha256(_DOMAIN + b"/commit/" + seed).digest()


def joint_seed(seeds: Sequence[bytes]) -> bytes:
    # Fixed-length seeds: their concatenation is unambiguous.
    return hashlib.sha256(_DOMAIN + b"/joint/" + b"".join(seeds)).digest()


def batch_order(ids: Sequence[str], joint: bytes, batch_size: int) -> list[np.ndarray]:
    """Positions into `ids` of each batch: ids ordered by H(joint || id), cut by `batch_sizes`.

    Depends on the set of ids and the joint seed only, not on the order anyone listed them in.
    """
    keys = [hashlib.sha256(joint + i.encode("utf-8")).digest() for i in ids]
    order = np.array(sorted(range(len(ids)), key=lambda k: (keys[k], ids[k])), dtype=np.int64)
    bounds = np.cumsum(batch_sizes(len(ids), batch_size))[:-1]
    return list(np.split(order, bounds))


def _seed(value: object, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != SEED_BYTES:
        raise ComponentError(f"{what} is not a {SEED_BYTES}-byte value; refusing the batch agreement")
    return value


def _ids(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
        raise ComponentError("the guest's row ids are malformed")
    if len(set(value)) != len(value):
        # A repeated id would put one of our rows into a batch several times, past the batch floor.
        raise ComponentError("the guest's row ids repeat an id; refusing to train")
    return value


def agree_guest(fed: Federation, prefix: str, ids: Sequence[str], batch_size: int, policy: Policy) -> list[np.ndarray]:
    """The guest's side: send the ids and a commitment, collect the hosts' seeds, reveal."""
    check_batch_floor(len(ids), batch_size, policy)
    if len(set(ids)) != len(ids):
        raise ComponentError("the guest's table repeats a row id; hetero_lr needs unique ids")
    hosts = fed.parties("host")
    seed = secrets.token_bytes(SEED_BYTES)
    fed.remote({"ids": list(ids), "commit": commitment(seed)}, f"{prefix}.rows", "host")
    commits: list[bytes] = []
    if len(hosts) > 1:
        commits = [_seed(c, f"host {h}'s seed commitment") for h, c in
                   zip(hosts, fed.get_all(f"{prefix}.seed_commit", "host"), strict=True)]
        fed.remote(commits, f"{prefix}.seed_commits", "host")
    seeds = [_seed(s, f"host {h}'s batch seed") for h, s in zip(hosts, fed.get_all(f"{prefix}.seed", "host"), strict=True)]
    for host, c, s in zip(hosts, commits, seeds, strict=False):  # commits is empty with one host
        if commitment(s) != c:
            raise ComponentError(f"host {host}'s batch seed does not match its commitment")
    fed.remote({"guest": seed, "hosts": seeds}, f"{prefix}.seed_reveal", "host")
    return batch_order(ids, joint_seed([seed, *seeds]), batch_size)


def agree_host(fed: Federation, prefix: str, batch_size: int, policy: Policy) -> tuple[list[str], list[np.ndarray]]:
    """A host's side: the guest's ids and this party's own computation of the batches."""
    rows = fed.get(f"{prefix}.rows", "guest")
    if not isinstance(rows, dict):
        raise ComponentError("the guest's row announcement is malformed")
    ids = _ids(rows.get("ids"))
    guest_commit = _seed(rows.get("commit"), "the guest's seed commitment")
    # Before contributing anything: would the agreed size give batches under our floor?
    check_batch_floor(len(ids), batch_size, policy)
    hosts = fed.parties("host")
    me = hosts.index(fed.party_id)
    seed = secrets.token_bytes(SEED_BYTES)
    commits: list[bytes] = []
    if len(hosts) > 1:
        fed.remote(commitment(seed), f"{prefix}.seed_commit", "guest")
        raw = fed.get(f"{prefix}.seed_commits", "guest")
        if not isinstance(raw, list) or len(raw) != len(hosts):
            raise ComponentError("the guest's list of seed commitments is malformed")
        commits = [_seed(c, "a host's seed commitment") for c in raw]
        if commits[me] != commitment(seed):
            raise ComponentError("the guest altered this party's seed commitment")
    fed.remote(seed, f"{prefix}.seed", "guest")
    reveal = fed.get(f"{prefix}.seed_reveal", "guest")
    if not isinstance(reveal, dict) or not isinstance(reveal.get("hosts"), list) or len(reveal["hosts"]) != len(hosts):
        raise ComponentError("the guest's seed reveal is malformed")
    guest_seed = _seed(reveal.get("guest"), "the guest's batch seed")
    seeds = [_seed(s, "a host's batch seed") for s in reveal["hosts"]]
    if commitment(guest_seed) != guest_commit:
        raise ComponentError("the guest's batch seed does not match its commitment; refusing its batches")
    # With one host there are no host commitments: its own seed is the only one, checked here.
    if seeds[me] != seed or any(commitment(s) != c for s, c in zip(seeds, commits, strict=False)):
        raise ComponentError("the guest revealed host seeds that were not committed; refusing its batches")
    return ids, batch_order(ids, joint_seed([guest_seed, *seeds]), batch_size)
