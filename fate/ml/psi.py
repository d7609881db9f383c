"""Private set intersection by commutative ECDH over Curve25519 (X25519).

Each party hashes its ids to curve x-coordinates and multiplies them by a secret
scalar; the other side multiplies again. Because k_a*(k_b*P) == k_b*(k_a*P), ids in
both sets meet as equal doubly-blinded points, while a single-blinded point reveals
nothing about its id without the secret. Raw ids and their plain hashes never
cross a party boundary; the guest learns the intersection with every host, and
each host learns the final intersection only if `sync_intersection` (FATE's
default) — as positions in its own shuffled list, never as guest ids.

Why X25519: a standard curve whose constant-time scalar multiplication in
OpenSSL (through `cryptography`) costs ~35 µs, so 100k ids take seconds; X25519
accepts any 32-byte x-coordinate (curve or twist, both secure), so hashing to a
point is one SHA-256 — no hash-to-curve square roots in Python.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

import numpy as np

from fate.compute.contract import ComputeBackend
from fate.compute.tasks import INVALID, task_blind
from fate.ml.component import ComponentContext, ComponentError, ComponentResult, Table

POINT = 32
_DOMAIN = b"fate-psi-v1|"


def hash_ids(ids: Sequence[str], salt: str) -> list[bytes]:
    """Map ids to X25519 u-coordinates; the salt (the job id) separates jobs' hash spaces."""
    prefix = _DOMAIN + salt.encode() + b"|"
    out = []
    for value in ids:
        digest = bytearray(hashlib.sha256(prefix + value.encode()).digest())
        digest[31] &= 0x7F  # RFC 7748 ignores the top bit; clear it so the encoding is canonical
        out.append(bytes(digest))
    return out


class Blinder:
    """A secret scalar, applied to points (multiplication commutes between two Blinders).

    With a compute backend the scalar goes to the party's own workers, which blind chunks of points.
    """

    def __init__(self, compute: ComputeBackend | None = None) -> None:
        self._scalar = secrets.token_bytes(32)
        self._compute = compute

    def blind(self, points: Sequence[bytes]) -> list[bytes]:
        if any(not isinstance(p, bytes) or len(p) != POINT for p in points):
            raise ComponentError("PSI peer sent a malformed point list")
        out = task_blind(self._scalar, points) if self._compute is None else self._compute.blind(self._scalar, points)
        if INVALID in out:
            # Only a low-order point (never a hash output) gives the all-zero result.
            raise ComponentError("PSI peer sent an invalid curve point")
        return out


def pack(points: Sequence[bytes]) -> bytes:
    return b"".join(points)


def unpack(blob: bytes) -> list[bytes]:
    if not isinstance(blob, bytes) or len(blob) % POINT:
        raise ComponentError("PSI peer sent a malformed point list")
    return [blob[i : i + POINT] for i in range(0, len(blob), POINT)]


def _shuffled(n: int) -> np.ndarray:
    return np.random.default_rng(secrets.randbits(128)).permutation(n)


def guest_intersect(fed: Any, ids: Sequence[str], salt: str, sync: bool = True,
                    compute: ComputeBackend | None = None) -> list[int]:
    """Guest side; returns positions (into `ids`) of the ids every host also holds.

    `fed` is the job's fate.federation.federation.Federation acting as guest.
    """
    blinder = Blinder(compute)
    order = _shuffled(len(ids))  # order[k] = which id went out at position k
    fed.remote(pack(blinder.blind(hash_ids([ids[i] for i in order], salt))), "psi.guest_blinded", "host")
    hosts = fed.parties("host")
    common = np.ones(len(ids), dtype=bool)
    # Per host: for each of our positions k, the host-list position it matched (-1: none).
    matches: list[np.ndarray] = []
    for host in hosts:
        theirs = blinder.blind(unpack(fed.get("psi.host_blinded", "host", party_id=host)))
        doubled = unpack(fed.get("psi.guest_doubled", "host", party_id=host))
        if len(doubled) != len(ids):
            raise ComponentError(f"PSI host {host} returned {len(doubled)} points for the {len(ids)} sent")
        where = {p: i for i, p in enumerate(theirs)}
        match = np.array([where.get(p, -1) for p in doubled], dtype=np.int64)
        found = np.zeros(len(ids), dtype=bool)
        found[order[match >= 0]] = True
        common &= found
        matches.append(match)
    result = np.flatnonzero(common)
    if sync:
        position_of = np.empty(len(ids), dtype=np.int64)
        position_of[order] = np.arange(len(ids))
        for host, match in zip(hosts, matches, strict=True):
            # Positions in the host's own shuffled list: the host maps them to its ids, we never see those.
            fed.remote(np.sort(match[position_of[result]]), "psi.intersection", "host", [host])
    return [int(i) for i in result]


def host_intersect(fed: Any, ids: Sequence[str], salt: str, sync: bool = True,
                   compute: ComputeBackend | None = None) -> list[int] | None:
    """Host side; returns positions (into `ids`) of the final intersection, or None without sync."""
    blinder = Blinder(compute)
    order = _shuffled(len(ids))
    # Send ours first so the guest blinds them while we blind theirs.
    fed.remote(pack(blinder.blind(hash_ids([ids[i] for i in order], salt))), "psi.host_blinded", "guest")
    fed.remote(
        pack(blinder.blind(unpack(fed.get("psi.guest_blinded", "guest")))), "psi.guest_doubled", "guest"
    )
    if not sync:
        return None
    positions = np.asarray(fed.get("psi.intersection", "guest"))
    if (
        positions.dtype.kind not in "iu"
        or positions.ndim != 1
        or (len(positions) and (positions.min() < 0 or positions.max() >= len(ids)))
    ):
        raise ComponentError("PSI guest sent malformed intersection positions")
    return sorted(int(order[k]) for k in positions)


def intersect_table(table: Table, rows: Sequence[int]) -> Table:
    """The rows in the intersection, sorted by id so every party's output lines up row by row."""
    return table.take(sorted(rows, key=lambda i: table.ids[i]))


def run(ctx: ComponentContext) -> ComponentResult:
    if ctx.role not in ("guest", "host"):
        return ComponentResult()  # an arbiter takes no part in the intersection
    sync = bool(ctx.param("sync_intersection", True))
    table = ctx.input_data()
    salt = str(ctx.param("salt", ctx.job_id))
    ctx.log(f"psi: {len(table)} ids as {ctx.role}")
    if ctx.role == "guest":
        rows: list[int] | None = guest_intersect(ctx.federation, table.ids, salt, sync, ctx.compute)
    else:
        rows = host_intersect(ctx.federation, table.ids, salt, sync, ctx.compute)
    if rows is None:
        ctx.log("psi: intersection not shared with hosts (sync_intersection: false)")
        return ComponentResult()
    out = intersect_table(table, rows)
    metrics = {
        "input_count": len(table),
        "intersect_count": len(out),
        "intersect_rate": round(len(out) / len(table), 6) if len(table) else 0.0,
    }
    for name, value in metrics.items():
        ctx.log_metric(name, value)
    ctx.log(f"psi: intersection has {len(out)} ids")
    return ComponentResult(data=out, metrics=metrics)
