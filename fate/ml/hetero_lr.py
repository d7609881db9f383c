"""Hetero (vertical) logistic regression with FATE's protocol; the arbiter holds the Paillier key.

Per batch, with u_h = 0.25 * X_h w_h on each host and y in {-1, +1} on the guest:

    host    -> guest    [[u_h]]                        (and [[its Taylor-loss share]])
    guest   -> hosts    [[d]] = sum [[u_h]] + 0.25 (X_g w_g + b) - 0.5 y       (re-randomized)
    guest   -> arbiter  [[X_g^T d / N + alpha w_g]], [[mean d]], [[Taylor loss]]
    host    -> arbiter  [[X_h^T d / N + alpha w_h]]
    arbiter -> each     its own update, from one optimizer over all decrypted gradients

Every ciphertext that leaves a party carries fresh randomness: a host's forward is a
fresh encryption, everything computed from received ciphertexts is re-randomized, so
nobody can relate what it sends to what it received; headers carry only protocol
constants (fate.ml.masking). The arbiter learns gradients and the loss, exactly as in
FATE, so it must be a third party every data party trusts (`lr_component` checks that;
an arbiter on a data party's side runs `hetero_lr_free` instead). Unlike FATE, each party
applies its own floors (`lr_floors`: key size, batch size) and the batches come from a
seed all data parties contribute to (`joint_batches`), not from the guest's word.
The functions here take a Federation and numpy arrays; `fate.ml.lr_component` adapts them
to the flow's component contract.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fate.compute import ops
from fate.compute.contract import ComputeBackend
from fate.crypto import paillier
from fate.crypto.encoding import multiplier_frac_bits
from fate.federation.federation import Federation
from fate.flow.policy import Policy
from fate.ml.joint_batches import agree_guest, agree_host
from fate.ml.lr_floors import read_peer_key, secure_params
from fate.ml.lr_model import PartyModel, align_rows, check_labels, has_converged, init_weights, signed_labels
from fate.ml.lr_params import HeteroLRParams
from fate.ml.masking import PUBLIC_BOUND, accept, encrypt_public, in_public_range
from fate.ml.optimizer import Optimizer, OptimizerParams, add_penalty_gradient, apply_update, penalty_loss
from fate.ml.timing import PhaseTimer

Log = Callable[[str], None]

# Significant bits of the plaintext multipliers in X^T [[d]] (relative to the largest |x| of a batch).
# 24 bits resolve 6e-8 of the largest feature, finer than 6-decimal data, and cost a third less
# than fate.crypto's general-purpose 32; gradients stay within 1e-8 of the plaintext ones.
FEATURE_BITS = 24
ARBITERS = "the arbiter's"


def _quiet(_msg: str) -> None:
    return None


def loss_available(fed: Federation, params: HeteroLRParams) -> bool:
    """FATE's Taylor loss needs cross terms between hosts' forwards, which no one can form with two hosts."""
    return params.early_stop != "weight_diff" and len(fed.parties("host")) == 1


def stop_rule(fed: Federation, params: HeteroLRParams) -> str:
    return params.early_stop if loss_available(fed, params) else "weight_diff"


def _receive_key(fed: Federation, params: HeteroLRParams, prefix: str) -> paillier.PublicKey:
    return read_peer_key(fed.get(f"{prefix}.pubkey", "arbiter"), params, ARBITERS)


def train_arbiter(fed: Federation, params: HeteroLRParams, prefix: str = "hetero_lr", log: Log = _quiet,
                  timer: PhaseTimer | None = None,
                  keys: tuple[paillier.PublicKey, paillier.PrivateKey] | None = None,
                  policy: Policy | None = None,
                compute: ComputeBackend | None = None) -> PartyModel:
    """Hold the key for one training run; `keys` reuses a pair (tests decrypt what crossed the wire with it)."""
    timer = timer or PhaseTimer()
    params = secure_params(params, policy or Policy(), log)
    with timer("keygen"):
        public, private = keys or paillier.generate_keypair(params.key_length, insecure=params.insecure_key)
    key_text = public.to_json()
    with timer("transport"):
        fed.remote(key_text, f"{prefix}.pubkey", "guest")
        fed.remote(key_text, f"{prefix}.pubkey", "host")
    with timer("wait"):
        batches = fed.get(f"{prefix}.batches", "guest")
    hosts = fed.parties("host")
    rule = stop_rule(fed, params)
    optimizer = Optimizer(params.optimizer)
    losses: list[float] = []
    converged, epoch = False, 0
    for epoch in range(params.max_iter):  # noqa: B007 - the last epoch is reported
        batch_losses: list[float] = []
        delta = np.zeros(0)
        for k in range(batches):
            tag = f"{prefix}.{epoch}.{k}"
            # The guest has fewer columns and finishes first: decrypt its part while the hosts still compute.
            with timer("wait"):
                guest_msg = fed.get(f"{tag}.grad", "guest")
            with timer("decrypt"):
                guest_part = [ops.decrypt(compute, private, guest_msg["grad"])]
                if guest_msg["bias"] is not None:
                    guest_part.append(ops.decrypt(compute, private, guest_msg["bias"]).ravel())
                if guest_msg["loss"] is not None:
                    batch_losses.append(float(ops.decrypt(compute, private, guest_msg["loss"]).ravel()[0]))
            parts = []
            for host in hosts:  # each host's part is decrypted as soon as it arrives, while the others compute
                with timer("wait"):
                    host_grad = fed.get(f"{tag}.grad", "host", host)
                with timer("decrypt"):
                    parts.append(ops.decrypt(compute, private, host_grad))
            parts.append(np.concatenate(guest_part))
            with timer("plaintext"):
                delta = optimizer.step(np.concatenate(parts), epoch)
                pieces = np.split(delta, np.cumsum([len(p) for p in parts])[:-1])
            with timer("transport"):
                for host, piece in zip(hosts, pieces[:-1], strict=True):
                    fed.remote(piece, f"{tag}.delta", "host", [host])
                fed.remote(pieces[-1], f"{tag}.delta", "guest")
        if batch_losses:
            losses.append(float(np.mean(batch_losses)))
            log(f"epoch {epoch}: loss {losses[-1]:.6f}")
        converged = has_converged(rule, params.tol, losses, delta)
        with timer("transport"):
            fed.remote(converged, f"{prefix}.{epoch}.stop", "guest")
            fed.remote(converged, f"{prefix}.{epoch}.stop", "host")
        if converged:
            break
    return PartyModel("arbiter", fed.party_id, (), np.zeros(0), None, params, epoch + 1, converged, tuple(losses))


def train_guest(fed: Federation, ids: Sequence[str], header: Sequence[str], features: np.ndarray, labels: np.ndarray,
                params: HeteroLRParams, prefix: str = "hetero_lr", log: Log = _quiet,
                timer: PhaseTimer | None = None, policy: Policy | None = None,
                compute: ComputeBackend | None = None) -> PartyModel:
    timer = timer or PhaseTimer()
    policy = policy or Policy()
    params = secure_params(params, policy, log)
    check_labels(labels, len(ids))
    fit_intercept = params.init.fit_intercept
    with timer("transport"):
        batches = agree_guest(fed, prefix, ids, params.batch_size, policy)
        fed.remote(len(batches), f"{prefix}.batches", "arbiter")
    with timer("wait"):
        public = _receive_key(fed, params, prefix)
    with_loss = loss_available(fed, params)
    opt = params.optimizer
    y = signed_labels(labels)
    weights = init_weights(params.init, features.shape[1], fit_intercept)
    xs, ys = [features[rows] for rows in batches], [y[rows] for rows in batches]
    # 1/N folded into the plaintext multipliers once per batch, not into every ciphertext.
    scaled = [x / len(x) for x in xs]
    fracs = [multiplier_frac_bits(x, FEATURE_BITS) for x in scaled]
    summands = len(fed.parties("host")) + 1
    # Obfuscators for a batch's [[d]] and its gradient, computed in the background while we wait for peers.
    stock = max(len(x) for x in xs) + features.shape[1] + 3
    public.precompute(stock)
    epoch = 0
    timer.mark()
    for epoch in range(params.max_iter):  # noqa: B007 - the last epoch is reported
        for k, (x, yb) in enumerate(zip(xs, ys, strict=True)):
            tag = f"{prefix}.{epoch}.{k}"
            n = len(x)
            with timer("plaintext"):
                wx = x @ weights[: x.shape[1]] + (weights[-1] if fit_intercept else 0.0)
                own = in_public_range(0.25 * wx - 0.5 * yb)
            with timer("wait"):
                forwards = fed.get_all(f"{tag}.fwd", "host")
            with timer("encrypted_sum"):
                u = accept(forwards[0]["u"], public, "a host's forward", n, ARBITERS)
                for msg in forwards[1:]:
                    u = u + accept(msg["u"], public, "a host's forward", n, ARBITERS)
            with timer("encrypt"):
                d = ops.rerandomize(compute, u + own)
                # The header's bound would tell the hosts max |own|; send the public one instead.
                d = paillier.EncryptedArray(public, d.ciphertexts, d.shape, d.frac_bits, PUBLIC_BOUND * summands)
            with timer("transport"):
                fed.remote(d, f"{tag}.d", "host")
            public.precompute(stock)
            # Gradient from [[u]] (X^T [[u]] + X^T own) costs the same as from [[d]] and keeps [[d]] for the hosts only.
            with timer("matvec"):
                grad = ops.matvec_t(compute, scaled[k], u, frac_bits=fracs[k]) + (scaled[k].T @ own)
                bias = u.sum() * (1.0 / n) + np.array([own.mean()]) if fit_intercept else None
                loss = None
                if with_loss:
                    # Taylor loss log2 - 0.5 mean(y wx) + 0.125 mean(wx^2) with wx = wx_g + 4u splits into a
                    # guest-only part, mean((wx_g - 2y) u) computed on [[u]], and the host's 0.125 mean(wx_h^2).
                    cross = (wx - 2.0 * yb) / n
                    plain = np.log(2.0) + float(np.mean(-0.5 * yb * wx + 0.125 * wx * wx))
                    plain += penalty_loss(opt, weights, fit_intercept)
                    share = accept(forwards[0]["loss"], public, "the host's loss share", 1, ARBITERS)
                    column = cross[:, None]
                    loss = ops.matvec_t(compute, column, u, multiplier_frac_bits(column, FEATURE_BITS)) + share + plain
            with timer("plaintext"):
                penalty = add_penalty_gradient(opt, np.zeros_like(weights), weights, fit_intercept)
            with timer("encrypt"):
                grad = ops.rerandomize(compute, grad + penalty[: x.shape[1]])
                bias = None if bias is None else ops.rerandomize(compute, bias)
                loss = None if loss is None else ops.rerandomize(compute, loss)
            with timer("transport"):
                fed.remote({"grad": grad, "bias": bias, "loss": loss}, f"{tag}.grad", "arbiter")
            public.precompute(stock)  # refilled while the arbiter decrypts and the hosts compute
            with timer("wait"):
                delta = fed.get(f"{tag}.delta", "arbiter")
            weights = apply_update(opt, weights, np.asarray(delta), fit_intercept, epoch)
        with timer("wait"):
            stop = bool(fed.get(f"{prefix}.{epoch}.stop", "arbiter"))
        timer.mark()
        if stop:
            break
    public.obfuscators.drop()  # the key is done with: no factors outlive the run
    log(f"guest trained {epoch + 1} epochs")
    coef = weights[:-1] if fit_intercept else weights
    intercept = float(weights[-1]) if fit_intercept else None
    return PartyModel("guest", fed.party_id, tuple(header), coef, intercept, params, epoch + 1, stop)


def send_forward(fed: Federation, key: paillier.PublicKey, x: np.ndarray, weights: np.ndarray, opt: OptimizerParams,
                 with_loss: bool, compute: ComputeBackend | None, tag: str, timer: PhaseTimer) -> np.ndarray:
    """A host's part of a batch, in either protocol: [[0.25 X_h w_h]] and, for the Taylor loss,
    [[0.125 mean((X_h w_h)^2) + its penalty]], under `key`, to the guest; returns X_h w_h."""
    with timer("plaintext"):
        wx = x @ weights
    with timer("encrypt"):
        forward = encrypt_public(key, 0.25 * wx, compute)
        share = None
        if with_loss:
            share = encrypt_public(key, [0.125 * float(np.mean(wx * wx)) + penalty_loss(opt, weights, False)], compute)
    with timer("transport"):
        fed.remote({"u": forward, "loss": share}, f"{tag}.fwd", "guest")
    return np.asarray(wx)


def train_host(fed: Federation, ids: Sequence[str], header: Sequence[str], features: np.ndarray,
               params: HeteroLRParams, prefix: str = "hetero_lr", log: Log = _quiet,
               timer: PhaseTimer | None = None, policy: Policy | None = None,
                compute: ComputeBackend | None = None) -> PartyModel:
    timer = timer or PhaseTimer()
    policy = policy or Policy()
    params = secure_params(params, policy, log)
    with timer("wait"):
        order, batches = agree_host(fed, prefix, params.batch_size, policy)
        public = _receive_key(fed, params, prefix)
    x_all = align_rows(ids, features, order)
    xs = [x_all[rows] for rows in batches]
    with_loss = loss_available(fed, params)
    opt = params.optimizer
    weights = init_weights(params.init, x_all.shape[1], False)
    scaled = [x / len(x) for x in xs]
    fracs = [multiplier_frac_bits(x, FEATURE_BITS) for x in scaled]
    summands = len(fed.parties("host")) + 1  # [[d]] sums every host's forward and the guest's part
    # The next forward's obfuscators (and the gradient's) are made while this party waits: encrypting
    # it once the update arrives costs one multiplication per value.
    stock = max(len(x) for x in xs) + x_all.shape[1] + 2
    public.precompute(stock)
    epoch, stop = 0, False
    for epoch in range(params.max_iter):  # noqa: B007 - the last epoch is reported
        for k, x in enumerate(xs):
            tag = f"{prefix}.{epoch}.{k}"
            send_forward(fed, public, x, weights, opt, with_loss, compute, tag, timer)
            public.precompute(stock)
            with timer("wait"):
                d = accept(fed.get(f"{tag}.d", "guest"), public, "the guest's [[d]]", len(x), ARBITERS, summands)
            with timer("matvec"):
                grad = ops.matvec_t(compute, scaled[k], d, frac_bits=fracs[k])
            with timer("encrypt"):
                grad = ops.rerandomize(compute, grad + add_penalty_gradient(opt, np.zeros_like(weights), weights, False))
            with timer("transport"):
                fed.remote(grad, f"{tag}.grad", "arbiter")
            public.precompute(stock)
            with timer("wait"):
                delta = fed.get(f"{tag}.delta", "arbiter")
            weights = apply_update(opt, weights, np.asarray(delta), False, epoch)
        with timer("wait"):
            stop = bool(fed.get(f"{prefix}.{epoch}.stop", "arbiter"))
        if stop:
            break
    public.obfuscators.drop()
    log(f"host trained {epoch + 1} epochs")
    return PartyModel("host", fed.party_id, tuple(header), weights, None, params, epoch + 1, stop)
