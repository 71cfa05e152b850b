"""What the replica engines share: initial weights, the record of a run, and the observers.

An observer sees the weights (R, n) of a block of replicas at the steps it needs and declares what a compiled
engine may compute for it inside its kernel (:meth:`Observer.kernel_statistic`); the engines
(:func:`numerics.engine.sgd.run_sgd`, :mod:`numerics.engine.fast`) ask the observer, never its type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from numerics.engine import limits
from numerics.errors import ParameterError


def initial_weights(w0, n_replicas: int, n_params: int) -> np.ndarray:
    """The (R, n) starting weights: zeros (``w0`` None), one vector for every replica, or one per replica."""
    if w0 is None:
        return np.zeros((n_replicas, n_params))
    w = np.asarray(w0, dtype=float)
    if w.shape == (n_params,):
        return np.broadcast_to(w, (n_replicas, n_params)).copy()
    if w.shape == (n_replicas, n_params):
        return w.copy()
    raise ParameterError(f"w0 must have shape ({n_params},) or ({n_replicas}, {n_params}), got {w.shape}")


class Observer:
    """Receives the weights of a replica block during a run (override ``allocate``/``update``)."""

    def allocate(self, n_replicas: int, n_params: int, n_steps: int) -> None:  # pragma: no cover - interface
        pass

    def update(self, step: int, w: np.ndarray, replicas: slice) -> None:  # pragma: no cover - interface
        pass

    def kernel_statistic(self, n_params: int) -> str | None:
        """What a compiled engine may accumulate for this observer inside its kernel: ``"moments"`` (time
        averages of w itself), ``"second_moments"`` (:class:`SecondMomentObserver`), ``"trajectory"`` (w at its
        steps), or None: the engine calls :meth:`update` with the weights at :meth:`needed_steps`."""
        return None

    def needed_steps(self, n_steps: int) -> np.ndarray:
        """The steps (0..n_steps) at which :meth:`update` needs the weights."""
        return np.arange(n_steps + 1)


class MomentObserver(Observer):
    """Time averages of features f(w) after a burn-in, per replica, kept in ``n_batches`` time batches.

    ``features`` maps weights (R, n) to (R, k) (default: w itself). After the run, ``batch_means``
    has shape (n_batches, R, k): per-replica means over consecutive stretches of time, from which
    ``numerics.stats`` computes error bars (independent replicas, and batch means within a replica).
    Every ``every``-th step after ``burn_in`` is recorded.
    """

    def __init__(self, features: Callable[[np.ndarray], np.ndarray] | None = None, *, burn_in: int = 0,
                 every: int = 1, n_batches: int = 16):
        self.features = features or (lambda w: w)
        self.burn_in, self.every, self.n_batches = burn_in, max(1, every), n_batches

    def allocate(self, n_replicas, n_params, n_steps):
        recorded = (n_steps - self.burn_in) // self.every
        if recorded < self.n_batches:
            raise ParameterError(f"n_steps - burn_in = {n_steps - self.burn_in} leaves {recorded} recorded steps, "
                                 f"fewer than n_batches = {self.n_batches}")
        self._per_batch = recorded // self.n_batches
        self._sums = None
        self._n_replicas = n_replicas
        self.n_recorded = self._per_batch * self.n_batches

    def update(self, step, w, replicas):
        offset = step - self.burn_in
        if offset < 0 or offset % self.every:
            return
        index = offset // self.every
        if index >= self.n_recorded:
            return
        f = self.features(w)
        if self._sums is None:
            self._sums = limits.full((self.n_batches, self._n_replicas, f.shape[1]), 0.0, "the moment observer")
        self._sums[index // self._per_batch, replicas] += f

    def kernel_statistic(self, n_params):
        return "moments" if _is_identity(self.features, n_params) else None

    def needed_steps(self, n_steps):
        return self.burn_in + self.every * np.arange(self.n_recorded)

    @property
    def batch_means(self) -> np.ndarray:
        return self._sums / self._per_batch

    @property
    def replica_means(self) -> np.ndarray:
        """Per-replica time averages, shape (R, k)."""
        return self.batch_means.mean(axis=0)


class TrajectoryObserver(Observer):
    """Records f(w) every ``stride`` steps (step 0 included): ``values`` has shape (T, R, k)."""

    def __init__(self, features: Callable[[np.ndarray], np.ndarray] | None = None, *, stride: int = 1):
        self.features = features or (lambda w: w)
        self.stride = max(1, stride)

    def kernel_statistic(self, n_params):
        return "trajectory"  # a kernel stores the weights; update() applies the features afterwards

    def needed_steps(self, n_steps):
        return self.steps

    def allocate(self, n_replicas, n_params, n_steps):
        self.steps = np.arange(0, n_steps + 1, self.stride)
        self._n_replicas, self.values = n_replicas, None

    def update(self, step, w, replicas):
        if step % self.stride:
            return
        f = self.features(w)
        if self.values is None:
            self.values = limits.full((len(self.steps), self._n_replicas, f.shape[1]), np.nan, "the trajectory observer")
        self.values[step // self.stride, replicas] = f


@dataclass
class SGDRun:
    """Outcome of :func:`run_sgd`: final weights (R, n) and the observers, filled."""

    final: np.ndarray
    observers: Sequence[Observer]
    n_steps: int
    eta: float
    batch_size: int
    sampling: str
    seed: object = None
    info: dict = field(default_factory=dict)


class SecondMomentObserver(MomentObserver):
    """Time averages of δ = w − ``center`` and of δ_iδ_j (i ≤ j) per replica, after ``burn_in``.

    A :class:`MomentObserver` (``batch_means`` of shape (n_batches, R, n + n(n+1)/2)), so the reference
    engine computes it through ``features``; the fast engine accumulates it inside its kernel.
    ``second_moments()`` unpacks the per-replica time averages of δδᵀ, shape (R, n, n).
    """

    def __init__(self, center, *, burn_in: int = 0, every: int = 1, n_batches: int = 16):
        self.center = np.asarray(center, dtype=float).ravel()
        n = self.center.size
        self._iu = np.triu_indices(n)

        def features(w):
            d = w - self.center
            return np.concatenate([d, d[:, self._iu[0]] * d[:, self._iu[1]]], axis=1)

        super().__init__(features, burn_in=burn_in, every=every, n_batches=n_batches)

    def kernel_statistic(self, n_params):
        return "second_moments"

    def allocate(self, n_replicas, n_params, n_steps):
        if n_params != self.center.size:
            raise ParameterError(f"center has {self.center.size} entries, the model has {n_params} parameters")
        super().allocate(n_replicas, n_params, n_steps)

    def means(self) -> np.ndarray:
        """Per-replica time averages of δ, shape (R, n)."""
        return self.replica_means[:, :self.center.size]

    def second_moments(self) -> np.ndarray:
        """Per-replica time averages of δδᵀ, shape (R, n, n)."""
        n = self.center.size
        flat = self.replica_means[:, n:]
        out = np.empty((flat.shape[0], n, n))
        out[:, self._iu[0], self._iu[1]] = flat
        out[:, self._iu[1], self._iu[0]] = flat
        return out


def _is_identity(features, n_params: int) -> bool:
    """Whether ``features`` returns its input unchanged (then a kernel can average w itself)."""
    probe = np.random.default_rng(0).standard_normal((3, n_params))
    out = features(probe)
    return isinstance(out, np.ndarray) and out.shape == probe.shape and np.array_equal(out, probe)
