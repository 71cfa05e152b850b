"""Fast path of the replica engine: least-squares minibatch SGD with counter-based random streams.

Same dynamics as :func:`numerics.engine.sgd.run_sgd` (ℓ = ½(wᵀx − y)², L = mean over samples,
w_{k+1} = w_k − η ĝ_k, ĝ_k the mean of the per-sample gradients x_i (wᵀx_i − y_i) over the minibatch)
for ``sampling="with_replacement"`` (B indices i.i.d. uniform on 0..P−1) and ``"without_replacement"``
(a uniform B-subset each step, drawn by Floyd's algorithm), but with a different source of randomness:

Counter-based streams (:mod:`numerics.engine.streams`): the minibatch of replica r at step k is a pure function
of (seed, r, k), so results do not depend on the number of threads, on how replicas are blocked, nor on how
a run is cut into segments (``block_size`` is ignored). They are statistically identical to the reference
engine's but not bitwise equal to it (numpy's PCG64 streams per block are not reproduced).

Two implementations of the same streams: numba kernels (parallel over replicas, many steps fused, the
per-replica state in stack scratch that stays in registers/L1, the moments of the common observers
accumulated inside the kernel) and a numpy fallback (vectorised over replicas, one Python iteration per
step) used when numba is absent. They draw identical minibatches; the weights agree up to rounding.

Two numba kernels, same steps, same observers, results equal to rounding (tested to 1e-10 relative):

- primal: per step and sample a dot product x_i·w and an axpy over the N weights (2BN flops);
- dual (residual space): per replica the residuals r_p = x_p·w − y_p (p = 1..P), updated by
  r ← r − Σ_b r_{i_b} G_c[i_b] with G_c = (η/B) X Xᵀ — B row updates of length P in 256-bit FMAs, no dot
  products; the weights are w = w_s − Σ_p β_p (η/B) x_p with β_{i_b} += r_{i_b} (exact: w − w_s stays in
  the row space of X, rank-deficient X included; nothing is inverted). The weights are formed where they
  are needed (divergence checks, kernel-side observers, the end of a launch); every 64 steps (k ≡ 0
  mod 64, a schedule of the run, not of its launches) w_s takes them and r is recomputed, so rounding
  drift does not accumulate and the trajectory does not depend on how the run is cut into launches.

Cost model (:func:`choose_kernel`; float64 FMAs per replica-step, 4-wide SIMD): primal = 2BN for N ≤ 16
(tiles of 4 replicas in scalar code) and 2B⌈N/4⌉ above (one replica vectorised over N); dual =
B⌈P/4⌉ + B + NP (f + 2/64), f the fraction of steps where a kernel-side observer or divergence check
needs the weights (launch ends are not counted). The dual kernel runs when it is the cheaper and
⌈P/4⌉·4 ≤ 1024. Measured on a 2-core AVX2 EPYC (replica-steps/s, dual vs primal): N=5, P=12, B=3 the dual
(small benchmark); N=5, P=32 or 64 the primal; N=16, P=32, B=4 the dual (1.8×); N=64, P=256, B=16 the
primal (3×, medium benchmark). The choice depends on the problem and the kernel-side observation schedule
only, so a run is bitwise reproducible; ``run.info["kernel"]`` says which ran.
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from derivations.conventions import FINITE_IID_SAMPLING

from numerics.engine import limits
from numerics.engine.data import Dataset
from numerics.errors import DivergenceError, ParameterError, require_choice
from numerics.engine.progress import bar as progress_bar
from numerics.engine.replicas import Observer, SecondMomentObserver, SGDRun, initial_weights
from numerics.engine.streams import (
    HAVE_NUMBA, MASK32, SHIFT32, counter_word, draw_indices, draw_minibatches, mix, replica_key, seed_words,
)

FAST_SAMPLING = FINITE_IID_SAMPLING  # the fast engine runs the finite-data schemes with independent steps
KERNELS = ("primal", "dual")

_CHUNK = 4096  # steps per kernel launch at most (bounds the per-launch tables)
_FLAG_CHECK, _FLAG_MOMENT, _FLAG_TRAJ = 1, 2, 4
_RESYNC = 64  # the dual kernel recomputes its residuals from the weights at every step k ≡ 0 (mod _RESYNC)
_TILED_N = 16  # the primal kernel runs tiles of 4 replicas (scalar code) up to this N, one vectorised replica above
_SIMD = 4  # float64 lanes of a 256-bit vector (AVX2): the dual kernel's row updates use this width
_DUAL_MAX_WIDTH = 1024  # the dual kernel keeps 2 rows of this many float64 per replica on the stack
_STACK_ITEMS = 8192  # per-tile scratch up to this many 8-byte items lives on the stack, larger on the heap

if HAVE_NUMBA:  # numba is a dependency; where it has no wheel the numpy fallback below runs the same streams
    import numba
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    from numerics.engine.streams import bounded

    _jit = numba.njit(cache=True, inline="always")

    @intrinsic
    def _stack_pointer(typingctx, size, dtype):
        """A pointer to ``size`` (a compile-time constant) uninitialised items of ``dtype`` in the calling
        function's stack frame. Scratch there is known to the optimiser not to alias the input arrays, so
        the per-replica state stays in registers and short loops are unrolled and scheduled freely."""
        if not isinstance(size, types.IntegerLiteral):
            return None

        def codegen(context, builder, signature, args):
            return cgutils.alloca_once(builder, context.get_value_type(dtype.dtype), size=size.literal_value)

        return types.CPointer(dtype.dtype)(size, dtype), codegen

    @intrinsic
    def _sub_scaled_row(typingctx, r, G, i, a, width):
        """r[:width] −= a · G[i, :width] in <4 x double> fused multiply-adds (``width`` a compile-time
        multiple of 4, r a 1-D and G a C-contiguous 2-D float64 array with G.shape[1] == width). LLVM does
        not vectorise this short update by itself (numba builds without the SLP vectoriser)."""
        if not isinstance(width, types.IntegerLiteral) or width.literal_value % _SIMD:
            return None
        W = width.literal_value

        def codegen(context, builder, signature, args):
            rv, gv, iv, av, _ = args
            r_ptr = context.make_array(signature.args[0])(context, builder, rv).data
            g_ptr = context.make_array(signature.args[1])(context, builder, gv).data
            vec = ir.VectorType(ir.DoubleType(), _SIMD)
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3), "llvm.fma.v4f64")
            neg_a = ir.Constant(vec, ir.Undefined)
            for lane in range(_SIMD):
                neg_a = builder.insert_element(neg_a, builder.fneg(av), ir.Constant(ir.IntType(32), lane))
            row = builder.gep(g_ptr, [builder.mul(iv, ir.Constant(ir.IntType(64), W))])
            for k in range(0, W, _SIMD):
                offset = [ir.Constant(ir.IntType(64), k)]
                rp = builder.bitcast(builder.gep(r_ptr, offset), vec.as_pointer())
                gp = builder.bitcast(builder.gep(row, offset), vec.as_pointer())
                new = builder.call(fma, [neg_a, builder.load(gp, align=8), builder.load(rp, align=8)])
                builder.store(new, rp, align=8)
            return context.get_dummy_value()

        return types.none(r, G, i, a, width), codegen

    @_jit
    def _draw_nb(idx, key, T, dk, P, thr, B, without):
        """The B indices of one replica at step k0 + dk into idx (see the module docstring)."""
        word = np.uint64(0)
        for d in range(B):
            if d % 2 == 0:
                word = mix(key ^ T[dk, d // 2])
                h = word & MASK32
            else:
                h = word >> SHIFT32
            if not without:
                idx[d] = bounded(h, np.uint64(P), thr)
            else:  # Floyd: u uniform on 0..top; if u is taken already, take top
                top = P - B + d
                u = bounded(h, np.uint64(top + 1), -1)
                for e in range(d):
                    if idx[e] == u:
                        u = top
                        break
                idx[d] = u

    @_jit
    def _observe(wq, r, k, f, diverged, bound, mom, mom_kind, center, burn_in, every, per_batch, traj, stride):
        """The kernel's observations of replica r's weights wq at step k with event bits f (see _kernel_for)."""
        N = wq.shape[0]
        if f & _FLAG_CHECK:
            for n in range(N):
                if not (abs(wq[n]) <= bound) and diverged[r] < 0:  # NaN compares false
                    diverged[r] = k
        if f & _FLAG_MOMENT:
            m = mom[((k - burn_in) // every) // per_batch, r]
            if mom_kind == 1:
                for n in range(N):
                    m[n] += wq[n]
            else:
                p = N
                for a in range(N):
                    da = wq[a] - center[a]
                    m[a] += da
                    for a2 in range(a, N):
                        m[p] += da * (wq[a2] - center[a2])
                        p += 1
        if f & _FLAG_TRAJ:
            for n in range(N):
                traj[k // stride, r, n] = wq[n]

    @_jit
    def _step_table(s1, k0, n_k, J):
        """T[dk, j] = mix(s₁ + ((k0 + dk) J + j + 1) γ): the replica-independent half of every word."""
        T = np.empty((n_k + 1, J), np.uint64)
        for dk in range(n_k + 1):
            for j in range(J):
                T[dk, j] = counter_word(s1, np.uint64((k0 + dk) * J + j))
        return T

    @_jit
    def _weights(out, w_sync, beta, Xc):
        """out = w_sync − Σ_p beta_p Xc[p] (out may be w_sync itself)."""
        P, N = Xc.shape
        for n in range(N):
            out[n] = w_sync[n]
        for p in range(P):
            for n in range(N):
                out[n] -= beta[p] * Xc[p, n]

    @_jit
    def _resync(wq, res, beta, X, y):
        """res_p = x_p·wq − y_p for p < P (zero beyond, up to the padded width); beta = 0."""
        P, N = X.shape
        for p in range(res.shape[0]):
            beta[p] = 0.0
            res[p] = 0.0
        for p in range(P):
            s = -y[p]
            for n in range(N):
                s += X[p, n] * wq[n]
            res[p] = s

    _FASTMATH = {"contract", "reassoc", "arcp"}

    @functools.lru_cache(maxsize=None)
    def _kernel_for(n_features: int, batch_size: int, without: bool, dual_width: int = 0):
        """A kernel compiled for these sizes (loops of known length, unrolled where short; numba caches it on
        disk per size: the first run of a new size compiles for ~5–10 s). ``dual_width`` 0: the primal
        kernel (weights); > 0: the dual kernel (residuals, P padded to ``dual_width``, a multiple of 4).

        Both take the same arguments and fill the same outputs (see ``kernel`` below). Per-replica state
        lives in stack scratch for all the fused steps. Primal: replicas in tiles of TR (4 for N ≤ 16:
        independent dependency chains interleave), per step and sample a dot product and an axpy over N.
        Dual: one replica per iteration; per step B row updates of length P in 256-bit FMAs, no dot products.
        """
        NC, BC, WO, PW = int(n_features), int(batch_size), bool(without), int(dual_width)
        TR = 4 if NC <= _TILED_N else 1
        TN, TB = TR * NC, TR * BC
        STACK = TN <= _STACK_ITEMS  # else the primal's scratch is on the heap (allocated once per tile)

        @numba.njit(cache=True, parallel=True, fastmath=_FASTMATH)
        def primal(w, X, y, Gc, Xc, eta, s0, s1, k0, k1, flags, diverged, bound,
                   mom, mom_kind, center, burn_in, every, per_batch, traj, stride, w_sync, res_all, beta_all):
            """Steps k0+1..k1 of every replica in place on w (R, N) (step k0 observed too when k0 = 0).

            flags[k − k0]: bit 1 check divergence, bit 2 record moments, bit 4 save the trajectory.
            mom_kind 1: mom[batch, r] += w; 2: mom[batch, r] += (δ, δ_iδ_j for i ≤ j), δ = w − center.
            diverged[r]: first checked step at which replica r was non-finite or beyond ``bound``.
            Gc, Xc, w_sync, res_all, beta_all: used by the dual kernel only.
            """
            R = w.shape[0]
            N, B = NC, BC
            P = X.shape[0]
            c = eta / B
            n_k = k1 - k0
            T = _step_table(s1, k0, n_k, (B + 1) // 2)
            thr = np.int64(((1 << 32) - P) % P)
            for t in numba.prange((R + TR - 1) // TR):
                if STACK:
                    keys = numba.carray(_stack_pointer(TR, np.uint64), TR)
                    wl = numba.carray(_stack_pointer(TN, np.float64), (TR, N))
                    g = numba.carray(_stack_pointer(TN, np.float64), (TR, N))
                    idx = numba.carray(_stack_pointer(TB, np.int64), (TR, B))
                else:
                    keys, idx = np.empty(TR, np.uint64), np.empty((TR, B), np.int64)
                    wl, g = np.empty((TR, N)), np.empty((TR, N))
                for q in range(TR):
                    r = min(t * TR + q, R - 1)  # a short last tile repeats its last replica (not stored twice)
                    keys[q] = replica_key(s0, np.uint64(r))
                    for n in range(N):
                        wl[q, n] = w[r, n]
                for dk in range(n_k + 1):
                    if dk > 0:
                        for q in range(TR):
                            _draw_nb(idx[q], keys[q], T, dk, P, thr, B, WO)
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
                    elif k0 != 0:
                        continue
                    if flags[dk] != 0:
                        for q in range(min(TR, R - t * TR)):
                            _observe(wl[q], t * TR + q, k0 + dk, flags[dk], diverged, bound, mom, mom_kind, center,
                                     burn_in, every, per_batch, traj, stride)
                for q in range(min(TR, R - t * TR)):
                    for n in range(N):
                        w[t * TR + q, n] = wl[q, n]

        @numba.njit(cache=True, parallel=True, fastmath=_FASTMATH)
        def dual(w, X, y, Gc, Xc, eta, s0, s1, k0, k1, flags, diverged, bound,
                 mom, mom_kind, center, burn_in, every, per_batch, traj, stride, w_sync, res_all, beta_all):
            """Same steps, arguments and outputs as the primal kernel, in residual space. Per replica, kept in
            w_sync (R, N), res_all and beta_all (R, PW) between launches: res_p = x_p·w − y_p (p < P, zero
            padding up to PW) and beta with w = w_sync − Σ_p beta_p Xc[p]. A step reads a_b = res[i_b] for
            every b, then res −= Σ_b a_b Gc[i_b] and beta[i_b] += a_b (Gc = (η/B) X Xᵀ, Xc = (η/B) X).
            Every _RESYNC steps (k ≡ 0) w_sync takes the weights, beta is cleared and res recomputed from
            them, so rounding drift does not accumulate; flagged steps and k1 only form the weights. The
            trajectory therefore does not depend on how the run is cut into launches (k0 = 0 starts from w).
            """
            R = w.shape[0]
            N, B = NC, BC
            P = X.shape[0]
            n_k = k1 - k0
            T = _step_table(s1, k0, n_k, (B + 1) // 2)
            thr = np.int64(((1 << 32) - P) % P)
            events = np.array([dk for dk in range(1, n_k + 1)
                               if flags[dk] != 0 or (k0 + dk) % _RESYNC == 0 or dk == n_k], dtype=np.int64)
            for r in numba.prange(R):
                key = replica_key(s0, np.uint64(r))
                wq = numba.carray(_stack_pointer(NC, np.float64), NC)
                res = numba.carray(_stack_pointer(PW, np.float64), PW)
                beta = numba.carray(_stack_pointer(PW, np.float64), PW)
                idx = numba.carray(_stack_pointer(BC, np.int64), BC)
                a = numba.carray(_stack_pointer(BC, np.float64), BC)
                if k0 == 0:
                    for n in range(N):
                        wq[n] = w[r, n]
                    _resync(wq, res, beta, X, y)
                    if flags[0] != 0:
                        _observe(wq, r, 0, flags[0], diverged, bound, mom, mom_kind, center, burn_in, every,
                                 per_batch, traj, stride)
                else:
                    for n in range(N):
                        wq[n] = w_sync[r, n]
                    for p in range(PW):
                        res[p] = res_all[r, p]
                        beta[p] = beta_all[r, p]
                start = 1
                for stop in events:  # steps without events run in a tight loop (res stays in registers)
                    for dk in range(start, stop + 1):
                        _draw_nb(idx, key, T, dk, P, thr, B, WO)
                        for b in range(B):
                            a[b] = res[idx[b]]
                        for b in range(B):
                            _sub_scaled_row(res, Gc, idx[b], a[b], PW)
                            beta[idx[b]] += a[b]
                    start = stop + 1
                    k = k0 + stop
                    if k % _RESYNC == 0:
                        _weights(wq, wq, beta, Xc)
                        _resync(wq, res, beta, X, y)
                    if flags[stop] != 0 or stop == n_k:
                        wo = w[r]  # the weights at step k (w[r] is written again at k1)
                        _weights(wo, wq, beta, Xc)
                        if flags[stop] != 0:
                            _observe(wo, r, k, flags[stop], diverged, bound, mom, mom_kind, center, burn_in,
                                     every, per_batch, traj, stride)
                for n in range(N):
                    w_sync[r, n] = wq[n]
                for p in range(PW):
                    res_all[r, p] = res[p]
                    beta_all[r, p] = beta[p]

        return dual if PW else primal


def fast_path_reason(model, data, sampling: str, stop_when) -> str | None:
    """None if the fast engine can run this problem, else why not."""
    if getattr(model, "fast_kernel", None) != "least_squares":
        return (f"the fast engine runs models that declare fast_kernel = 'least_squares' (numerics.models.LeastSquares), "
                f"got {type(model).__name__}")
    if not isinstance(data, Dataset) or sampling not in FAST_SAMPLING:
        return f"the fast engine needs a Dataset and sampling in {FAST_SAMPLING}, got sampling={sampling!r}"
    if stop_when is not None:
        return "the fast engine does not support stop_when"
    return None


def _plan(observers: Sequence[Observer], n_steps: int, n_params: int):
    """Assign observers (allocated): one moment observer (of w itself, or a :class:`SecondMomentObserver`)
    and one trajectory observer to the kernel, the rest to the host; and the steps where the kernel stops."""
    kernel_mom = kernel_traj = None
    host = []
    for obs in observers:
        statistic = obs.kernel_statistic(n_params)
        if kernel_mom is None and statistic in ("moments", "second_moments"):
            kernel_mom = obs
        elif kernel_traj is None and statistic == "trajectory":
            kernel_traj = obs
        else:
            host.append(obs)
    stops = np.unique(np.concatenate([[n_steps], np.arange(_CHUNK, n_steps, _CHUNK),
                                      *(o.needed_steps(n_steps) for o in host)]))
    return kernel_mom, kernel_traj, host, stops[(stops > 0) & (stops <= n_steps)]


def run_fast(model, data: Dataset, *, eta: float, batch_size: int, n_steps: int, n_replicas: int,
             sampling: str, w0, seed, observers: Sequence[Observer], check_every: int,
             divergence_bound: float, progress: bool | None, use_numba: bool | None = None,
             kernel: str | None = None) -> SGDRun:
    """The fast engine behind ``run_sgd(..., backend="fast")`` (arguments validated there).

    ``use_numba``: None — the numba kernel when numba is installed, else the numpy fallback; True/False to force.
    ``kernel``: None — the primal or dual numba kernel by the cost model (:func:`choose_kernel`); "primal" or
    "dual" to force one (same minibatches; the weights agree to rounding). ``run.info["kernel"]`` says which ran.
    """
    reason = fast_path_reason(model, data, sampling, None)
    if reason:
        raise ParameterError(reason)
    if use_numba is None:
        use_numba = HAVE_NUMBA
    if use_numba and not HAVE_NUMBA:
        raise ParameterError("numba is not installed (pip install numba); use the numpy fallback")
    if kernel is not None:
        require_choice("kernel", kernel, KERNELS)
    n_params = model.n_params
    w = initial_weights(w0, n_replicas, n_params)
    for obs in observers:
        obs.allocate(n_replicas, n_params, n_steps)
    s0, s1 = seed_words(seed)
    X, y = np.ascontiguousarray(data.X), np.ascontiguousarray(data.y)
    args = (w, X, y, eta, batch_size, sampling == "without_replacement", s0, s1, n_steps, observers,
            check_every, divergence_bound, progress)
    if use_numba:
        w, kernel = _run_kernel(*args, kernel=kernel)
        info = {"backend": "fast-numba", "kernel": kernel}
    else:
        w, info = _run_numpy(model, *args), {"backend": "fast-numpy", "kernel": "numpy"}
    return SGDRun(w, observers, n_steps, eta, batch_size, sampling, seed, info)


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


def _run_kernel(w, X, y, eta, B, without, s0, s1, n_steps, observers, check_every, bound, progress, kernel=None):
    R, N = w.shape
    P = X.shape[0]
    kernel_mom, kernel_traj, host, stops = _plan(observers, n_steps, N)
    if kernel is None:
        n_observed = np.count_nonzero(_step_flags(0, n_steps, n_steps, check_every, kernel_mom, kernel_traj))
        kernel = choose_kernel(N, P, B, n_steps, n_observed)
    c = eta / B
    if kernel == "dual":
        width = -(-P // _SIMD) * _SIMD
        Gc = np.zeros((P, width))
        Gc[:, :P] = c * (X @ X.T)
        Xc = c * X
        state = (np.empty((R, N)), np.empty((R, width)), np.empty((R, width)))
    else:
        width, Gc, Xc, state = 0, np.zeros((1, 1)), X, (np.zeros((1, 1)),) * 3
    launch = _kernel_for(N, B, without, width)
    if kernel_mom is not None:
        second = kernel_mom.kernel_statistic(N) == "second_moments"
        kernel_mom._sums = limits.full((kernel_mom.n_batches, R, N + N * (N + 1) // 2 if second else N), 0.0,
                                       "the moment observer")
        mom_args = (kernel_mom._sums, 2 if second else 1, kernel_mom.center if second else np.zeros(N),
                    kernel_mom.burn_in, kernel_mom.every, kernel_mom._per_batch)
    else:
        mom_args = (np.zeros((1, 1, 1)), 0, np.zeros(N), 0, 1, 1)
    if kernel_traj is not None:
        traj, stride = limits.full((len(kernel_traj.steps), R, N), np.nan, "the trajectory observer"), kernel_traj.stride
    else:
        traj, stride = np.zeros((1, 1, N)), 1  # unused (no trajectory bit is set)
    diverged = np.full(R, -1, dtype=np.int64)
    bar = progress_bar(R * n_steps, f"SGD eta={eta:.3g}", unit="replica-step", enabled=progress)
    for obs in host:
        obs.update(0, w, slice(0, R))
    k0 = 0
    with np.errstate(over="ignore", invalid="ignore"):
        for k1 in stops:
            flags = _step_flags(k0, int(k1), n_steps, check_every, kernel_mom, kernel_traj)
            launch(w, X, y, Gc, Xc, float(eta), s0, s1, k0, int(k1), flags, diverged, float(bound), *mom_args, traj,
                   stride, *state)
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
    return w, kernel


def _run_numpy(model, w, X, y, eta, B, without, s0, s1, n_steps, observers, check_every, bound, progress):
    R = w.shape[0]
    keys = replica_key(s0, np.arange(R, dtype=np.uint64))
    bar = progress_bar(R * n_steps, f"SGD eta={eta:.3g}", unit="replica-step", enabled=progress)
    for obs in observers:
        obs.update(0, w, slice(0, R))
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, n_steps + 1):
            idx = draw_indices(keys, s1, k, B, X.shape[0], without)
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


def choose_kernel(n_features: int, n_samples: int, batch_size: int, n_steps: int, n_observed: int) -> str:
    """"dual" when the residual-space kernel is the cheaper by the cost model of the module docstring, else
    "primal". ``n_observed``: the steps at which the kernel needs the weights (divergence checks, moments,
    trajectory); steps where a launch ends are not counted (a launch costs more than forming the weights)."""
    N, P, B = n_features, n_samples, batch_size
    width = -(-P // _SIMD) * _SIMD
    primal = 2 * B * (N if N <= _TILED_N else -(-N // _SIMD))
    dual = B * width // _SIMD + B + N * P * (n_observed / n_steps + 2 / _RESYNC)
    return "dual" if dual < primal and width <= _DUAL_MAX_WIDTH and N <= _DUAL_MAX_WIDTH else "primal"


def kernel_launches(observers: Sequence[Observer], n_replicas: int, n_params: int, n_steps: int) -> int:
    """How many kernel launches a run needs: one per step where a host-side observer looks, plus one
    (observers are allocated here). ``backend="auto"`` takes the fast engine only when this is small."""
    for obs in observers:
        obs.allocate(n_replicas, n_params, n_steps)
    return len(_plan(observers, n_steps, n_params)[3])


__all__ = ["HAVE_NUMBA", "FAST_SAMPLING", "KERNELS", "SecondMomentObserver", "run_fast", "draw_minibatches",
           "fast_path_reason", "kernel_launches", "choose_kernel"]
