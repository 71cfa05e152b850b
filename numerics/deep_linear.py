"""Deep linear networks for the replica SGD engine, mode read-out, and numeric per-mode predictions (seed 000).

Conventions (DESIGN.md): per-sample loss ℓ = ½|W x − y|², W = W_L ⋯ W_1, W_l of shape (N_l, N_{l−1});
whitened inputs x ~ N(0, I); teacher y = M x + ε, M = U diag(s) Vᵀ, ε ~ N(0, σ² I); online SGD
w_{k+1} = w_k − η ĝ_k, ĝ_k the minibatch-mean gradient; continuum time t = η k; T = η/B; Itô.

* :class:`ScalarChain` — width-1 depth-L network f(x) = a_L ⋯ a_1 x on scalar data (``GaussianTeacher([s], σ)``);
  with equal a_l the per-mode SDE of ``dln.mode_sde`` is exact up to the discreteness of SGD.
* :class:`DeepLinearNetwork` — L layers of any widths; parameters are the layers' entries, flattened in order.
* :class:`MatrixTeacher` — the matrix teacher as an online data model (y has shape (…, N_L)).
* :func:`mode_strengths` — modes u_α = U_αᵀ W V_α read off the end-to-end matrix.
* :func:`mode_gradient_variances` — the per-sample gradient variance along each mode, measured from fresh samples.
* :class:`ModeDensity` — the stationary density of ``dln.stationary_density`` at numbers (CDF for KS tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy as sp
from scipy import integrate as sp_integrate

from derivations import deep_linear as dl

from .data import GaussianTeacher
from .errors import ParameterError, require_int_in_range, require_positive
from .rng import as_generator

__all__ = ["ScalarChain", "DeepLinearNetwork", "MatrixTeacher", "teacher_matrix", "aligned_balanced_init",
           "small_random_init", "mode_strengths", "mode_gradient_variances", "ModeDensity", "mode_sde_in_a",
           "gradient_flow_time"]


# --------------------------------------------------------------------------- width-1 network
class ScalarChain:
    """f(x) = (a_L ⋯ a_1) x on scalar inputs; ℓ = ½(f − y)²; ∂ℓ/∂a_l = (∏_{k≠l} a_k)(u x − y) x, u = ∏ a_k."""

    def __init__(self, depth: int):
        self.depth = self.n_params = require_int_in_range("depth", depth, 1)

    @staticmethod
    def _others(w: np.ndarray) -> np.ndarray:
        """∏_{k≠l} w_k for every l (prefix × suffix products; exact at w_l = 0)."""
        ones = np.ones_like(w[..., :1])
        prefix = np.cumprod(np.concatenate([ones, w[..., :-1]], axis=-1), axis=-1)
        suffix = np.cumprod(np.concatenate([ones, w[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        return prefix * suffix

    def minibatch_gradient(self, w, X, y):
        x = X[..., 0]
        u = np.prod(w, axis=-1)
        rx = np.mean((u[:, None] * x - y) * x, axis=1)
        return self._others(w) * rx[:, None]

    def per_sample_gradients(self, w, X, y):
        x = X[:, 0]
        return self._others(w)[None, :] * ((np.prod(w) * x - y) * x)[:, None]


# --------------------------------------------------------------------------- full-matrix network
class DeepLinearNetwork:
    """W = W_L ⋯ W_1 with W_l of shape (widths[l], widths[l−1]); parameters = concatenated W_l.ravel().

    Gradient of ℓ = ½|W x − y|² w.r.t. W_l: P_lᵀ (W x − y) xᵀ Q_lᵀ with P_l = W_L ⋯ W_{l+1}, Q_l = W_{l−1} ⋯ W_1.
    """

    def __init__(self, widths):
        widths = [require_int_in_range("width", int(n), 1) for n in widths]
        if len(widths) < 2:
            raise ParameterError(f"widths needs at least an input and an output width, got {widths}")
        self.widths = widths
        self.depth = len(widths) - 1
        self.shapes = [(widths[l + 1], widths[l]) for l in range(self.depth)]
        sizes = [a * b for a, b in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.n_params = int(self.offsets[-1])

    def layers(self, w: np.ndarray) -> list[np.ndarray]:
        """The layer matrices of a batch of weights (R, n): list of (R, N_l, N_{l−1})."""
        w = np.atleast_2d(w)
        return [w[:, self.offsets[l]:self.offsets[l + 1]].reshape(-1, *self.shapes[l]) for l in range(self.depth)]

    def flatten(self, layers) -> np.ndarray:
        return np.concatenate([np.asarray(W).reshape(np.asarray(W).shape[0], -1) for W in layers], axis=1)

    def partial_products(self, layers):
        """(P_l, Q_l) for l = 1..L: P_l = W_L ⋯ W_{l+1} (R, N_L, N_l), Q_l = W_{l−1} ⋯ W_1 (R, N_{l−1}, N_0)."""
        R = layers[0].shape[0]
        Q = [np.broadcast_to(np.eye(self.widths[0]), (R, self.widths[0], self.widths[0]))]
        for W in layers[:-1]:
            Q.append(W @ Q[-1])
        P = [np.broadcast_to(np.eye(self.widths[-1]), (R, self.widths[-1], self.widths[-1]))]
        for W in layers[:0:-1]:
            P.append(P[-1] @ W)
        return P[::-1], Q

    def end_to_end(self, w) -> np.ndarray:
        """W = W_L ⋯ W_1, shape (R, N_L, N_0)."""
        layers = self.layers(w)
        out = layers[0]
        for W in layers[1:]:
            out = W @ out
        return out

    def minibatch_gradient(self, w, X, y):
        layers = self.layers(w)
        P, Q = self.partial_products(layers)
        W = P[0] @ layers[0]
        r = np.einsum("rij,rbj->rbi", W, X) - y
        rx = np.einsum("rbi,rbj->rij", r, X) / X.shape[1]
        return self.flatten([np.swapaxes(P[l], 1, 2) @ rx @ np.swapaxes(Q[l], 1, 2) for l in range(self.depth)])

    def per_sample_gradients(self, w, X, y):
        layers = self.layers(np.asarray(w)[None, :])
        P, Q = self.partial_products(layers)
        W = P[0] @ layers[0]
        r = X @ W[0].T - y
        blocks = [np.einsum("ai,pa,pb,jb->pij", P[l][0], r, X, Q[l][0]).reshape(len(X), -1) for l in range(self.depth)]
        return np.concatenate(blocks, axis=1)


@dataclass(frozen=True)
class MatrixTeacher(GaussianTeacher):
    """Online data model x ~ N(0, I_{N_0}), y = M x + ε, ε ~ N(0, σ² I_{N_L}); ``teacher`` is M (N_L × N_0).

    A :class:`GaussianTeacher` so that ``run_sgd(..., sampling="online")`` accepts it; ``sample`` returns
    X of shape (*shape, N_0) and y of shape (*shape, N_L)."""

    def __post_init__(self):
        M = np.asarray(self.teacher, dtype=float)
        if M.ndim != 2:
            raise ParameterError(f"MatrixTeacher needs a 2-D teacher matrix M, got shape {M.shape}")
        if self.input_cov is not None:
            raise ParameterError("MatrixTeacher uses whitened inputs; input_cov is not supported")
        if self.noise_std < 0 or not np.isfinite(self.noise_std):
            raise ParameterError(f"noise_std (σ) must be finite and >= 0, got {self.noise_std!r}")
        object.__setattr__(self, "teacher", M)

    @property
    def n_features(self) -> int:
        return self.teacher.shape[1]

    def sample(self, rng, shape):
        X = rng.standard_normal((*shape, self.teacher.shape[1]))
        y = X @ self.teacher.T
        if self.noise_std > 0:
            y = y + self.noise_std * rng.standard_normal(y.shape)
        return X, y


def _orthonormal_columns(n: int, k: int, rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, k)))
    return q * np.sign(np.diag(r))


def teacher_matrix(singular_values, n_in: int, n_out: int, seed=0):
    """M = U diag(s) Vᵀ with random orthonormal U (n_out × k), V (n_in × k); returns (M, U, V)."""
    s_vals = np.asarray(singular_values, dtype=float)
    k = s_vals.size
    if k > min(n_in, n_out) or np.any(s_vals <= 0):
        raise ParameterError(f"need 0 < s and k = {k} <= min(n_in, n_out) = {min(n_in, n_out)}")
    rng = as_generator(seed)
    U, V = _orthonormal_columns(n_out, k, rng), _orthonormal_columns(n_in, k, rng)
    return U @ np.diag(s_vals) @ V.T, U, V


def aligned_balanced_init(model: DeepLinearNetwork, U, V, a0, seed=0) -> np.ndarray:
    """W_l = R_l diag(a0) R_{l−1}ᵀ with R_0 = V, R_L = U and random orthonormal R_l in between (flattened, (n,)).

    Then u_α = a0_α^L, every layer carries the same strength (balanced) and the modes are aligned."""
    k = U.shape[1]
    a0 = np.broadcast_to(np.asarray(a0, dtype=float), (k,))
    if min(model.widths) < k:
        raise ParameterError(f"every width must be >= the number of modes {k}, got {model.widths}")
    rng = as_generator(seed)
    bases = [V] + [_orthonormal_columns(n, k, rng) for n in model.widths[1:-1]] + [U]
    layers = [(bases[l + 1] * a0) @ bases[l].T for l in range(model.depth)]
    return model.flatten([W[None] for W in layers])[0]


def small_random_init(model: DeepLinearNetwork, scale: float, seed=0) -> np.ndarray:
    """Ordinary small random initialisation: entries of W_l i.i.d. N(0, scale²/N_{l−1}) (not aligned, not balanced)."""
    require_positive("scale", scale)
    rng = as_generator(seed)
    return np.concatenate([rng.standard_normal(a * b) * scale / np.sqrt(b) for a, b in model.shapes])


def mode_strengths(model: DeepLinearNetwork, w, U, V) -> np.ndarray:
    """u_α = U_αᵀ W V_α for every replica: shape (R, k)."""
    return np.einsum("ik,rij,jk->rk", U, model.end_to_end(w), V)


def mode_gradient_variances(model: DeepLinearNetwork, w, U, V, teacher: MatrixTeacher, n_probe: int, rng):
    """Per-sample gradient variances along each mode, measured on ``n_probe`` fresh samples per replica.

    Returns (layer, end_to_end), each (R, k); divide by B for the minibatch-gradient variance.

    * ``layer``: variance of ⟨g_l, d_l⟩ averaged over layers, with d_l = p_l q_lᵀ/(|p_l||q_l|), p_l = P_lᵀU_α,
      q_l = Q_l V_α the unit weight-space direction of layer l that moves mode α (aligned: a^{2L−2} Q(u)).
    * ``end_to_end``: variance of Σ_l ⟨g_l, p_l q_lᵀ⟩, the first-order change of u_α per unit step
      (aligned: L² u^{4−4/L} Q(u), so that D_u = (η/B) × this).
    """
    rng = as_generator(rng)
    layers = model.layers(w)
    P, Qs = model.partial_products(layers)
    R = layers[0].shape[0]
    X, y = teacher.sample(rng, (R, n_probe))
    W = P[0] @ layers[0]
    r = np.einsum("rij,rpj->rpi", W, X) - y
    total, layer_var = 0.0, 0.0
    for l in range(model.depth):
        p = np.einsum("rai,ak->rik", P[l], U)       # P_lᵀ U   (R, N_l, k)
        q = np.einsum("rij,jk->rik", Qs[l], V)      # Q_l V    (R, N_{l−1}, k)
        left = np.einsum("rpa,rai,rik->rpk", r, P[l], p)    # (P_l p)·r
        right = np.einsum("rpj,rij,rik->rpk", X, Qs[l], q)  # (Q_lᵀ q)·x
        term = left * right
        norm = np.linalg.norm(p, axis=1) * np.linalg.norm(q, axis=1)
        layer_var = layer_var + np.var(term, axis=1, ddof=1) / norm ** 2
        total = total + term
    return layer_var / model.depth, np.var(total, axis=1, ddof=1)


# --------------------------------------------------------------------------- predictions at numbers
def mode_sde_in_a(depth: int, ito: bool = True):
    """The per-mode SDE in the layer variable a (polynomial, safe for Euler–Maruyama near a = 0).

    ``ito=True``: ``dln.mode_sde``'s per-layer SDE. ``ito=False``: the u-SDE without its Itô drift term,
    mapped back to a = u^{1/L} with :meth:`ItoSDE.ito_lemma` (the negative control)."""
    depth = require_int_in_range("depth", depth, 1)
    if ito:
        return dl.layer_sde(depth)
    return dl.mode_sde(depth, ito=False).ito_lemma(dl.u ** sp.Rational(1, depth), dl.a, inverse={dl.u: dl.a ** depth})


def gradient_flow_time(depth: int, s: float, u_from: float, u_to: float) -> float:
    """t = ∫ du / (L u^{2−2/L}(s − u)) from ``u_from`` to ``u_to`` (``dln.gradient_flow``; quadrature)."""
    f = sp.lambdify(dl.u, (1 / (dl.L * dl.u ** (2 - 2 / dl.L) * (dl.s - dl.u))).subs({dl.L: depth, dl.s: s}))
    return float(sp_integrate.quad(f, u_from, u_to, limit=200)[0])


class ModeDensity:
    """Stationary density of a mode (``dln.stationary_density``) at numbers, on a fine grid.

    log p(u) = −3(L−1)/L · ln u − ln Q(u) − V(u)/T with V(u) = ∫_s^u V′ (``ito=False``: prefactor exponent
    −4(L−1)/L, i.e. without the Itô drift). Domain (0, ∞) for L ≥ 2, ℝ for L = 1. ``pdf`` and ``cdf``
    interpolate a cumulative (trapezoid) integral on ``n_grid`` points spanning ±``width`` Boltzmann standard
    deviations around s (log-spaced towards 0 for L ≥ 2); the mass outside is reported in ``tail_mass``.
    """

    def __init__(self, depth: int, s: float, sigma: float, eta: float, batch_size: float, *, ito: bool = True,
                 width: float = 40.0, n_grid: int = 40001):
        self.depth = require_int_in_range("depth", depth, 1)
        self.s, self.sigma = require_positive("s", s), require_positive("sigma", sigma)
        self.T = require_positive("eta", eta) / require_positive("batch_size", batch_size)
        values = {dl.L: depth, dl.s: s, dl.sigma: sigma}
        self._dV = sp.lambdify(dl.u, dl.effective_potential_derivative().subs(values), "numpy")
        self.prefactor_exponent = -(3 if ito else 4) * (depth - 1) / depth
        std = np.sqrt(self.T * depth * s ** (2 - 2 / depth) * sigma ** 2 / 2)
        hi = s + width * std
        if depth == 1:
            grid = np.linspace(s - width * std, hi, n_grid)
        else:
            lo = s * 1e-12
            grid = np.unique(np.concatenate([np.geomspace(lo, s / 2, n_grid // 4), np.linspace(s / 2, hi, n_grid)]))
        self.grid = grid
        V = sp_integrate.cumulative_trapezoid(self._dV(grid), grid, initial=0.0)
        V -= np.interp(s, grid, V)
        logp = -V / self.T - np.log(2 * (s - grid) ** 2 + sigma ** 2)
        if depth > 1:
            logp = logp + self.prefactor_exponent * np.log(grid)
        p = np.exp(logp - logp.max())
        c = sp_integrate.cumulative_trapezoid(p, grid, initial=0.0)
        self._z = c[-1]
        self._p, self._c = p / self._z, c / self._z
        self.tail_mass = float(max(p[0], p[-1]) / p.max())

    def pdf(self, x):
        return np.interp(x, self.grid, self._p, left=0.0, right=0.0)

    def cdf(self, x):
        return np.interp(x, self.grid, self._c, left=0.0, right=1.0)

    @cached_property
    def mean(self) -> float:
        return float(np.trapezoid(self.grid * self._p, self.grid))

    @cached_property
    def variance(self) -> float:
        return float(np.trapezoid((self.grid - self.mean) ** 2 * self._p, self.grid))
