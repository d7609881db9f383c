"""Hetero LR between one guest and one host without a third party: each holds its own Paillier key.

FATE's protocol needs an arbiter that decrypts every gradient. Put on the guest's party (as
FATE's examples do) it lets the guest read the host's forwards and updates, hence X_h; on the
host's party, [[d]] and so the labels. Here no one holds a key over the other's values.
Per batch, with d = 0.25 (X_g w_g + b) - 0.5 y + u_h and u_h = 0.25 X_h w_h:

    host  -> guest  [[u_h]]_H, [[host's loss share]]_H            fresh, under the host's key
    guest -> host   [[own]]_G, own = 0.25 (X_g w_g + b) - 0.5 y    fresh, under the guest's key
    host:           [[d]]_G = [[own]]_G + u_h;  [[X_h^T d / N]]_G + r_h  -> guest decrypts -> host unmasks
    guest:          [[X_g^T d / N, mean d]]_H (from [[u_h]]_H and own) + r_g  -> host decrypts -> guest unmasks
    guest:          [[Taylor loss]]_H + r_l  -> host decrypts -> guest unmasks (the guest learns the loss)

r is uniform mod n of the decryptor's key, so a decryptor sees only uniform residues
(`fate.ml.masking`); each party runs its own optimizer on its own gradient, and its weights
never leave it. Each party's decryption service is a `DecryptionOracle`: one vector per
batch and purpose, of the length its peer declared once at the start. Ciphertexts under a
key other than the expected one are refused when received, before anything derived from
them is sent. The guest decides when to stop and tells the host.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from fate.compute import ops
from fate.compute.contract import ComputeBackend
from fate.crypto import paillier
from fate.crypto.encoding import multiplier_frac_bits
from fate.federation.federation import Federation
from fate.flow.policy import Policy
from fate.ml.component import ComponentError
from fate.ml.hetero_lr import FEATURE_BITS, send_forward
from fate.ml.joint_batches import agree_guest, agree_host
from fate.ml.lr_floors import check_declared_length, read_peer_key, secure_params
from fate.ml.lr_model import PartyModel, align_rows, check_labels, has_converged, init_weights, signed_labels
from fate.ml.lr_params import HeteroLRParams
from fate.ml.masking import (
    DecryptionOracle,
    Mask,
    accept,
    encrypt_public,
    in_public_range,
    mask,
    served_lengths,
    unmask,
)
from fate.ml.optimizer import Optimizer, add_penalty_gradient, apply_update, penalty_loss
from fate.ml.timing import PhaseTimer

Log = Callable[[str], None]
Keys = tuple[paillier.PublicKey, paillier.PrivateKey]
GUESTS, HOSTS = "the guest's", "the host's"


def _quiet(_msg: str) -> None:
    return None


def _restock(own: paillier.PrivateKey, own_count: int, peer: paillier.PublicKey, peer_count: int) -> None:
    """Background refills of both keys' obfuscators: fresh encryptions under ours (made by CRT, we hold the
    factors of n), masks under the peer's."""
    own.precompute(own_count)
    peer.precompute(peer_count)


def with_loss(params: HeteroLRParams) -> bool:
    return params.early_stop != "weight_diff"


@dataclass(frozen=True)
class _MaskingRounds:
    """One party's side of the rounds both parties run alike: what it sends its peer masked, what it decrypts
    for the peer through its oracle (whose checks decide), and the peer's answers it unmasks."""

    fed: Federation
    peer_role: str
    whose: str  # the peer's, in refusals
    oracle: DecryptionOracle
    timer: PhaseTimer
    compute: ComputeBackend | None

    def send_masked(self, value: paillier.EncryptedArray, tag: str) -> Mask:
        """[[value + r]] to the peer for decryption; returns the r that its answer is read with."""
        with self.timer("matvec"):
            masked, held = mask(value, self.compute)
        with self.timer("transport"):
            self.fed.remote(masked, tag, self.peer_role)
        return held

    def answer(self, round_: tuple[int, int], purpose: str, tag: str) -> None:
        """Decrypt the masked vector the peer sent at `tag` and send the residues back at `tag`_plain."""
        with self.timer("wait"):
            request = self.fed.get(tag, self.peer_role)
        with self.timer("decrypt"):
            residues = self.oracle.serve(round_, purpose, request)
        with self.timer("transport"):
            self.fed.remote(residues, f"{tag}_plain", self.peer_role)

    def unmask(self, tag: str, held: Mask) -> np.ndarray:
        """The peer's answer to what `send_masked` sent, r taken off; a malformed answer is refused."""
        with self.timer("wait"):
            return unmask(self.fed.get(tag, self.peer_role), held, self.whose)


def _scale(xs: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[int]]:
    """Each batch divided by its size (the gradient is a mean) and the fixed-point bits of its multipliers."""
    scaled = [x / len(x) for x in xs]
    return scaled, [multiplier_frac_bits(x, FEATURE_BITS) for x in scaled]


def _handshake(fed: Federation, prefix: str, role: str, params: HeteroLRParams, columns: int,
               batches: Sequence[np.ndarray], keys: Keys | None, timer: PhaseTimer) -> tuple[Keys, paillier.PublicKey, int]:
    """Own key pair (at this party's floor), the peer's key (refused under it), the peer's declared gradient length."""
    peer_role, whose = ("host", HOSTS) if role == "guest" else ("guest", GUESTS)
    if len(fed.parties("host")) != 1:
        raise ComponentError(f"the arbiter-free protocol runs between one guest and one host, "
                             f"not {len(fed.parties('host'))} hosts")
    with timer("keygen"):
        own_keys = keys or paillier.generate_keypair(params.key_length, insecure=params.insecure_key)
    with timer("transport"):
        fed.remote({"pubkey": own_keys[0].to_json(), "columns": columns}, f"{prefix}.hello", peer_role)
    with timer("wait"):
        hello = fed.get(f"{prefix}.hello", peer_role)
    if not isinstance(hello, dict):
        raise ComponentError(f"{whose} key announcement is malformed")
    peer = read_peer_key(hello.get("pubkey"), params, whose)
    if peer == own_keys[0]:
        raise ComponentError(f"{whose} Paillier key is this party's own; refusing")
    return own_keys, peer, check_declared_length(hello.get("columns"), batches, whose[:-2])


def train_guest(fed: Federation, ids: Sequence[str], header: Sequence[str], features: np.ndarray, labels: np.ndarray,
                params: HeteroLRParams, prefix: str = "hetero_lr", log: Log = _quiet, timer: PhaseTimer | None = None,
                policy: Policy | None = None, keys: Keys | None = None,
               compute: ComputeBackend | None = None) -> PartyModel:
    """`keys` reuses a key pair (tests read what crossed the wire with it)."""
    timer, policy = timer or PhaseTimer(), policy or Policy()
    params = secure_params(params, policy, log)
    check_labels(labels, len(ids))
    fit_intercept, opt, loss_on = params.init.fit_intercept, params.optimizer, with_loss(params)
    with timer("transport"):
        batches = agree_guest(fed, prefix, ids, params.batch_size, policy)
    columns = features.shape[1] + (1 if fit_intercept else 0)
    (public, private), peer, host_columns = _handshake(fed, prefix, "guest", params, columns, batches, keys, timer)
    oracle = DecryptionOracle(private, {"grad": host_columns}, "the host", compute)
    host = _MaskingRounds(fed, "host", HOSTS, oracle, timer, compute)
    y = signed_labels(labels)
    xs, ys = [features[rows] for rows in batches], [y[rows] for rows in batches]
    scaled, fracs = _scale(xs)
    weights = init_weights(params.init, features.shape[1], fit_intercept)
    optimizer = Optimizer(opt)
    # Obfuscators made in the background while waiting on the host: [[own]] under our key, masks under its key.
    own_stock, peer_stock = max(len(x) for x in xs), columns + 1
    _restock(private, own_stock, peer, peer_stock)
    losses: list[float] = []
    epoch, stop = 0, False
    timer.mark()
    for epoch in range(params.max_iter):  # noqa: B007 - the last epoch is reported
        batch_losses: list[float] = []
        delta = np.zeros(0)
        for k, (x, yb) in enumerate(zip(xs, ys, strict=True)):
            tag, n = f"{prefix}.{epoch}.{k}", len(x)
            with timer("plaintext"):
                wx = x @ weights[: x.shape[1]] + (weights[-1] if fit_intercept else 0.0)
                own = in_public_range(0.25 * wx - 0.5 * yb)
            with timer("encrypt"):
                sent = encrypt_public(public, own, compute)
            with timer("transport"):
                fed.remote(sent, f"{tag}.own", "host")
            private.precompute(own_stock)
            with timer("wait"):
                forward = fed.get(f"{tag}.fwd", "host")
            if not isinstance(forward, dict):
                raise ComponentError("the host's forward is malformed")
            u = accept(forward.get("u"), peer, "the host's forward", n, HOSTS)
            share = accept(forward.get("loss"), peer, "the host's loss share", 1, HOSTS) if loss_on else None
            with timer("matvec"):
                # X_g^T d = X_g^T [[u_h]] + X_g^T own: the host's part under its key, ours in plaintext.
                grad = ops.matvec_t(compute, scaled[k], u, frac_bits=fracs[k]) + (scaled[k].T @ own)
                if fit_intercept:
                    grad = paillier.EncryptedArray.concatenate([grad, (u.sum() * (1.0 / n) + own.mean()).reshape(1)])
            grad_mask = host.send_masked(grad, f"{tag}.grad")
            loss_mask = None
            if share is not None:
                with timer("matvec"):
                    # Taylor loss: as in hetero_lr, mean((wx_g - 2y) u) on [[u]], the host's share, the rest ours.
                    column = ((wx - 2.0 * yb) / n)[:, None]
                    plain = np.log(2.0) + float(np.mean(-0.5 * yb * wx + 0.125 * wx * wx))
                    plain += penalty_loss(opt, weights, fit_intercept)
                    loss = ops.matvec_t(compute, column, u, multiplier_frac_bits(column, FEATURE_BITS)) + share + plain
                loss_mask = host.send_masked(loss, f"{tag}.loss")
            _restock(private, own_stock, peer, peer_stock)
            host.answer((epoch, k), "grad", f"{tag}.hgrad")
            gradient = host.unmask(f"{tag}.grad_plain", grad_mask)
            if loss_mask is not None:
                batch_losses.append(float(host.unmask(f"{tag}.loss_plain", loss_mask)[0]))
            with timer("plaintext"):
                delta = optimizer.step(add_penalty_gradient(opt, gradient, weights, fit_intercept), epoch)
                weights = apply_update(opt, weights, delta, fit_intercept, epoch)
        if batch_losses:
            losses.append(float(np.mean(batch_losses)))
            log(f"epoch {epoch}: loss {losses[-1]:.6f}")
        else:
            # weight_diff: the norm of the whole last update; the host tells us the size of its part only.
            with timer("wait"):
                host_norm = fed.get(f"{prefix}.{epoch}.dnorm", "host")
            if isinstance(host_norm, bool) or not isinstance(host_norm, float | int) or not host_norm >= 0:
                raise ComponentError("the host's update norm is malformed")
            delta = np.array([np.hypot(np.linalg.norm(delta), float(host_norm))])
        stop = has_converged(params.early_stop, params.tol, losses, delta)
        with timer("transport"):
            fed.remote(stop, f"{prefix}.{epoch}.stop", "host")
        timer.mark()
        if stop:
            break
    public.obfuscators.drop()  # the run is over: no precomputed factor outlives it
    peer.obfuscators.drop()
    log(f"guest trained {epoch + 1} epochs without an arbiter")
    coef = weights[:-1] if fit_intercept else weights
    intercept = float(weights[-1]) if fit_intercept else None
    return PartyModel("guest", fed.party_id, tuple(header), coef, intercept, params, epoch + 1, stop, tuple(losses))


def train_host(fed: Federation, ids: Sequence[str], header: Sequence[str], features: np.ndarray,
               params: HeteroLRParams, prefix: str = "hetero_lr", log: Log = _quiet, timer: PhaseTimer | None = None,
               policy: Policy | None = None, keys: Keys | None = None,
               compute: ComputeBackend | None = None) -> PartyModel:
    timer, policy = timer or PhaseTimer(), policy or Policy()
    params = secure_params(params, policy, log)
    opt, loss_on = params.optimizer, with_loss(params)
    with timer("wait"):
        order, batches = agree_host(fed, prefix, params.batch_size, policy)
    x_all = align_rows(ids, features, order)
    (public, private), peer, guest_columns = _handshake(fed, prefix, "host", params, x_all.shape[1], batches, keys,
                                                        timer)
    oracle = DecryptionOracle(private, served_lengths(guest_columns, loss_on), "the guest", compute)
    guest = _MaskingRounds(fed, "guest", GUESTS, oracle, timer, compute)
    xs = [x_all[rows] for rows in batches]
    scaled, fracs = _scale(xs)
    weights = init_weights(params.init, x_all.shape[1], False)
    optimizer = Optimizer(opt)
    own_stock, peer_stock = max(len(x) for x in xs) + 1, x_all.shape[1]
    _restock(private, own_stock, peer, peer_stock)
    epoch, stop = 0, False
    for epoch in range(params.max_iter):  # noqa: B007 - the last epoch is reported
        delta = np.zeros(0)
        for k, x in enumerate(xs):
            tag = f"{prefix}.{epoch}.{k}"
            wx = send_forward(fed, public, x, weights, opt, loss_on, compute, tag, timer)
            private.precompute(own_stock)
            with timer("wait"):
                own = accept(fed.get(f"{tag}.own", "guest"), peer, "the guest's [[own]]", len(x), GUESTS)
            with timer("matvec"):
                # [[d]]_G = [[own]]_G + u_h: a plaintext addition, so [[d]] stays under the guest's key only.
                grad = ops.matvec_t(compute, scaled[k], own + 0.25 * wx, frac_bits=fracs[k])
            grad_mask = guest.send_masked(grad, f"{tag}.hgrad")
            _restock(private, own_stock, peer, peer_stock)
            guest.answer((epoch, k), "grad", f"{tag}.grad")
            if loss_on:
                guest.answer((epoch, k), "loss", f"{tag}.loss")
            gradient = guest.unmask(f"{tag}.hgrad_plain", grad_mask)
            with timer("plaintext"):
                delta = optimizer.step(add_penalty_gradient(opt, gradient, weights, False), epoch)
                weights = apply_update(opt, weights, delta, False, epoch)
        if not loss_on:
            with timer("transport"):
                fed.remote(float(np.linalg.norm(delta)), f"{prefix}.{epoch}.dnorm", "guest")
        with timer("wait"):
            stop = bool(fed.get(f"{prefix}.{epoch}.stop", "guest"))
        if stop:
            break
    public.obfuscators.drop()
    peer.obfuscators.drop()
    log(f"host trained {epoch + 1} epochs without an arbiter")
    return PartyModel("host", fed.party_id, tuple(header), weights, None, params, epoch + 1, stop)
