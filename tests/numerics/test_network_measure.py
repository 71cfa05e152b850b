"""The public measurements of a user's network (``numerics.models.network.measure``), as unit tests of their
pipelines: γ and the commutation measures against the numpy MLP's layer measured and fitted as the check
``curv.noise_curvature`` does; the IVFR of a two-layer linear network against the package's linear-network
measurement (``two_layer.window_variance_flatness`` on the numpy model's loss) on the same trajectories, which
tests the window, the flat parameter layout, the layer blocks and the replica average, not Feng & Tu's claim;
the drift fraction of the stationarity diagnostics on a straight drift, random walks and white noise."""

import functools

import numpy as np
import pytest

pytest.importorskip("jax")

from numerics.engine.rng import child_seed  # noqa: E402
from numerics.errors import ParameterError  # noqa: E402
from numerics.models.mlp import MLP  # noqa: E402
from numerics.models.network import (  # noqa: E402
    Network, VarianceFlatness, drift_fraction, noise_vs_curvature, relu_mlp, run_replicas, variance_flatness,
)
from numerics.models.noise_curvature import fit_gamma, measure_layer, rotation_baseline, top_count  # noqa: E402
from numerics.models.two_layer import (  # noqa: E402
    TwoLayerLinear, principal_components, teacher_data, variance_flatness_fit, window_variance_flatness,
)
from numerics.stats import Estimate  # noqa: E402


def test_noise_vs_curvature_is_the_curv_protocol_on_the_numpy_mlp():
    rng = np.random.default_rng(0)
    model = MLP((6, 8, 7, 3), loss="ce")
    w = model.init(1)
    net = Network(relu_mlp, [W for W, _ in model.unpack(w)], loss="ce", piecewise_linear=True)
    X, y = rng.standard_normal((60, 6)), rng.integers(0, 3, 60)
    got = noise_vs_curvature(net, net.params, X, y, "[1]", 5, n_resamples=500, n_rotations=3, seed=7)
    ref = measure_layer(model, w, X, y, 1, 5)
    lam, C_ii, S_i = ref.diagonals()
    n_top = top_count(56, 0.6)
    assert got.n_top == n_top == 33
    for fit, d, k in ((got.gamma_C, C_ii, 0), (got.gamma_Eh2, S_i, 1)):
        want = fit_gamma(lam, d, n_top, n_resamples=500, seed=child_seed(7, k))
        np.testing.assert_allclose(fit.exponent, want.exponent, rtol=1e-8)
        np.testing.assert_allclose(fit.exponent_interval, want.exponent_interval, rtol=1e-6)
    np.testing.assert_allclose([got.commutator, got.rho], [ref.commutator(), ref.antisymmetric_fraction()], rtol=1e-8)
    np.testing.assert_allclose(got.relative_errors["Eh2"], ref.relative_errors()["Eh2"], rtol=1e-8)
    haar = rotation_baseline(ref.C, ref.H, 3, child_seed(7, 2))[:, 1]
    np.testing.assert_allclose(got.rho_haar, (haar.mean(), haar.std(ddof=1)), rtol=1e-6)
    assert "gamma of C" in str(got) and "Haar-rotated" in got.table()
    with pytest.raises(ParameterError, match="top_fraction"):
        noise_vs_curvature(net, net.params, X, y, "[1]", 5, top_fraction=0.0)
    with pytest.raises(ParameterError, match="n_rotations"):
        noise_vs_curvature(net, net.params, X, y, "[1]", 5, n_rotations=1)
    with pytest.raises(ParameterError, match="unknown layer"):
        noise_vs_curvature(net, net.params, X, y, "[9]", 5)


def _linear(params, x):
    """f(x) = W₂W₁x: the two-layer linear network, θ = [vec W₁, vec W₂] row-major as TwoLayerLinear."""
    return x @ params[0].T @ params[1].T


@functools.cache
def _linear_run():
    N, M, K = 3, 3, 2
    ds = teacher_data(N, K, 64, 0.5, seed=0)
    model = TwoLayerLinear(N, M, K)
    W1, W2 = model.unpack(np.random.default_rng(1).standard_normal(model.n_params) * 0.5)
    net = Network(_linear, [W1, W2], loss="mse")
    run = run_replicas(net, ds.X, ds.y, eta=0.05, batch_size=2, n_steps=600, n_replicas=4, record_every=5, seed=3)
    return model, ds, net, run


@pytest.mark.parametrize("layer, block", [(None, slice(None)), ("[1]", slice(9, 15))])
def test_variance_flatness_agrees_with_the_linear_network_measurement_on_the_same_trajectories(layer, block):
    model, ds, net, run = _linear_run()
    got = variance_flatness(net, run, ds.X, ds.y, burn_in=200, layer=layer, n_directions=5, n_resamples=200)
    keep = run.steps > 200
    loss = lambda w: model.loss(w, ds.X, ds.y)  # noqa: E731  (the numpy model's loss, ½‖W₂W₁x − y‖² averaged)
    want = [window_variance_flatness(loss, window.mean(axis=0), window[:, block], block, 5)
            for window in run.trajectory[:, keep]]
    np.testing.assert_allclose(got.variances, [v for v, _, _ in want], rtol=1e-9)
    np.testing.assert_allclose(got.flatness, [F for _, F, _ in want], rtol=1e-8)
    psi = [variance_flatness_fit(v, F).psi for v, F, _ in want]
    np.testing.assert_allclose(got.psi_replicas, psi, rtol=1e-7)
    np.testing.assert_allclose(got.psi.value, np.mean(psi), rtol=1e-7)
    assert got.window == (205, 600) and got.n_samples == 80
    halves = [[np.mean([loss(w) for w in window[k * 40:(k + 1) * 40]]) for k in (0, 1)]
              for window in run.trajectory[:, keep]]
    np.testing.assert_allclose(got.loss_change, [b - a for a, b in halves], rtol=1e-9)
    assert np.all((got.drift >= 0) & np.isfinite(got.drift))
    assert got.psi_interval[0] < got.psi.value < got.psi_interval[1]
    assert "psi (sigma^2 ~ F^-psi)" in str(got)


def test_the_drift_fraction_tells_a_drift_and_a_random_walk_from_a_stationary_window():
    rng = np.random.default_rng(0)
    S, d = 400, 6

    def fraction(x):
        var, D = principal_components(x, 3)
        return drift_fraction(x, var, D)

    line = np.outer(np.arange(S), rng.standard_normal(d))
    assert fraction(line) == pytest.approx(S / (S + 1))  # 1 up to the discrete window's ddof
    walks = [fraction(np.cumsum(rng.standard_normal((S, d)), axis=0)) for _ in range(200)]
    assert np.mean(walks) == pytest.approx(2 / 3, abs=0.05)
    noise = [fraction(rng.standard_normal((S, d))) for _ in range(200)]
    assert np.mean(noise) < 0.01  # white noise: 4/(3S) per direction


def test_variance_flatness_refuses_bad_input():
    model, ds, net, run = _linear_run()
    with pytest.raises(ParameterError, match="no trajectory"):
        variance_flatness(net, run_replicas(net, ds.X, ds.y, eta=0.05, batch_size=2, n_steps=5, n_replicas=2),
                          ds.X, ds.y)
    with pytest.raises(ParameterError, match="n_directions"):
        variance_flatness(net, run, ds.X, ds.y, burn_in=590)
    with pytest.raises(ParameterError, match="burn_in"):
        variance_flatness(net, run, ds.X, ds.y, burn_in=600)
    with pytest.raises(ParameterError, match="confidence"):
        variance_flatness(net, run, ds.X, ds.y, confidence=1.5)


@pytest.mark.parametrize("psi, words", [(3.0, "inverse"), (-2.0, "rises"), (0.2, "undecided")])
def test_the_relation_is_decided_beyond_the_z_threshold(psi, words):
    result = VarianceFlatness(np.ones((2, 3)), np.ones((2, 3)), np.ones(2), np.full(2, psi), Estimate(psi, 0.1),
                              (psi - 0.2, psi + 0.2), 0.95, (10, 20), 5, np.array([0.1, -0.1]), np.full(2, 0.05))
    assert words in result.relation and words in result.table()


def test_layer_indices_place_a_layer_in_the_flat_vector():
    model, _, net, _ = _linear_run()
    flat = np.asarray(net.flatten(net.params))
    for name in net.layers:
        np.testing.assert_array_equal(flat[net.layer_indices(name)], net.get_layer(net.params, name))
    np.testing.assert_array_equal(net.layer_indices("[1]"), np.arange(model.n_first, model.n_params))
