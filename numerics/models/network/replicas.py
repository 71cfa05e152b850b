"""Independent SGD replicas of a :class:`~numerics.models.network.network.Network`: w_{k+1} = w_k − η ĝ_k, ĝ_k the
mean per-sample gradient over a minibatch of size B (T = η/B), every replica from w₀, jit-compiled as one
``lax.scan`` over steps of a ``vmap`` over replicas.

Seeds (as :mod:`numerics.engine.rng`): replica r draws its minibatch indices from its own numpy generator
``default_rng(child_seed(seed, r))`` by :class:`numerics.engine.minibatches.MinibatchSampler`, in order, step
after step. A replica's trajectory therefore depends only on (seed, r): not on how many replicas run together
(``first_replica`` places a block of them, as a sweep splits replicas across workers), nor on ``chunk_steps``
(how many steps are drawn and compiled at a time); and its indices are those of the numpy engine
(:func:`numerics.engine.sgd.run_sgd`) with ``block_size=1`` and the same seed.
Sampling schemes: ``with_replacement`` (B independent uniform indices), ``without_replacement`` (a uniform
B-subset per step; the authors' code draws its minibatches this way), ``epoch`` (random reshuffling, P // B
minibatches per epoch).

Options of the authors' training (seed 001's public code, PyTorch): ``schedule="cosine"``, the step
η_k = η·½(1 + cos(πk/K)) at step k of K = ``n_steps`` (``CosineAnnealingLR`` with T_max = K and η_min = 0, stepped
every SGD step); ``clip_norm=c``, each replica's minibatch gradient rescaled as ``clip_grad_norm_`` does,
ĝ ← ĝ·min(1, c/(‖ĝ‖ + 10⁻⁶)) with ‖·‖ over all parameters. ``initial`` starts each replica from its own
parameters (independent initialisations) instead of w₀.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from numerics.engine.minibatches import INDEX_SCHEMES, MinibatchSampler
from numerics.engine.rng import child_seed
from numerics.errors import DivergenceError, ParameterError, require_choice, require_int_in_range, require_positive
from numerics.models.network.network import Network


@dataclass(frozen=True)
class ReplicaRun:
    """Final parameters of R replicas (the network's pytree with a leading replica axis) and, with
    ``record_every``, the flat parameters at steps 0, s, 2s, … (R, n_records, n_params)."""

    params: object
    trajectory: np.ndarray | None
    steps: np.ndarray | None

    def replica(self, r: int):
        """The parameters of replica r (a pytree without the replica axis)."""
        return jax.tree_util.tree_map(lambda a: a[r], self.params)


SCHEDULES = ("constant", "cosine")
CLIP_EPSILON = 1e-6  # torch.nn.utils.clip_grad_norm_'s guard in c/(‖g‖ + ε)


def step_sizes(eta: float, schedule: str, first: int, n: int, n_steps: int) -> np.ndarray:
    """η_k for the steps k = first … first + n − 1 of a run of ``n_steps`` (module docstring)."""
    if schedule == "constant":
        return np.full(n, float(eta))
    return eta * 0.5 * (1.0 + np.cos(np.pi * np.arange(first, first + n) / n_steps))


def _clipped(g, clip_norm):
    norm = jnp.sqrt(sum(jnp.sum(a * a) for a in jax.tree_util.tree_leaves(g)))
    scale = jnp.minimum(1.0, clip_norm / (norm + CLIP_EPSILON))
    return jax.tree_util.tree_map(lambda a: scale * a, g)


@partial(jax.jit, static_argnums=(0, 5))
def _run_steps(net: Network, W, samples, idx, etas, clip_norm):
    """W after idx.shape[0] steps of every replica; idx (n, R, B), etas (n,) the step sizes."""

    def step(w, idx_r, eta):
        g = jax.grad(net.loss)(w, samples.take(idx_r))
        g = g if clip_norm is None else _clipped(g, clip_norm)
        return jax.tree_util.tree_map(lambda a, b: a - eta * b, w, g)

    def steps(W, step_k):
        idx_k, eta_k = step_k
        return jax.vmap(step, in_axes=(0, 0, None))(W, idx_k, eta_k), None

    return jax.lax.scan(steps, W, (idx, etas))[0]


def _initial(net: Network, initial, R: int):
    """The replicas' starting parameters with a leading replica axis: w₀ broadcast, or ``initial`` checked."""
    if initial is None:
        return jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (R,) + a.shape), net.params)
    if net.alpha is not None:  # F = α(f(w) − f(w₀)) subtracts the one f(w₀) of net.params
        raise ParameterError("initial replaces w0, which the alpha-trick subtracts: build one Network per w0")
    W = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=jnp.float64), initial)
    shapes = [a.shape for a in jax.tree_util.tree_leaves(W)]
    wanted = [(R,) + a.shape for a in jax.tree_util.tree_leaves(net.params)]
    if jax.tree_util.tree_structure(W) != jax.tree_util.tree_structure(net.params) or shapes != wanted:
        raise ParameterError(f"initial must be the network's parameters with a leading axis of {R} replicas: "
                             f"leaves {wanted}, got {shapes}")
    return W


def run_replicas(net: Network, X, y, *, eta: float, batch_size: int, n_steps: int, n_replicas: int = 1,
                 sampling: str = "with_replacement", seed=0, first_replica: int = 0, record_every: int | None = None,
                 chunk_steps: int = 256, schedule: str = "constant", clip_norm: float | None = None,
                 initial=None) -> ReplicaRun:
    """SGD of replicas ``first_replica`` … ``first_replica + n_replicas − 1`` from w₀ (``net.params``) on (X, y),
    or from ``initial`` (the parameters' pytree with a leading axis of ``n_replicas``); step η by ``schedule``,
    gradients clipped at norm ``clip_norm`` (None: not clipped). DivergenceError when a replica's parameters are
    non-finite at the end of a chunk."""
    eta = require_positive("eta", eta)
    samples = net.samples(X, y)
    P = samples.n_samples
    B = require_int_in_range("batch_size", batch_size, 1, P)
    require_int_in_range("n_steps", n_steps, 0)
    R = require_int_in_range("n_replicas", n_replicas, 1)
    require_int_in_range("first_replica", first_replica, 0)
    require_choice("sampling", sampling, INDEX_SCHEMES)
    require_choice("schedule", schedule, SCHEDULES)
    clip_norm = None if clip_norm is None else require_positive("clip_norm", clip_norm)
    if record_every is not None:
        chunk_steps = require_int_in_range("record_every", record_every, 1)
    chunk_steps = require_int_in_range("chunk_steps", chunk_steps, 1)
    samplers = [MinibatchSampler(np.random.default_rng(child_seed(seed, first_replica + r)), sampling, P, B)
                for r in range(R)]
    W = _initial(net, initial, R)
    flat = jax.vmap(net.flatten)
    records, steps, done = [flat(W)], [0], 0
    while done < n_steps:
        n = min(chunk_steps, n_steps - done)
        idx = np.concatenate([s.draw(n) for s in samplers], axis=1)              # (n, R, B)
        W = _run_steps(net, W, samples, jnp.asarray(idx), jnp.asarray(step_sizes(eta, schedule, done, n, n_steps)),
                       clip_norm)
        done += n
        current = flat(W)
        if not bool(jnp.all(jnp.isfinite(current))):
            raise DivergenceError(f"SGD diverged by step {done} (eta = {eta})", step=done, eta=eta,
                                  partial=np.asarray(records[-1]))
        if record_every is not None:
            records.append(current)
            steps.append(done)
    if record_every is None:
        return ReplicaRun(W, None, None)
    return ReplicaRun(W, np.stack([np.asarray(r) for r in records], axis=1), np.asarray(steps))
