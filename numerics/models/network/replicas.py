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
parameters (independent initialisations) instead of w₀; with the α-trick each replica's output is centred at its
own initialisation, F_r = α(f(w_r, x) − f(w_r(0), x)).

Stopping (seed 002's protocol, the authors' code): with ``until_fitted`` a replica's training ends when its
training loss is exactly zero, checked for every replica at the end of each chunk; the run ends when all are
fitted or at ``n_steps``. A loss with exact zeros (``hinge``) has a zero gradient on every minibatch once the
training set is fitted, so a fitted replica does not move while the others go on, and its stopping step — the
step after its last non-zero update — is exact whatever the chunk size.
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
from numerics.models.network.network import Network, Samples


@dataclass(frozen=True)
class ReplicaRun:
    """Final parameters of R replicas (the network's pytree with a leading replica axis) and, with
    ``record_every``, the flat parameters at steps 0, s, 2s, … (R, n_records, n_params); with ``until_fitted``,
    which replicas fitted their training set (R,) and their stopping steps (R,), −1 for a replica that did not."""

    params: object
    trajectory: np.ndarray | None
    steps: np.ndarray | None
    fitted: np.ndarray | None = None
    fitted_step: np.ndarray | None = None

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


@partial(jax.jit, static_argnums=(0, 7))
def _run_steps(net: Network, W, last, samples, f0, idx, etas, clip_norm, first):
    """(W, last) after idx.shape[0] steps of every replica: idx (n, R, B), etas (n,) the step sizes, f0 (R, P, K)
    each replica's initial outputs, ``last`` (R,) the last step (counted from 0, the chunk's first is ``first``)
    at which a replica's update was non-zero."""

    def step(w, f0_r, idx_r, eta):
        g = jax.grad(net.loss)(w, Samples(samples.x[idx_r], samples.t[idx_r], f0_r[idx_r]))
        g = g if clip_norm is None else _clipped(g, clip_norm)
        moved = jnp.any(jnp.stack([jnp.any(a != 0) for a in jax.tree_util.tree_leaves(g)]))
        return jax.tree_util.tree_map(lambda a, b: a - eta * b, w, g), moved

    def steps(carry, step_k):
        W, last = carry
        idx_k, eta_k, k = step_k
        W, moved = jax.vmap(step, in_axes=(0, 0, 0, None))(W, f0, idx_k, eta_k)
        return (W, jnp.where(moved, k, last)), None

    ks = first + jnp.arange(idx.shape[0])
    return jax.lax.scan(steps, (W, last), (idx, etas, ks))[0]


@partial(jax.jit, static_argnums=(0,))
def _fitted(net: Network, W, samples, f0):
    """(R,) whether each replica's training loss is exactly zero."""
    return jax.vmap(lambda w, f: net.loss(w, Samples(samples.x, samples.t, f)) == 0)(W, f0)


def stack_replicas(trees) -> object:
    """One pytree with a leading replica axis from one parameter pytree per replica (independent initialisations),
    as ``run_replicas(initial=...)`` takes them."""
    return jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *trees)


def _initial(net: Network, initial, R: int):
    """The replicas' starting parameters with a leading replica axis: w₀ broadcast, or ``initial`` checked."""
    if initial is None:
        return jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (R,) + a.shape), net.params)
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
                 initial=None, until_fitted: bool = False) -> ReplicaRun:
    """SGD of replicas ``first_replica`` … ``first_replica + n_replicas − 1`` from w₀ (``net.params``) on (X, y),
    or from ``initial`` (the parameters' pytree with a leading axis of ``n_replicas``); step η by ``schedule``,
    gradients clipped at norm ``clip_norm`` (None: not clipped); with ``until_fitted``, until every replica's
    training loss is exactly zero (module docstring) or ``n_steps``. DivergenceError when a replica's parameters
    are non-finite at the end of a chunk."""
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
    # each replica's f(w(0), x): the α-trick centres every replica's output at its own start
    f0 = (jax.vmap(net.apply, in_axes=(0, None))(W, samples.x) if initial is not None and net.alpha is not None
          else jnp.broadcast_to(samples.f0, (R,) + samples.f0.shape))
    flat = jax.vmap(net.flatten)
    records, steps, done = [flat(W)], [0], 0
    last, fitted = jnp.full(R, -1), np.zeros(R, dtype=bool)
    while done < n_steps and not fitted.all():
        n = min(chunk_steps, n_steps - done)
        idx = np.concatenate([s.draw(n) for s in samplers], axis=1)              # (n, R, B)
        W, last = _run_steps(net, W, last, samples, f0, jnp.asarray(idx),
                             jnp.asarray(step_sizes(eta, schedule, done, n, n_steps)), clip_norm, done)
        done += n
        if until_fitted:
            fitted = np.asarray(_fitted(net, W, samples, f0))
        current = flat(W)
        if not bool(jnp.all(jnp.isfinite(current))):
            raise DivergenceError(f"SGD diverged by step {done} (eta = {eta})", step=done, eta=eta,
                                  partial=np.asarray(records[-1]))
        if record_every is not None:
            records.append(current)
            steps.append(done)
    stopping = dict(fitted=fitted, fitted_step=np.where(fitted, np.asarray(last) + 1, -1)) if until_fitted else {}
    if record_every is None:
        return ReplicaRun(W, None, None, **stopping)
    return ReplicaRun(W, np.stack([np.asarray(r) for r in records], axis=1), np.asarray(steps), **stopping)
