"""Deep linear networks for the replica SGD engine, mode read-out, and numeric per-mode predictions (seed 000).

Conventions (ARCHITECTURE.md): per-sample loss ℓ = ½|W x − y|², W = W_L ⋯ W_1, W_l of shape (N_l, N_{l−1});
whitened inputs x ~ N(0, I); teacher y = M x + ε, M = U diag(s) Vᵀ, ε ~ N(0, σ² I); online SGD
w_{k+1} = w_k − η ĝ_k, ĝ_k the minibatch-mean gradient; continuum time t = η k; T = η/B; Itô.

* :class:`ScalarChain` — width-1 depth-L network f(x) = a_L ⋯ a_1 x on scalar data (``GaussianTeacher([s], σ)``);
  with equal a_l the per-mode SDE of ``dln.mode_sde`` is exact up to the discreteness of SGD.
* :class:`DeepLinearNetwork` — L layers of any widths; parameters are the layers' entries, flattened in order.
* :class:`MatrixTeacher` — the matrix teacher as an online data model (y has shape (…, N_L)).
* :func:`mode_strengths` — modes u_α = U_αᵀ W V_α read off the end-to-end matrix.
* :func:`mode_gradient_variances` — the per-sample gradient variance along each mode, measured from fresh samples.
* :class:`ModeDensity` — the stationary density of ``dln.stationary_density`` at numbers (CDF for KS tests).
* :func:`simulate_mode_diffusion` — online SGD of a full-matrix network (aligned-balanced or small random
  initialisation) recording every mode's u/s and measured gradient variances along it (:class:`ModeDiffusion`).
* :func:`peak_position` — where a measured v(x) peaks (local parabola, jackknife over replica blocks);
  :func:`binned_ratio` — measured over predicted in bins of x, with standard errors over replicas.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy as sp
from scipy import integrate as sp_integrate

import derivations
from derivations.dln import modes as dl
from derivations.calculus.sde import ItoSDE

from numerics.engine.data import GaussianTeacher
from numerics.errors import ParameterError, require_int_in_range, require_positive
from numerics.engine.rng import as_generator, child_seed
from numerics.engine.sgd import TrajectoryObserver, run_sgd
from numerics.stats import Estimate, block_jackknife

__all__ = ["ScalarChain", "DeepLinearNetwork", "MatrixTeacher", "teacher_matrix", "aligned_balanced_init",
           "small_random_init", "mode_strengths", "mode_gradient_variances", "ModeDensity", "mode_sde_in_a",
           "gradient_flow_time", "ModeDiffusion", "simulate_mode_diffusion", "peak_position", "peak_vertex", "binned_ratio",
           "first_passage_times"]


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
    r = X @ np.swapaxes(P[0] @ layers[0], 1, 2) - y            # residuals (R, n_probe, N_L)
    def variance(values):  # over the probe axis, ddof = 1
        centred = values - values.mean(axis=1, keepdims=True)
        return np.einsum("rpk,rpk->rk", centred, centred) / (n_probe - 1)

    total, layer_var = 0.0, 0.0
    for l in range(model.depth):
        p = np.swapaxes(P[l], 1, 2) @ U                     # P_lᵀ U   (R, N_l, k)
        q = Qs[l] @ V                                       # Q_l V    (R, N_{l−1}, k)
        term = (r @ (P[l] @ p)) * (X @ (np.swapaxes(Qs[l], 1, 2) @ q))  # (p·P_lᵀr)(q·Q_l x)  (R, n_probe, k)
        layer_var = layer_var + variance(term) / (np.einsum("rik,rik->rk", p, p) * np.einsum("rik,rik->rk", q, q))
        total = total + term
    return layer_var / model.depth, variance(total)


# --------------------------------------------------------------------------- predictions at numbers
def mode_sde_in_a(depth: int, ito: bool = True):
    """The per-mode SDE in the layer variable a (polynomial, safe for Euler–Maruyama near a = 0).

    ``ito=True``: ``dln.mode_sde``'s per-layer SDE. ``ito=False`` (the negative control): the u-SDE without its
    Itô drift term, mapped back to a = u^{1/L}. Since the u-SDE is the per-layer SDE pushed forward by u = a^L,
    dropping A_Itô from du drops A_Itô/(dU/da) = A_Itô/(L a^{L−1}) from da (Itô's lemma is linear in the drift):
    da = [a^{L−1}(s − a^L) − ½(L−1)(η/B) a^{2L−3} Q(a^L)] dt + √(η/B) a^{L−1} √Q dW (equal to
    ``dln.mode_sde(L, ito=False).ito_lemma(u^{1/L})``, tested)."""
    depth = require_int_in_range("depth", depth, 1)
    d = derivations.get("dln.mode_sde")  # the registered per-layer SDE and Itô term
    drift, noise = (d.extras[k].subs(dl.L, depth) for k in ("drift_a", "noise_a"))
    if not ito:
        drift -= sp.cancel(d.extras["ito_term"].subs(dl.L, depth).subs(dl.u, dl.a ** depth) / (depth * dl.a ** (depth - 1)))
    return ItoSDE(dl.a, drift, noise)


def gradient_flow_time(depth: int, s: float, u_from: float, u_to: float) -> float:
    """t = ∫ du / (L u^{2−2/L}(s − u)) from ``u_from`` to ``u_to`` (``dln.gradient_flow``; quadrature)."""
    f = sp.lambdify(dl.u, (1 / (dl.L * dl.u ** (2 - 2 / dl.L) * (dl.s - dl.u))).subs({dl.L: depth, dl.s: s}))
    return float(sp_integrate.quad(f, u_from, u_to, limit=200)[0])


def _registered_log_density(depth, s, sigma, eta, batch_size):
    """(log p(u, I), the integrand of I) of the registered ``dln.stationary_density`` at numbers, where
    I(u) = ∫_s^u (integrand) is the one integral in its closed form (computed on a grid by the caller)."""
    d = derivations.get("dln.stationary_density")
    p = d.result_expression.subs({dl.L: depth, dl.s: s, dl.sigma: sigma, dl.eta: eta, dl.B: batch_size})
    (integral,) = p.atoms(sp.Integral)
    I = sp.Dummy("I")
    log_p = sp.expand_log(sp.log(p.xreplace({integral: I})), force=True)
    (variable, _, _), = integral.limits
    return d.lambdify((dl.u, I), log_p), d.lambdify((variable,), integral.function)


class ModeDensity:
    """Stationary density of a mode: the registered ``dln.stationary_density`` at numbers, on a fine grid.

    log p(u) = −3(L−1)/L · ln u − ln Q(u) − (B/η) ∫_s^u V′ (``ito=False``: prefactor exponent
    −4(L−1)/L, i.e. without the Itô drift). Domain (0, ∞) for L ≥ 2, ℝ for L = 1. ``pdf`` and ``cdf``
    interpolate a cumulative (trapezoid) integral on ``n_grid`` points spanning ±``width`` Boltzmann standard
    deviations around s (log-spaced towards 0 for L ≥ 2); the mass outside is reported in ``tail_mass``.
    """

    def __init__(self, depth: int, s: float, sigma: float, eta: float, batch_size: float, *, ito: bool = True,
                 width: float = 40.0, n_grid: int = 40001):
        self.depth = require_int_in_range("depth", depth, 1)
        self.s, self.sigma = require_positive("s", s), require_positive("sigma", sigma)
        self.T = require_positive("eta", eta) / require_positive("batch_size", batch_size)
        log_density, integrand = _registered_log_density(depth, s, sigma, eta, batch_size)
        self.prefactor_exponent = -(3 if ito else 4) * (depth - 1) / depth
        std = np.sqrt(self.T * depth * s ** (2 - 2 / depth) * sigma ** 2 / 2)
        hi = s + width * std
        if depth == 1:
            grid = np.linspace(s - width * std, hi, n_grid)
        else:
            lo = s * 1e-12
            grid = np.unique(np.concatenate([np.geomspace(lo, s / 2, n_grid // 4), np.linspace(s / 2, hi, n_grid)]))
        self.grid = grid
        integral = sp_integrate.cumulative_trapezoid(integrand(grid), grid, initial=0.0)
        integral -= np.interp(s, grid, integral)  # the registered integral runs from s to u
        logp = log_density(grid, integral)
        if not ito:  # the control: the prefactor without the Itô drift, u^{−4(L−1)/L} instead of u^{−3(L−1)/L}
            logp = logp - (depth - 1) / depth * np.log(grid)
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
    def moments(self) -> np.ndarray:
        """(mean, variance, skewness, excess kurtosis) of the density (trapezoid on its grid)."""
        mean = np.trapezoid(self.grid * self._p, self.grid)
        c2, c3, c4 = (np.trapezoid((self.grid - mean) ** k * self._p, self.grid) for k in (2, 3, 4))
        return np.array([mean, c2, c3 / c2 ** 1.5, c4 / c2 ** 2 - 3.0])

    @property
    def mean(self) -> float:
        return float(self.moments[0])

    @property
    def variance(self) -> float:
        return float(self.moments[1])


# --------------------------------------------------------------------------- diffusion along a mode
@dataclass(frozen=True)
class ModeDiffusion:
    """Online SGD of a full-matrix network, every ``stride`` steps: mode strengths and gradient variances.

    ``x`` = u_α/s_α, ``var_u`` and ``var_layer`` the per-sample gradient variances of
    :func:`mode_gradient_variances` (end-to-end and per layer), ``off_diagonal`` the misalignment
    (Σ_{β≠α} (U_αᵀWV_β)² + (U_βᵀWV_α)²)^{1/2}/s_α, all of shape (T, R, k); ``times`` = η k."""

    depth: int
    s: np.ndarray
    sigma: float
    times: np.ndarray
    x: np.ndarray
    var_u: np.ndarray
    var_layer: np.ndarray
    off_diagonal: np.ndarray

    def predicted(self, kind: str) -> np.ndarray:
        """The aligned-balanced prediction at the measured u: L² u^{4−4/L} Q(u) (``"u"``) or u^{2−2/L} Q(u)
        (``"layer"``), i.e. ``dln.mode_sde``'s D_u resp. D_a divided by η/B (|u| for u < 0)."""
        expr = {"u": dl.diffusion_u(self.depth), "layer": dl.diffusion_a(self.depth)}[kind] / dl.T
        f = sp.lambdify((dl.u, dl.s, dl.sigma), expr, "numpy")
        return f(np.abs(self.x) * self.s, self.s, self.sigma)

    def measured(self, kind: str) -> np.ndarray:
        return {"u": self.var_u, "layer": self.var_layer}[kind]

    def peak_ratio(self, kind: str) -> np.ndarray:
        """Predicted u*/s of every mode: the registered ``dln.diffusion_peak``'s ``peak_root`` (smaller root of the
        peak quadratic; m = 4 − 4/L for D_u, 2 − 2/L for D_a), lambdified; NaN where its ``existence_condition``
        fails (label noise removes the interior peak)."""
        d = derivations.get("dln.diffusion_peak")
        root = d.lambdify((dl.m, dl.s, dl.sigma), d.extras["peak_root"] / dl.s)
        exists = d.lambdify((dl.m, dl.s, dl.sigma), d.extras["existence_condition"])
        exponent = (4 - 4 / self.depth) if kind == "u" else (2 - 2 / self.depth)
        with np.errstate(invalid="ignore"):
            return np.array([float(np.real_if_close(root(exponent, sv, self.sigma))) if exists(exponent, sv, self.sigma)
                             else np.nan for sv in self.s])


def simulate_mode_diffusion(depth: int, singular_values, *, eta: float, n_replicas: int, stride: int, n_probe: int,
                            init: str = "aligned", u0_fraction: float = 0.01, init_scale: float = 0.1,
                            sigma: float = 0.0, t_factor: float = 1.15, learned_fraction: float = 0.0,
                            max_chunks: int = 1, seed=0) -> ModeDiffusion:
    """Online SGD (B = 1) of a square depth-L network (width k = number of singular values) on
    ``MatrixTeacher(U diag(s) Vᵀ, σ)``, from ``init="aligned"`` (:func:`aligned_balanced_init` with
    u_α = ``u0_fraction`` s_α, the same for every replica) or ``init="random"`` (:func:`small_random_init`
    with ``init_scale``, independent per replica). Every ``stride`` steps records u/s and the gradient variances
    along each mode measured on ``n_probe`` fresh samples (:func:`mode_gradient_variances`).

    Duration: chunks of ``t_factor`` × the gradient-flow time of the slowest mode from its initial RMS strength
    to 0.95 s (``dln.gradient_flow``), repeated (at most ``max_chunks``) until a fraction ``learned_fraction``
    of the replicas has that mode at u ≥ 0.95 s: from random initialisation the escape times from the saddle
    spread widely over replicas."""
    depth = require_int_in_range("depth", depth, 2)
    s_vals = np.asarray(singular_values, dtype=float)
    if init not in ("aligned", "random"):
        raise ParameterError(f"init must be 'aligned' or 'random', got {init!r}")
    require_int_in_range("n_probe", n_probe, 2)
    require_int_in_range("max_chunks", max_chunks, 1)
    k = s_vals.size
    model = DeepLinearNetwork([k] * (depth + 1))
    M, U, V = teacher_matrix(s_vals, k, k, seed=child_seed(seed, 0))
    teacher = MatrixTeacher(M, sigma)
    if init == "aligned":
        require_positive("u0_fraction", u0_fraction)
        w = aligned_balanced_init(model, U, V, (u0_fraction * s_vals) ** (1 / depth), seed=child_seed(seed, 1))
        w = np.repeat(w[None], n_replicas, axis=0)
    else:
        w = np.stack([small_random_init(model, init_scale, seed=child_seed(child_seed(seed, 1), r))
                      for r in range(n_replicas)])
    slow = int(np.argmin(s_vals))
    u_start = float(np.sqrt(np.mean(mode_strengths(model, w, U, V)[:, slow] ** 2)))
    t_chunk = require_positive("t_factor", t_factor) * gradient_flow_time(depth, s_vals[slow], u_start,
                                                                         0.95 * s_vals[slow])
    n_steps = stride * int(np.ceil(t_chunk / eta / stride))
    rng = np.random.default_rng(child_seed(seed, 2))

    def features(weights):
        modes = np.einsum("ia,rij,jb->rab", U, model.end_to_end(weights), V)       # Uᵀ W V  (R, k, k)
        diagonal = np.diagonal(modes, axis1=1, axis2=2)
        off = np.sqrt(np.sum(modes ** 2, axis=1) + np.sum(modes ** 2, axis=2) - 2 * diagonal ** 2)
        return np.concatenate([diagonal / s_vals, off / s_vals,
                               *mode_gradient_variances(model, weights, U, V, teacher, n_probe, rng)], axis=1)

    records = []
    for chunk in range(max_chunks):
        obs = TrajectoryObserver(features, stride=stride)
        w = run_sgd(model, teacher, eta=eta, batch_size=1, n_steps=n_steps, n_replicas=n_replicas, sampling="online",
                    w0=w, seed=child_seed(seed, 3 + chunk), observers=[obs], block_size=n_replicas).final
        records.append(obs.values if chunk == 0 else obs.values[1:])
        if np.mean(obs.values[-1, :, slow] >= 0.95) >= learned_fraction:
            break
    v = np.concatenate(records)
    times = np.arange(len(v)) * stride * eta
    return ModeDiffusion(depth, s_vals, float(sigma), times, v[..., :k], v[..., 3 * k:], v[..., 2 * k:3 * k],
                         v[..., k:2 * k])


_FINE_BINS = 1000  # samples are pooled into bins of width 1/1000 in x = u/s before fitting


def _fine_moments(x, v) -> np.ndarray:
    """Σ x^j (j = 0..4) and Σ v x^j (j = 0..2) of the samples in each of the fine bins of (0, 1): (n_fine, 8)."""
    idx = np.minimum((x * _FINE_BINS).astype(int), _FINE_BINS - 1)
    powers = np.vander(x, 5, increasing=True)
    terms = np.concatenate([powers, powers[:, :3] * v[:, None]], axis=1)
    return np.stack([np.bincount(idx, weights=terms[:, j], minlength=_FINE_BINS) for j in range(8)], axis=1)


_CENTRES = (np.arange(_FINE_BINS) + 0.5) / _FINE_BINS
_MAX_ITERATIONS = 100


def _vertex(moments: np.ndarray, centre: float, bandwidth: float) -> float:
    """Vertex of the parabola fitted by least squares with Gaussian weights exp(−(x − centre)²/(2 bandwidth²))."""
    if not 0 < centre < 1:
        return np.nan
    S = np.exp(-0.5 * ((_CENTRES - centre) / bandwidth) ** 2) @ moments
    normal = np.array([[S[4], S[3], S[2]], [S[3], S[2], S[1]], [S[2], S[1], S[0]]])
    if np.linalg.matrix_rank(normal) < 3:  # fewer than three distinct x near the centre
        return np.nan
    c2, c1, _ = np.linalg.solve(normal, S[[7, 6, 5]])
    return -c1 / (2 * c2) if c2 < 0 else np.nan


def _peak(moments: np.ndarray, bandwidth: float, bin_width: float) -> float:
    per_bin = int(round(bin_width * _FINE_BINS))
    binned = moments.reshape(-1, per_bin, 8).sum(axis=1)
    means = np.where(binned[:, 0] >= 3, binned[:, 5] / np.maximum(binned[:, 0], 1), -np.inf)
    centre = (int(np.argmax(means)) + 0.5) * bin_width
    for _ in range(_MAX_ITERATIONS):
        vertex = _vertex(moments, centre, bandwidth)
        if not np.isfinite(vertex) or abs(vertex - centre) < 1e-7:
            return vertex
        centre = vertex
    return np.nan  # no fixed point


def _in_unit_interval(x, v):
    ok = np.isfinite(x) & np.isfinite(v) & (x > 0) & (x < 1)
    return x[ok], v[ok]


def peak_vertex(x, v, *, bandwidth: float = 0.08, bin_width: float = 0.05) -> float:
    """The estimate of :func:`peak_position` from samples x, v of any shape (no standard error)."""
    return _peak(_fine_moments(*_in_unit_interval(np.ravel(x), np.ravel(v))), bandwidth, bin_width)


def peak_position(x, v, *, bandwidth: float = 0.08, bin_width: float = 0.05, n_blocks: int = 16) -> Estimate:
    """Where v(x) peaks, from samples x, v of shape (T, R) (R independent replicas; x = u/s, samples outside
    (0, 1) ignored).

    Estimator: local quadratic regression with Gaussian weights of width ``bandwidth``. Starting from the centre
    of the highest bin mean (bins of ``bin_width``), the window moves to the fitted parabola's vertex until the
    vertex is the centre of its own window (a fixed point: the estimate is a smooth function of the data and
    does not depend on which bin happened to be highest); NaN if a fit is not concave or no fixed point is
    found. Samples are pooled in bins of width 10⁻³ in x first. Standard error: jackknife over ``n_blocks``
    blocks of replicas, the whole estimator recomputed without each block."""
    x, v = np.asarray(x, dtype=float), np.asarray(v, dtype=float)
    if x.shape != v.shape or x.ndim != 2:
        raise ParameterError(f"x and v must have the same shape (T, R), got {x.shape} and {v.shape}")
    require_positive("bandwidth", bandwidth)
    n_blocks = require_int_in_range("n_blocks", n_blocks, 2, x.shape[1])
    blocks = np.stack([_fine_moments(*_in_unit_interval(x[:, b].ravel(), v[:, b].ravel()))
                       for b in np.array_split(np.arange(x.shape[1]), n_blocks)])
    return block_jackknife(blocks, lambda total: _peak(total, bandwidth, bin_width))


def binned_ratio(x, v, f, edges) -> Estimate:
    """Σv/Σf over the samples with x in each bin [edges_i, edges_{i+1}) (shape (T, R) each; ratio estimator with
    its standard error over the R independent replicas): measured over predicted along the curve."""
    x, v, f = (np.asarray(a, dtype=float) for a in (x, v, f))
    values, errors = [], []
    R = x.shape[1]
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (x >= lo) & (x < hi)
        sv, sf = np.where(sel, v, 0.0).sum(axis=0), np.where(sel, f, 0.0).sum(axis=0)
        ratio = sv.sum() / sf.sum() if sf.sum() > 0 else np.nan
        values.append(ratio)
        errors.append(np.sqrt(np.sum((sv - ratio * sf) ** 2) / (R * (R - 1))) / sf.mean() if sf.sum() > 0 else np.nan)
    return Estimate(np.array(values), np.array(errors), dof=R - 1)


def first_passage_times(times, x, level: float) -> np.ndarray:
    """Per replica, the first recorded time at which x (T, R) reaches ``level`` (NaN if never)."""
    reached = np.asarray(x) >= level
    first = np.argmax(reached, axis=0)
    return np.where(reached.any(axis=0), np.asarray(times)[first], np.nan)
