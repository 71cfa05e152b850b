"""fluct checks: helper formulas; the IVFR check's data, closed-form spectrum and measurement pipeline."""

import numpy as np
import sympy as sp

from derivations.fluct import explicit_label_noise_average, sigma
from numerics.checks.fluct.ivfr import _ivfr_statistics, _predicted_spectrum, factorial_teacher_data
from numerics.checks.fluct.layers import leverage_noise_covariance
from numerics.models.noise_curvature import best_multiple_error, commutator_measure
from numerics.models.two_layer import (
    TwoLayerLinear, flatness, linearised_covariance, noise_balanced_state, product_noise_covariance, variance_flatness_fit,
)
from numerics.verify.predict import evaluate


def test_leverage_formula_matches_the_symbolic_label_noise_average():
    X = sp.Matrix([[1, 2], [-1, sp.Rational(1, 2)], [3, -2], [sp.Rational(2, 3), 1]])
    EC, _ = explicit_label_noise_average(X)
    exact = np.array(EC.subs(sigma, sp.Rational(1, 2)), dtype=float)
    np.testing.assert_allclose(leverage_noise_covariance(np.array(X, dtype=float), 0.5), exact, rtol=1e-12)


def test_detailed_balance_measures_vanish_exactly_when_expected():
    H = np.diag([1.0, 2.0, 3.0])
    assert commutator_measure(H, np.diag([3.0, 1.0, 2.0])) == 0
    assert best_multiple_error(0.7 * H, H) < 1e-15
    assert commutator_measure(H, np.ones((3, 3))) > 0.1


def _ivfr_setup(seed=3):
    ds = factorial_teacher_data(3, (0.4, 0.8, 2.4), 0.1, seed)
    model = TwoLayerLinear(3, 3, 3)
    theta = noise_balanced_state(model, ds.X, ds.y)
    return ds, model, theta, _predicted_spectrum(model, ds, theta, 1.0, 0.05)


def test_factorial_data_make_the_ivfr_closed_forms_exact():
    """H = I, C_W = sigma^2 (I x H) at the noise-balanced state, alpha_k = s_k^2 = lambda_k; the closed-form variances
    are the eigenvalues of the numerically solved linearised Lyapunov equation, the closed-form flatness is
    Feng-Tu's flatness along e_k u_m^T found by root finding."""
    ds, model, theta, spec = _ivfr_setup()
    np.testing.assert_allclose(ds.X.T @ ds.X / ds.n_samples, np.eye(3), atol=1e-14)
    np.testing.assert_allclose(product_noise_covariance(model, ds.X, ds.y, theta), 0.01 * np.eye(9), atol=1e-14)
    np.testing.assert_allclose(np.unique(spec.alpha), [0.4, 0.8, 2.4], rtol=1e-10)
    np.testing.assert_allclose(np.unique(spec.s) ** 2, [0.4, 0.8, 2.4], rtol=1e-10)
    eta = 0.01
    lyapunov = np.sort(np.linalg.eigvalsh(linearised_covariance(model, ds.X, ds.y, theta, eta, 1).second))[::-1]
    np.testing.assert_allclose(lyapunov / eta, spec.var, rtol=1e-10)
    W1, W2 = model.unpack(theta)
    E = np.linalg.eigh(W2 @ W2.T)[1]
    U = np.linalg.svd(W1)[0][:, ::-1]
    directions = np.zeros((model.n_params, len(spec.labels)))
    directions[model.n_first:] = np.stack([np.outer(E[:, k], U[:, m]).ravel() for k, m in spec.labels], axis=1)
    np.testing.assert_allclose(flatness(lambda w: model.loss(w, ds.X, ds.y), theta, directions), spec.flat, rtol=1e-9)
    assert len(spec.singles) == 6 and [len(g) for g in spec.clusters] == [3] and len(spec.pairs) == 3


def test_ivfr_statistics_recover_the_closed_forms_from_the_exact_covariance():
    """The measurement pipeline (PCA, flatness about the mean, chords, pooled fit) fed the linearised covariance
    itself (every replica alike, no mean shift) returns the predictions of fluct.ivfr."""
    ds, model, theta, spec = _ivfr_setup()
    eta = 0.01
    S = linearised_covariance(model, ds.X, ds.y, theta, eta, 1).full
    statistic = _ivfr_statistics(model, ds, spec, theta, np.zeros((2, model.n_params)), np.stack([S, S]), eta)
    i, j = (list(p) for p in zip(*spec.pairs))
    chord = evaluate("fluct.ivfr", {"alpha": spec.alpha[i], "s_1": spec.s[i], "s_2": spec.s[j]}, "psi_chord")
    singles = spec.singles
    expected = np.concatenate([spec.var[singles], [spec.var[g].mean() for g in spec.clusters], spec.flat[singles], chord,
                               [variance_flatness_fit(spec.var[singles], spec.flat[singles]).psi]])
    np.testing.assert_allclose(statistic(np.arange(2)), expected, rtol=1e-8)
