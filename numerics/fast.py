"""Fast path of the replica engine: least-squares minibatch SGD with counter-based random streams.

Same dynamics as :func:`numerics.sgd.run_sgd` (ℓ = ½(wᵀx − y)², L = mean over samples,
w_{k+1} = w_k − η ĝ_k, ĝ_k the mean of the per-sample gradients x_i (wᵀx_i − y_i) over the minibatch)
for ``sampling="with_replacement"`` (B indices i.i.d. uniform on 0..P−1) and ``"without_replacement"``
(a uniform B-subset each step, drawn by Floyd's algorithm), but with a different source of randomness:

Counter-based streams. The 32-bit draw d = 0..B−1 of replica r at step k (k = 1..n_steps) is a pure
function of (seed, r, k, d): with mix = the SplitMix64 finaliser (a bijection of 64-bit words),
γ = 0x9E3779B97F4A7C15, (s₀, s₁) = ``SeedSequence(seed).generate_state(2, uint64)`` and J = ⌈B/2⌉,

    key_r = mix(s₀ + (r + 1) γ),   word(r, k, j) = mix(key_r ⊕ mix(s₁ + (k J + j + 1) γ)),

draw d is the low (d even) or high (d odd) half of word(r, k, ⌊d/2⌋), mapped to 0..n−1 by Lemire's
multiply-shift with exact rejection (a rejected value h is replaced by the high half of mix(h + γ)).
Results therefore do not depend on the number of threads, on how replicas are blocked, nor on how a run
is cut into segments (``block_size`` is ignored). They are statistically identical to the reference
engine's but not bitwise equal to it (numpy's PCG64 streams per block are not reproduced).

Two implementations of the same streams: a numba kernel (parallel over replicas, many steps fused, the
weights kept in registers/L1, the moments of the common observers accumulated inside the kernel) and a
numpy fallback (vectorised over replicas, one Python iteration per step) used when numba is absent.
They draw identical minibatches; the weights agree up to floating-point summation order.
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from .data import Dataset
from .errors import DivergenceError, ParameterError
from .models import LeastSquares
from .rng import as_seed_sequence
from .sgd import MomentObserver, Observer, SGDRun, TrajectoryObserver, _initial_weights, _progress

try:  # numba is optional (extra "fast"); without it the numpy fallback below runs the same streams
    import numba
except ImportError:  # pragma: no cover - exercised on machines without numba
    numba = None

HAVE_NUMBA = numba is not None
FAST_SAMPLING = ("with_replacement", "without_replacement")

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)
_MASK32 = np.uint64(0xFFFFFFFF)
_ONE = np.uint64(1)


def _maybe_jit(fn):
    """Compile a scalar/array uint64 helper with numba when available (numba also maps it over arrays)."""
    return numba.njit(cache=True, inline="always")(fn) if HAVE_NUMBA else fn


@_maybe_jit
def _mix(z):
    """SplitMix64 finaliser (Stafford's Mix13): a bijection of uint64 words (scalars or arrays)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@_maybe_jit
def _replica_key(s0, r):
    """key_r = mix(s₀ + (r + 1) γ)."""
    return _mix(s0 + (r + _ONE) * _GAMMA)


@_maybe_jit
def _word(key, s1, counter):
    """word = mix(key_r ⊕ mix(s₁ + (counter + 1) γ)), counter = k J + j."""
    return _mix(key ^ _mix(s1 + (counter + _ONE) * _GAMMA))


_CHUNK = 4096  # steps per kernel launch at most (bounds the per-launch tables)
_FLAG_CHECK, _FLAG_MOMENT, _FLAG_TRAJ = 1, 2, 4

if HAVE_NUMBA:
    _jit = numba.njit(cache=True, inline="always")

    @_jit
    def _bounded_nb(h, n, threshold):
        """Lemire's multiply-shift: a 32-bit h → uniform on 0..n−1, exact: the biased low values
        (m mod 2³² < threshold = 2³² mod n) are rejected and h replaced by the high half of mix(h + γ).
        ``threshold`` < 0: not precomputed (computed only in the rare case it can matter).
        Vectorised twin: _bounded_numpy."""
        m = h * n
        if (m & _MASK32) < n:
            if threshold < 0:
                threshold = np.int64(((_MASK32 + _ONE) - n) % n)
            while (m & _MASK32) < np.uint64(threshold):
                h = _mix(h + _GAMMA) >> _S32
                m = h * n
        return np.int64(m >> _S32)

    @functools.lru_cache(maxsize=None)
    def _kernel_for(n_features: int, batch_size: int, without: bool):
        """A kernel compiled for these sizes (loops of known length, unrolled where short; numba caches it
        on disk per (N, B, scheme): the first run of a new size compiles for ~5–10 s).

        Replicas run in tiles of TR (4 for N ≤ 16: independent dependency chains interleave) with the
        weights of a tile in a small local array for all the fused steps.
        """
        NC, BC, TR, WO = int(n_features), int(batch_size), 4 if n_features <= 16 else 1, bool(without)

        @numba.njit(cache=True, parallel=True, fastmath={"contract", "reassoc", "arcp"})
        def kernel(w, X, y, eta, s0, s1, k0, k1, flags, diverged, bound,
                   mom, mom_kind, center, burn_in, every, per_batch, traj, stride):
            """Steps k0+1..k1 of every replica in place on w (R, N) (step k0 observed too when k0 = 0).

            flags[k − k0]: bit 1 check divergence, bit 2 record moments, bit 4 save the trajectory.
            mom_kind 1: mom[batch, r] += w; 2: mom[batch, r] += (δ, δ_iδ_j for i ≤ j), δ = w − center.
            diverged[r]: first checked step at which replica r was non-finite or beyond ``bound``.
            """
            R = w.shape[0]
            N, B = NC, BC
            P = X.shape[0]
            J = (B + 1) // 2
            c = eta / B
            n_k = k1 - k0
            T = np.empty((n_k + 1, J), np.uint64)  # mix(s1 + (kJ + j + 1)γ): shared by all replicas
            for dk in range(n_k + 1):
                for j in range(J):
                    T[dk, j] = _mix(s1 + (np.uint64((k0 + dk) * J + j) + _ONE) * _GAMMA)
            thr = np.int64(((1 << 32) - P) % P)
            for t in numba.prange((R + TR - 1) // TR):
                keys = np.empty(TR, np.uint64)
                wl = np.zeros((TR, N))
                g = np.empty((TR, N))
                idx = np.empty((TR, B), np.int64)
                for q in range(TR):
                    r = min(t * TR + q, R - 1)  # a short last tile repeats its last replica (not stored twice)
                    keys[q] = _replica_key(s0, np.uint64(r))
                    for n in range(N):
                        wl[q, n] = w[r, n]
                for dk in range(n_k + 1):
                    k = k0 + dk
                    if dk > 0:
                        for q in range(TR):
                            word = np.uint64(0)
                            for d in range(B):
                                if d % 2 == 0:
                                    word = _mix(keys[q] ^ T[dk, d // 2])
                                    h = word & _MASK32
                                else:
                                    h = word >> _S32
                                if not WO:
                                    idx[q, d] = _bounded_nb(h, np.uint64(P), thr)
                                else:  # Floyd: u uniform on 0..top; if u is taken already, take top
                                    top = P - B + d
                                    u = _bounded_nb(h, np.uint64(top + 1), -1)
                                    for e in range(d):
                                        if idx[q, e] == u:
                                            u = top
                                            break
                                    idx[q, d] = u
                        for q in range(TR):
                            for n in range(N):
                                g[q, n] = 0.0
                            for b in range(B):
                                i = idx[q, b]
                                res = -y[i]
                                for n in range(N):
                                    res += X[i, n] * wl[q, n]
                                for n in range(N):
                                    g[q, n] += res * X[i, n]
                            for n in range(N):
                                wl[q, n] -= c * g[q, n]
                    elif k != 0:
                        continue
                    f = flags[dk]
                    if f == 0:
                        continue
                    for q in range(TR):
                        r = t * TR + q
                        if r >= R:
                            break
                        if f & _FLAG_CHECK:
                            for n in range(N):
                                if not (abs(wl[q, n]) <= bound) and diverged[r] < 0:  # NaN compares false
                                    diverged[r] = k
                        if f & _FLAG_MOMENT:
                            m = mom[((k - burn_in) // every) // per_batch, r]
                            if mom_kind == 1:
                                for n in range(N):
                                    m[n] += wl[q, n]
                            else:
                                p = N
                                for a in range(N):
                                    da = wl[q, a] - center[a]
                                    m[a] += da
                                    for a2 in range(a, N):
                                        m[p] += da * (wl[q, a2] - center[a2])
                                        p += 1
                        if f & _FLAG_TRAJ:
                            for n in range(N):
                                traj[k // stride, r, n] = wl[q, n]
                for q in range(TR):
                    r = t * TR + q
                    if r < R:
                        for n in range(N):
                            w[r, n] = wl[q, n]

        return kernel


def draw_minibatches(seed, replicas, step: int, batch_size: int, n_samples: int, sampling: str) -> np.ndarray:
    """The indices (len(replicas), B) that the fast engine draws at ``step`` (numpy; the kernel draws the same)."""
    s0, s1 = _seed_words(seed)
    r = np.asarray(replicas, dtype=np.uint64)
    return _draw_numpy(_replica_key(s0, r), s1, step, batch_size, n_samples, sampling == "without_replacement")


def _seed_words(seed) -> tuple[np.uint64, np.uint64]:
    s0, s1 = as_seed_sequence(seed).generate_state(2, np.uint64)
    return np.uint64(s0), np.uint64(s1)


def _bounded_numpy(h: np.ndarray, n: int) -> np.ndarray:
    """Vectorised twin of the kernel's _bounded_nb (same rejection chain)."""
    n64 = np.uint64(n)
    threshold = np.uint64(((1 << 32) - n) % n)
    m = h * n64
    bad = (m & _MASK32) < threshold
    while bad.any():
        h = np.where(bad, _mix(h + _GAMMA) >> _S32, h)
        m = h * n64
        bad = (m & _MASK32) < threshold
    return (m >> _S32).astype(np.int64)


def _draw_numpy(keys: np.ndarray, s1, step: int, B: int, P: int, without: bool) -> np.ndarray:
    J = (B + 1) // 2
    idx = np.empty((keys.size, B), dtype=np.int64)
    for d in range(B):
        if d % 2 == 0:
            word = _word(keys, s1, np.uint64(step * J + d // 2))
            h = word & _MASK32
        else:
            h = word >> _S32
        if not without:
            idx[:, d] = _bounded_numpy(h, P)
        else:
            top = P - B + d
            t = _bounded_numpy(h, top + 1)
            taken = (idx[:, :d] == t[:, None]).any(axis=1)
            idx[:, d] = np.where(taken, top, t)
    return idx


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


def fast_path_reason(model, data, sampling: str, stop_when) -> str | None:
    """None if the fast engine can run this problem, else why not."""
    if type(model) is not LeastSquares:
        return f"the fast engine runs numerics.models.LeastSquares only, got {type(model).__name__}"
    if not isinstance(data, Dataset) or sampling not in FAST_SAMPLING:
        return f"the fast engine needs a Dataset and sampling in {FAST_SAMPLING}, got sampling={sampling!r}"
    if stop_when is not None:
        return "the fast engine does not support stop_when"
    return None


def _host_steps(obs: Observer, n_steps: int) -> np.ndarray:
    """The steps at which an observer that the kernel does not serve needs the weights."""
    if isinstance(obs, MomentObserver):
        return obs.burn_in + obs.every * np.arange(obs.n_recorded)
    if isinstance(obs, TrajectoryObserver):
        return obs.steps
    return np.arange(n_steps + 1)


def _is_identity(features, n_params: int) -> bool:
    probe = np.random.default_rng(0).standard_normal((3, n_params))
    out = features(probe)
    return isinstance(out, np.ndarray) and out.shape == probe.shape and np.array_equal(out, probe)


def _plan(observers: Sequence[Observer], n_steps: int, n_params: int):
    """Assign observers (allocated): one moment observer (of w itself, or a :class:`SecondMomentObserver`)
    and one trajectory observer to the kernel, the rest to the host; and the steps where the kernel stops."""
    kernel_mom = kernel_traj = None
    host = []
    for obs in observers:
        if kernel_mom is None and (isinstance(obs, SecondMomentObserver) or type(obs) is MomentObserver
                                   and _is_identity(obs.features, n_params)):
            kernel_mom = obs
        elif kernel_traj is None and isinstance(obs, TrajectoryObserver):
            kernel_traj = obs
        else:
            host.append(obs)
    stops = np.unique(np.concatenate([[n_steps], np.arange(_CHUNK, n_steps, _CHUNK),
                                      *(_host_steps(o, n_steps) for o in host)]))
    return kernel_mom, kernel_traj, host, stops[(stops > 0) & (stops <= n_steps)]


def run_fast(model, data: Dataset, *, eta: float, batch_size: int, n_steps: int, n_replicas: int,
             sampling: str, w0, seed, observers: Sequence[Observer], check_every: int,
             divergence_bound: float, progress: bool, use_numba: bool | None = None) -> SGDRun:
    """The fast engine behind ``run_sgd(..., backend="fast")`` (arguments validated there).

    ``use_numba``: None — the numba kernel when numba is installed, else the numpy fallback; True/False to force.
    """
    reason = fast_path_reason(model, data, sampling, None)
    if reason:
        raise ParameterError(reason)
    if use_numba is None:
        use_numba = HAVE_NUMBA
    if use_numba and not HAVE_NUMBA:
        raise ParameterError("numba is not installed (pip install 'sgdnoise[fast]'); use the numpy fallback")
    n_params = model.n_params
    w = _initial_weights(w0, n_replicas, n_params)
    for obs in observers:
        obs.allocate(n_replicas, n_params, n_steps)
    s0, s1 = _seed_words(seed)
    X, y = np.ascontiguousarray(data.X), np.ascontiguousarray(data.y)
    runner = _run_kernel if use_numba else _run_numpy
    w = runner(w, X, y, eta, batch_size, sampling == "without_replacement", s0, s1, n_steps, observers,
               check_every, divergence_bound, progress)
    return SGDRun(w, observers, n_steps, eta, batch_size, sampling, seed,
                  {"backend": "fast-numba" if use_numba else "fast-numpy"})


def _raise_divergence(step: int, eta: float, count: int, total: int, bound: float, observers, w) -> None:
    raise DivergenceError(
        f"SGD diverged by step {step} with eta={eta:g}: {count} of {total} replicas are non-finite or exceed "
        f"|w| > {bound:g}; lower eta (or raise the batch size)",
        step=step, eta=eta, partial={"observers": observers, "final": w})


def _step_flags(k0: int, k1: int, n_steps: int, check_every: int, mom, traj) -> np.ndarray:
    """Per-step event bits for the kernel on steps k0..k1 (see the kernel's docstring)."""
    k = np.arange(k0, k1 + 1)
    flags = np.where(((k % check_every == 0) | (k == n_steps)) & (k > k0), _FLAG_CHECK, 0)
    if mom is not None:
        offset = k - mom.burn_in
        rec = (offset >= 0) & (offset % mom.every == 0) & (offset // mom.every < mom.n_recorded)
        flags |= np.where(rec, _FLAG_MOMENT, 0)
    if traj is not None:
        flags |= np.where(k % traj.stride == 0, _FLAG_TRAJ, 0)
    return flags.astype(np.int64)


def _run_kernel(w, X, y, eta, B, without, s0, s1, n_steps, observers, check_every, bound, progress):
    R, N = w.shape
    kernel = _kernel_for(N, B, without)
    kernel_mom, kernel_traj, host, stops = _plan(observers, n_steps, N)
    if kernel_mom is not None:
        second = isinstance(kernel_mom, SecondMomentObserver)
        kernel_mom._sums = np.zeros((kernel_mom.n_batches, R, N + N * (N + 1) // 2 if second else N))
        mom_args = (kernel_mom._sums, 2 if second else 1, kernel_mom.center if second else np.zeros(N),
                    kernel_mom.burn_in, kernel_mom.every, kernel_mom._per_batch)
    else:
        mom_args = (np.zeros((1, 1, 1)), 0, np.zeros(N), 0, 1, 1)
    if kernel_traj is not None:
        traj, stride = np.full((len(kernel_traj.steps), R, N), np.nan), kernel_traj.stride
    else:
        traj, stride = np.zeros((1, 1, N)), 1  # unused (no trajectory bit is set)
    diverged = np.full(R, -1, dtype=np.int64)
    bar = _progress(R * n_steps, progress)
    for obs in host:
        obs.update(0, w, slice(0, R))
    k0 = 0
    with np.errstate(over="ignore", invalid="ignore"):
        for k1 in stops:
            flags = _step_flags(k0, int(k1), n_steps, check_every, kernel_mom, kernel_traj)
            kernel(w, X, y, float(eta), s0, s1, k0, int(k1), flags, diverged, float(bound), *mom_args, traj, stride)
            bar.update(R * (int(k1) - k0))
            if (diverged >= 0).any():
                bar.close()
                bad = diverged[diverged >= 0]
                _raise_divergence(int(bad.min()), eta, bad.size, R, bound, observers, w)
            k0 = int(k1)
            for obs in host:
                obs.update(k0, w, slice(0, R))
    bar.close()
    if kernel_traj is not None:
        for t, step in enumerate(kernel_traj.steps):
            kernel_traj.update(int(step), traj[t], slice(0, R))
    return w


def _run_numpy(w, X, y, eta, B, without, s0, s1, n_steps, observers, check_every, bound, progress):
    R = w.shape[0]
    keys = _replica_key(s0, np.arange(R, dtype=np.uint64))
    model = LeastSquares(X.shape[1])
    bar = _progress(R * n_steps, progress)
    for obs in observers:
        obs.update(0, w, slice(0, R))
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, n_steps + 1):
            idx = _draw_numpy(keys, s1, k, B, X.shape[0], without)
            w = w - eta * model.minibatch_gradient(w, X[idx], y[idx])
            if k % check_every == 0 or k == n_steps:
                bad = ~(np.abs(w) <= bound).all(axis=1)
                if bad.any():
                    bar.close()
                    _raise_divergence(k, eta, int(bad.sum()), R, bound, observers, w)
                bar.update(R * (check_every if k % check_every == 0 else k % check_every))
            for obs in observers:
                obs.update(k, w, slice(0, R))
    bar.close()
    return w


def kernel_launches(observers: Sequence[Observer], n_replicas: int, n_params: int, n_steps: int) -> int:
    """How many kernel launches a run needs: one per step where a host-side observer looks, plus one
    (observers are allocated here). ``backend="auto"`` takes the fast engine only when this is small."""
    for obs in observers:
        obs.allocate(n_replicas, n_params, n_steps)
    return len(_plan(observers, n_steps, n_params)[3])


__all__ = ["HAVE_NUMBA", "FAST_SAMPLING", "SecondMomentObserver", "run_fast", "draw_minibatches",
           "fast_path_reason", "kernel_launches"]
