"""Peer: numpy, one vectorised step at a time: X[idx] gather + two einsums (what the reference engine does)."""

from __future__ import annotations

import numpy as np

NAME = "numpy gather + einsum"
MISSING = None


def make(X, y, eta, B, R, n_steps, seed=0):
    rng = np.random.default_rng(seed)

    def run():
        w = np.zeros((R, X.shape[1]))
        for _ in range(n_steps):
            idx = rng.integers(0, X.shape[0], size=(R, B))
            Xb = X[idx]
            res = np.einsum("rbn,rn->rb", Xb, w) - y[idx]
            w -= (eta / B) * np.einsum("rbn,rb->rn", Xb, res)
        return w

    return run
