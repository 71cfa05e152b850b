"""Replica SGD engine: one-step moments per sampling scheme, epochs, seeding, observers, divergence, bad input."""

import numpy as np
import pytest

from numerics.engine.data import Dataset, GaussianTeacher
from numerics.errors import DivergenceError, ParameterError
from numerics.models.linreg import minibatch_scale, noise_covariance
from numerics.models import LeastSquares
from numerics.engine.sgd import MomentObserver, TrajectoryObserver, run_sgd
from numerics.stats import replica_mean
from numerics.testing import assert_mc_agrees, assert_mc_rejects


@pytest.fixture(scope="module")
def small_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 2))
    y = X @ np.array([1.0, -0.5]) + 0.3 * rng.standard_normal(6)
    return Dataset(X, y)


def one_step_increments(data, sampling, batch_size, w0, n_replicas=40_000, seed=1, eta=0.1):
    run = run_sgd(LeastSquares(data.n_features), data, eta=eta, batch_size=batch_size, n_steps=1,
                  n_replicas=n_replicas, sampling=sampling, w0=w0, seed=seed)
    return (run.final - w0) / eta  # = −ĝ, one independent minibatch per replica


@pytest.mark.parametrize("sampling", ["with_replacement", "without_replacement", "epoch"])
def test_one_step_gradient_mean_and_covariance(small_data, sampling):
    """E ĝ = ∇L and Cov ĝ = κ C(w) (epoch: its first minibatch is a uniform B-subset, κ as without replacement).
    Negative control: the wrong scheme's κ is rejected by the same data. False-failure probability < 1e-5."""
    X, y, B = small_data.X, small_data.y, 3
    w0 = np.array([0.2, 0.4])
    g = -one_step_increments(small_data, sampling, B, w0)
    grad = X.T @ (X @ w0 - y) / len(y)
    assert_mc_agrees(replica_mean(g), grad, names=["mean g1", "mean g2"])
    centred = g - grad
    iu = np.triu_indices(2)
    outer = (centred[:, :, None] * centred[:, None, :])[:, iu[0], iu[1]]
    scheme = "with_replacement" if sampling == "with_replacement" else "without_replacement"
    other = "without_replacement" if scheme == "with_replacement" else "with_replacement"
    C = noise_covariance(X, y, w0)
    predicted = minibatch_scale(B, scheme, len(y)) * C[iu]
    wrong = minibatch_scale(B, other, len(y)) * C[iu]
    assert_mc_agrees(replica_mean(outer), predicted, names=["C11", "C12", "C22"])
    assert_mc_rejects(replica_mean(outer), wrong, names=["C11", "C12", "C22"])


def test_online_one_step_covariance_is_population_covariance_over_B():
    teacher = GaussianTeacher(np.array([1.0, 0.0]), noise_std=0.5)
    w0 = np.array([0.5, 0.5])
    B = 4
    g = -one_step_increments(teacher, "online", B, w0, n_replicas=60_000)
    delta = w0 - teacher.teacher
    C = np.outer(delta, delta) + (delta @ delta + 0.25) * np.eye(2)  # Isserlis, linreg.noise_covariance
    centred = g - delta
    iu = np.triu_indices(2)
    outer = (centred[:, :, None] * centred[:, None, :])[:, iu[0], iu[1]]
    assert_mc_agrees(replica_mean(g), delta)
    assert_mc_agrees(replica_mean(outer), C[iu] / B)
    assert_mc_rejects(replica_mean(outer), C[iu])  # forgetting the 1/B


class _RecordingModel:
    """Zero gradient; records which samples (encoded in x) each replica's minibatch holds."""

    n_params = 1

    def __init__(self):
        self.batches = []

    def minibatch_gradient(self, w, X, y):
        self.batches.append(X[..., 0].astype(int).copy())
        return np.zeros_like(w)


def test_epoch_sampling_visits_every_sample_once_per_epoch():
    P, B = 12, 3
    data = Dataset(np.arange(P, dtype=float)[:, None], np.zeros(P))
    model = _RecordingModel()
    run_sgd(model, data, eta=0.1, batch_size=B, n_steps=3 * P // B, n_replicas=5, sampling="epoch", seed=3)
    per_step = np.stack(model.batches)  # (steps, R, B)
    for epoch in range(3):
        seen = per_step[epoch * P // B:(epoch + 1) * P // B].transpose(1, 0, 2).reshape(5, P)
        assert (np.sort(seen, axis=1) == np.arange(P)).all()
    assert not (per_step[:P // B] == per_step[P // B:2 * P // B]).all()  # reshuffled each epoch


def test_without_replacement_batches_have_distinct_indices():
    P, B = 7, 4
    data = Dataset(np.arange(P, dtype=float)[:, None], np.zeros(P))
    model = _RecordingModel()
    run_sgd(model, data, eta=0.1, batch_size=B, n_steps=50, n_replicas=20, sampling="without_replacement", seed=3)
    batches = np.stack(model.batches).reshape(-1, B)
    assert all(len(set(b)) == B for b in batches)


def test_same_seed_identical_and_replica_blocks_independent_of_total(small_data):
    kwargs = dict(eta=0.1, batch_size=2, n_steps=30, sampling="with_replacement", block_size=4)
    a = run_sgd(LeastSquares(2), small_data, n_replicas=10, seed=7, **kwargs).final
    b = run_sgd(LeastSquares(2), small_data, n_replicas=10, seed=7, **kwargs).final
    c = run_sgd(LeastSquares(2), small_data, n_replicas=4, seed=7, **kwargs).final
    d = run_sgd(LeastSquares(2), small_data, n_replicas=10, seed=8, **kwargs).final
    assert np.array_equal(a, b)
    assert np.array_equal(a[:4], c)  # block 0 depends only on (seed, block index)
    assert not np.allclose(a, d)


def test_observers_agree_with_each_other(small_data):
    traj = TrajectoryObserver(stride=1)
    moments = MomentObserver(burn_in=4, n_batches=4)
    run_sgd(LeastSquares(2), small_data, eta=0.1, batch_size=2, n_steps=20, n_replicas=3, seed=1,
            observers=[traj, moments])
    assert traj.values.shape == (21, 3, 2)
    recorded = traj.values[4:20]  # 16 recorded steps = 4 batches of 4
    np.testing.assert_allclose(moments.batch_means, recorded.reshape(4, 4, 3, 2).mean(axis=1))
    strided = TrajectoryObserver(stride=5)
    run_sgd(LeastSquares(2), small_data, eta=0.1, batch_size=2, n_steps=20, n_replicas=3, seed=1, observers=[strided])
    np.testing.assert_array_equal(strided.values, traj.values[::5])


def test_divergence_is_detected_with_step_and_eta_and_keeps_partial_results(small_data):
    traj = TrajectoryObserver(stride=1)
    with pytest.raises(DivergenceError, match=r"eta=5") as info:
        run_sgd(LeastSquares(2), small_data, eta=5.0, batch_size=2, n_steps=2000, n_replicas=4, seed=0,
                observers=[traj], check_every=10, check_stability=False)
    assert info.value.step <= 2000 and info.value.eta == 5.0
    assert info.value.partial["observers"][0] is traj
    assert np.isfinite(traj.values[0]).all()


def test_unstable_eta_is_refused_before_running(small_data):
    from numerics.errors import UnstableLearningRateError
    from numerics.models.linreg import max_stable_eta

    bound = max_stable_eta(small_data.X, 2)
    with pytest.raises(UnstableLearningRateError, match="stable for eta <"):
        run_sgd(LeastSquares(2), small_data, eta=1.01 * bound, batch_size=2, n_steps=5)
    run_sgd(LeastSquares(2), small_data, eta=0.99 * bound, batch_size=2, n_steps=5)
    wide = Dataset(np.ones((2, 3)), np.ones(2))  # P < N: neutral directions are allowed
    run_sgd(LeastSquares(3), wide, eta=0.1, batch_size=1, n_steps=5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(eta=0.0), "eta"), (dict(eta=float("nan")), "eta"), (dict(eta=-1.0), "eta"),
    (dict(batch_size=0), "batch_size"), (dict(batch_size=7), "batch_size"), (dict(n_replicas=0), "n_replicas"),
    (dict(n_steps=0), "n_steps"), (dict(sampling="shuffle"), "sampling"), (dict(w0=np.zeros(3)), "w0"),
    (dict(sampling="online"), "online"),
])
def test_bad_input_names_the_parameter(small_data, kwargs, match):
    base = dict(eta=0.1, batch_size=2, n_steps=5, n_replicas=2)
    base.update(kwargs)
    with pytest.raises(ParameterError, match=match):
        run_sgd(LeastSquares(2), small_data, **base)


def test_different_seeds_give_uncorrelated_streams(small_data):
    """Replica blocks and seeds are independent: final weights of seed s and s+1 are uncorrelated
    (|corr| < 5/sqrt(R), a 5-sigma bound for independent samples)."""
    kwargs = dict(eta=0.1, batch_size=1, n_steps=50, n_replicas=4000, block_size=1000)
    a = run_sgd(LeastSquares(2), small_data, seed=11, **kwargs).final[:, 0]
    b = run_sgd(LeastSquares(2), small_data, seed=12, **kwargs).final[:, 0]
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(4000)
    blocks = a.reshape(4, 1000)
    corr = np.corrcoef(blocks)[np.triu_indices(4, 1)]
    assert np.all(np.abs(corr) < 5 / np.sqrt(1000))


def test_stop_when_freezes_replicas_and_records_the_step(small_data):
    """Replicas stop at the first checked step where the criterion holds and never move again;
    the others' random streams are unaffected by who stopped."""
    kwargs = dict(eta=0.1, batch_size=2, n_steps=60, n_replicas=8, seed=4, block_size=8)
    free = TrajectoryObserver(stride=1)
    run_sgd(LeastSquares(2), small_data, observers=[free], **kwargs)
    crit = lambda w: w[:, 0] > 0.5  # noqa: E731
    traj = TrajectoryObserver(stride=1)
    run = run_sgd(LeastSquares(2), small_data, observers=[traj], stop_when=crit, **kwargs)
    stopped = run.info["stopped_at"]
    first = np.array([np.argmax(free.values[:, r, 0] > 0.5) if (free.values[:, r, 0] > 0.5).any() else -1 for r in range(8)])
    np.testing.assert_array_equal(stopped, first)
    for r in range(8):
        k = stopped[r]
        end = len(traj.values) if k < 0 else k + 1
        np.testing.assert_array_equal(traj.values[:end, r], free.values[:end, r])
        if k >= 0:  # frozen; NaN once the whole block has stopped (nothing more is recorded)
            later = traj.values[k:, r]
            assert (later[~np.isnan(later[:, 0])] == traj.values[k, r]).all()
