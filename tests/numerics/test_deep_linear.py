"""Deep linear network models, mode read-out, measured mode-gradient variance, numeric stationary density."""

import numpy as np
import pytest

from numerics.deep_linear import (DeepLinearNetwork, MatrixTeacher, ModeDensity, ScalarChain, aligned_balanced_init,
                                  mode_gradient_variances, mode_strengths, small_random_init, teacher_matrix)
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
