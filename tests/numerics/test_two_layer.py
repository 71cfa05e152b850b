"""numerics.models.two_layer: gradients, the noise-balanced state, the linearised covariance, PCA/flatness/fit tools."""

import numpy as np
import pytest
import sympy as sp

import derivations
from derivations.fluct import T, alpha, c, s
from numerics.errors import ParameterError
from numerics.models.two_layer import (
    MultiOutputDataset, TwoLayerLinear, balance_noise_moments, covariance_principal_components, flatness,
    least_squares_product, linearised_covariance, noise_balanced_state, principal_components, teacher_data,
    variance_flatness_fit, window_variance_flatness,
)


def setup(n=3, P=60, seed=1):
    ds = teacher_data(n, n, P, 0.3, singular_values=np.geomspace(0.4, 1.5, n), seed=seed)
    model = TwoLayerLinear(n, n, n)
    return ds, model, noise_balanced_state(model, ds.X, ds.y)


def test_gradients_match_finite_differences_and_minibatch_mean():
    ds, model, theta = setup()
    w = theta + 0.05 * np.random.default_rng(0).standard_normal(model.n_params)
    g = model.per_sample_gradients(w, ds.X, ds.y).mean(axis=0)
    eps = 1e-6
    fd = np.array([(model.loss(w + eps * e, ds.X, ds.y) - model.loss(w - eps * e, ds.X, ds.y)) / (2 * eps)
                   for e in np.eye(model.n_params)])
    np.testing.assert_allclose(g, fd, atol=1e-8)
    np.testing.assert_allclose(model.minibatch_gradient(w[None], ds.X[None], ds.y[None])[0], g, atol=1e-13)
    dw = 1e-6 * np.random.default_rng(1).standard_normal(model.n_params)
    np.testing.assert_allclose(model.jacobian(w) @ dw, (model.product(w + dw) - model.product(w)).ravel(), atol=1e-11)


def test_noise_balanced_state_is_a_minimum_with_vanishing_balance_drift():
    ds, model, theta = setup()
    W1, W2 = model.unpack(theta)
    np.testing.assert_allclose(W2 @ W1, least_squares_product(ds.X, ds.y), atol=1e-12)
    assert np.abs(model.per_sample_gradients(theta, ds.X, ds.y).mean(axis=0)).max() < 1e-12
    A, B = balance_noise_moments(ds.X, ds.y)
    np.testing.assert_allclose(W2.T @ A @ W2, W1 @ B @ W1.T, atol=1e-12)


def test_linearised_covariance_vanishes_along_the_manifold_and_solves_lyapunov():
    ds, model, theta = setup()
    lin = linearised_covariance(model, ds.X, ds.y, theta, 0.02, 4)
    J = model.jacobian(theta)
    null = np.linalg.svd(J)[2][J.shape[0]:].T  # tangent directions of the minimum manifold
    assert np.abs(lin.full @ null).max() < 1e-10 * np.abs(lin.full).max()
    kappa = 1 / 4
    resid = lin.hessian @ lin.full + lin.full @ lin.hessian - 0.02 * kappa * lin.noise
    assert np.abs(resid).max() < 1e-10 * np.abs(lin.noise).max() * 0.02 * kappa
    frozen = linearised_covariance(model, ds.X, ds.y, theta, 0.02, 4, coupled=False)
    assert np.abs(frozen.cross).max() == 0


def test_large_P_second_layer_spectrum_approaches_the_projector_formula():
    """Approximate theory (C ∝ H only as P/N → ∞): a stated 3 % floor at P/N = 10⁴."""
    n = 3
    ds = teacher_data(n, n, 30000, 0.3, singular_values=np.array([0.5, 1.0, 1.5]), seed=2)
    model = TwoLayerLinear(n, n, n)
    theta = noise_balanced_state(model, ds.X, ds.y)
    eta, B = 0.01, 1
    lin = linearised_covariance(model, ds.X, ds.y, theta, eta, B)
    W1, W2 = model.unpack(theta)
    s_m = np.linalg.svd(W1, compute_uv=False)
    a_k = np.linalg.svd(W2, compute_uv=False) ** 2
    cW = np.trace(balance_noise_moments(ds.X, ds.y)[1]) / (n * n)  # c = tr C_W / tr H_W per output
    formula = sp.lambdify((T, c, alpha, s), derivations.get("fluct.two_layer").result.rhs)
    predicted = np.sort([formula(eta / B, cW, a, sm) for a in a_k for sm in s_m])
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(lin.second)), predicted, rtol=0.03)


def test_flatness_of_an_exact_quadratic_profile():
    k = np.array([0.5, 2.0, 8.0])
    L0 = 0.3
    loss = lambda w: L0 + 0.5 * np.sum(k * w ** 2)  # noqa: E731
    F = flatness(loss, np.zeros(3), np.eye(3))
    np.testing.assert_allclose(F, 2 * np.sqrt(2 * (np.e - 1) * L0 / k), rtol=1e-10)
    with pytest.raises(ParameterError, match="positive loss"):
        flatness(lambda w: 0.5 * np.sum(w ** 2), np.zeros(2), np.eye(2))
    with pytest.raises(ParameterError, match="flat direction"):
        flatness(lambda w: 1.0 + w[0] ** 2, np.zeros(2), np.eye(2), max_doublings=20)


def test_pca_and_variance_flatness_fit_recover_an_exact_power_law():
    rng = np.random.default_rng(3)
    Q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    var, D = covariance_principal_components(Q @ np.diag([4.0, 3.0, 2.0, 1.0]) @ Q.T)
    np.testing.assert_allclose(var, [4, 3, 2, 1])
    assert np.allclose(np.abs(np.sum(D * Q, axis=0)), 1)
    samples = rng.standard_normal((20000, 2)) * [2.0, 0.5]
    v, _ = principal_components(samples)
    assert v[0] > v[1]
    Fv = np.array([1.0, 2.0, 4.0, 8.0])
    fit = variance_flatness_fit(3.0 * Fv ** -2.5, Fv)
    assert abs(fit.psi - 2.5) < 1e-12 and fit.psi_interval[0] <= 2.5 <= fit.psi_interval[1]


def test_bad_input_is_refused():
    with pytest.raises(ParameterError):
        MultiOutputDataset(np.zeros((3, 2)), np.zeros((4, 1)))
    with pytest.raises(ParameterError):
        TwoLayerLinear(0, 1, 1)
    ds = teacher_data(3, 2, 20, 0.3, seed=0)
    with pytest.raises(ParameterError, match="n_hidden"):
        noise_balanced_state(TwoLayerLinear(3, 3, 2), ds.X, ds.y)
    with pytest.raises(ParameterError, match="singular_values"):
        teacher_data(3, 2, 20, 0.3, singular_values=[1, 2, 3])
    with pytest.raises(ParameterError, match="theta"):
        TwoLayerLinear(2, 2, 2).unpack(np.zeros(3))


def test_principal_components_by_svd_match_the_sample_covariance_and_window_flatness_embeds_the_block():
    rng = np.random.default_rng(4)
    samples = rng.standard_normal((30, 5)) * [3.0, 2.0, 1.0, 0.5, 0.2]
    var, D = principal_components(samples, 3)
    ref_var, ref_D = covariance_principal_components(np.cov(samples, rowvar=False))
    np.testing.assert_allclose(var, ref_var[:3], rtol=1e-12)
    np.testing.assert_allclose(np.abs(np.sum(D * ref_D[:, :3], axis=0)), 1, rtol=1e-10)
    wide = rng.standard_normal((4, 9))                   # S < d: min(S, d) components, the last one of variance 0
    assert principal_components(wide)[1].shape == (9, 4) and principal_components(wide)[0][-1] < 1e-25
    with pytest.raises(ParameterError, match="n_components"):
        principal_components(wide, 5)
    # block (1, 3) of a 4-vector; the loss ½‖w‖² + 1 about the window mean m (zero outside the block): F = 2√(2(e−1)L₀)
    block = np.array([1, 3])
    window = rng.standard_normal((50, 2))
    var, F, D = window_variance_flatness(lambda w: 0.5 * w @ w + 1.0, np.zeros(4), window, block)
    L0 = 0.5 * window.mean(axis=0) @ window.mean(axis=0) + 1.0
    along = window.mean(axis=0) @ D                       # the centre's component along each direction
    np.testing.assert_allclose(F, 2 * np.sqrt(along ** 2 + 2 * (np.e - 1) * L0), rtol=1e-9)
