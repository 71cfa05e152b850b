"""Least squares on a user's own data: noise covariance, stability of η, stationary weight covariance.

Conventions (ARCHITECTURE.md): L(w) = (1/2P) Σ_p (wᵀx_p − y_p)², H = XᵀX/P, ŵ the least-squares solution,
δ = w − ŵ, κ the minibatch noise scale (1/B with replacement, (P−B)/(B(P−1)) without replacement).

The exact discrete stationary second moment S = E[δδᵀ] of minibatch SGD (derivation
``linreg.discrete_stationary_covariance``) solves the linear equation

    𝓛(S) ≡ η(HS + SH) − η²(1 − κ) HSH − η²κ 𝓜(S) = η²κ C_*,   𝓜(S) = (1/P) Σ_p (x_pᵀSx_p) x_p x_pᵀ,

with C_* = (1/P) Σ_p r̂_p² x_p x_pᵀ. 𝓛 = I − 𝒯 where 𝒯 is the (self-adjoint, positivity-preserving)
homogeneous second-moment map of SGD; SGD has a stationary second moment iff ρ(𝒯) < 1, and then 𝓛 is
positive definite, so conjugate gradients apply (the matrix-free solver), preconditioned by the part of
𝓛 that is diagonal in H's eigenbasis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse.linalg

from derivations.conventions import FINITE_IID_SAMPLING, minibatch_noise_scale

from numerics.errors import (
    ParameterError, UnstableLearningRateError, require_choice, require_int_in_range, require_positive,
)

DENSE_MAX_FEATURES = 40  # the dense Kronecker system is N² × N²: O(N⁶) beyond this


def _as_data(X, y) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ParameterError(f"X must be (P, N) and y (P,); got X {X.shape} and y {y.shape}")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise ParameterError("X and y must be finite (found NaN or inf)")
    return X, y


def hessian(X) -> np.ndarray:
    """H = XᵀX / P, the Hessian of L."""
    X = np.asarray(X, dtype=float)
    return X.T @ X / X.shape[0]


def least_squares_solution(X, y) -> np.ndarray:
    """ŵ = argmin L(w); raises ParameterError when H is singular (ŵ not unique, no stationary law)."""
    X, y = _as_data(X, y)
    P, N = X.shape
    if np.linalg.matrix_rank(X) < N:
        raise ParameterError(f"X has rank < N = {N} (P = {P}): the minimiser is not unique and SGD has no "
                             "stationary covariance; use P >= N samples in general position")
    return np.linalg.lstsq(X, y, rcond=None)[0]


def noise_covariance(X, y, w=None) -> np.ndarray:
    """C(w) = (1/P) Σ_p r_p² x_p x_pᵀ − ∇L ∇Lᵀ, r_p = x_pᵀw − y_p (default w = ŵ, where ∇L = 0)."""
    X, y = _as_data(X, y)
    w = least_squares_solution(X, y) if w is None else np.asarray(w, dtype=float)
    r = X @ w - y
    grad = X.T @ r / X.shape[0]
    return (X * r[:, None] ** 2).T @ X / X.shape[0] - np.outer(grad, grad)


def minibatch_scale(batch_size: int, sampling: str, n_samples: int) -> float:
    """κ: 1/B with replacement, (P − B)/(B(P − 1)) without replacement."""
    require_choice("sampling", sampling, FINITE_IID_SAMPLING)
    require_int_in_range("batch_size", batch_size, 1, n_samples)
    return float(minibatch_noise_scale(batch_size, sampling, n_samples))


@dataclass(frozen=True)
class SecondMomentOperator:
    """The linear map 𝓛(S) = η(HS + SH) − η²(1 − κ)HSH − η²κ𝓜(S) on symmetric N×N matrices."""

    X: np.ndarray
    eta: float
    scale: float

    @property
    def H(self) -> np.ndarray:
        return hessian(self.X)

    def moment(self, S: np.ndarray) -> np.ndarray:
        """𝓜(S) = (1/P) Σ_p (x_pᵀ S x_p) x_p x_pᵀ, in O(P N²)."""
        q = np.einsum("pi,ij,pj->p", self.X, S, self.X)
        return (self.X * q[:, None]).T @ self.X / self.X.shape[0]

    def apply(self, S: np.ndarray, H: np.ndarray | None = None) -> np.ndarray:
        H = self.H if H is None else H
        e, k = self.eta, self.scale
        HS = H @ S
        return e * (HS + HS.T) - e * e * (1 - k) * (HS @ H) - e * e * k * self.moment(S)

    def transfer(self, S: np.ndarray, H: np.ndarray | None = None) -> np.ndarray:
        """𝒯(S) = S − 𝓛(S): one SGD step of the second moment without the source term."""
        return S - self.apply(S, H)

    def dense(self) -> np.ndarray:
        """𝓛 as an N² × N² matrix acting on row-major vec(S)."""
        H, N = self.H, self.X.shape[1]
        e, k = self.eta, self.scale
        eye = np.eye(N)
        K = np.einsum("pi,pj->pij", self.X, self.X).reshape(self.X.shape[0], N * N)
        return (e * (np.kron(H, eye) + np.kron(eye, H)) - e * e * (1 - k) * np.kron(H, H)
                - e * e * k * K.T @ K / self.X.shape[0])

    def spectral_radius(self) -> float:
        """ρ(𝒯): the largest eigenvalue of the homogeneous second-moment map (a positive map, so
        its spectral radius is its largest eigenvalue). SGD's second moment is stable iff ρ < 1."""
        N = self.X.shape[1]
        if N <= DENSE_MAX_FEATURES:
            return float(np.linalg.eigvalsh(np.eye(N * N) - self.dense())[-1])
        H = self.H
        op = scipy.sparse.linalg.LinearOperator(
            (N * N, N * N), matvec=lambda v: self.transfer(v.reshape(N, N), H).ravel(), dtype=float)
        # Start from vec(I): the Perron vector of this positive map is PSD, so vec(I) overlaps it, and a
        # fixed start keeps the answer independent of ARPACK's process-wide random state (call order).
        v0 = np.eye(N).ravel() / np.sqrt(N)
        return float(scipy.sparse.linalg.eigsh(op, k=1, which="LA", v0=v0, return_eigenvectors=False)[0])


def second_moment_spectral_radius(X, eta: float, batch_size: int, sampling: str = "with_replacement") -> float:
    """ρ(𝒯) for least-squares SGD on data X: the stationary covariance exists iff this is < 1."""
    X = np.asarray(X, dtype=float)
    eta = require_positive("eta", eta)
    return SecondMomentOperator(X, eta, minibatch_scale(batch_size, sampling, X.shape[0])).spectral_radius()


def max_stable_eta(X, batch_size: int, sampling: str = "with_replacement") -> float:
    """The largest η for which SGD's second moment is stable (ρ(𝒯) = 1), found by root bracketing.

    Always ≤ 2/λ_max(H), the bound of the mean dynamics E δ_{k+1} = (I − ηH) E δ_k.
    """
    X = np.asarray(X, dtype=float)
    scale = float(np.max(np.abs(X))) if X.size else 0.0
    if not (scale > 0 and np.isfinite(scale)):
        raise ParameterError("no stable learning rate found: the data X are zero or not finite")
    if scale != 1.0:  # ρ depends on η and X only through η X Xᵀ: solve for X/scale (no overflow at tiny or huge X)
        eta_max = max_stable_eta(X / scale, batch_size, sampling) / scale / scale  # scale**2 may underflow to 0
        if not np.isfinite(eta_max):
            raise ParameterError(f"the data X are too small (max |X| = {scale:.3g}): X^T X underflows in float64; "
                                 "rescale the data")
        return eta_max
    upper = 2.0 / np.linalg.eigvalsh(hessian(X))[-1]
    radius = lambda e: second_moment_spectral_radius(X, e, batch_size, sampling) - 1.0  # noqa: E731
    if radius(upper) < 0:
        return upper
    # Bracket the root from below by halving: at very small η, 1 − ρ = O(η λ_min) can fall below the
    # accuracy of the iterative eigensolver, so a fixed tiny lower end is not a safe bracket.
    lower = upper / 2
    while radius(lower) >= 0:
        if lower < upper * 1e-8:
            raise ParameterError("no stable learning rate found: the second moment of SGD does not contract "
                                 "(is H singular? use P >= N samples in general position)")
        upper, lower = lower, lower / 2
    return scipy.optimize.brentq(radius, lower, upper, xtol=upper * 1e-10)


def check_stable(X, eta: float, batch_size: int, sampling: str = "with_replacement", marginal_ok: bool = False) -> float:
    """ρ(𝒯), or UnstableLearningRateError naming η and the largest stable η when ρ ≥ 1
    (``marginal_ok``: only when ρ > 1, allowing the neutral directions of rank-deficient data)."""
    rho = second_moment_spectral_radius(X, eta, batch_size, sampling)
    if rho > 1 + 1e-9 or (rho >= 1 and not marginal_ok):
        bound = max_stable_eta(X, batch_size, sampling)
        raise UnstableLearningRateError(
            f"eta = {eta:g} is unstable for this data (B = {batch_size}, {sampling}): the second moment of SGD "
            f"grows (spectral radius {rho:.4g} >= 1); stable for eta < {bound:.6g}")
    return rho


def _solve_dense(op: SecondMomentOperator, rhs: np.ndarray) -> np.ndarray:
    N = rhs.shape[0]
    S = scipy.linalg.solve(op.dense(), rhs.ravel(), assume_a="sym").reshape(N, N)
    return (S + S.T) / 2


def _solve_iterative(op: SecondMomentOperator, rhs: np.ndarray, rtol: float) -> np.ndarray:
    N = rhs.shape[0]
    H = op.H
    lam, V = np.linalg.eigh(H)
    e, k = op.eta, op.scale
    diag = e * (lam[:, None] + lam[None, :]) - e * e * (1 - k) * np.outer(lam, lam)
    if not (diag > 0).all():
        raise UnstableLearningRateError(f"eta = {e:g} is beyond the stability bound 2/lambda_max(H) = {2 / lam[-1]:.6g}")
    matvec = lambda v: op.apply(v.reshape(N, N), H).ravel()  # noqa: E731
    precond = lambda v: (V @ ((V.T @ v.reshape(N, N) @ V) / diag) @ V.T).ravel()  # noqa: E731
    A = scipy.sparse.linalg.LinearOperator((N * N, N * N), matvec=matvec, dtype=float)
    M = scipy.sparse.linalg.LinearOperator((N * N, N * N), matvec=precond, dtype=float)
    x0 = precond(rhs.ravel())
    sol, info = scipy.sparse.linalg.cg(A, rhs.ravel(), x0=x0, M=M, rtol=rtol, atol=0.0, maxiter=10 * N * N)
    if info != 0:
        raise UnstableLearningRateError(f"conjugate gradients did not converge (info={info}) for eta = {e:g}; "
                                        "eta is probably at or beyond the stability bound")
    S = sol.reshape(N, N)
    return (S + S.T) / 2


def discrete_stationary_covariance(X, y, eta: float, batch_size: int, sampling: str = "with_replacement",
                                   method: str = "auto", rtol: float = 1e-12, check_stability: bool = True) -> np.ndarray:
    """Exact stationary E[δδᵀ] of discrete minibatch SGD on least squares (no continuum limit).

    Solves η(HS + SH) − η²(1 − κ)HSH − η²κ𝓜(S) = η²κ C_* (derivation ``linreg.discrete_stationary_covariance``).
    ``method``: "dense" (N² × N² Kronecker system), "iterative" (matrix-free preconditioned CG, O(P N²) per
    iteration, for N in the hundreds) or "auto" (dense for N ≤ 40).
    """
    X, y = _as_data(X, y)
    eta = require_positive("eta", eta)
    require_choice("method", method, ("auto", "dense", "iterative"))
    scale = minibatch_scale(batch_size, sampling, X.shape[0])
    C_star = noise_covariance(X, y)
    op = SecondMomentOperator(X, eta, scale)
    if check_stability:
        check_stable(X, eta, batch_size, sampling)
    rhs = eta * eta * scale * C_star
    if method == "dense" or (method == "auto" and X.shape[1] <= DENSE_MAX_FEATURES):
        return _solve_dense(op, rhs)
    return _solve_iterative(op, rhs, rtol)


def lyapunov_covariance(X, y, eta: float, batch_size: int, sampling: str = "with_replacement") -> np.ndarray:
    """Continuum stationary covariance: H Σ + Σ H = η κ C_* (``linreg.stationary_covariance``; O(η) accurate)."""
    X, y = _as_data(X, y)
    eta = require_positive("eta", eta)
    scale = minibatch_scale(batch_size, sampling, X.shape[0])
    H, C_star = hessian(X), noise_covariance(X, y)
    least_squares_solution(X, y)  # refuses singular H with a clear message
    S = scipy.linalg.solve_continuous_lyapunov(H, eta * scale * C_star)
    return (S + S.T) / 2


def stationary_covariance(X, y, eta: float, batch_size: int, sampling: str = "with_replacement",
                          exact: bool = True, method: str = "auto") -> np.ndarray:
    """Stationary covariance of the weights of minibatch SGD on least squares, for your own data.

    ``exact=True``: the exact discrete-time second moment E[(w − ŵ)(w − ŵ)ᵀ] (valid for every stable η);
    ``exact=False``: the continuum Lyapunov solution H Σ + Σ H = η κ C_* (leading order in η).
    ``sampling``: "with_replacement" or "without_replacement" (i.i.d. minibatches across steps).
    """
    if exact:
        return discrete_stationary_covariance(X, y, eta, batch_size, sampling, method)
    return lyapunov_covariance(X, y, eta, batch_size, sampling)
