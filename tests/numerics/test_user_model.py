"""numerics.verify.user_model: the lambdified user model in the replica engine, its data law, and verify()."""

import numpy as np
import pytest
import sympy as sp

from derivations.sgd import B, eta
from derivations.errors import ParameterError
from derivations.model import SGDModel
from numerics.engine.data import Dataset
from numerics.models import LeastSquares
from numerics.testing import assert_mc_agrees, assert_mc_rejects
from numerics.stats import replica_mean
from numerics.verify.user_model import compile_model, verify

x1, x2, x, y, w, w1, w2 = sp.symbols("x1 x2 x y w w1 w2", real=True)
s, sigma = sp.symbols("s sigma", positive=True)
half = sp.Rational(1, 2)


def scalar_regression():
    return SGDModel(half * (w * x - y) ** 2, w, x, target=y, teacher=s * x, noise_std=sigma)


def test_lambdified_gradient_matches_least_squares():
    model = SGDModel(half * (w1 * x1 + w2 * x2 - y) ** 2, [w1, w2], [x1, x2], target=y, teacher=x1 - x2)
    engine, data = compile_model(model)
    rng = np.random.default_rng(1)
    X, yy = data.sample(rng, (5, 3))
    W = rng.standard_normal((5, 2))
    ref = LeastSquares(2)
    np.testing.assert_allclose(engine.minibatch_gradient(W, X, yy), ref.minibatch_gradient(W, X, yy), rtol=1e-12)
    np.testing.assert_allclose(engine.per_sample_gradients(W[0], X[0], yy[0]), ref.per_sample_gradients(W[0], X[0], yy[0]),
                               rtol=1e-12)
    np.testing.assert_allclose(engine.loss(W[0], X[0], yy[0]), ref.loss(W[0], X[0], yy[0]), rtol=1e-12)


def test_data_model_follows_the_stated_law():
    model = SGDModel(half * (w * x - y) ** 2, w, x, target=y, teacher=s * x ** 2, noise_std=sigma,
                     input_mean=[sp.Rational(1, 2)], input_cov=sp.Matrix([[4]]))
    _, data = compile_model(model, {s: 2.0, sigma: 0.5})
    X, yy = data.sample(np.random.default_rng(2), (4000, 8))
    # E x = 1/2, E x² = 4 + 1/4, E[(y − s x²)²] = σ²: per-replica means over 8 columns, 4000 replicas
    stats = np.stack([X[..., 0].mean(1), (X[..., 0] ** 2).mean(1), ((yy - 2 * X[..., 0] ** 2) ** 2).mean(1)], 1)
    est = replica_mean(stats)
    assert_mc_agrees(est, [0.5, 4.25, 0.25], names=["E x", "E x^2", "E eps^2"])
    assert_mc_rejects(est, [0.0, 1.0, 0.25])  # whitened inputs: rejected
    ds = data.dataset(10, seed=3)
    assert isinstance(ds, Dataset) and ds.X.shape == (10, 1)


def test_verify_stationary_moment_exact_discrete_vs_continuum():
    """Scalar regression, online: E[δ'² | δ] = (δ − η∇L)² + η² C/B exactly, so the discrete stationary second
    moment solves v = E[δ'²](v); the continuum Student-t variance ησ²/(2(B − η)) is the negative control."""
    model = scalar_regression()
    v, d = sp.symbols("v delta", real=True)
    to_delta = {w: s + d}
    step = sp.expand((d - eta * model.mean_gradient[0].subs(to_delta)) ** 2 + eta ** 2 * model.noise_covariance[0, 0].subs(to_delta) / B)
    v_exact = sp.solve(sp.Eq(v, step.subs(d ** 2, v)), v)[0]  # second moment of δ: E δ = 0 at stationarity
    v_continuum = eta * sigma ** 2 / (2 * (B - eta))
    res = verify(model, v_exact, wrong=v_continuum, observable=(w - s) ** 2, parameters={s: 1.0, sigma: 1.0},
                 eta=0.2, batch_size=1, w0=[1.0], n_steps=1500, burn_in=300, n_replicas=512, seed=4,
                 wrong_description="continuum Student-t variance")
    assert res.verdict == "CONFIRMED", res.table()
    assert res.mutants[0].description == "continuum Student-t variance" and res.mutants[0].rejected


def test_verify_time_dependent_mean_and_fixed_data():
    """Gradient flow of the mean: E w_k = s + (w0 − s)(1 − η)^k exactly (linear model, any sampling with
    E ĝ = ∇L); with a fixed data set the empirical minimiser replaces s, so use online data."""
    model = scalar_regression()
    t = sp.Symbol("t", nonnegative=True)
    k = t / eta
    res = verify(model, s + (0 - s) * (1 - eta) ** k, wrong=s + (0 - s) * sp.exp(-t), parameters={s: 1.0, sigma: 0.5},
                 eta=0.3, batch_size=2, w0=[0.0], n_steps=12, n_replicas=4000, times=[2, 4, 8], seed=5,
                 wrong_description="continuum gradient flow exp(-t)")
    assert res.verdict == "CONFIRMED", res.table()
    several = verify(model, s + (0 - s) * (1 - eta) ** k, wrong={"exp(-t)": s + (0 - s) * sp.exp(-t), "w = s": s},
                     parameters={s: 1.0, sigma: 0.5}, eta=0.3, batch_size=2, w0=[0.0], n_steps=12, n_replicas=4000,
                     times=[2, 4, 8], seed=5)
    assert [m.description for m in several.mutants] == ["exp(-t)", "w = s"] and several.passed, several.table()
    fixed = verify(model, s + (0 - s) * (1 - eta) ** k, wrong=s, parameters={s: 1.0, sigma: 0.5}, eta=0.3, batch_size=2,
                   w0=[0.0], n_steps=4, n_replicas=64, times=[4], sampling="with_replacement", n_samples=8, seed=6)
    assert fixed.rows[0].quantity.endswith("k=4")


def test_verify_bad_input():
    model = scalar_regression()
    common = dict(eta=0.1, batch_size=1, w0=[0.0], n_steps=20, n_replicas=8)
    with pytest.raises(ParameterError, match="sigma"):
        verify(model, 0.0, wrong=1.0, parameters={s: 1.0}, **common)
    with pytest.raises(ParameterError, match="unknown parameter"):
        verify(model, 0.0, wrong=1.0, parameters={s: 1.0, sigma: 1.0, "z": 2}, **common)
    with pytest.raises(ParameterError, match="string"):
        verify(model, "s", wrong=1.0, parameters={s: 1.0, sigma: 1.0}, **common)
    with pytest.raises(ParameterError, match="eta"):
        verify(model, 0.0, wrong=1.0, parameters={s: 1.0, sigma: 1.0}, **{**common, "eta": 0.0})
    with pytest.raises(ParameterError, match="batch_size"):
        verify(model, 0.0, wrong=1.0, parameters={s: 1.0, sigma: 1.0}, **{**common, "batch_size": 0})


@pytest.mark.slow
def test_verify_stationary_density_by_ks():
    """The model's zero-flux density (Student-t) vs one end-of-run sample per replica; negative control: the
    density at batch size 2B (half the noise). ~90 s: the CDF of the density is evaluated by quadrature."""
    model = scalar_regression()
    p = model.stationary_density(eta=sp.Rational(1, 20), batch_size=1, time_budget=2.0)
    wrong = model.stationary_density(eta=sp.Rational(1, 20), batch_size=2, time_budget=2.0)
    res = verify(model, p, wrong=wrong, parameters={s: 1.0, sigma: 1.0}, eta=0.05, batch_size=1, w0=[1.0],
                 n_steps=300, n_replicas=4000, seed=7, wrong_description="density at batch size 2B")
    assert res.verdict == "CONFIRMED", res.table()


def test_verify_plain_symbols_matrix_observables_and_deterministic_steps():
    """A user's plain Symbol("eta")/Symbol("t") means the package's η and t; a matrix observable is one run with
    one row per entry; the step k = 0 (every replica at w0) is compared exactly, not with a round-off z."""
    model = scalar_regression()
    eta_, t_ = sp.Symbol("eta"), sp.Symbol("t")
    mean = s + (0 - s) * (1 - eta_) ** (t_ / eta_)
    common = dict(parameters={s: 1.0, sigma: 0.5}, eta=0.3, batch_size=2, w0=[0.0], n_steps=8, n_replicas=4000, seed=5)
    res = verify(model, mean, wrong=s, times=[0, 2, 4], **common)
    assert res.verdict == "CONFIRMED", res.table()
    assert [r.quantity for r in res.rows] == ["E[w] at k=2", "E[w] at k=4"]
    assert any("k=0" in n and "exactly" in n for n in res.notes) and res.runtime_s > 0
    wrong_start = verify(model, mean + 0.5 * sp.exp(-t_ * 100), wrong=s, times=[0, 4], **common)
    assert wrong_start.verdict == "REFUTED" and wrong_start.rows[0].quantity.endswith("k=0"), wrong_start.table()
    pair = verify(model, sp.Matrix([mean, mean ** 2 + 0 * t_]), wrong=sp.Matrix([s, s ** 2]),
                  observable=sp.Matrix([w, w ** 2]), times=[4], **common)
    assert len(pair.rows) == 2 and pair.rows[0].status(5) == "holds", pair.table()
    with pytest.raises(ParameterError, match="entries"):
        verify(model, mean, wrong=s, observable=sp.Matrix([w, w ** 2]), times=[4], **common)


def test_verify_extrapolates_a_continuum_prediction_to_eta_zero():
    """The continuum Student-t variance ησ²/(2(B − η)) is not the discrete law (ησ²/(2B − ηB − 2η) at B = 1):
    measured/predicted → 1 only as η → 0. With extrapolate= the ratio is Richardson-extrapolated and compared with
    1 without a floor; a factor 2 in the noise stays rejected."""
    model = scalar_regression()
    continuum = eta * sigma ** 2 / (2 * (B - eta))
    res = verify(model, continuum, wrong={"a factor 2 in the noise": 2 * continuum}, observable=(w - s) ** 2,
                 parameters={s: 1.0, sigma: 1.0}, eta=0.04, batch_size=1, w0=[1.0], n_steps=3000, burn_in=500,
                 n_replicas=512, seed=3, extrapolate=(1, 2, 3))
    assert res.verdict == "CONFIRMED", res.table()
    assert res.rows[0].quantity.endswith("eta -> 0") and any("extrapolated" in n for n in res.notes)
    with pytest.raises(ParameterError, match="extrapolate"):
        verify(model, continuum, wrong=2 * continuum, observable=(w - s) ** 2, parameters={s: 1.0, sigma: 1.0},
               eta=0.04, batch_size=1, w0=[1.0], n_steps=10, n_replicas=8, extrapolate=(1,))


# --------------------------------------------------------------------------- non-polynomial, Bernoulli labels
def logistic_regression():
    return SGDModel(sp.log(1 + sp.exp(-y * w * x)), w, x, target=y, teacher=s * x, labels="bernoulli",
                    fallback="quadrature")


def test_bernoulli_labels_are_drawn_with_the_model_probability():
    _, data = compile_model(logistic_regression(), {s: 2.0})
    X, yy = data.sample(np.random.default_rng(3), (200000,))
    assert set(np.unique(yy)) == {-1.0, 1.0}
    # E[y | x] = tanh(s x / 2): regress y on tanh(s x/2), slope 1 (4.5 standard errors resolve a 2 % slip)
    t = np.tanh(X[:, 0])
    slope = (t @ yy) / (t @ t)
    stderr = np.sqrt(np.mean((yy - slope * t) ** 2) / (t @ t))
    assert_mc_agrees(slope, stderr, 1.0)
    assert_mc_rejects(slope, stderr, 1.1)


def test_verify_a_quadrature_lyapunov_prediction_of_logistic_regression():
    model = logistic_regression()
    eta_ = 0.05
    sigma_w = model.lyapunov_covariance({w: 1.5}, eta=eta_, batch_size=1, values={s: 1.5})
    assert sigma_w.error[0, 0] < 1e-9
    predicted = sp.Symbol("eta") * sigma_w.value[0, 0] / eta_   # Σ ∝ η (continuum), extrapolated η → 0
    res = verify(model, predicted, wrong={"eta kappa C/H (no 1/2)": 2 * predicted}, observable=(w - 1.5) ** 2,
                 parameters={s: 1.5}, eta=eta_, batch_size=1, w0=[1.5], n_steps=4000, burn_in=400, n_replicas=2000,
                 extrapolate=(1, 2, 3))
    assert res.verdict == "CONFIRMED", res.table()
