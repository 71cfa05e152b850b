"""Measurements of seed 001: covariance normalisation, relative errors, commutators and their rotation baseline,
γ fits, the synthetic models (Monte Carlo against their exact statements, with negative controls)."""

import numpy as np
import pytest

from numerics.errors import ParameterError
from numerics.models.mlp import MLP
from numerics.models.noise_curvature import (
    NoiseCurvature, antisymmetric_fraction, best_multiple_error, commutator_measure, fit_gamma, haar_orthogonal,
    least_squares_dual_weight, measure_layer, gradient_covariance, rank_one_family, rotation_baseline,
)
from numerics.testing import assert_mc_agrees, assert_mc_rejects


def test_noise_covariance_has_the_paper_normalisation():
    rng = np.random.default_rng(0)
    g = rng.standard_normal((50, 3))
    C = gradient_covariance(g, batch_size=5)
    np.testing.assert_allclose(C, np.cov(g.T, bias=True) / 5, atol=1e-14)
    with pytest.raises(ParameterError):
        gradient_covariance(g, batch_size=0)


def test_relative_errors_and_commutators_vanish_exactly_when_expected():
    Q = haar_orthogonal(4, 1)
    np.testing.assert_allclose(Q @ Q.T, np.eye(4), atol=1e-12)
    H = (Q * np.array([4.0, 3.0, 2.0, 1.0])) @ Q.T
    C = (Q * np.array([16.0, 9.0, 4.0, 1.0])) @ Q.T        # C = H²: commutes, not proportional
    assert best_multiple_error(2.5 * H, H) < 1e-14 and best_multiple_error(C, H) > 0.05
    assert commutator_measure(H, C) < 1e-13 and antisymmetric_fraction(C, H) < 1e-13
    base = rotation_baseline(C, H, 20, seed=0)
    assert base.shape == (20, 2) and np.all(base > 0.01)
    nc = NoiseCurvature(C, H, C, 1)
    lam, C_ii, S_i = nc.diagonals()
    np.testing.assert_allclose(lam, [4, 3, 2, 1], atol=1e-12)
    np.testing.assert_allclose(C_ii, lam ** 2, atol=1e-12)
    np.testing.assert_allclose(nc.in_eigenbasis(H), lam, atol=1e-12)
    assert nc.relative_errors()["Eh2"] < 1e-14


def test_fit_gamma_recovers_an_exact_power_law_and_refuses_too_few_points():
    x = np.geomspace(1e-3, 1, 40)
    rng = np.random.default_rng(2)
    fit = fit_gamma(x, 3 * x ** 1.4 * np.exp(0.05 * rng.standard_normal(40)), 30, seed=0)
    assert fit.contains(1.4) and fit.method == "bootstrap"
    with pytest.raises(ParameterError):
        fit_gamma(x[:4], x[:4], 4)


def test_rank_one_family_noise_is_sigma_w_squared_E_h2():
    """Monte Carlo: C₁ = σ_w² E_p[h_p²] (diagonal in the family's basis); control C₁ ∝ H rejected."""
    n, sw = 8, 0.7
    C1, H, Eh2 = rank_one_family(n, 1.0, 200_000, spread=10.0, sigma_w=sw, seed=3)
    nc = NoiseCurvature(C1, H, Eh2, 1)
    lam, C_ii, S_i = nc.diagonals()
    kappa = S_i / lam                                       # λ_j = (n_j/P) κ_j, S_j = (n_j/P) κ_j²
    # C_jj = σ_w² (1/P) Σ_{p∈j} κ_j² ξ_p² (minus the O(1/P) mean term); Var ξ² = 2, n_j = Pλ_j/κ_j
    stderr = sw ** 2 * kappa * np.sqrt(2 * lam * kappa / 200_000)
    assert_mc_agrees(C_ii, stderr, sw ** 2 * S_i)
    c = np.sum(C_ii * lam) / np.sum(lam ** 2)
    assert_mc_rejects(C_ii, stderr, c * lam)


def test_least_squares_dual_weight_residuals_have_the_stated_conditional_variance():
    X, r = least_squares_dual_weight(5, 100_000, spread=10.0, sigma_w=0.5, seed=4)
    norms = np.sum(X * X, axis=1)
    d = r ** 2 - 0.25 * norms
    assert_mc_agrees(d.mean(), d.std(ddof=1) / np.sqrt(len(d)), 0.0)
    e = r ** 2 - 0.25 * np.mean(norms)                      # label-noise-like: variance independent of x
    assert_mc_rejects(np.mean(e * norms), np.std(e * norms, ddof=1) / np.sqrt(len(e)), 0.0)


def test_measure_layer_is_consistent_with_dense_per_sample_quantities():
    rng = np.random.default_rng(5)
    model = MLP((4, 3, 3, 3), loss="ce")
    w, X, y = model.init(0), rng.standard_normal((20, 4)), rng.integers(0, 3, 20)
    nc = measure_layer(model, w, X, y, 1, batch_size=4)
    h = model.per_sample_hessians(w, X, y, 1)
    np.testing.assert_allclose(nc.H, h.mean(0), atol=1e-12)
    np.testing.assert_allclose(nc.Eh2, np.mean(h @ h, 0), atol=1e-12)
    np.testing.assert_allclose(nc.C, gradient_covariance(model.per_sample_gradients(w, X, y, 1), 4), atol=1e-14)
    lam, _, S_i = nc.diagonals()
    keep = lam > 1e-10 * lam[0]
    assert np.all(S_i[keep] >= lam[keep] ** 2 * (1 - 1e-9))              # lower bound λ² ≤ S
    kappa_max = max(np.linalg.eigvalsh(hp)[-1] for hp in h)
    assert np.all(S_i <= kappa_max * lam * (1 + 1e-9) + 1e-12)            # upper bound S ≤ κ_max λ


def test_synthetic_models_reject_bad_parameters():
    with pytest.raises(ParameterError):
        rank_one_family(5, -1.0, 100)
    with pytest.raises(ParameterError):
        least_squares_dual_weight(1, 100)
