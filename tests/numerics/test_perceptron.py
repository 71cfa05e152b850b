"""numerics.models.perceptron: data law, hinge gradients, per-replica training sets, stopping, test error."""

import numpy as np
import pytest
from scipy import stats

from numerics.errors import ParameterError
from numerics.models.perceptron import (
    HingePerceptron, PerceptronData, crossover_batch_size, crossover_temperature, digits_parity, fit_crossovers,
    generalisation_error, index_data, train,
)
from numerics.engine.sgd import run_sgd
from numerics.testing import assert_follows_density


@pytest.mark.parametrize("chi", [0.0, 1.0, 2.0])
def test_x1_follows_the_formula_sheet_density(chi):
    X, y = PerceptronData(3, chi).sample(np.random.default_rng(1), (20000,))
    assert np.array_equal(y, np.sign(X[:, 0]))
    # |x₁|²/2 ~ Gamma((χ+1)/2, 1)
    assert_follows_density(X[:, 0] ** 2 / 2, stats.gamma((chi + 1) / 2).cdf)
    assert_follows_density(X[:, 1], stats.norm.cdf)


def test_wrong_chi_is_rejected_by_the_same_test():
    X, _ = PerceptronData(2, 1.0).sample(np.random.default_rng(2), (20000,))
    with pytest.raises(AssertionError):
        assert_follows_density(X[:, 0] ** 2 / 2, stats.gamma(0.5).cdf)


def test_minibatch_gradient_matches_per_sample_gradients():
    rng = np.random.default_rng(3)
    X, y = PerceptronData(5, 1.0).sample(rng, (7,))
    model = HingePerceptron(X, y, alpha=2.0)
    w = rng.standard_normal(5)
    g = model.per_sample_gradients(w, X, y)
    idx = np.array([[0, 3, 3, 6]], dtype=float)[..., None]
    assert np.allclose(model.minibatch_gradient(w[None], idx, None)[0], g[[0, 3, 3, 6]].mean(0))
    fitted = y * (X @ w) / np.sqrt(5) >= 0.5
    assert np.all(g[fitted] == 0) and np.allclose(g[~fitted], -(y[:, None] * X / np.sqrt(5))[~fitted])


def test_per_replica_sets_and_stopping():
    rng = np.random.default_rng(4)
    X, y = PerceptronData(4, 0.0).sample(rng, (3, 20))
    model = HingePerceptron(X, y, alpha=1.0)
    run = run_sgd(model, index_data(20), eta=0.5, batch_size=2, n_steps=50_000, n_replicas=3, block_size=3,
                  stop_when=model.fitted, seed=0)
    assert np.all(run.info["stopped_at"] > 0)
    assert np.all(model.margins(run.final) >= model.kappa)
    with pytest.raises(ParameterError):
        run_sgd(model, index_data(20), eta=0.5, batch_size=2, n_steps=5, n_replicas=2, block_size=2)


def test_test_error_matches_monte_carlo():
    w = np.array([[1.0, 0.7, -0.2], [0.3, 1.0, 0.0]])
    X, y = PerceptronData(3, 1.0).sample(np.random.default_rng(5), (200000,))
    mc = (np.sign(X @ w.T) != y[:, None]).mean(0)
    assert np.allclose(generalisation_error(w, 1.0), mc, atol=5 * np.sqrt(0.25 / 200000))
    assert not np.allclose(generalisation_error(w, 0.0), mc, atol=5 * np.sqrt(0.25 / 200000))  # the χ of the data matters


def test_train_task_gd_and_validation():
    out = train(dict(n_samples=16, n_replicas=4, batch_size=16, eta=0.05, alpha=2.0), seed=1)
    assert np.all(np.isfinite(out["t_star"])) and len(out["norm"]) == 4
    with pytest.raises(ParameterError):
        train(dict(bogus=1), seed=0)
    with pytest.raises(ParameterError):
        PerceptronData(3, -1.0)


def _fake_run(T_true, exponent, rng):
    """A train result whose replica mean of relative_change is (T/T_true)^exponent, with 5% replica noise."""
    return lambda T: {"relative_change": ((T / T_true) ** exponent * (1 + 0.05 * rng.standard_normal(64))).tolist()}


@pytest.mark.parametrize("T0", [0.01, 0.3, 5.0])
def test_crossover_temperature_recovers_a_known_crossing(T0):
    c = crossover_temperature(_fake_run(0.3, 0.8, np.random.default_rng(0)), T0=T0)
    z = np.log(c.value / 0.3) / c.log_stderr
    assert abs(z) < 5 and c.log_stderr < 0.05
    assert abs(np.log(c.value / 0.6) / c.log_stderr) > 5  # a crossing at twice the value is rejected
    assert len(c.evaluations) <= 8


def test_crossover_fit_and_batch_size():
    rng = np.random.default_rng(1)
    sizes = [100, 200, 400, 800]
    cs = [crossover_temperature(_fake_run(5.0 / P ** 0.5, 1.0, rng)) for P in sizes]
    fit = fit_crossovers(sizes, cs)
    assert abs(fit.exponent + 0.5) < 5 * fit.exponent_stderr + 1e-9 and abs(fit.exponent + 1.0) > 5 * fit.exponent_stderr
    noisy, gd = {"norm": [2.0, 2.2, 1.8, 2.0]}, {"norm": [0.5, 0.5, 0.5, 0.5]}
    assert crossover_batch_size(noisy, gd).value == pytest.approx(4.0)


def test_digits_parity_and_training_on_digits():
    ds = digits_parity()
    assert ds.X.shape == (1797, 61) and set(np.unique(ds.y)) == {-1.0, 1.0}
    assert np.allclose(ds.X.mean(0), 0) and np.allclose(ds.X.std(0), 1)
    out = train(dict(data="digits", n_samples=32, n_replicas=4, eta=0.1), seed=2)
    assert np.all(np.isfinite(out["t_star"])) and "w1" not in out and all(0 <= e <= 1 for e in out["test_error"])
    with pytest.raises(ParameterError):
        train(dict(data="mnist"), seed=0)
    with pytest.raises(ParameterError):
        train(dict(data="digits", n_samples=2000), seed=0)


def test_crossover_temperature_when_the_first_evaluation_lands_on_the_crossing():
    """T0 = T_c exactly: the second evaluation is a factor 2 away, the line still needs two temperatures."""
    rng = np.random.default_rng(3)
    c = crossover_temperature(_fake_run(0.3, 1.0, rng), T0=0.3 * (1 + 1e-3))
    assert np.isfinite(c.value) and np.isfinite(c.log_stderr) and abs(np.log(c.value / 0.3)) < 5 * c.log_stderr + 0.01


def test_crossover_temperature_does_not_crawl_inside_the_noise():
    """A mean just under the target over a range of T (within its standard error): the secant would step by
    5·10⁻⁵ and then back to a temperature already run (common random numbers: the same value again), never
    bracketing; a step of a factor 1.25 crosses, and no temperature is run twice."""
    def run_at(T):
        m = 0.1 if T < 0.03 else 0.19999 if T < 0.0405 else 0.25
        return {"relative_change": (m * (1 + 0.05 * np.array([-1.0, 0.0, 1.0]))).tolist()}

    c = crossover_temperature(run_at, target=0.2, T0=0.02)
    temps = [e[0] for e in c.evaluations]
    assert len(set(temps)) == len(temps) <= 8 and max(temps) >= 0.0405 and 0.03 <= c.value <= 0.06
