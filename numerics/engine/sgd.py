"""Replica SGD engine: R independent SGD runs in lockstep, vectorised over replicas.

w_{k+1} = w_k − η ĝ_k, ĝ_k = mean of per-sample gradients over a minibatch of size B drawn per replica.
Sampling schemes (ARCHITECTURE.md): ``with_replacement``, ``without_replacement`` (a uniformly random B-subset
per step, independent across steps), ``epoch`` (random reshuffling: P // B minibatches per epoch; a
last incomplete minibatch is dropped; the indices of all three from :mod:`numerics.engine.minibatches`) and
``online`` (fresh samples from a data model every step).

Observers and the run record live in :mod:`numerics.engine.replicas` (shared with the fast engine) and are
importable from here. Replicas run in blocks of ``block_size``; block b draws from ``SeedSequence(seed)``'s b-th child, so
the result depends on (seed, block_size) but not on how blocks are scheduled.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from derivations.conventions import SAMPLING_SCHEMES

from numerics.engine import limits, progress as progress_bars
from numerics.engine.data import Dataset
from numerics.errors import DivergenceError, ParameterError, require_choice, require_int_in_range, require_positive
from numerics.engine.replicas import MomentObserver, Observer, SGDRun, TrajectoryObserver, initial_weights
from numerics.engine.minibatches import MinibatchSampler
from numerics.engine.rng import child_seed

BACKENDS = ("numpy", "fast", "auto")

__all__ = ["run_sgd", "SGDRun", "Observer", "MomentObserver", "TrajectoryObserver", "SAMPLING_SCHEMES", "BACKENDS"]


def _minibatches(data, sampling: str, batch_size: int, rng: np.random.Generator, n_replicas: int):
    """A function drawing one step's minibatches (X (R, B, N), y (R, B)) of a block's replicas."""
    if sampling == "online":
        return lambda: data.sample(rng, (n_replicas, batch_size))
    sampler = MinibatchSampler(rng, sampling, data.n_samples, batch_size, n_replicas)

    def draw():
        idx = sampler.draw()[0]
        return data.X[idx], data.y[idx]

    return draw


def run_sgd(model, data, *, eta: float, batch_size: int, n_steps: int,
            n_replicas: int = 1, sampling: str = "with_replacement", w0=None, seed=0,
            observers: Sequence[Observer] = (), block_size: int = 1024, check_every: int = 50,
            divergence_bound: float = 1e6, progress: bool | None = None, check_stability: bool = True,
            stop_when: Callable[[np.ndarray], np.ndarray] | None = None, stop_every: int = 1,
            backend: str = "numpy") -> SGDRun:
    """Run ``n_replicas`` independent SGD chains for ``n_steps`` steps, vectorised over replicas.

    Update: w_{k+1} = w_k − η (1/B) Σ_{b} ∇ℓ_{i_b}(w_k) (the minibatch indices i_b drawn per replica by
    ``sampling``). Observers see the weights at every step k = 0..n_steps. Divergence (non-finite weights
    or |w| > ``divergence_bound``, checked every ``check_every`` steps) raises :class:`DivergenceError`
    naming the step and η, with the observers gathered so far in ``error.partial``.
    ``stop_when(w) -> bool mask (R,)`` (checked every ``stop_every`` steps and at step 0) freezes replicas
    once they satisfy it (e.g. a perceptron fitting all training margins); the step is recorded in
    ``run.info["stopped_at"]`` (−1: never stopped). A block ends early when all its replicas stopped:
    observers see the frozen weights until then and nothing after (trajectories stay NaN there).
    Runs beyond the caps of :mod:`numerics.engine.limits` (steps per run, memory) are refused before they start;
    ``progress`` (None: the process-wide setting of :mod:`numerics.engine.progress`) shows a bar with an ETA.
    Models that know their stability bound (``model.check_stability(data, eta, batch_size, sampling)``,
    e.g. least squares) refuse an unstable η before running unless ``check_stability=False``.

    ``backend``: "numpy" (default; this engine, streams seeded per block of ``block_size`` replicas);
    "fast" (:mod:`numerics.engine.fast`: least squares with/without replacement only, no ``stop_when``; numba
    kernel, or its numpy fallback without numba; counter-based streams keyed by (seed, replica, step),
    so ``block_size`` does not matter; statistically identical to "numpy", not bitwise); "auto" ("fast"
    when the problem allows it, numba is installed and the observers need few kernel launches, else "numpy").
    """
    eta = require_positive("eta", eta)
    require_choice("sampling", sampling, SAMPLING_SCHEMES)
    require_int_in_range("n_steps", n_steps, 1)
    require_int_in_range("n_replicas", n_replicas, 1)
    require_int_in_range("block_size", block_size, 1)
    online = not isinstance(data, Dataset)  # a data model: anything with .sample(rng, shape) -> (X, y)
    if online and not hasattr(data, "sample"):
        raise ParameterError(f"data must be a Dataset or a data model with .sample(rng, shape); got {type(data).__name__}")
    if online != (sampling == "online"):
        raise ParameterError("sampling='online' needs a data model (e.g. GaussianTeacher) and a data model needs "
                             f"sampling='online'; got sampling={sampling!r} with {type(data).__name__}")
    if online:
        require_int_in_range("batch_size", batch_size, 1)
    else:
        require_int_in_range("batch_size", batch_size, 1, data.n_samples)
    require_choice("backend", backend, BACKENDS)
    limits.require_steps(n_steps, f"SGD with eta={eta:g}")
    limits.require_memory(3 * limits.float_array_bytes(n_replicas, model.n_params),  # weights, a block's copies
                          f"SGD with {n_replicas} replicas")
    if check_stability and hasattr(model, "check_stability"):
        model.check_stability(data, eta, batch_size, sampling)
    if backend != "numpy":
        from numerics.engine import fast

        reason = fast.fast_path_reason(model, data, sampling, stop_when)
        if backend == "fast" and reason:
            raise ParameterError(f"backend='fast' cannot run this: {reason}; use backend='numpy'")
        if backend == "fast" or (reason is None and fast.HAVE_NUMBA and fast.kernel_launches(
                observers, n_replicas, model.n_params, n_steps) <= max(8, n_steps // 64)):
            return fast.run_fast(model, data, eta=eta, batch_size=batch_size, n_steps=n_steps,
                                 n_replicas=n_replicas, sampling=sampling, w0=w0, seed=seed, observers=observers,
                                 check_every=check_every, divergence_bound=divergence_bound, progress=progress)
    n_params = model.n_params
    w_all = initial_weights(w0, n_replicas, n_params)
    for obs in observers:
        obs.allocate(n_replicas, n_params, n_steps)
    n_blocks = -(-n_replicas // block_size)
    bar = progress_bars.bar(n_blocks * n_steps, f"SGD eta={eta:.3g}", enabled=progress)
    stopped_at = np.full(n_replicas, -1, dtype=np.int64)
    for b in range(n_blocks):
        sl = slice(b * block_size, min((b + 1) * block_size, n_replicas))
        rng = np.random.default_rng(child_seed(seed, b))
        draw = _minibatches(data, sampling, batch_size, rng, sl.stop - sl.start)
        w = w_all[sl]
        done = _stopped(stop_when, w, 0, stopped_at[sl])
        for obs in observers:
            obs.update(0, w, sl)
        with np.errstate(over="ignore", invalid="ignore"):
            for k in range(1, n_steps + 1):
                X, y = draw()
                step = eta * model.minibatch_gradient(w, X, y)
                # finished replicas are frozen; they still draw minibatches so that the random
                # stream of every other replica does not depend on when they stopped
                w = w - step if done is None else np.where(done[:, None], w, w - step)
                if k % check_every == 0 or k == n_steps:
                    _check_divergence(w, k, eta, divergence_bound, observers, w_all, sl)
                    bar.update(check_every if k % check_every == 0 else k % check_every)
                if stop_when is not None and k % stop_every == 0:
                    done = _stopped(stop_when, w, k, stopped_at[sl])
                for obs in observers:
                    obs.update(k, w, sl)
                if done is not None and done.all():
                    bar.update((n_steps - k) - (n_steps - k) % check_every)
                    break
        w_all[sl] = w
    bar.close()
    info = {"stopped_at": stopped_at} if stop_when is not None else {}
    return SGDRun(w_all, observers, n_steps, eta, batch_size, sampling, seed, info)


def _stopped(stop_when, w, step, stopped_at):
    """Update ``stopped_at`` (in place) for replicas that satisfy ``stop_when`` now; return the done mask."""
    if stop_when is None:
        return None
    now = np.asarray(stop_when(w), dtype=bool) & (stopped_at < 0)
    stopped_at[now] = step
    return stopped_at >= 0


def _check_divergence(w, step, eta, bound, observers, w_all, sl) -> None:
    bad = ~np.isfinite(w).all(axis=1) | (np.abs(w).max(axis=1) > bound)
    if bad.any():
        raise DivergenceError(
            f"SGD diverged by step {step} with eta={eta:g}: {int(bad.sum())} of {len(w)} replicas in the block "
            f"{sl.start}..{sl.stop - 1} are non-finite or exceed |w| > {bound:g}; lower eta (or raise the batch size)",
            step=step, eta=eta, partial={"observers": observers, "final": w_all})
