"""MLP: per-sample gradients and per-sample layer Hessians against central finite differences, the Kronecker
moments against dense per-sample Hessians, output Hessians, SGD training, engine protocol, bad input."""

import numpy as np
import pytest

from numerics.errors import DivergenceError, ParameterError
from numerics.models.mlp import LOSSES, MLP, curvature_moments, load_digits_data, output_hessian, train_sgd

EPS = 1e-6


def _problem(loss, bias, seed=0):
    rng = np.random.default_rng(seed)
    model = MLP((5, 4, 3, 3), loss=loss, bias=bias)
    return model, model.init(seed), rng.standard_normal((6, 5)), rng.integers(0, 3, 6)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("loss", LOSSES)
def test_per_sample_gradients_match_finite_differences(loss, bias):
    model, w, X, y = _problem(loss, bias)
    G = model.per_sample_gradients(w, X, y)
    fd = np.empty_like(G)
    for i in range(model.n_params):
        e = np.zeros(model.n_params)
        e[i] = EPS
        fd[:, i] = (model.per_sample_loss(w + e, X, y) - model.per_sample_loss(w - e, X, y)) / (2 * EPS)
    np.testing.assert_allclose(G, fd, atol=1e-7)
    np.testing.assert_allclose(model.gradient(w, X, y), G.mean(axis=0), atol=1e-14)
    for layer in range(model.n_layers):
        np.testing.assert_array_equal(model.per_sample_gradients(w, X, y, layer=layer), G[:, model.layer_slice(layer)])


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("layer", [0, 1, 2])
def test_per_sample_layer_hessians_match_finite_differences(loss, layer):
    """Exact a.e. for every layer of a ReLU network (the map from one layer's weights to f is piecewise linear)."""
    model, w, X, y = _problem(loss, False, seed=layer + 3)
    h = model.per_sample_hessians(w, X, y, layer)
    sl = model.layer_slice(layer)
    fd = np.empty_like(h)
    for i, idx in enumerate(range(sl.start, sl.stop)):
        e = np.zeros(model.n_params)
        e[idx] = EPS
        fd[:, :, i] = (model.per_sample_gradients(w + e, X, y, layer) - model.per_sample_gradients(w - e, X, y, layer)) / (2 * EPS)
    np.testing.assert_allclose(h, fd, atol=1e-7 * np.abs(h).max())
    H, Eh2 = curvature_moments(*model.kronecker_factors(w, X, y, layer))
    np.testing.assert_allclose(H, h.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(Eh2, np.mean(h @ h, axis=0), atol=1e-12)


@pytest.mark.parametrize("loss", LOSSES)
def test_output_hessian_matches_finite_differences_of_the_output_gradient(loss):
    model = MLP((2, 4), loss=loss)
    rng = np.random.default_rng(1)
    f, Y = rng.standard_normal((3, 4)), model.onehot([0, 3, 1])
    G = output_hessian(f, Y, loss)
    fd = np.stack([(model._output_gradient(f + EPS * np.eye(4)[k], Y) - model._output_gradient(f - EPS * np.eye(4)[k], Y))
                   / (2 * EPS) for k in range(4)], axis=-1)
    np.testing.assert_allclose(G, fd, atol=1e-8)
    if loss == "ce":  # diag π − ππᵀ: positive semidefinite, rows sum to zero
        assert np.all(np.linalg.eigvalsh(G) > -1e-12)
        np.testing.assert_allclose(G.sum(axis=-1), 0, atol=1e-15)


def test_engine_protocol_shapes():
    model, w, X, y = _problem("ce", True)
    W = np.stack([w, 2 * w])
    g = model.minibatch_gradient(W, np.stack([X, X]), np.stack([y, y]))
    assert g.shape == (2, model.n_params)
    np.testing.assert_allclose(g[0], model.gradient(w, X, y))


def test_sgd_on_digits_learns_and_divergence_is_reported():
    X, y = load_digits_data(3)
    assert X.shape == (len(y), 64) and set(np.unique(y)) == {0, 1, 2}
    model = MLP((64, 10, 3), loss="ce")
    w0 = model.init(0)
    w = train_sgd(model, X, y, eta=0.1, batch_size=50, n_epochs=5, w0=w0, seed=0)
    assert model.loss(w, X, y) < 0.5 * model.loss(w0, X, y) and model.accuracy(w, X, y) > 0.9
    with pytest.raises(DivergenceError):
        train_sgd(MLP((64, 10, 3), loss="mse"), X, y, eta=1e3, batch_size=50, n_epochs=3, seed=0)


def test_bad_input_raises_parameter_error():
    with pytest.raises(ParameterError):
        MLP((3, 2), loss="hinge")
    with pytest.raises(ParameterError):
        MLP((3,))
    model, w, X, y = _problem("ce", False)
    with pytest.raises(ParameterError):
        model.per_sample_gradients(w, X, np.full(6, 7))
    with pytest.raises(ParameterError):
        model.kronecker_factors(w, X, y, layer=3)
    with pytest.raises(ParameterError):
        model.output(w[:-1], X)
    with pytest.raises(ParameterError):
        train_sgd(model, X, y, eta=-0.1, batch_size=2, n_epochs=1)
    with pytest.raises(ParameterError):
        load_digits_data(11)
