"""Peer: a hand-written numba ``prange`` loop over replicas with a per-replica xorshift64* generator.

What one would write by hand: weights updated in place in the (R, N) array, one 64-bit draw per index
mapped to 0..P−1 by multiply-shift, the gradient accumulated in a small scratch vector.
"""

from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover
    numba = None

NAME = "numba prange (hand-written)"
MISSING = None if numba is not None else "numba not installed"

if numba is not None:
    @numba.njit(parallel=True, cache=True)
    def _sgd(w, X, y, eta, B, n_steps, state):
        R, N = w.shape
        P = X.shape[0]
        for r in numba.prange(R):
            s = state[r]
            g = np.empty(N)
            for _ in range(n_steps):
                g[:] = 0.0
                for _b in range(B):
                    s ^= s >> np.uint64(12)
                    s ^= s << np.uint64(25)
                    s ^= s >> np.uint64(27)
                    u = (s * np.uint64(0x2545F4914F6CDD1D)) >> np.uint64(32)
                    i = np.int64((u * np.uint64(P)) >> np.uint64(32))
                    res = -y[i]
                    for n in range(N):
                        res += X[i, n] * w[r, n]
                    for n in range(N):
                        g[n] += res * X[i, n]
                for n in range(N):
                    w[r, n] -= eta / B * g[n]
            state[r] = s


def make(X, y, eta, B, R, n_steps, seed=0):
    """A zero-argument callable running the workload and returning the final weights (R, N)."""
    state = np.random.SeedSequence(seed).generate_state(R, np.uint64) | np.uint64(1)

    def run():
        w = np.zeros((R, X.shape[1]))
        _sgd(w, X, y, eta, B, n_steps, state.copy())
        return w

    return run
