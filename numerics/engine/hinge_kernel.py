"""Compiled SGD for the centred hinge perceptron until every training margin is satisfied.

Same dynamics as ``run_sgd(HingePerceptron(...), index_data(P), stop_when=model.fitted)`` (see
:mod:`numerics.models.perceptron`): margins h_μ = z_μ·w with z_μ = y_μ x_μ/√d, weights measured from w₀ (start at 0),
w_{k+1} = w_k + (η/B) Σ_{b} z_{i_b} Θ(κ − h_{i_b}) (the mean hinge gradient over the minibatch), t = ηk.
Minibatches: B indices i.i.d. uniform on 0..P−1 ("with replacement", the counter-based streams of
:mod:`numerics.engine.streams`, keyed by (seed, replica, step), so results do not depend on threads) or every index
every step (gradient descent, ``full_batch``).

Why a kernel of its own: training to zero loss takes up to ~10⁶ steps at the P of the phase diagrams and the
stopping test (all P margins) costs P·d. Two facts make the test cheap and the stopping time exact:
  * a replica that fits all its margins has zero gradient on every minibatch, so its weights never change
    again — testing every ``check_every`` steps instead of every step changes nothing in the final weights;
  * the training loss is therefore zero exactly from the last step with a non-zero update, k_last, on:
    t* = η k_last whatever ``check_every`` is. The test runs only when the weights changed since the last one.
"""

from __future__ import annotations

import numpy as np

from numerics.errors import ParameterError
from numerics.engine.streams import HAVE_NUMBA, MASK32, SHIFT32, draw_minibatches, replica_key, seed_words, stream_word

if HAVE_NUMBA:
    import numba

    from numerics.engine.streams import bounded

    @numba.njit(cache=True, parallel=True)
    def _train_kernel(Z, kappa, eta, B, full_batch, n_steps, check_every, s0, s1, w, last_update, fitted):
        """Train every replica r (row of ``w``) on its set Z[r] (or Z[0] when Z holds one set) in place."""
        R, d = w.shape
        P = Z.shape[1]
        J = (B + 1) // 2
        c = eta / B
        thr = np.int64(((1 << 32) - P) % P)
        for r in numba.prange(R):
            z = Z[r] if Z.shape[0] > 1 else Z[0]
            key = replica_key(s0, np.uint64(r))
            wl = w[r].copy()
            g = np.empty(d)
            last, changed, done = 0, True, False
            for k in range(1, n_steps + 1):
                g[:] = 0.0
                n_viol = 0
                word = np.uint64(0)
                for b in range(P if full_batch else B):
                    if full_batch:
                        i = b
                    else:
                        if b % 2 == 0:
                            word = stream_word(key, s1, np.uint64(k * J + b // 2))
                            h32 = word & MASK32
                        else:
                            h32 = word >> SHIFT32
                        i = bounded(h32, np.uint64(P), thr)
                    h = 0.0
                    for n in range(d):
                        h += z[i, n] * wl[n]
                    if h < kappa:
                        n_viol += 1
                        for n in range(d):
                            g[n] += z[i, n]
                if n_viol > 0:
                    for n in range(d):
                        wl[n] += c * g[n]
                    last, changed = k, True
                if changed and (k % check_every == 0 or k == n_steps):
                    changed = False
                    done = True
                    for mu in range(P):
                        h = 0.0
                        for n in range(d):
                            h += z[mu, n] * wl[n]
                        if h < kappa:
                            done = False
                            break
                    if done:
                        break
            w[r] = wl
            last_update[r] = last
            fitted[r] = done


def train_to_zero_loss(Z: np.ndarray, kappa: float, eta: float, batch_size: int, n_steps: int, seed=0,
                       full_batch: bool = False, check_every: int | None = None, use_numba: bool | None = None):
    """SGD on the centred hinge perceptron, each replica on its own set, until every margin h ≥ κ.

    ``Z`` (R, P, d): z_μ = y_μ x_μ/√d per replica (R = number of replicas). Returns (w (R, d), steps (R,)):
    ``steps`` = k_last, the number of steps to zero training loss (t* = η·steps), or −1 where a replica had
    not fitted its set within ``n_steps``. ``full_batch``: gradient descent (batch_size is then P).
    ``use_numba`` None: the kernel when numba is installed, else the numpy loop over the same minibatches.
    """
    Z = np.ascontiguousarray(Z, dtype=float)
    if Z.ndim != 3:
        raise ParameterError(f"Z must be (R, P, d), got shape {Z.shape}")
    R, P, d = Z.shape
    B = P if full_batch else int(batch_size)
    if not 1 <= B <= P:
        raise ParameterError(f"batch_size must be in 1..{P}, got {batch_size}")
    check_every = max(1, P // B) if check_every is None else int(check_every)
    use_numba = HAVE_NUMBA if use_numba is None else use_numba
    if use_numba and not HAVE_NUMBA:
        raise ParameterError("numba is not installed (pip install numba)")
    w = np.zeros((R, d))
    last = np.zeros(R, dtype=np.int64)
    fitted = np.zeros(R, dtype=bool)
    s0, s1 = seed_words(seed)
    if use_numba:
        _train_kernel(Z, float(kappa), float(eta), B, bool(full_batch), int(n_steps), check_every, s0, s1,
                      w, last, fitted)
    else:
        _train_numpy(Z, kappa, eta, B, full_batch, n_steps, check_every, seed, w, last, fitted)
    return w, np.where(fitted, last, -1)


def _train_numpy(Z, kappa, eta, B, full_batch, n_steps, check_every, seed, w, last, fitted):
    """Vectorised twin of the kernel (same minibatches): the reference for tests and the no-numba path."""
    R, P, _ = Z.shape
    rows = np.arange(R)[:, None]
    active = np.ones(R, dtype=bool)
    for k in range(1, n_steps + 1):
        idx = np.broadcast_to(np.arange(P), (R, P)) if full_batch else draw_minibatches(
            seed, np.arange(R), k, B, P, "with_replacement")
        Zb = Z[rows, idx]
        viol = np.einsum("rbd,rd->rb", Zb, w) < kappa
        moved = active & viol.any(axis=1)
        w[moved] += (eta / B) * np.einsum("rb,rbd->rd", viol[moved], Zb[moved])
        last[moved] = k
        if k % check_every == 0 or k == n_steps:
            newly = active & (np.einsum("rpd,rd->rp", Z, w) >= kappa).all(axis=1)
            fitted |= newly
            active &= ~newly
            if not active.any():
                break
