"""The JAX network engine against the hand-written numpy MLP on the same network and weights (per-sample
gradients, C, layer Hessians by ``jax.hessian`` and by HVPs, E_p[h_p²] factored and dense), the α-trick, replica
SGD by ``vmap`` against single runs and against the numpy MLP's SGD step on the same minibatches.

Float64 throughout: importing the engine enables ``jax_enable_x64`` (its docstring says why), so the
cross-checks hold to ~1e-12."""

import functools

import numpy as np
import pytest

pytest.importorskip("jax")

import jax.numpy as jnp  # noqa: E402

from numerics.errors import DivergenceError, ParameterError  # noqa: E402
from numerics.models.mlp import LOSSES, MLP  # noqa: E402
from numerics.models.network import (  # noqa: E402
    Network, gradient_covariance, layer_hessian, measure_layer, per_sample_gradients, per_sample_hessian_moments,
    relu_cnn, relu_cnn_params, relu_mlp, relu_mlp_params, run_replicas, stack_replicas,
)
from numerics.engine.data import Dataset  # noqa: E402
from numerics.engine.minibatches import MinibatchSampler  # noqa: E402
from numerics.engine.rng import child_seed  # noqa: E402
from numerics.engine.sgd import run_sgd  # noqa: E402
from numerics.models.noise_curvature import measure_layer as numpy_measure_layer  # noqa: E402

WIDTHS = (6, 5, 4, 3)


def _problem(loss, seed=0, P=40, **network_options):
    rng = np.random.default_rng(seed)
    model = MLP(WIDTHS, loss=loss)
    w = model.init(seed)
    params = [W for W, _ in model.unpack(w)]
    net = Network(relu_mlp, params, loss=loss, **network_options)
    return model, w, net, rng.standard_normal((P, WIDTHS[0])), rng.integers(0, WIDTHS[-1], P)


@functools.cache
def _replica_problem():
    """One network for the replica tests (jit compiles once per network object)."""
    return _problem("softmax_mse", alpha=2.0)


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12 * np.abs(b).max())


@pytest.mark.parametrize("loss, layer", [(loss, 1) for loss in LOSSES] + [("ce", 0), ("ce", 2)])
def test_layer_measurements_match_the_numpy_mlp(loss, layer):
    """Every loss and every layer (each pair compiles: a sample of them), the factored E_p[h_p²] of a network that
    declares ``piecewise_linear`` (a ReLU MLP)."""
    model, w, net, X, y = _problem(loss, piecewise_linear=True)
    name = net.leaf_names[layer]
    _close(per_sample_gradients(net, net.params, X, y, name), model.per_sample_gradients(w, X, y, layer=layer))
    ref, got = numpy_measure_layer(model, w, X, y, layer, 4), measure_layer(net, net.params, X, y, name, 4)
    for field in ("C", "H", "Eh2"):
        _close(getattr(got, field), getattr(ref, field))


def test_dense_per_sample_hessians_and_hvps_match_the_numpy_mlp():
    """The routes for any network: dense per-sample Hessians (40 samples = 2·16 + 8 padded) and H by HVPs."""
    model, w, net, X, y = _problem("softmax_mse")
    ref = numpy_measure_layer(model, w, X, y, 1, 4)
    H, Eh2 = per_sample_hessian_moments(net, net.params, X, y, "[1]", sample_batch=16, hvp_batch=7)
    _close(H, ref.H)
    _close(Eh2, ref.Eh2)


def test_a_layer_of_several_leaves_is_their_concatenation():
    model, w, net, X, y = _problem("ce", layers={"all": ("[0]", "[1]", "[2]")})
    _close(per_sample_gradients(net, net.params, X, y, "all"), model.per_sample_gradients(w, X, y))
    assert net.layer_size("all") == model.n_params == net.n_params
    np.testing.assert_array_equal(net.flatten(net.params), w)


def test_dense_per_sample_hessians_of_a_smooth_network_do_not_depend_on_the_sample_batch():
    """tanh: h_p has its ∑_k ∂ℓ/∂F_k ∇²F_k term, so only the dense route applies; padding must weigh nothing."""
    rng = np.random.default_rng(1)
    params = {"hidden": rng.standard_normal((4, 3)), "out": rng.standard_normal((2, 4))}
    net = Network(lambda p, x: jnp.tanh(x @ p["hidden"].T) @ p["out"].T, params, loss="softmax_mse")
    X, y = rng.standard_normal((11, 3)), rng.integers(0, 2, 11)
    H1, E1 = per_sample_hessian_moments(net, net.params, X, y, "['hidden']", sample_batch=1)
    H4, E4 = per_sample_hessian_moments(net, net.params, X, y, "['hidden']", sample_batch=4, hvp_batch=5)
    _close(H4, H1)
    _close(layer_hessian(net, net.params, X, y, "['hidden']"), H1)
    _close(E4, E1)
    assert np.linalg.norm(E1 - E1.T) < 1e-12 * np.linalg.norm(E1)


def test_alpha_trick_output_is_zero_at_initialisation_and_curvature_scales_with_alpha():
    """F = α(f(w) − f(w₀)), ℓ/α: at w₀ the gradient α·J_fᵀ∇_Fℓ(0)/α does not depend on α, h_p = α J_fᵀG J_f does."""
    _, _, net1, X, y = _problem("ce", alpha=1.0, piecewise_linear=True)
    net3 = Network(relu_mlp, net1.params, loss="ce", alpha=3.0, piecewise_linear=True)
    np.testing.assert_array_equal(net3.output(net3.params, net3.samples(X, y)), 0.0)
    assert float(net3.loss(net3.params, net3.samples(X, y))) == pytest.approx(np.log(WIDTHS[-1]) / 3.0, rel=1e-14)
    _close(per_sample_gradients(net3, net3.params, X, y, "[1]"), per_sample_gradients(net1, net1.params, X, y, "[1]"))
    (H1, E1), (H3, E3) = (per_sample_hessian_moments(n, n.params, X, y, "[1]") for n in (net1, net3))
    _close(H3, 3.0 * H1)
    _close(E3, 9.0 * E1)


@pytest.mark.parametrize("sampling", ["with_replacement", "without_replacement", "epoch"])
def test_replicas_by_vmap_equal_single_runs_with_the_same_seeds(sampling):
    _, _, net, X, y = _replica_problem()
    kw = dict(eta=0.5, batch_size=8, n_steps=12, sampling=sampling, seed=7)
    together = run_replicas(net, X, y, n_replicas=3, chunk_steps=4, **kw)
    for r in range(3):
        alone = run_replicas(net, X, y, n_replicas=1, first_replica=r, chunk_steps=6, **kw)
        for a, b in zip(together.replica(r), alone.replica(0)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert not np.allclose(together.replica(0)[0], together.replica(1)[0])


def test_a_replica_takes_the_numpy_mlp_sgd_step_on_the_same_minibatches():
    model, w, net, X, y = _problem("ce")
    eta, B, n = 0.3, 5, 9
    run = run_replicas(net, X, y, eta=eta, batch_size=B, n_steps=n, seed=3, record_every=4)
    sampler = MinibatchSampler(np.random.default_rng(child_seed(3, 0)), "with_replacement", len(X), B)
    expected = [w.copy()]
    for idx in sampler.draw(n)[:, 0]:
        w = w - eta * model.gradient(w, X[idx], y[idx])
        expected.append(w)
    np.testing.assert_array_equal(run.steps, [0, 4, 8, 9])
    np.testing.assert_allclose(run.trajectory[0], np.array(expected)[run.steps], rtol=1e-11, atol=1e-13)


def test_cosine_schedule_and_clipping_take_the_authors_step():
    """PyTorch's CosineAnnealingLR stepped per step and clip_grad_norm_: w ← w − η_k ĝ·min(1, c/(‖ĝ‖ + 1e-6)) with
    η_k = η(1 + cos(πk/K))/2, the numpy MLP's gradient on the same minibatches; the clip binds on some steps only,
    and chunks do not shift the schedule."""
    model, w, net, X, y = _problem("ce")
    eta, B, n, c = 0.3, 5, 9, 0.6
    run = run_replicas(net, X, y, eta=eta, batch_size=B, n_steps=n, seed=3, schedule="cosine", clip_norm=c,
                       chunk_steps=4)
    sampler = MinibatchSampler(np.random.default_rng(child_seed(3, 0)), "with_replacement", len(X), B)
    clipped = 0
    for k, idx in enumerate(sampler.draw(n)[:, 0]):
        g = model.gradient(w, X[idx], y[idx])
        norm = np.linalg.norm(g)
        clipped += norm > c
        w = w - eta * 0.5 * (1 + np.cos(np.pi * k / n)) * g * min(1.0, c / (norm + 1e-6))
    assert 0 < clipped < n
    np.testing.assert_allclose(net.flatten(run.replica(0)), w, rtol=1e-11, atol=1e-13)


def test_replicas_start_from_their_own_initial_parameters():
    model, _, net, X, y = _problem("mse")
    inits = [[W for W, _ in model.unpack(model.init(s))] for s in (10, 11)]
    stacked = [np.stack(leaves) for leaves in zip(*inits)]
    kw = dict(eta=0.2, batch_size=6, n_steps=7, seed=2)
    both = run_replicas(net, X, y, n_replicas=2, initial=stacked, **kw)
    for r, w0 in enumerate(inits):
        alone = run_replicas(Network(relu_mlp, w0, loss="mse"), X, y, first_replica=r, **kw)
        np.testing.assert_allclose(net.flatten(both.replica(r)), net.flatten(alone.replica(0)), rtol=1e-12)
    with pytest.raises(ParameterError, match="leading axis of 3"):
        run_replicas(net, X, y, n_replicas=3, initial=stacked, **kw)


def test_with_the_alpha_trick_each_replica_is_centred_at_its_own_initialisation():
    """α-trick and ``initial``: replica r runs as the network built on its own w₀ alone (F_r = α(f(w_r) − f(w_r(0))))."""
    model, _, _, X, y = _problem("ce")
    inits = [[W for W, _ in model.unpack(model.init(s))] for s in (10, 11)]
    net = Network(relu_mlp, inits[0], loss="ce", alpha=3.0)
    kw = dict(eta=0.2, batch_size=6, n_steps=7, seed=2)
    both = run_replicas(net, X, y, n_replicas=2, initial=[np.stack(leaves) for leaves in zip(*inits)], **kw)
    for r, w0 in enumerate(inits):
        alone = run_replicas(Network(relu_mlp, w0, loss="ce", alpha=3.0), X, y, first_replica=r, **kw)
        np.testing.assert_allclose(net.flatten(both.replica(r)), net.flatten(alone.replica(0)), rtol=1e-12)


def _hinge_problem(alpha, P=30):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((P, 6))
    y = np.sign(X[:, :1] + 0.3 * X[:, 1:2])                      # (P, 1) targets ±1: the hinge's binary labels
    params = relu_mlp_params((6, 8, 1), 0)
    return Network(relu_mlp, params, loss="hinge", alpha=alpha), X, y


def test_hinge_loss_is_the_authors_relu_of_one_minus_the_centred_margin():
    """ℓ_p = max(0, 1 − α(f − f₀)y)/α: 1/α at initialisation, 0 for a sample whose margin is met."""
    net, X, y = _hinge_problem(alpha=4.0)
    samples = net.samples(X, y)
    assert float(net.loss(net.params, samples)) == pytest.approx(0.25)
    w = [net.params[0], net.params[1] * 1.5]                     # f = 1.5 f₀: F = α f₀/2
    F = 4.0 * 0.5 * np.asarray(relu_mlp(net.params, X))
    np.testing.assert_allclose(float(net.loss(w, samples)), np.mean(np.maximum(0, 1 - F * y)) / 4.0, rtol=1e-12)


def test_until_fitted_stops_each_replica_when_its_training_loss_is_zero():
    """Every replica fits (loss exactly 0) and then stays where it is; its stopping step is where a step-by-step run
    first has zero training loss, whatever the chunk size; a step cap below it leaves replicas unfitted."""
    net, X, y = _hinge_problem(alpha=10.0)
    kw = dict(eta=0.5, batch_size=4, n_replicas=3, seed=1, until_fitted=True)
    run = run_replicas(net, X, y, n_steps=20000, chunk_steps=64, **kw)
    assert run.fitted.all() and (run.fitted_step > 0).all()
    samples = net.samples(X, y)
    for r in range(3):
        assert float(net.loss(run.replica(r), samples)) == 0.0
        k = int(run.fitted_step[r])
        before = run_replicas(net, X, y, n_steps=k - 1, chunk_steps=7, **dict(kw, n_replicas=1), first_replica=r)
        at = run_replicas(net, X, y, n_steps=k, chunk_steps=7, **dict(kw, n_replicas=1), first_replica=r)
        assert float(net.loss(before.replica(0), samples)) > 0 and not before.fitted[0]
        np.testing.assert_array_equal(net.flatten(at.replica(0)), net.flatten(run.replica(r)))
        assert at.fitted[0] and at.fitted_step[0] == k
    capped = run_replicas(net, X, y, n_steps=int(run.fitted_step.min()) - 1, **kw)
    assert not capped.fitted.any() and (capped.fitted_step == -1).all()


@pytest.mark.parametrize("sampling", ["with_replacement", "without_replacement", "epoch"])
def test_the_numpy_engine_and_the_jax_engine_draw_the_same_minibatches(sampling):
    """Same seed, the numpy engine at ``block_size=1`` (a generator per replica, as the JAX engine): the numpy MLP
    under :func:`run_sgd` and the same network under :func:`run_replicas` end at the same weights."""
    model, w, net, X, y = _problem("softmax_mse")               # no α-trick: the numpy MLP has none
    kw = dict(eta=0.5, batch_size=7, n_steps=11, n_replicas=3, sampling=sampling, seed=4)
    ours = run_replicas(net, X, y, chunk_steps=5, **kw)
    numpy_run = run_sgd(model, Dataset(X, y), w0=w, block_size=1, **kw)
    for r in range(3):
        np.testing.assert_allclose(net.flatten(ours.replica(r)), numpy_run.final[r], rtol=1e-11, atol=1e-13)


def _correlate_same(a, K):
    """'SAME' cross-correlation of a (c_in, *spatial) with K (c_out, c_in, *window), stride 1, by loops."""
    pad = [((k - 1) // 2, k // 2) for k in K.shape[2:]]
    a = np.pad(a, [(0, 0)] + pad)
    out = np.zeros((K.shape[0],) + tuple(a.shape[1 + d] - K.shape[2 + d] + 1 for d in range(K.ndim - 2)))
    for pos in np.ndindex(out.shape[1:]):
        window = a[(slice(None),) + tuple(slice(p, p + k) for p, k in zip(pos, K.shape[2:]))]
        out[(slice(None),) + pos] = np.tensordot(K, window, axes=K.ndim - 1)
    return out


@pytest.mark.parametrize("shape", [(7,), (4, 5)])
def test_cnn_is_two_same_convolutions_and_a_read_out_and_piecewise_linear(shape):
    params = relu_cnn_params(shape, 3, 4, seed=0)
    x = np.random.default_rng(1).standard_normal((5, int(np.prod(shape))))
    expected = []
    for xp in x:
        a = xp.reshape((1,) + shape)
        for K in params[:-1]:
            a = np.maximum(_correlate_same(a, K), 0.0)
        expected.append(params[-1] @ a.ravel())
    np.testing.assert_allclose(relu_cnn(shape)(params, jnp.asarray(x)), expected, rtol=1e-12, atol=1e-12)
    # no biases, ReLU: h_p = J_pᵀG_pJ_p, so the factored E_p[h_p²] equals the dense one
    y = np.arange(5) % 4
    factored, dense = (per_sample_hessian_moments(Network(relu_cnn(shape), params, loss="ce", piecewise_linear=pl),
                                                  params, x, y, "[1]") for pl in (True, False))
    np.testing.assert_allclose(factored[1], dense[1], rtol=1e-9, atol=1e-12)


def test_divergence_and_bad_input_raise():
    _, _, net, X, y = _problem("mse")
    linear = Network(lambda W, x: x @ W.T, np.zeros((3, WIDTHS[0])), loss="mse")  # no ReLU to die
    with pytest.raises(DivergenceError):
        run_replicas(linear, X * 10, y, eta=10.0, batch_size=4, n_steps=200, chunk_steps=100)
    with pytest.raises(ParameterError, match="unknown layer"):
        gradient_covariance(net, net.params, X, y, "hidden")
    with pytest.raises(ParameterError, match="class labels"):
        net.samples(X, y + 10)
    with pytest.raises(ParameterError, match="unknown leaves"):
        Network(relu_mlp, net.params, layers={"a": ("[7]",)})


def test_accuracy_is_the_numpy_mlps_and_stacked_replicas_are_their_leaves_on_a_new_axis():
    model, w, net, X, y = _problem("ce")
    assert net.accuracy(net.params, net.samples(X, y)) == pytest.approx(model.accuracy(w, X, y), abs=1e-15)
    trees = [relu_mlp_params(WIDTHS, s) for s in range(3)]
    stacked = stack_replicas(trees)
    assert [a.shape for a in stacked] == [(3,) + a.shape for a in trees[0]]
    assert all(np.array_equal(stacked[k][r], trees[r][k]) for r in range(3) for k in range(len(trees[0])))
