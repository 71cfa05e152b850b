"""Two-layer linear network f(x) = W₂W₁x for the replica engine, its linearised stationary covariance,
and the tools of Feng & Tu's variance–flatness analysis (PCA, flatness by root finding, log–log fit).

Conventions (ARCHITECTURE.md): ℓ_p = ½‖W₂W₁x_p − y_p‖², L = (1/P) Σ_p ℓ_p; W₁ ∈ ℝ^{M×N}, W₂ ∈ ℝ^{K×M};
the parameter vector is θ = [vec(W₁), vec(W₂)] (row-major), n = MN + KM; product W = W₂W₁ ∈ ℝ^{K×N},
vec(W) row-major. Residual r_p = Wx_p − y_p; G = (1/B) Σ_b r_b x_bᵀ the minibatch product-space gradient;
∇_{W₁} = W₂ᵀG, ∇_{W₂} = G W₁ᵀ. t = ηk, κ the minibatch noise scale. Derivation: ``fluct.two_layer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.linalg
import scipy.optimize

from numerics.engine.data import Dataset
from numerics.errors import ParameterError, require_int_in_range, require_positive
from numerics.models.linreg import least_squares_solution, minibatch_scale
from numerics.engine.rng import as_generator
from numerics.stats import PowerLawFit, power_law_fit


# --------------------------------------------------------------------------- data with K outputs
@dataclass(frozen=True)
class MultiOutputDataset(Dataset):
    """P fixed samples with vector targets: inputs ``X`` (P, N), targets ``y`` (P, K) (a (P,) target is K = 1).

    A :class:`numerics.engine.data.Dataset` for :func:`numerics.engine.sgd.run_sgd` (which indexes ``X`` and ``y`` per
    minibatch); only the target shape check differs (``Dataset`` takes scalar targets).
    """

    def __post_init__(self):
        X, y = np.asarray(self.X, dtype=float), np.asarray(self.y, dtype=float)
        if y.ndim == 1:
            y = y[:, None]
        if X.ndim != 2 or y.ndim != 2 or y.shape[0] != X.shape[0]:
            raise ParameterError(f"X must be (P, N) and y (P, K) with the same P; got X {X.shape} and y {y.shape}")
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise ParameterError("X and y must be finite (found NaN or inf)")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)

    @property
    def n_outputs(self) -> int:
        return self.y.shape[1]


def teacher_data(n_inputs: int, n_outputs: int, n_samples: int, noise_std: float,
                 singular_values=None, seed=0) -> MultiOutputDataset:
    """x ~ N(0, I_N), y = W*x + ε, ε ~ N(0, σ² I_K); W* = U diag(singular_values) Vᵀ with random orthogonal
    U, V (default singular values all 1)."""
    N = require_int_in_range("n_inputs", n_inputs, 1)
    K = require_int_in_range("n_outputs", n_outputs, 1)
    P = require_int_in_range("n_samples", n_samples, 1)
    if noise_std < 0:
        raise ParameterError(f"noise_std must be >= 0, got {noise_std}")
    r = min(N, K)
    s = np.ones(r) if singular_values is None else np.asarray(singular_values, dtype=float)
    if s.shape != (r,) or np.any(s <= 0):
        raise ParameterError(f"singular_values must be {r} positive numbers (min(N, K)), got {singular_values!r}")
    rng = as_generator(seed)
    U = np.linalg.qr(rng.standard_normal((K, K)))[0][:, :r]
    V = np.linalg.qr(rng.standard_normal((N, N)))[0][:, :r]
    X = rng.standard_normal((P, N))
    Y = X @ (V * s) @ U.T  # y_p = W* x_p with W* = U diag(s) Vᵀ
    return MultiOutputDataset(X, Y + noise_std * rng.standard_normal((P, K)))


# --------------------------------------------------------------------------- the model
class TwoLayerLinear:
    """f(x) = W₂W₁x with ℓ = ½‖f(x) − y‖²; θ = [vec(W₁), vec(W₂)] row-major (MN + KM parameters)."""

    def __init__(self, n_inputs: int, n_hidden: int, n_outputs: int):
        self.N = require_int_in_range("n_inputs", n_inputs, 1)
        self.M = require_int_in_range("n_hidden", n_hidden, 1)
        self.K = require_int_in_range("n_outputs", n_outputs, 1)
        self.n_first = self.M * self.N
        self.n_params = self.n_first + self.K * self.M

    def unpack(self, theta):
        """(W₁, W₂) of shapes (..., M, N), (..., K, M) from θ of shape (..., n)."""
        theta = np.asarray(theta, dtype=float)
        if theta.shape[-1] != self.n_params:
            raise ParameterError(f"theta must have {self.n_params} entries in its last axis, got {theta.shape}")
        lead = theta.shape[:-1]
        return (theta[..., :self.n_first].reshape(*lead, self.M, self.N),
                theta[..., self.n_first:].reshape(*lead, self.K, self.M))

    def pack(self, W1, W2) -> np.ndarray:
        W1, W2 = np.asarray(W1, dtype=float), np.asarray(W2, dtype=float)
        if W1.shape[-2:] != (self.M, self.N) or W2.shape[-2:] != (self.K, self.M):
            raise ParameterError(f"W1 must be {(self.M, self.N)} and W2 {(self.K, self.M)}, got {W1.shape}, {W2.shape}")
        lead = W1.shape[:-2]
        return np.concatenate([W1.reshape(*lead, -1), W2.reshape(*lead, -1)], axis=-1)

    def _targets(self, y):
        y = np.asarray(y, dtype=float)
        return y[..., None] if self.K == 1 and (y.ndim == 1 or y.shape[-1] != 1) else y

    def minibatch_gradient(self, w, X, y):
        """Mean gradient over each replica's minibatch: w (R, n), X (R, B, N), y (R, B, K) → (R, n)."""
        W1, W2 = self.unpack(w)
        y = self._targets(y)
        h = np.einsum("rmn,rbn->rbm", W1, X)
        r = np.einsum("rkm,rbm->rbk", W2, h) - y
        G = np.einsum("rbk,rbn->rkn", r, X) / X.shape[1]
        return self.pack(np.einsum("rkm,rkn->rmn", W2, G), np.einsum("rkn,rmn->rkm", G, W1))

    def per_sample_gradients(self, w, X, y):
        """Per-sample gradients at one θ: w (n,), X (P, N), y (P, K) → (P, n)."""
        W1, W2 = self.unpack(w)
        r = X @ W1.T @ W2.T - self._targets(y)
        g1 = np.einsum("km,pk,pn->pmn", W2, r, X)
        g2 = np.einsum("pk,pm->pkm", r, X @ W1.T)
        return self.pack(g1, g2)

    def loss(self, w, X, y):
        """L(θ) = (1/2P) Σ_p ‖W₂W₁x_p − y_p‖² for θ of shape (n,) or (R, n)."""
        W1, W2 = self.unpack(w)
        f = np.einsum("...km,...mn,pn->...pk", W2, W1, X)
        return 0.5 * np.mean(np.sum((f - self._targets(y)) ** 2, axis=-1), axis=-1)

    def product(self, w) -> np.ndarray:
        W1, W2 = self.unpack(w)
        return W2 @ W1

    def jacobian(self, w) -> np.ndarray:
        """J = ∂vec(W₂W₁)/∂θ, shape (KN, n): δW = W₂ δW₁ + δW₂ W₁."""
        W1, W2 = self.unpack(w)
        J1 = np.einsum("km,ab->kamb", W2, np.eye(self.N)).reshape(self.K * self.N, self.n_first)
        J2 = np.einsum("kc,mn->kncm", np.eye(self.K), W1).reshape(self.K * self.N, self.K * self.M)
        return np.concatenate([J1, J2], axis=1)


# --------------------------------------------------------------------------- the late-time state
def least_squares_product(X, Y) -> np.ndarray:
    """Ŵ = argmin over K×N matrices of (1/2P) Σ_p ‖Wx_p − y_p‖² (per output, the least-squares solution)."""
    ds = MultiOutputDataset(X, Y)
    return np.stack([least_squares_solution(ds.X, ds.y[:, k]) for k in range(ds.n_outputs)])


def balance_noise_moments(X, Y) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) at Ŵ: A = (1/P) Σ_p ‖x_p‖² r̂_p r̂_pᵀ (K×K), B = (1/P) Σ_p ‖r̂_p‖² x_p x_pᵀ (N×N); then
    E[GGᵀ] = κA and E[GᵀG] = κB for the minibatch gradient G at the minimum (``fluct.two_layer``)."""
    ds = MultiOutputDataset(X, Y)
    R = ds.X @ least_squares_product(ds.X, ds.y).T - ds.y
    P = ds.n_samples
    A = (R * np.sum(ds.X ** 2, axis=1)[:, None]).T @ R / P
    B = (ds.X * np.sum(R ** 2, axis=1)[:, None]).T @ ds.X / P
    return A, B


def _sym_power(S: np.ndarray, power: float) -> np.ndarray:
    lam, V = np.linalg.eigh(S)
    if lam[0] <= 0:
        raise ParameterError("noise moment matrix is singular (no label noise?): the noise-balanced state needs "
                             "noise_std > 0 and P > N")
    return (V * lam ** power) @ V.T


def noise_balanced_state(model: TwoLayerLinear, X, Y) -> np.ndarray:
    """The late-time state θ* of SGD (``fluct.two_layer``): on the minimum manifold W₂W₁ = Ŵ, the noise-driven
    drift of the balance matrix Δ = W₁W₁ᵀ − W₂ᵀW₂, E[Δ_{k+1} − Δ_k] = η²κ (W₂ᵀAW₂ − W₁BW₁ᵀ), vanishes:
    with Z = A^{1/2} Ŵ B^{1/2} = R Λ Vᵀ (thin SVD), W₂ = A^{−1/2} R Λ^{1/2} and W₁ = Λ^{1/2} Vᵀ B^{−1/2}
    (unique up to a rotation of the hidden layer). Needs M = rank Ŵ = min(K, N)."""
    ds = MultiOutputDataset(X, Y)
    if (ds.n_features, ds.n_outputs) != (model.N, model.K):
        raise ParameterError(f"data have N = {ds.n_features}, K = {ds.n_outputs}; the model N = {model.N}, K = {model.K}")
    if model.M != min(model.N, model.K):
        raise ParameterError(f"the noise-balanced minimum needs n_hidden = min(N, K) = {min(model.N, model.K)}, "
                             f"got {model.M} (fewer cannot fit Ŵ; more leave zero-gradient saddle directions)")
    W_hat = least_squares_product(ds.X, ds.y)
    A, B = balance_noise_moments(ds.X, ds.y)
    Ah, Bh = _sym_power(A, 0.5), _sym_power(B, 0.5)
    R, lam, Vt = np.linalg.svd(Ah @ W_hat @ Bh, full_matrices=False)
    W2 = _sym_power(A, -0.5) @ R * np.sqrt(lam)
    W1 = (np.sqrt(lam)[:, None] * Vt) @ _sym_power(B, -0.5)
    return model.pack(W1, W2)


# --------------------------------------------------------------------------- linearised covariance
def product_noise_covariance(model: TwoLayerLinear, X, Y, theta) -> np.ndarray:
    """C_W = (1/P) Σ_p vec(r_p x_pᵀ) vec(r_p x_pᵀ)ᵀ − vec(∇_W L) vec(∇_W L)ᵀ, shape (KN, KN)."""
    ds = MultiOutputDataset(X, Y)
    R = ds.X @ model.product(theta).T - ds.y
    g = np.einsum("pk,pn->pkn", R, ds.X).reshape(ds.n_samples, -1)
    mean = g.mean(axis=0)
    return g.T @ g / ds.n_samples - np.outer(mean, mean)


def _restricted_lyapunov(Hm: np.ndarray, Cm: np.ndarray, scale: float, tol: float = 1e-10) -> np.ndarray:
    """Σ with HΣ + ΣH = scale·C on the range of the PSD matrix H (zero on its null space)."""
    lam, V = np.linalg.eigh(Hm)
    Q = V[:, lam > tol * lam[-1]]
    Sr = scipy.linalg.solve_continuous_lyapunov(Q.T @ Hm @ Q, scale * Q.T @ Cm @ Q)
    S = Q @ Sr @ Q.T
    return (S + S.T) / 2


@dataclass(frozen=True)
class LinearisedCovariance:
    """Stationary covariance of the OU process linearised at θ*: full Σ_θ and its layer blocks."""

    full: np.ndarray
    first: np.ndarray
    second: np.ndarray
    cross: np.ndarray
    hessian: np.ndarray
    noise: np.ndarray


def linearised_covariance(model: TwoLayerLinear, X, Y, theta, eta: float, batch_size: int,
                          sampling: str = "with_replacement", coupled: bool = True) -> LinearisedCovariance:
    """Continuum stationary covariance at a minimum θ*: H_θ Σ + Σ H_θ = ηκ C_θ on range(Jᵀ), with the
    Gauss–Newton Hessian H_θ = Jᵀ(I_K ⊗ H)J (exact at a minimum: ∇_W L = 0) and C_θ = Jᵀ C_W J.

    ``coupled=False`` is the negative control without inter-layer coupling: each layer's own Lyapunov
    equation with the other layer frozen (block-diagonal Σ)."""
    ds = MultiOutputDataset(X, Y)
    eta = require_positive("eta", eta)
    kappa = minibatch_scale(batch_size, sampling, ds.n_samples)
    J = model.jacobian(theta)
    H_W = np.kron(np.eye(model.K), ds.X.T @ ds.X / ds.n_samples)
    H_t, C_t = J.T @ H_W @ J, J.T @ product_noise_covariance(model, ds.X, ds.y, theta) @ J
    if coupled:
        S = _restricted_lyapunov(H_t, C_t, eta * kappa)
    else:
        S = np.zeros_like(H_t)
        for sl in (slice(0, model.n_first), slice(model.n_first, model.n_params)):
            S[sl, sl] = _restricted_lyapunov(H_t[sl, sl], C_t[sl, sl], eta * kappa)
    f = model.n_first
    return LinearisedCovariance(S, S[:f, :f], S[f:, f:], S[:f, f:], H_t, C_t)


# --------------------------------------------------------------------------- Feng–Tu analysis
def principal_components(samples, n_components: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """PCA of samples (S, d) (rows are weight vectors; centred here): variances σ_i² (the eigenvalues of the
    sample covariance, ddof = 1) in descending order and the directions p_i as orthonormal columns, the first
    ``n_components`` (default min(S, d)). By SVD of the centred samples: O(S²d) when a window of S samples is
    shorter than the d weights, where the d×d covariance would cost O(d³)."""
    x = np.asarray(samples, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ParameterError(f"samples must have shape (S >= 2, d), got {x.shape}")
    k = min(x.shape) if n_components is None else require_int_in_range("n_components", n_components, 1, min(x.shape))
    _, s, Vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)  # singular values descending
    return s[:k] ** 2 / (x.shape[0] - 1), Vt[:k].T


def covariance_principal_components(cov) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of a covariance matrix, variances descending, directions as columns."""
    lam, V = np.linalg.eigh(np.asarray(cov, dtype=float))
    order = np.argsort(lam)[::-1]
    return lam[order], V[:, order]


def flatness(loss: Callable[[np.ndarray], float], center, directions, factor: float = np.e,
             max_doublings: int = 60) -> np.ndarray:
    """Feng & Tu's flatness F_i = θ_r − θ_l along each direction p_i (columns of ``directions``): the loss
    profile L(center + θ p_i) reaches ``factor``·L₀, L₀ = L(center), at θ_r > 0 and θ_l < 0 (Brent's
    method after bracketing by doubling). Needs L₀ > 0."""
    center = np.asarray(center, dtype=float)
    D = np.asarray(directions, dtype=float).reshape(center.size, -1)
    L0 = float(loss(center))
    if not L0 > 0:
        raise ParameterError(f"flatness needs a positive loss at the centre, got L0 = {L0!r}")
    target = factor * L0

    def crossing(p, sign):
        f = lambda t: float(loss(center + sign * t * p)) - target  # noqa: E731
        hi = 1e-3 * max(1.0, np.linalg.norm(center))
        for _ in range(max_doublings):
            if f(hi) > 0:
                return scipy.optimize.brentq(f, 0.0, hi, xtol=1e-14 * hi, rtol=1e-12)
            hi *= 2
        raise ParameterError("the loss profile never reaches factor * L0 along a direction (an exactly flat direction)")

    return np.array([crossing(p, 1) + crossing(p, -1) for p in D.T])


def block_flatness(loss: Callable[[np.ndarray], float], center, directions, block=slice(None)) -> np.ndarray:
    """:func:`flatness` about the full parameter vector ``center`` along directions (columns of ``directions``)
    that live in the parameter block ``block`` (a slice or index array into the vector), zero elsewhere."""
    center = np.asarray(center, dtype=float)
    full = np.zeros((center.size, np.shape(directions)[1]))
    full[block] = directions
    return flatness(loss, center, full)


def window_variance_flatness(loss: Callable[[np.ndarray], float], center, samples, block=slice(None),
                             n_directions: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feng & Tu's analysis of one window of SGD: PCA of the samples (S, d) of the parameter block ``block``
    (:func:`principal_components`, the top ``n_directions``) and the flatness F_i at e·L₀ along each direction
    (:func:`block_flatness`) about the window's mean, the parameters outside the block at ``center``.
    Returns (σ², F, directions (d, n_directions))."""
    var, D = principal_components(samples, n_directions)
    mean = np.array(center, dtype=float)
    mean[block] = np.mean(samples, axis=0)
    return var, block_flatness(loss, mean, D, block), D


@dataclass(frozen=True)
class VarianceFlatnessFit:
    """σ_i² ∝ F_i^(−ψ): ψ = −(log–log slope), its interval, and the underlying :class:`PowerLawFit`."""

    psi: float
    psi_interval: tuple[float, float]
    psi_stderr: float
    fit: PowerLawFit


def variance_flatness_fit(variances, flatness_values, confidence: float = 0.95) -> VarianceFlatnessFit:
    """Log–log least-squares fit of σ_i² against F_i (``numerics.stats.power_law_fit``, t interval)."""
    fit = power_law_fit(flatness_values, variances, confidence=confidence)
    lo, hi = fit.exponent_interval
    return VarianceFlatnessFit(-fit.exponent, (-hi, -lo), fit.exponent_stderr, fit)
