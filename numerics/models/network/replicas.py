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
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from numerics.engine.minibatches import INDEX_SCHEMES, MinibatchSampler
from numerics.engine.rng import child_seed
from numerics.errors import DivergenceError, require_choice, require_int_in_range, require_positive
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


@partial(jax.jit, static_argnums=0)
def _run_steps(net: Network, W, samples, idx, eta):
    """W after idx.shape[0] steps of every replica; idx (n, R, B)."""

    def step(w, idx_r):
        g = jax.grad(net.loss)(w, samples.take(idx_r))
        return jax.tree_util.tree_map(lambda a, b: a - eta * b, w, g)

    return jax.lax.scan(lambda W, idx_k: (jax.vmap(step)(W, idx_k), None), W, idx)[0]


def run_replicas(net: Network, X, y, *, eta: float, batch_size: int, n_steps: int, n_replicas: int = 1,
                 sampling: str = "with_replacement", seed=0, first_replica: int = 0, record_every: int | None = None,
                 chunk_steps: int = 256) -> ReplicaRun:
    """SGD of replicas ``first_replica`` … ``first_replica + n_replicas − 1`` from w₀ (``net.params``) on (X, y).
    DivergenceError when a replica's parameters are non-finite at the end of a chunk."""
    eta = require_positive("eta", eta)
    samples = net.samples(X, y)
    P = samples.n_samples
    B = require_int_in_range("batch_size", batch_size, 1, P)
    require_int_in_range("n_steps", n_steps, 0)
    R = require_int_in_range("n_replicas", n_replicas, 1)
    require_int_in_range("first_replica", first_replica, 0)
    require_choice("sampling", sampling, INDEX_SCHEMES)
    if record_every is not None:
        chunk_steps = require_int_in_range("record_every", record_every, 1)
    chunk_steps = require_int_in_range("chunk_steps", chunk_steps, 1)
    samplers = [MinibatchSampler(np.random.default_rng(child_seed(seed, first_replica + r)), sampling, P, B)
                for r in range(R)]
    W = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (R,) + a.shape), net.params)
    flat = jax.vmap(net.flatten)
    records, steps, done = [flat(W)], [0], 0
    while done < n_steps:
        n = min(chunk_steps, n_steps - done)
        idx = np.concatenate([s.draw(n) for s in samplers], axis=1)              # (n, R, B)
        W = _run_steps(net, W, samples, jnp.asarray(idx), eta)
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
