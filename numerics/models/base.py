"""Models for the replica SGD engine.

A model maps a batch of weights (R, n) and per-replica minibatches (R, B, N), (R, B) to the
minibatch-mean gradient (R, n). Conventions: ℓ_p = ½ (f(x_p) − y_p)², L = (1/P) Σ_p ℓ_p.
Later models (deep linear, two-layer, perceptron, MLP) implement the same two methods.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from derivations.conventions import FINITE_IID_SAMPLING

from numerics.errors import ParameterError
from numerics.models.linreg import check_stable


class Model(Protocol):
    n_params: int

    def minibatch_gradient(self, w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Mean gradient over each replica's minibatch: w (R, n), X (R, B, N), y (R, B) → (R, n)."""

    def per_sample_gradients(self, w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-sample gradients at one weight vector: w (n,), X (P, N), y (P,) → (P, n)."""


class LeastSquares:
    """Linear model f(x) = wᵀx with ℓ = ½ (wᵀx − y)²; per-sample gradient g = x (wᵀx − y).

    ``fast_kernel = "least_squares"`` declares that the compiled engine (:mod:`numerics.engine.fast`) may run this model
    (a subclass that changes the gradient must set it to None)."""

    fast_kernel = "least_squares"

    def __init__(self, n_features: int):
        if n_features < 1:
            raise ParameterError(f"n_features must be >= 1, got {n_features}")
        self.n_params = self.n_features = int(n_features)

    def minibatch_gradient(self, w, X, y):
        residual = np.einsum("rbn,rn->rb", X, w) - y
        return np.einsum("rbn,rb->rn", X, residual) / X.shape[1]

    def per_sample_gradients(self, w, X, y):
        return X * (X @ w - y)[:, None]

    def loss(self, w, X, y):
        """L(w) = (1/2P) Σ_p (wᵀx_p − y_p)² for w of shape (n,) or (R, n)."""
        return 0.5 * np.mean((np.atleast_2d(w) @ X.T - y) ** 2, axis=-1).squeeze()

    def hessian(self, X):
        """H = (1/P) Xᵀ X."""
        return X.T @ X / X.shape[0]

    def check_stability(self, data, eta, batch_size, sampling):
        """Refuse η at or beyond the second-moment stability bound (finite data, i.i.d. minibatches).

        Online and epoch sampling have no finite-data bound here and are not checked. Directions that
        the data do not constrain (P < N) are marginal (ρ = 1) and allowed: they neither grow nor decay.
        """
        if sampling in FINITE_IID_SAMPLING:
            check_stable(data.X, eta, batch_size, sampling, marginal_ok=True)
