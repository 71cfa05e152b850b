"""Deep linear network models, mode read-out, measured mode-gradient variance, numeric stationary density."""

import numpy as np
import pytest

import sympy as sp

from derivations.dln import modes as dl
from numerics.models.deep_linear import (
    DeepLinearNetwork, MatrixTeacher, ModeDensity, ScalarChain, aligned_balanced_init, binned_ratio,
    first_passage_times, mode_gradient_variances, mode_sde_in_a, mode_strengths, peak_position, peak_vertex,
    simulate_mode_diffusion, small_random_init, teacher_matrix,
)
from numerics.errors import ParameterError
from numerics.stats import replica_mean
from numerics.testing import assert_mc_agrees, assert_mc_rejects


def test_network_gradient_matches_finite_differences_and_per_sample_mean():
    model = DeepLinearNetwork([3, 4, 2, 3])
    rng = np.random.default_rng(0)
    w = rng.standard_normal((2, model.n_params))
    X, y = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 3))
    g = model.minibatch_gradient(w, X, y)
    np.testing.assert_allclose(g[0], model.per_sample_gradients(w[0], X[0], y[0]).mean(axis=0), atol=1e-12)

    def loss(v):
        return 0.5 * np.mean(np.sum((X[0] @ model.end_to_end(v[None])[0].T - y[0]) ** 2, axis=-1))
    eye, h = np.eye(model.n_params), 1e-6
    fd = np.array([(loss(w[0] + h * e) - loss(w[0] - h * e)) / (2 * h) for e in eye])
    np.testing.assert_allclose(g[0], fd, atol=1e-7)


def test_scalar_chain_gradient_is_the_per_layer_product_rule():
    model = ScalarChain(3)
    w = np.array([[0.5, -2.0, 0.0]])
    X, y = np.array([[[1.5], [-0.5]]]), np.array([[0.3, 1.0]])
    rx = np.mean((0.0 * X[0, :, 0] - y[0]) * X[0, :, 0])
    np.testing.assert_allclose(model.minibatch_gradient(w, X, y)[0], np.array([0.0, 0.0, 0.5 * -2.0]) * rx)


def test_aligned_balanced_init_reads_off_u_equal_a_to_the_L():
    model = DeepLinearNetwork([3, 3, 3, 3])
    M, U, V = teacher_matrix([3.0, 2.0, 1.0], 3, 3, seed=1)
    np.testing.assert_allclose(np.einsum("ik,ij,jk->k", U, M, V), [3.0, 2.0, 1.0], atol=1e-12)
    w0 = aligned_balanced_init(model, U, V, [0.1, 0.2, 0.3], seed=2)
    np.testing.assert_allclose(mode_strengths(model, w0[None], U, V)[0], [0.001, 0.008, 0.027], atol=1e-14)
    layers = model.layers(w0[None])
    for W in layers:  # balanced: W_l W_lᵀ has the same spectrum in every layer
        np.testing.assert_allclose(np.sort(np.linalg.svd(W[0], compute_uv=False)), [0.1, 0.2, 0.3], atol=1e-12)
    r = small_random_init(model, 0.01, seed=3)
    assert r.shape == (model.n_params,) and np.abs(r).max() < 0.1


def test_measured_mode_gradient_variance_matches_isserlis_and_rejects_the_wrong_power():
    model = DeepLinearNetwork([3, 3, 3])
    s = np.array([3.0, 2.0, 1.0])
    M, U, V = teacher_matrix(s, 3, 3, seed=4)
    a = np.array([0.5, 0.9, 0.7])
    u = a ** 2
    w = np.repeat(aligned_balanced_init(model, U, V, a, seed=5)[None], 64, axis=0)
    sigma = 0.5
    layer, total = mode_gradient_variances(model, w, U, V, MatrixTeacher(M, sigma), 2000, 6)
    Q = 2 * (s - u) ** 2 + sigma ** 2
    est_l, est_t = replica_mean(layer), replica_mean(total)
    assert_mc_agrees(est_l, a ** 2 * Q)
    assert_mc_agrees(est_t, 4 * u ** 2 * Q)
    assert_mc_rejects(est_t, 4 * u ** 1.5 * Q)  # wrong exponent of u


def test_mode_density_L1_is_the_student_t_and_L2_is_normalised():
    eta, B, sigma = 0.05, 1, 1.0
    d1 = ModeDensity(1, 1.0, sigma, eta, B)
    assert d1.variance == pytest.approx(eta * sigma ** 2 / (2 * (B - eta)), rel=1e-6)
    d2 = ModeDensity(2, 1.0, sigma, eta, B)
    assert d2.cdf(1e6) == 1.0 and d2.tail_mass < 1e-6
    with pytest.raises(ParameterError):
        ModeDensity(2, 1.0, 0.0, eta, B)


def test_matrix_teacher_validates_its_matrix():
    with pytest.raises(ParameterError):
        MatrixTeacher(np.ones(3), 0.1)


def test_mode_sde_in_a_without_ito_is_the_ito_lemma_of_the_u_sde_without_ito():
    mapped = dl.mode_sde(2, ito=False).ito_lemma(dl.u ** sp.Rational(1, 2), dl.a, inverse={dl.u: dl.a ** 2})
    direct = mode_sde_in_a(2, ito=False)
    assert sp.simplify(direct.drift[0] - mapped.drift[0]) == 0
    assert sp.simplify(direct.diffusion_matrix[0, 0] - mapped.diffusion_matrix[0, 0]) == 0
    assert mode_sde_in_a(1, ito=False).drift[0] == dl.layer_sde(1).drift[0]  # no Itô term at L = 1


def _noisy_curve(exponent, shape=(200, 256), seed=0):
    """Samples of v = x^m (1 − x)² times the sample variance of 16 standard normals squared (mean 1 after /2)."""
    rng = np.random.default_rng(seed)
    x = rng.random(shape)
    noise = (rng.standard_normal(shape + (16,)) ** 2).var(axis=-1, ddof=1) / 2
    return x, x ** exponent * (1 - x) ** 2 * noise


def test_peak_position_recovers_m_over_m_plus_2_and_rejects_a_peak_at_one_and_the_wrong_exponent():
    x, v = _noisy_curve(2.0)
    est = peak_position(x, v)
    exact = peak_vertex(x, x ** 2 * (1 - x) ** 2)
    assert abs(exact - 0.5) < 1e-3  # estimator bias on the exact curve
    assert_mc_agrees(est, 0.5)
    assert_mc_rejects(est, 1.0)
    assert_mc_rejects(est, 1 / 3)  # the per-layer exponent m = 1 for L = 2


def test_binned_ratio_is_one_on_the_predicted_curve_and_rejects_a_tilted_one():
    x, v = _noisy_curve(2.0, seed=1)
    f = x ** 2 * (1 - x) ** 2
    edges = np.linspace(0.1, 0.9, 5)
    assert_mc_agrees(binned_ratio(x, v, f, edges), 1.0)
    assert_mc_rejects(binned_ratio(x, v, f * (0.7 + 0.6 * x), edges), 1.0)


def test_first_passage_times():
    x = np.array([[0.1, 0.1], [0.5, 0.2], [0.95, 0.3]])
    np.testing.assert_array_equal(first_passage_times([0.0, 1.0, 2.0], x, 0.9), [2.0, np.nan])


def test_simulate_mode_diffusion_starts_aligned_and_validates_its_input():
    md = simulate_mode_diffusion(2, (2.0, 1.0), eta=0.02, n_replicas=8, stride=5, n_probe=4, t_factor=0.2, seed=0)
    np.testing.assert_allclose(md.x[0], 0.01, rtol=1e-10)
    np.testing.assert_allclose(md.off_diagonal[0], 0.0, atol=1e-12)
    assert md.x.shape == md.var_u.shape == md.var_layer.shape and md.x.shape[1:] == (8, 2)
    np.testing.assert_allclose(md.peak_ratio("u"), [0.5, 0.5])
    np.testing.assert_allclose(md.peak_ratio("layer"), [1 / 3, 1 / 3])
    # the prediction at the measured u: D_u/(eta/B) = L^2 u^(4 - 4/L) Q(u) = 4 u^2 Q(u) for L = 2
    np.testing.assert_allclose(md.predicted("u")[0, 0], 4 * (0.01 * md.s) ** 2 * 2 * (0.99 * md.s) ** 2)
    random = simulate_mode_diffusion(2, (2.0, 1.0), init="random", init_scale=0.1, eta=0.02, n_replicas=4, stride=5,
                                     n_probe=4, t_factor=0.1, seed=0)
    assert np.all(random.off_diagonal[0] > 0)
    with pytest.raises(ParameterError):
        simulate_mode_diffusion(2, (1.0,), init="orthogonal", eta=0.01, n_replicas=2, stride=1, n_probe=4)
    with pytest.raises(ParameterError):
        simulate_mode_diffusion(1, (1.0,), eta=0.01, n_replicas=2, stride=1, n_probe=4)
    with pytest.raises(ParameterError):
        peak_position(np.ones((3, 4)), np.ones((3, 5)))
