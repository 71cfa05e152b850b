"""Measurements of seed 001 (``curv.noise_curvature``): C vs H vs E_p[h_p²], commutation, C_ii ∝ H_ii^γ.

Conventions (ARCHITECTURE.md): L = (1/P) Σ_p ℓ_p; g_p per-sample gradients; C₁ = (1/P) Σ_p g_pg_pᵀ − ḡḡᵀ and the
minibatch noise covariance with the paper's normalisation C = C₁/B. H = E_p[h_p], E_p[h_p²] from the per-sample
Hessians; λ_i, v_i the eigenpairs of H (descending); diagonals in H's eigenbasis C_ii = v_iᵀCv_i, H_ii = λ_i,
S_i = v_iᵀE_p[h_p²]v_i. γ is the least-squares slope of log C_ii on log H_ii over the top directions, with a
bootstrap (BCa, resampling directions) interval from :func:`numerics.stats.power_law_fit`.

Also the two synthetic models of the derivation: the aligned rank-one family (closed-form γ(q)) and least
squares with isotropic dual-weight residuals (C₁ = σ_w² E_p[h_p²] exactly).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from numerics.errors import ParameterError, require_int_in_range, require_positive
from numerics.models.mlp import MLP, curvature_moments
from numerics.engine.rng import as_generator
from numerics.stats import PowerLawFit, power_law_fit

__all__ = ["NoiseCurvature", "gradient_covariance", "measure_layer", "best_multiple_error", "commutator_measure", "haar_orthogonal",
           "antisymmetric_fraction",
           "rotation_baseline", "top_count", "fit_gamma", "rank_one_family", "least_squares_dual_weight"]


def gradient_covariance(g: np.ndarray, batch_size: int = 1) -> np.ndarray:
    """C = [(1/P) Σ_p g_pg_pᵀ − ḡḡᵀ]/B from per-sample gradients g (P, n) (the paper's normalisation)."""
    g = np.asarray(g, dtype=float)
    require_int_in_range("batch_size", batch_size, 1)
    gbar = g.mean(axis=0)
    return (g.T @ g / len(g) - np.outer(gbar, gbar)) / batch_size


def best_multiple_error(C: np.ndarray, M: np.ndarray) -> float:
    """‖C − cM‖_F/‖C‖_F with the best multiple c = ⟨C, M⟩/⟨M, M⟩ (0 iff C ∝ M)."""
    c = np.sum(C * M) / np.sum(M * M)
    return float(np.linalg.norm(C - c * M) / np.linalg.norm(C))


def commutator_measure(H, C) -> float:
    """‖[H, C]‖_F / (‖H‖_F ‖C‖_F): zero iff detailed balance holds (``fluct.single_layer``)."""
    return float(np.linalg.norm(H @ C - C @ H) / (np.linalg.norm(H) * np.linalg.norm(C)))


def haar_orthogonal(n: int, seed=None) -> np.ndarray:
    """A Haar-random n×n orthogonal matrix (QR of a Gaussian matrix, with the signs of R's diagonal fixed)."""
    G = as_generator(seed).standard_normal((n, n))
    Q, R = np.linalg.qr(G)
    return Q * np.sign(np.diag(R))


def antisymmetric_fraction(C: np.ndarray, H: np.ndarray) -> float:
    """ρ = ‖[C, H]‖_F/(2‖CH‖_F), the antisymmetric part of CH relative to CH: 0 iff C and H commute, ≈ 1/√2 for
    randomly oriented eigenbases. Unlike ‖[C, H]‖/(‖C‖‖H‖) it does not shrink when a random orientation makes
    CH itself small (in n dimensions ‖CH‖ ~ ‖C‖‖H‖/√n for unrelated eigenbases)."""
    M = C @ H
    return float(np.linalg.norm(M - M.T) / (2 * np.linalg.norm(M)))


def rotation_baseline(C: np.ndarray, H: np.ndarray, n_rotations: int, seed=None,
                      measures=(commutator_measure, antisymmetric_fraction)) -> np.ndarray:
    """Spectrum-preserving random-rotation baseline: each of ``measures`` (f(H, C') → float) evaluated at
    C' = QΛ_CQᵀ for ``n_rotations`` Haar-random orthogonal Q (C's spectrum kept, its eigenbasis unrelated to H's).
    Returns (n_rotations, len(measures)); default measures ‖[C, H]‖/(‖C‖‖H‖) and ρ."""
    require_int_in_range("n_rotations", n_rotations, 1)
    rng = as_generator(seed)
    evals = np.linalg.eigvalsh(C)
    out = np.empty((n_rotations, len(measures)))
    for k in range(n_rotations):
        Q = haar_orthogonal(len(C), rng)
        Cr = (Q * evals) @ Q.T
        out[k] = [m(H, Cr) for m in measures]
    return out


@dataclass(frozen=True)
class NoiseCurvature:
    """C (paper's normalisation), H, E_p[h_p²] of one layer, and H's eigenpairs (descending)."""

    C: np.ndarray
    H: np.ndarray
    Eh2: np.ndarray
    batch_size: int

    @cached_property
    def _eigh(self):
        lam, V = np.linalg.eigh(self.H)
        return lam[::-1], V[:, ::-1]

    @property
    def eigenvalues(self) -> np.ndarray:
        return self._eigh[0]

    @property
    def eigenvectors(self) -> np.ndarray:
        return self._eigh[1]

    def in_eigenbasis(self, M: np.ndarray) -> np.ndarray:
        """Diagonal v_iᵀMv_i of a matrix M (e.g. a predicted C) in H's eigenbasis, descending λ."""
        V = self.eigenvectors
        return np.sum(V * (M @ V), axis=0)

    def diagonals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(H_ii = λ_i, C_ii, S_i) in H's eigenbasis, descending λ."""
        return self.eigenvalues, self.in_eigenbasis(self.C), self.in_eigenbasis(self.Eh2)

    def relative_errors(self) -> dict:
        """‖C − cM‖/‖C‖ (best c) for M = E_p[h_p²] and M = H."""
        return {"Eh2": best_multiple_error(self.C, self.Eh2), "H": best_multiple_error(self.C, self.H)}

    def commutator(self) -> float:
        """‖[C, H]‖_F/(‖C‖_F‖H‖_F)."""
        return commutator_measure(self.H, self.C)

    def antisymmetric_fraction(self) -> float:
        """ρ = ‖[C, H]‖/(2‖CH‖)."""
        return antisymmetric_fraction(self.C, self.H)


def measure_layer(model: MLP, w, X, y, layer: int, batch_size: int) -> NoiseCurvature:
    """C, H and E_p[h_p²] of the weight block of ``layer`` over the samples (X, y) at weights w."""
    g = model.per_sample_gradients(w, X, y, layer=layer)
    H, Eh2 = curvature_moments(*model.kronecker_factors(w, X, y, layer))
    return NoiseCurvature(gradient_covariance(g, batch_size), H, Eh2, batch_size)


def top_count(n_directions: int, fraction: float) -> int:
    """How many of H's directions γ is fitted on: the top ``fraction`` of ``n_directions`` (the authors' protocol:
    60 %), at least the 5 that :func:`fit_gamma`'s bootstrap needs."""
    if not 0 < fraction <= 1:
        raise ParameterError(f"top_fraction must lie in (0, 1], got {fraction!r}")
    return max(5, int(fraction * n_directions))


def fit_gamma(hii, cii, n_top: int, *, confidence: float = 0.95, n_resamples: int = 2000, seed=None) -> PowerLawFit:
    """γ of C_ii ∝ H_ii^γ: OLS slope of log C_ii on log H_ii over the ``n_top`` largest H_ii (directions with
    H_ii, C_ii > 0), with a BCa bootstrap interval resampling directions. The interval reflects the scatter of
    the directions about the power law, not the variability across training runs."""
    hii, cii = np.asarray(hii, dtype=float), np.asarray(cii, dtype=float)
    order = np.argsort(hii)[::-1]
    order = order[(hii[order] > 0) & (cii[order] > 0)][:require_int_in_range("n_top", n_top, 5)]
    if order.size < 5:
        raise ParameterError(f"only {order.size} directions with H_ii, C_ii > 0: too few for a fit")
    return power_law_fit(hii[order], cii[order], confidence=confidence, bootstrap=True, n_resamples=n_resamples,
                         rng=as_generator(seed))


# --------------------------------------------------------------------------- synthetic models
def rank_one_family(n_dirs: int, q: float, n_samples: int, *, spread: float = 1e3, kappa0: float = 1.0,
                    sigma_w: float = 1.0, seed=None):
    """Aligned rank-one family of ``curv.noise_curvature``: each sample p is aligned with direction j(p) ~ π
    (π_j ∝ spread^{−j/(n_dirs−1)}), u_p = R e_{j(p)} (R Haar-random), h_p = κ_j u_pu_pᵀ with κ_j = κ₀ π_j^q, and
    dual-weight gradients g_p = h_pΔw_p, Δw_p ~ N(0, σ_w² I). Returns (C₁ from the g_p, H, E_p[h_p²]);
    C₁ ≈ σ_w² E_p[h_p²] and S_j ∝ λ_j^γ with γ = (1 + 2q)/(1 + q)."""
    require_int_in_range("n_dirs", n_dirs, 2)
    require_int_in_range("n_samples", n_samples, n_dirs)
    if not (q >= 0 and np.isfinite(q)):
        raise ParameterError(f"q must be finite and >= 0, got {q!r}")
    require_positive("spread", spread)
    rng = as_generator(seed)
    pi = spread ** (-np.arange(n_dirs) / (n_dirs - 1))
    pi /= pi.sum()
    kappa = kappa0 * pi ** q
    j = rng.choice(n_dirs, size=n_samples, p=pi)
    R = haar_orthogonal(n_dirs, rng)
    U = R[:, j].T                                              # (P, n) rows u_p
    xi = rng.standard_normal(n_samples) * sigma_w              # u_p · Δw_p
    g = (kappa[j] * xi)[:, None] * U
    counts = np.bincount(j, minlength=n_dirs) / n_samples
    H = (R * (counts * kappa)) @ R.T
    Eh2 = (R * (counts * kappa ** 2)) @ R.T
    return gradient_covariance(g), H, Eh2


def least_squares_dual_weight(n_features: int, n_samples: int, *, spread: float = 100.0, sigma_w: float = 1.0,
                              seed=None):
    """Least squares with Gaussian inputs x ~ N(0, Σ), Σ = diag(spread^{−i/(n−1)}), and isotropic dual-weight
    residuals r_p = x_pᵀΔw_p, Δw_p ~ N(0, σ_w² I): per-sample gradients g_p = r_px_p, h_p = x_px_pᵀ.
    Returns (X, r); E[r_p² | x_p] = σ_w²‖x_p‖², so C₁ = σ_w² E_p[h_p²] up to sampling noise."""
    require_int_in_range("n_features", n_features, 2)
    require_int_in_range("n_samples", n_samples, 2)
    require_positive("spread", spread)
    rng = as_generator(seed)
    scale = spread ** (-np.arange(n_features) / (2 * (n_features - 1)))
    X = rng.standard_normal((n_samples, n_features)) * scale
    r = np.sum(X * rng.standard_normal((n_samples, n_features)), axis=1) * sigma_w
    return X, r
