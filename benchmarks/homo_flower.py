"""Flower's SecAgg+ client stages (flwr's own secaggplus_mod functions) for n in-process clients.

Run by benchmarks/homo.py with the Python of a venv that has `flwr` (e.g. /tmp/flwr-venv):
    /tmp/flwr-venv/bin/python benchmarks/homo_flower.py CLIENTS SIZE ROUNDS
Prints one JSON line. The clients' four stages are flwr's code (keys, Shamir shares,
encryption, masking with quantization); the server's routing and unmasking are the same few
steps SecAggPlusWorkflow does, written here because the workflow needs flwr's Grid and
simulation engine (ray), which this benchmark does not install. No dropouts; every client
shares with every other (num_shares = n), as our SecAgg does.
"""

from __future__ import annotations

import importlib
import json
import sys
import time

import numpy as np
from flwr.common import bytes_to_ndarray, ndarrays_to_parameters
from flwr.common.secure_aggregation.crypto.shamir import combine_shares
from flwr.common.secure_aggregation.secaggplus_constants import Key
from flwr.common.secure_aggregation.secaggplus_utils import pseudo_rand_gen

# The package re-exports a function under the module's name; load the module itself.
mod = importlib.import_module("flwr.client.mod.secure_aggregation.secaggplus_mod")


def _size(value: object) -> int:
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, list | tuple):
        return sum(_size(v) for v in value)
    if isinstance(value, dict):
        return sum(_size(v) for v in value.values())
    return 8


def one_round(n: int, size: int, vectors: list[np.ndarray]) -> tuple[float, float]:
    mod_range, target = 1 << 30, 1 << 22
    cfg = {Key.SAMPLE_NUMBER: n, Key.SHARE_NUMBER: n, Key.THRESHOLD: n // 2 + 1, Key.CLIPPING_RANGE: 8.0,
           Key.TARGET_RANGE: target, Key.MOD_RANGE: mod_range, Key.MAX_WEIGHT: 1000.0}
    start = time.perf_counter()
    states = [mod.SecAggPlusState(nid=i + 1) for i in range(n)]
    traffic = [0] * n
    keys = {}
    for s in states:
        out = mod._setup(s, cfg)  # type: ignore[arg-type]
        traffic[s.nid - 1] += _size(out)
        keys[s.nid] = (out[Key.PUBLIC_KEY_1], out[Key.PUBLIC_KEY_2])
    inbox: dict[int, tuple[list[int], list[bytes]]] = {s.nid: ([], []) for s in states}
    for s in states:
        traffic[s.nid - 1] += _size(keys)
        out = mod._share_keys(s, {str(k): v for k, v in keys.items()})  # type: ignore[arg-type]
        traffic[s.nid - 1] += _size(out)
        for dst, ct in zip(out[Key.DESTINATION_LIST], out[Key.CIPHERTEXT_LIST], strict=True):
            inbox[dst][0].append(s.nid)
            inbox[dst][1].append(ct)
    masked = []
    for s, vec in zip(states, vectors, strict=True):
        relayed = {Key.SOURCE_LIST: inbox[s.nid][0], Key.CIPHERTEXT_LIST: inbox[s.nid][1]}
        traffic[s.nid - 1] += _size(relayed)
        out = mod._collect_masked_vectors(s, relayed, 10, ndarrays_to_parameters([vec]))  # type: ignore[arg-type]
        traffic[s.nid - 1] += _size(out)
        # Flower sends [weight factor (1,), vector (size,)], each masked.
        masked.append([bytes_to_ndarray(b).astype(np.int64) for b in out[Key.MASKED_PARAMETERS]])
    active = [s.nid for s in states]
    answers = []
    for s in states:
        out = mod._unmask(s, {Key.ACTIVE_NODE_ID_LIST: active, Key.DEAD_NODE_ID_LIST: []})  # type: ignore[arg-type]
        traffic[s.nid - 1] += _size(out)
        answers.append(out)
    dims = [(1,), (size,)]
    totals = [np.sum([m[i] for m in masked], axis=0) % mod_range for i in range(2)]
    for nid in active:
        seed = combine_shares([a[Key.SHARE_LIST][a[Key.NODE_ID_LIST].index(nid)] for a in answers])
        masks = pseudo_rand_gen(seed, mod_range, dims)
        totals = [(t - m) % mod_range for t, m in zip(totals, masks, strict=True)]
    # Dequantize as SecAggPlusWorkflow does: undo the n shifts of clipping_range, divide by the weights.
    clip = float(cfg[Key.CLIPPING_RANGE])  # type: ignore[arg-type]
    weighted = totals[1] * (2 * clip / target) - n * clip
    mean = weighted / (totals[0][0] / target)
    assert np.allclose(mean, np.mean(vectors, axis=0), atol=1e-2), "Flower's round did not yield the mean"
    elapsed = time.perf_counter() - start
    traffic = [t + 8 * (size + 1) for t in traffic]  # the aggregate sent back, as benchmarks/homo.py counts it
    return elapsed, float(np.mean(traffic))


def refuses_both() -> bool:
    """Does a Flower client refuse an unmask request naming one node both active and dead?"""
    n = 3
    cfg = {Key.SAMPLE_NUMBER: n, Key.SHARE_NUMBER: n, Key.THRESHOLD: 2, Key.CLIPPING_RANGE: 8.0,
           Key.TARGET_RANGE: 1 << 22, Key.MOD_RANGE: 1 << 30, Key.MAX_WEIGHT: 1000.0}
    states = [mod.SecAggPlusState(nid=i + 1) for i in range(n)]
    keys = {}
    for s in states:
        out = mod._setup(s, cfg)  # type: ignore[arg-type]
        keys[s.nid] = (out[Key.PUBLIC_KEY_1], out[Key.PUBLIC_KEY_2])
    shares = [mod._share_keys(s, {str(k): v for k, v in keys.items()}) for s in states]  # type: ignore[arg-type]
    s0 = states[0]
    srcs = [i + 1 for i, out in enumerate(shares) if i and 1 in out[Key.DESTINATION_LIST]]
    cts = [shares[i - 1][Key.CIPHERTEXT_LIST][shares[i - 1][Key.DESTINATION_LIST].index(1)] for i in srcs]
    mod._collect_masked_vectors(s0, {Key.SOURCE_LIST: srcs, Key.CIPHERTEXT_LIST: cts}, 10,  # type: ignore[arg-type]
                                ndarrays_to_parameters([np.zeros(4)]))
    try:
        out = mod._unmask(s0, {Key.ACTIVE_NODE_ID_LIST: [1, 2, 3], Key.DEAD_NODE_ID_LIST: [2]})  # type: ignore[arg-type]
    except ValueError:
        return True
    return not (2 in out[Key.NODE_ID_LIST][:3] and 2 in out[Key.NODE_ID_LIST][3:])


def main() -> None:
    n, size, rounds = (int(a) for a in sys.argv[1:4])
    rng = np.random.default_rng(0)
    vectors = [rng.uniform(-1, 1, size) for _ in range(n)]
    timings = [one_round(n, size, vectors) for _ in range(rounds)]
    print(json.dumps({"clients": n, "size": size, "seconds": sorted(t for t, _ in timings)[len(timings) // 2],
                      "bytes": timings[0][1], "refuses_both_shares": refuses_both()}))


if __name__ == "__main__":
    main()
