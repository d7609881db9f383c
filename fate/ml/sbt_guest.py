"""SecureBoost on the guest: labels and the Paillier key stay here; hosts see only ciphertexts of g and h.

Per tree the guest encrypts one packed (g + 1, h, 1) record per row (fate.ml.sbt_core) and
sends the ciphertexts to every host; per layer it asks each host for encrypted threshold
sums of the nodes to build, decrypts them (many sums per decryption), derives the siblings
by subtraction, and picks every node's best split over its own and all hosts' features
(fate.ml.sbt_grow). For a host split it learns the host's party and an opaque split id, and
which rows go left; never the host's feature, threshold or values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fate.compute.contract import ComputeBackend
from fate.crypto import paillier
from fate.federation.federation import Federation
from fate.ml import he_pack
from fate.ml.binning import Binned, bin_columns
from fate.ml.component import ComponentError, Table
from fate.ml.sbt_core import GHLayout, decode, gradients, initial_score, log_loss, records
from fate.ml.sbt_grow import GUEST, Ask, FeatureHist, Tree, grow_tree
from fate.ml.sbt_hist import feature_hists
from fate.ml.sbt_host import MODEL_FORMAT
from fate.ml.sbt_params import SBTParams
from fate.ml.sbt_predict import predict_guest
from fate.ml.timing import PhaseTimer

Log = Callable[[str], None]
Keys = tuple[paillier.PublicKey, paillier.PrivateKey]


class FederatedHosts:
    """HostSide through the federation: one tag per tree and layer, every host in lockstep."""

    def __init__(self, fed: Federation, prefix: str, keys: Keys, layout: GHLayout, compute: ComputeBackend | None,
                 timer: PhaseTimer) -> None:
        self.fed, self.prefix, self.layout, self.compute, self.timer = fed, prefix, layout, compute, timer
        self.public, self.private = keys
        self.hosts = fed.parties("host")
        self.tree = self.layer = 0
        self.groups: list[list[int]] = []

    def start_tree(self, tree: int, ciphertexts: list[Any]) -> None:
        self.tree, self.layer = tree, 0
        wire = he_pack.as_wire(self.public, ciphertexts, self.layout.slot_bits)
        with self.timer("transport"):
            self.fed.remote({"stop": False, "gh": wire, "slot_bits": self.layout.slot_bits},
                            f"{self.prefix}.{tree}.gh", "host")
        with self.timer("wait"):
            replies = self.fed.get_all(f"{self.prefix}.{tree}.groups", "host")
        self.groups = [[int(t) for t in r["thresholds"]] for r in replies]

    def _tag(self) -> str:
        return f"{self.prefix}.{self.tree}.{self.layer}"

    def histograms(self, build: Sequence[tuple[int, np.ndarray]]) -> list[dict[int, list[FeatureHist]]]:
        rows = [r.astype(np.int32) for _, r in build]
        with self.timer("transport"):
            self.fed.remote({"done": False, "rows": rows}, f"{self._tag()}.build", "host")
        out = []
        slot = self.layout.slot_bits
        per = he_pack.capacity(self.public, slot)
        for k, host in enumerate(self.hosts):
            with self.timer("wait"):
                reply = self.fed.get(f"{self._tag()}.hist", "host", host)
            with self.timer("decrypt"):
                cts = he_pack.from_wire(reply["sums"], self.public, f"host {host}'s histogram")
                plain = he_pack.decrypt_ints(self.private, cts, self.compute)
            with self.timer("plaintext"):
                entries = int(reply["entries"])
                decoded = decode(he_pack.fields(he_pack.unfold(plain, entries, slot, per), self.layout.widths))
                present = np.unpackbits(np.asarray(reply["present"], dtype=np.uint8), count=int(reply["flags"]))
                try:
                    hists = feature_hists(decoded, present.astype(bool), self.groups[k], len(build))
                except (ValueError, IndexError):
                    raise ComponentError(f"hetero_secureboost: host {host}'s histogram is malformed") from None
            out.append({node: hists[i] for i, (node, _) in enumerate(build)})
        return out

    def assign(self, asks: dict[int, list[Ask]]) -> dict[int, list[tuple[np.ndarray, int]]]:
        out: dict[int, list[tuple[np.ndarray, int]]] = {}
        with self.timer("transport"):
            for k, host in enumerate(self.hosts):
                wire = [{"rows": a.rows.astype(np.int32), "group": a.group, "threshold": a.threshold,
                         "missing_left": a.missing_left} for a in asks.get(k, [])]
                self.fed.remote(wire, f"{self._tag()}.split", "host", [host])
        for k, host in enumerate(self.hosts):
            with self.timer("wait"):
                replies = self.fed.get(f"{self._tag()}.assign", "host", host)
            mine = asks.get(k, [])
            if len(replies) != len(mine):
                raise ComponentError(f"hetero_secureboost: host {host} answered {len(replies)} of {len(mine)} splits")
            out[k] = [(np.unpackbits(np.asarray(r["left"], dtype=np.uint8), count=len(a.rows)).astype(bool),
                       int(r["split_id"])) for r, a in zip(replies, mine, strict=True)]
        self.layer += 1
        return out

    def finish_tree(self) -> None:
        self.fed.remote({"done": True}, f"{self._tag()}.build", "host")


def tree_dicts(tree: Tree, binned: Binned, header: Sequence[str], hosts: Sequence[int]) -> list[dict[str, Any]]:
    """The guest's stored tree: its own splits in full, host splits as (host party id, opaque split id)."""
    out = []
    for node in tree.nodes:
        g, h, n = (int(v) for v in node.total)
        d: dict[str, Any] = {"id": node.id, "count": n, "g": g, "h": h}
        if node.party is None:
            d.update(party=None, weight=node.weight)
        else:
            d.update(left=node.left, right=node.right, gain=node.gain, missing_left=node.missing_left, bin=node.threshold)
            if node.party == GUEST:
                d.update(party="guest", feature=header[node.feature],
                         threshold=float(binned.edges[node.feature][node.threshold]))
            else:
                d.update(party=int(hosts[node.party]), split_id=node.split_id)
        out.append(d)
    return out


def importance(trees: Sequence[Sequence[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Split count and total gain per guest feature, and per host (whose features the guest cannot name)."""
    out: dict[str, dict[str, float]] = {}
    for tree in trees:
        for node in tree:
            if node["party"] is None:
                continue
            key = node["feature"] if node["party"] == "guest" else f"host_{node['party']}"
            entry = out.setdefault(key, {"split": 0, "gain": 0.0})
            entry["split"] += 1
            entry["gain"] += float(node["gain"])
    return out


def train_guest(fed: Federation, table: Table, labels: np.ndarray, p: SBTParams, prefix: str, keys: Keys,
                log: Log = lambda _m: None, compute: ComputeBackend | None = None, validate: Table | None = None,
                timer: PhaseTimer | None = None) -> tuple[dict[str, Any], np.ndarray]:
    """Train; returns the guest's model and the raw training scores of the kept trees."""
    timer = timer or PhaseTimer()
    n = len(table)
    layout = GHLayout.for_rows(n)
    he_pack.capacity(keys[0], layout.slot_bits)  # refuses a key too small for one record
    use_valid = validate is not None and p.early_stopping_rounds is not None
    if use_valid and validate is not None and validate.labels is None:
        raise ComponentError("hetero_secureboost: the validate table has no labels")
    fed.remote({"pubkey": keys[0].to_json(), "ids": list(table.ids),
                "validate_ids": list(validate.ids) if use_valid and validate is not None else None},
               f"{prefix}.setup", "host")
    binned = bin_columns(table.features, "sbt", p.max_bin)
    hosts = FederatedHosts(fed, prefix, keys, layout, compute, timer)
    init = initial_score(labels, p)
    scores, val_scores = np.full(n, init), np.full(len(validate) if validate is not None else 0, init)
    trees: list[list[dict[str, Any]]] = []
    weights: list[np.ndarray] = []
    losses: list[float] = []
    val_losses: list[float] = []
    best, stop_reason = 0, ""
    timer.mark()
    for t in range(p.num_trees):
        with timer("plaintext"):
            g_off, h = gradients(scores, labels)
        with timer("encrypt"):
            cts = he_pack.encrypt_ints(keys[0], records(g_off, h, layout), compute)
        hosts.start_tree(t, cts)
        tree = grow_tree(binned, g_off, h, p, hosts, len(hosts.hosts))
        hosts.finish_tree()
        weights.append(tree.row_weights(n))
        scores = scores + p.learning_rate * weights[-1]
        trees.append(tree_dicts(tree, binned, table.header, hosts.hosts))
        losses.append(log_loss(labels, scores))
        message = f"tree {t}: train loss {losses[-1]:.6f}"
        if use_valid and validate is not None and validate.labels is not None:
            val_scores = val_scores + predict_guest(fed, [trees[-1]], validate, f"{prefix}.{t}.valid", p.learning_rate)
            val_losses.append(log_loss(validate.labels, val_scores))
            message += f", validate loss {val_losses[-1]:.6f}"
            if val_losses[-1] < val_losses[best] - p.tol:
                best = t
            elif p.early_stopping_rounds is not None and t - best >= p.early_stopping_rounds:
                stop_reason = f"validate loss did not improve for {p.early_stopping_rounds} trees"
        else:
            best = t
        if p.n_iter_no_change and len(losses) > 1 and abs(losses[-2] - losses[-1]) < p.tol:
            stop_reason = stop_reason or f"train loss changed by less than tol {p.tol:g}"
        log(message)
        timer.mark()
        if stop_reason:
            break
    kept = best + 1 if use_valid else len(trees)
    if stop_reason:
        log(f"early stop after {len(trees)} trees ({stop_reason}); keeping {kept}")
    fed.remote({"stop": True, "trees": kept}, f"{prefix}.{len(trees)}.gh", "host")
    trees = trees[:kept]
    scores = init + (p.learning_rate * np.sum(weights[:kept], axis=0) if kept else np.zeros(n))
    model = {"format": MODEL_FORMAT, "role": "guest", "party_id": fed.party_id, "header": list(table.header),
             "params": p.to_dict(), "init_score": init, "learning_rate": p.learning_rate, "trees": trees,
             "feature_importance": importance(trees), "loss_history": losses[:kept],
             "validation_loss": val_losses, "best_iteration": best if use_valid else kept - 1,
             "stopped_early": bool(stop_reason)}
    return model, scores
