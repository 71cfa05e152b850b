"""Tests of numerics.engine.sde: convergence orders, exact scheme moments, stationary statistics, errors.

In the style of diffrax's / DiffEqDevTools' convergence tests: parametrised over scheme × noise
structure, the same Brownian paths at every step size (fine increments summed pairwise), fixed
seeds, fitted log–log slopes compared with the theoretical order within a stated tolerance.
Statistical assertions are z-tests against standard errors of independent paths; each one is
paired with a negative control (a plausible wrong value the same data must reject).
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from scipy import stats

from derivations.errors import ParameterError, SgdNoiseError, UnknownNameError
from derivations.calculus.sde import ItoSDE
from numerics.errors import DivergenceError
from numerics.engine.sde import (
    AdaptiveEulerMaruyama, CompiledSDE, EulerMaruyama, Milstein, SDESolution, TamedEulerMaruyama,
    brownian_increments, coarsen_increments, compile_sde, integrate,
)

SCHEMES = {"euler_maruyama": EulerMaruyama, "milstein": Milstein}  # tamed and adaptive: own tests below

# Slope tolerance for the fitted convergence orders. With 2000 shared paths the Monte Carlo
# error of a fitted slope is ~0.02; the rest of the allowance covers pre-asymptotic curvature
# over dt ∈ [1/512, 1/16]. Seeds are fixed, so the assertions are deterministic.
ORDER_TOL = 0.1
# Weak orders are fitted over dt ∈ [1/128, 1/8], where the O(dt²) part of the bias still bends
# the log–log line (measured slopes 0.92–1.05 over seeds); hence the wider allowance.
WEAK_ORDER_TOL = 0.15


def fit_order(dts, errors) -> float:
    """Least-squares slope of log(error) against log(dt)."""
    return float(np.polyfit(np.log(dts), np.log(errors), 1)[0])


# --------------------------------------------------------------------------- test systems

def gbm_system(structure: str):
    """Independent-or-coupled geometric Brownian motions dX_i = μ_i X_i dt + X_i Σ_j S_ij dW_j.

    Exact solution on a Brownian path: X_i(T) = X_i(0) exp((μ_i − ½ Σ_j S_ij²) T + Σ_j S_ij W_j(T)).
    ``structure``: "scalar" (n = m = 1), "shared" (n = 2 driven by one W, m = 1), "diagonal"
    (two independent GBMs), "general" (n = m = 2, full S: G = diag(x) S is not diagonal).
    """
    mu_values, s_values = {
        "scalar": ([1.0], [[0.8]]),
        "shared": ([1.0, -0.5], [[0.8], [0.4]]),
        "diagonal": ([1.0, -0.5], [[0.8, 0.0], [0.0, 0.6]]),
        "general": ([1.0, -0.5], [[0.6, 0.3], [-0.2, 0.5]]),
    }[structure]
    n, m = len(mu_values), len(s_values[0])
    xs = sp.symbols(f"x0:{n}", real=True)
    mus = sp.symbols(f"mu0:{n}", real=True)
    params: dict = {}
    drift, noise = [], sp.zeros(n, m)
    for i in range(n):
        drift.append(mus[i] * xs[i])
        params[mus[i]] = mu_values[i]
        for j in range(m):
            if s_values[i][j] != 0:
                s = sp.Symbol(f"s{i}{j}", positive=True)
                noise[i, j] = s * xs[i]
                params[s.name] = s_values[i][j]  # by name, exercising name lookup
    sde = ItoSDE(list(xs), drift, noise)
    mu, smat = np.array(mu_values), np.array(s_values)
    x0 = np.linspace(1.0, 0.8, n)

    def exact(w_t, t):
        """w_t: (n_paths, m) Brownian endpoint."""
        return x0 * np.exp((mu - 0.5 * (smat**2).sum(axis=1)) * t + w_t @ smat.T)

    return sde, params, x0, exact


CASES = [(scheme, structure) for scheme in SCHEMES for structure in ("scalar", "shared", "diagonal", "general")
         if not (scheme == "milstein" and structure == "general")]


# --------------------------------------------------------------------------- strong order

@pytest.mark.parametrize("scheme,structure", CASES)
def test_strong_order_gbm(scheme, structure):
    sde, params, x0, exact = gbm_system(structure)
    compiled = compile_sde(sde, params)
    T, n_paths, levels = 1.0, 2000, [16, 32, 64, 128, 256, 512]
    m = compiled.noise_dimension
    dw = brownian_increments(levels[-1], n_paths, m, T / levels[-1], seed=20240611)
    x_true = exact(dw.sum(axis=0), T)
    dts, errors = [], []
    for n_steps in reversed(levels):
        sol = integrate(compiled, x0, T, n_steps, n_paths, scheme=scheme, brownian_increments=dw)
        errors.append(np.mean(np.linalg.norm(sol.final - x_true, axis=1)))
        dts.append(T / n_steps)
        dw = coarsen_increments(dw) if n_steps > levels[0] else dw
    order = fit_order(dts, errors)
    expected = SCHEMES[scheme].strong_order
    assert abs(order - expected) < ORDER_TOL, (scheme, structure, order, errors)
    assert np.all(np.diff(errors) > 0), "the error must grow with dt (recorded fine → coarse)"


# --------------------------------------------------------------------------- weak order

@pytest.mark.parametrize("scheme", list(SCHEMES))
@pytest.mark.parametrize("structure", ["scalar", "diagonal"])
def test_weak_order_gbm_mean(scheme, structure):
    """Weak error E[X_N] − E[X(T)], estimated on shared paths as mean(X_N − X_exact(W_T)).

    The exact solution on the same path is a control variate: the estimator's noise is
    std(X_N − X_exact)/√P ~ (strong error)/√P, far below the O(dt) bias being fitted.
    """
    sde, params, x0, exact = gbm_system(structure)
    compiled = compile_sde(sde, params)
    T, n_paths, levels = 1.0, 20000, [8, 16, 32, 64, 128]
    dw = brownian_increments(levels[-1], n_paths, compiled.noise_dimension, T / levels[-1], seed=7)
    x_true = exact(dw.sum(axis=0), T)
    dts, errors = [], []
    for n_steps in reversed(levels):
        sol = integrate(compiled, x0, T, n_steps, n_paths, scheme=scheme, brownian_increments=dw)
        # E[X_N,i] < E[X_i(T)] for every component ((1 + μΔt)^N < e^{μT}): sum the components
        diff = (sol.final - x_true).sum(axis=1)
        bias, se = diff.mean(), diff.std(ddof=1) / np.sqrt(n_paths)
        assert abs(bias) > 5 * se, "the bias must dominate its standard error for the fit"
        errors.append(abs(bias))
        dts.append(T / n_steps)
        dw = coarsen_increments(dw) if n_steps > levels[0] else dw
    order = fit_order(dts, errors)
    assert abs(order - SCHEMES[scheme].weak_order) < WEAK_ORDER_TOL, (scheme, structure, order, errors)


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_gbm_exact_discrete_moments(scheme):
    """For GBM both schemes have E[X_N] = X0 (1 + μΔt)^N exactly, and
    E[X_N²] = X0² ((1 + μΔt)² + σ²Δt)^N (EM), X0² ((1 + μΔt)² + σ²Δt + ½σ⁴Δt²)^N (Milstein).

    Monte Carlo must match within 5 standard errors; negative control: the continuum moments
    X0 e^{μT} and X0² e^{(2μ+σ²)T} lie far outside (the check resolves the O(Δt) bias).
    """
    mu, sigma, x0, T, N, n_paths = 1.0, 0.5, 1.0, 1.0, 10, 40000
    x = sp.Symbol("x", positive=True)
    sde = ItoSDE([x], [sp.Symbol("mu") * x], [[sp.Symbol("sigma") * x]])
    sol = integrate(sde, x0, T, N, n_paths, parameters={"mu": mu, "sigma": sigma}, scheme=scheme, seed=11)
    xt = sol.final[:, 0]
    dt = T / N
    first = x0 * (1 + mu * dt) ** N
    per_step = (1 + mu * dt) ** 2 + sigma**2 * dt + (0.5 * sigma**4 * dt**2 if scheme == "milstein" else 0.0)
    second = x0**2 * per_step**N
    se1 = xt.std(ddof=1) / np.sqrt(n_paths)
    se2 = (xt**2).std(ddof=1) / np.sqrt(n_paths)
    assert abs(xt.mean() - first) < 5 * se1
    assert abs((xt**2).mean() - second) < 5 * se2
    # negative controls: the continuum-time moments are rejected by the same data
    assert abs(xt.mean() - x0 * np.exp(mu * T)) > 5 * se1
    assert abs((xt**2).mean() - x0**2 * np.exp((2 * mu + sigma**2) * T)) > 5 * se2


# --------------------------------------------------------------------------- OU stationary law

@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_ou_stationary_variance(scheme):
    """dX = −θX dt + σ dW has stationary variance σ²/(2θ).

    EM's own stationary variance is σ²/(θ(2 − θΔt)): relative bias θΔt/2 = 0.25 %, a quarter of
    the 1 % standard error of the sample variance of 20 000 independent paths; after T = 8 the
    initial condition x0 = 1 has decayed by e^{−θT} ≈ 3e−4. z-test at |z| < 4; negative control:
    the wrong variance σ²/θ is rejected (|z| > 10).
    """
    theta, sigma, T, N, n_paths = 1.0, 0.8, 8.0, 1600, 20000
    x = sp.Symbol("x", real=True)
    th, sg = sp.symbols("theta sigma", positive=True)
    sde = ItoSDE([x], [-th * x], [[sg]])
    sol = integrate(sde, 1.0, T, N, n_paths, parameters={th: theta, sg: sigma}, scheme=scheme, seed=3)
    xt = sol.final[:, 0]
    var = xt.var(ddof=1)
    # standard error of a sample variance from independent draws: sqrt((m4 − var²)/P)
    se = np.sqrt((np.mean((xt - xt.mean()) ** 4) - var**2) / n_paths)
    z_right = (var - sigma**2 / (2 * theta)) / se
    z_wrong = (var - sigma**2 / theta) / se
    assert abs(xt.mean() / (xt.std() / np.sqrt(n_paths))) < 4
    assert abs(z_right) < 4, z_right
    assert abs(z_wrong) > 10, z_wrong


# --------------------------------------------------------------------------- Wiener covariance

def test_wiener_covariance_cholesky_equivalence():
    """G with E dW dWᵀ = Q dt integrates like G·chol(Q) with independent increments."""
    xs = sp.symbols("x0:2", real=True)
    rho = sp.Symbol("rho", real=True)
    q = sp.Matrix([[1, rho], [rho, 2]])
    noise = sp.Matrix([[0.5 * xs[0], 0], [0, 0.3 * xs[1]]])
    drift = [-xs[0], 0.5 * xs[1]]
    with_q = ItoSDE(list(xs), drift, noise, wiener_covariance=q)
    lower = np.linalg.cholesky(np.array([[1.0, 0.4], [0.4, 2.0]]))
    explicit = ItoSDE(list(xs), drift, noise * sp.Matrix(lower))
    compiled = compile_sde(with_q, {"rho": 0.4})
    assert compiled.noise_type == "general"
    dw = brownian_increments(50, 300, 2, 0.02, seed=5)
    a = integrate(compiled, [1.0, 1.0], 1.0, 50, 300, brownian_increments=dw)
    b = integrate(explicit, [1.0, 1.0], 1.0, 50, 300, brownian_increments=dw)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-12, atol=1e-14)
    with pytest.raises(ParameterError, match="Lévy"):
        integrate(compiled, [1.0, 1.0], 1.0, 50, 300, brownian_increments=dw, scheme="milstein")


def test_wiener_covariance_sample_covariance():
    """dX = dW with E dW dWᵀ = Q dt: Cov X(T) = Q T (exact for EM); negative control Q = I."""
    xs = sp.symbols("x0:2", real=True)
    q = np.array([[1.0, -0.6], [-0.6, 0.5]])
    sde = ItoSDE(list(xs), [0, 0], sp.eye(2), wiener_covariance=sp.Matrix(q))
    n_paths, T = 40000, 2.0
    sol = integrate(sde, [0.0, 0.0], T, 4, n_paths, seed=8)
    xt = sol.final
    prod = xt[:, 0] * xt[:, 1]
    se = prod.std(ddof=1) / np.sqrt(n_paths)
    assert abs(prod.mean() - q[0, 1] * T) < 4 * se
    assert abs(prod.mean() - 0.0) > 10 * se


def test_milstein_diagonal_wiener_covariance_scales_noise():
    """Scalar GBM with Q = [[4]] is the GBM with σ → 2σ (Milstein correction included)."""
    x = sp.Symbol("x", positive=True)
    a = ItoSDE([x], [x], [[0.3 * x]], wiener_covariance=[[4]])
    b = ItoSDE([x], [x], [[0.6 * x]])
    dw = brownian_increments(64, 500, 1, 1 / 64, seed=2)
    sa = integrate(a, 1.0, 1.0, 64, 500, scheme="milstein", brownian_increments=dw)
    sb = integrate(b, 1.0, 1.0, 64, 500, scheme="milstein", brownian_increments=dw)
    np.testing.assert_allclose(sa.values, sb.values, rtol=1e-12)


# --------------------------------------------------------------------------- compilation

def test_compile_shapes_and_constant_broadcast():
    x, y = sp.symbols("x y", real=True)
    k = sp.Symbol("k", positive=True)
    sde = ItoSDE([x, y], [1, -k * y], [[sp.Rational(1, 2), 0], [0, y]])
    c = compile_sde(sde, {"k": 2.0})
    assert isinstance(c, CompiledSDE)
    assert (c.dimension, c.noise_dimension, c.noise_type) == (2, 2, "diagonal")
    state = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    np.testing.assert_array_equal(c.drift(0.0, state), [[1, -4], [1, -8], [1, -12]])
    g = c.noise(0.0, state)
    assert g.shape == (3, 2, 2)
    np.testing.assert_array_equal(g[:, 0, 0], 0.5)
    np.testing.assert_array_equal(g[:, 1, 1], state[:, 1])
    np.testing.assert_array_equal(g[:, 0, 1], 0.0)
    # g_i depends on x_i only (commutative diagonal noise); correction g_i ∂_i g_i = (0, y)
    np.testing.assert_array_equal(c.milstein_correction(0.0, state), [[0, 2], [0, 4], [0, 6]])
    assert c.milstein_correction(0.0, state).shape == (3, 2)


def test_compile_scalar_noise_milstein_correction():
    """m = 1, n = 2: c_i = Σ_k g_k ∂_k g_i."""
    x, y = sp.symbols("x y", real=True)
    sde = ItoSDE([x, y], [0, 0], sp.Matrix([[y], [x * y]]))
    c = compile_sde(sde)
    assert c.noise_type == "scalar"
    s = np.array([[2.0, 3.0]])
    # g = (y, xy): c_0 = g_1 ∂_y y = xy; c_1 = g_0 ∂_x(xy) + g_1 ∂_y(xy) = y² + x²y
    np.testing.assert_allclose(c.milstein_correction(0.0, s), [[6.0, 9.0 + 12.0]])


def test_time_dependent_drift():
    """dX = t dt (no noise): EM gives X_N = x0 + Σ_k t_k Δt exactly, t_k = t0 + kΔt."""
    x = sp.Symbol("x", real=True)
    t = sp.Symbol("t", nonnegative=True)
    sde = ItoSDE([x], [t], [[0]], time=t)
    t0, t1, N = 1.0, 3.0, 8
    sol = integrate(sde, 0.5, t1, N, 4, seed=0, t0=t0)
    dt = (t1 - t0) / N
    np.testing.assert_allclose(sol.final, 0.5 + sum(t0 + k * dt for k in range(N)) * dt)
    np.testing.assert_allclose(sol.times, [t0, t1])


def test_parameters_by_symbol_or_name_and_extra_keys_ignored():
    x = sp.Symbol("x", real=True)
    mu = sp.Symbol("mu", positive=True)
    sde = ItoSDE([x], [mu * x], [[0]])
    for params in ({mu: 2.0}, {"mu": 2.0}, {sp.Symbol("mu"): 2.0, "unused": 5.0}):
        c = compile_sde(sde, params)
        np.testing.assert_array_equal(c.drift(0.0, np.ones((2, 1))), 2.0)


# --------------------------------------------------------------------------- bad input

def _gbm():
    x = sp.Symbol("x", positive=True)
    mu, sigma = sp.symbols("mu sigma", positive=True)
    return ItoSDE([x], [mu * x], [[sigma * x]])


def test_missing_parameters_named():
    with pytest.raises(ParameterError, match="mu, sigma"):
        compile_sde(_gbm())
    with pytest.raises(ParameterError, match="sigma"):
        integrate(_gbm(), 1.0, 1.0, 10, 10, parameters={"mu": 1.0}, seed=0)


def test_bad_parameter_values():
    with pytest.raises(ParameterError, match="mu"):
        compile_sde(_gbm(), {"mu": float("nan"), "sigma": 1.0})
    with pytest.raises(ParameterError, match="state or time"):
        compile_sde(_gbm(), {"mu": 1.0, "sigma": 1.0, "x": 2.0})


def test_milstein_refuses_general_and_noncommutative_noise():
    xs = sp.symbols("x0:2", real=True)
    general = ItoSDE(list(xs), [0, 0], sp.Matrix([[xs[0], 1], [0, xs[1]]]))
    with pytest.raises(ParameterError, match="Lévy areas"):
        integrate(general, [1.0, 1.0], 1.0, 10, 10, scheme="milstein", seed=0)
    integrate(general, [1.0, 1.0], 1.0, 10, 10, scheme="euler_maruyama", seed=0)  # EM is fine
    noncommutative = ItoSDE(list(xs), [0, 0], sp.diag(xs[1], xs[0]))
    with pytest.raises(ParameterError, match="non-commutative"):
        integrate(noncommutative, [1.0, 1.0], 1.0, 10, 10, scheme=Milstein(), seed=0)


@pytest.mark.parametrize("kwargs,match", [
    (dict(t1=0.0), "t1 must be"),
    (dict(t1=-1.0), "t1 must be"),
    (dict(t1=float("inf")), "t1 must be"),
    (dict(n_steps=0), "n_steps must be an integer >= 1"),
    (dict(n_steps=2.5), "n_steps must be an integer >= 1"),
    (dict(n_paths=0), "n_paths must be an integer >= 1"),
    (dict(x0=[1.0, 2.0]), "x0 must be"),
    (dict(save_every=0), "save_every must be an integer >= 1"),
])
def test_invalid_arguments(kwargs, match):
    args = dict(x0=1.0, t1=1.0, n_steps=10, n_paths=5)
    args.update(kwargs)
    with pytest.raises(ParameterError, match=match):
        integrate(_gbm(), args["x0"], args["t1"], args["n_steps"], args["n_paths"],
                  parameters={"mu": 1.0, "sigma": 1.0}, seed=0,
                  **{k: v for k, v in args.items() if k not in ("x0", "t1", "n_steps", "n_paths")})


def test_invalid_increments_scheme_and_calculus():
    c = compile_sde(_gbm(), {"mu": 1.0, "sigma": 1.0})
    shape_msg = r"brownian_increments must have shape \(n_steps, n_paths, m\) = \(10, 5, 1\)"
    with pytest.raises(ParameterError, match=shape_msg):
        integrate(c, 1.0, 1.0, 10, 5, brownian_increments=np.zeros((10, 4, 1)))
    with pytest.raises(ParameterError, match="either seed or brownian_increments"):
        integrate(c, 1.0, 1.0, 10, 5, brownian_increments=np.zeros((10, 5, 1)), seed=1)
    with pytest.raises(UnknownNameError, match="milstein"):
        integrate(c, 1.0, 1.0, 10, 5, scheme="milstien")
    with pytest.raises(ParameterError, match="to_ito"):
        compile_sde(_gbm().to_stratonovich(), {"mu": 1.0, "sigma": 1.0})
    with pytest.raises(ParameterError, match="divisible"):
        coarsen_increments(np.zeros((9, 2, 1)))
    with pytest.raises(ParameterError, match="seed"):
        integrate(c, 1.0, 1.0, 10, 5, seed=-1)


def test_divergence_names_step():
    x = sp.Symbol("x", real=True)
    blowup = ItoSDE([x], [x**2], [[0.1 * x]])  # dX = X² dt explodes at t = 1 from X0 = 1
    with pytest.raises(DivergenceError, match=r"diverged at step \d+ of 100 \(t = ") as info:
        integrate(blowup, 1.0, 10.0, 100, 50, seed=0, save_every=5)
    err = info.value
    assert isinstance(err, SgdNoiseError) and isinstance(err, FloatingPointError)
    assert f"step {err.step} of 100" in str(err)
    # what was saved before the divergence is kept, all finite
    assert err.partial.values.shape[0] == len(err.partial.times) == (err.step - 1) // 5 + 1
    assert np.isfinite(err.partial.values).all()
    negative = ItoSDE([x], [-1], [[sp.sqrt(x)]])  # sqrt of a negative state → nan
    with pytest.raises(DivergenceError, match="step"):
        integrate(negative, 0.5, 2.0, 4, 10, seed=0)


# --------------------------------------------------------------------------- reproducibility, saving, API

def test_reproducibility():
    c = compile_sde(_gbm(), {"mu": 1.0, "sigma": 0.5})
    a = integrate(c, 1.0, 1.0, 20, 100, seed=42, save_every=1)
    b = integrate(c, 1.0, 1.0, 20, 100, seed=42, save_every=1)
    d = integrate(c, 1.0, 1.0, 20, 100, seed=43, save_every=1)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.array_equal(a.values[1:], d.values[1:])
    ss = np.random.SeedSequence(1234)
    e = integrate(c, 1.0, 1.0, 20, 100, seed=ss, scheme="milstein")
    f = integrate(c, 1.0, 1.0, 20, 100, seed=np.random.SeedSequence(1234), scheme="milstein")
    np.testing.assert_array_equal(e.values, f.values)
    # the seed's stream is exactly brownian_increments(..., seed)
    g = integrate(c, 1.0, 1.0, 20, 100, brownian_increments=brownian_increments(20, 100, 1, 0.05, seed=42),
                  save_every=1)
    np.testing.assert_array_equal(a.values, g.values)


def test_save_every_and_solution_shape():
    c = compile_sde(_gbm(), {"mu": 1.0, "sigma": 0.5})
    full = integrate(c, [1.0], 1.0, 10, 7, seed=1, save_every=1)
    part = integrate(c, np.ones((7, 1)), 1.0, 10, 7, seed=1, save_every=3)
    default = integrate(c, 1.0, 1.0, 10, 7, seed=1)
    assert isinstance(full, SDESolution)
    assert full.values.shape == (11, 7, 1)
    np.testing.assert_allclose(part.times, [0.0, 0.3, 0.6, 0.9, 1.0])
    np.testing.assert_array_equal(part.values, full.values[[0, 3, 6, 9, 10]])
    assert default.values.shape == (2, 7, 1)
    np.testing.assert_array_equal(default.final, full.final)


def test_coarsen_keeps_endpoint():
    dw = brownian_increments(16, 3, 2, 1 / 16, seed=0)
    coarse = coarsen_increments(coarsen_increments(dw))
    assert coarse.shape == (4, 3, 2)
    np.testing.assert_allclose(coarse.sum(axis=0), dw.sum(axis=0))
    np.testing.assert_allclose(coarse[0], dw[:4].sum(axis=0))


def test_scheme_attributes():
    assert EulerMaruyama.calculus == Milstein.calculus == "ito"
    assert (EulerMaruyama.strong_order, EulerMaruyama.weak_order) == (0.5, 1.0)
    assert (Milstein.strong_order, Milstein.weak_order) == (1.0, 1.0)
    assert EulerMaruyama.noise_types == {"scalar", "diagonal", "general"}
    assert Milstein.noise_types == {"scalar", "diagonal"}


def test_tamed_scheme_survives_a_superlinear_drift_that_breaks_euler_maruyama():
    """dX = −X³ dt + X dW from X₀ = 10, Δt = 0.1: Euler–Maruyama overshoots (10 − 100 → −90, then worse) and
    diverges; the tamed drift increment is bounded by one per step, and the ensemble relaxes to O(1) values."""
    x = sp.Symbol("x", real=True)
    sde = ItoSDE([x], [-x ** 3], sp.Matrix([[x]]))
    with pytest.raises(DivergenceError):
        integrate(sde, 10.0, 20.0, 200, 100, seed=1)
    sol = integrate(sde, 10.0, 20.0, 200, 100, seed=1, scheme="tamed_euler_maruyama")
    assert np.all(np.isfinite(sol.final)) and np.abs(sol.final).max() < 5


@pytest.mark.parametrize("scheme", [TamedEulerMaruyama, AdaptiveEulerMaruyama])
def test_tamed_and_adaptive_strong_and_weak_order_on_a_relaxing_gbm(scheme):
    """dX = −X dt + 0.8 X dW (exact: X₀ exp(−1.32 t + 0.8 W_t)). The taming changes a step by Δt²|a|², so its
    orders are those of Euler–Maruyama (0.5 strong, 1 weak) once Δt|a| ≪ 1 — true here, unlike on the growing
    GBMs of the grid above (|a| up to ~10 there: pre-asymptotic slopes 0.6 and 0.8 over the same Δt range).
    The adaptive scheme refines only paths far from O(1) values here (0.8|x|√Δt > ρ(1 + |x|))."""
    x = sp.Symbol("x", real=True)
    sde = compile_sde(ItoSDE([x], [-x], sp.Matrix([[sp.Rational(4, 5) * x]])))
    T, n_paths, levels = 1.0, 20000, [16, 32, 64, 128, 256, 512]
    dw = brownian_increments(levels[-1], n_paths, 1, T / levels[-1], seed=7)
    exact = np.exp(-1.32 * T + 0.8 * dw.sum(axis=0))
    strong, weak, dts = [], [], []
    for n in levels:
        inc = coarsen_increments(dw, levels[-1] // n) if n < levels[-1] else dw
        sol = integrate(sde, 1.0, T, n, n_paths, brownian_increments=inc, scheme=scheme.name,
                        seed=3 if scheme.refines else None)
        dts.append(T / n)
        diff = sol.final - exact  # the exact solution on the same path: control variate for the weak error
        strong.append(np.sqrt(np.mean(diff ** 2)))
        weak.append(abs(diff.mean()))
        assert weak[-1] > 5 * diff.std(ddof=1) / np.sqrt(n_paths) or n > 64, "bias must dominate noise in the fit"
    assert abs(fit_order(dts, strong) - scheme.strong_order) < ORDER_TOL
    assert abs(fit_order(dts[:4], weak[:4]) - scheme.weak_order) < WEAK_ORDER_TOL


def test_adaptive_scheme_equals_euler_maruyama_where_nothing_is_refined():
    """A well-resolved OU ensemble: no step is refined, so the adaptive scheme is Euler–Maruyama bit for bit
    (its bridge draws come from a child stream and leave the increments alone)."""
    x = sp.Symbol("x", real=True)
    sde = compile_sde(ItoSDE([x], [-x], sp.Matrix([[sp.Rational(1, 2)]])))
    em = integrate(sde, 1.0, 2.0, 200, 500, seed=9, save_every=20)
    adaptive = integrate(sde, 1.0, 2.0, 200, 500, seed=9, save_every=20, scheme="adaptive_euler_maruyama")
    np.testing.assert_array_equal(em.values, adaptive.values)


def test_adaptive_refinement_follows_the_given_brownian_path():
    """GBM dX = −X dt + 0.8 X dW on given increments of a coarse grid (Δt = 1/8). With ρ = 0.02 every step is
    split into ~2⁵ bridge-refined substeps, so the strong error against the exact solution on the *same* path must
    fall to that of Euler–Maruyama on a grid ≥ 8× finer; a bridge with the wrong conditional law (e.g. fresh
    increments, ignoring ΔW) would leave an O(1) error instead. Control: Euler–Maruyama at the coarse Δt is ≥ 3×
    worse than the refined scheme."""
    x = sp.Symbol("x", real=True)
    sde = compile_sde(ItoSDE([x], [-x], sp.Matrix([[sp.Rational(4, 5) * x]])))
    n_paths, n_fine = 4000, 64
    fine = brownian_increments(n_fine, n_paths, 1, 1.0 / n_fine, seed=21)
    exact = np.exp(-1.32 + 0.8 * fine.sum(axis=0))
    coarse = coarsen_increments(fine, 8)

    def error(sol):
        return np.sqrt(np.mean((sol.final - exact) ** 2))

    refined = error(integrate(sde, 1.0, 1.0, 8, n_paths, brownian_increments=coarse, seed=4,
                              scheme=AdaptiveEulerMaruyama(rho=0.02)))
    em_fine = error(integrate(sde, 1.0, 1.0, n_fine, n_paths, brownian_increments=fine))
    em_coarse = error(integrate(sde, 1.0, 1.0, 8, n_paths, brownian_increments=coarse))
    assert refined < em_fine and em_coarse > 3 * refined, (refined, em_fine, em_coarse)


def test_adaptive_scheme_samples_the_stationary_law_of_a_superlinear_noise_sde():
    """dX = −X(1 + X²) dt + (1 + X²) dW: drift and noise both superlinear. Zero-flux Fokker–Planck (Itô):
    p ∝ g⁻² exp(∫2a/g²) = (1 + x²)⁻³, a Student t with ν = 5 and scale 1/√5. Euler–Maruyama (Δt = 0.01) blows
    up on rare large kicks; the adaptive scheme's ensemble at t = 8 (relaxation time ~1) passes a KS test
    against the t law at α = 10⁻³ (the false-failure probability; the Δt bias is below the resolution of 4000
    paths). Negative control: the density without the 1/g² prefactor, (1 + x²)⁻¹ (Cauchy), is rejected."""
    x = sp.Symbol("x", real=True)
    sde = compile_sde(ItoSDE([x], [-x * (1 + x ** 2)], sp.Matrix([[1 + x ** 2]])))
    with pytest.raises(DivergenceError, match="euler_maruyama diverged"):
        integrate(sde, 0.0, 8.0, 800, 4000, seed=5)
    xt = integrate(sde, 0.0, 8.0, 800, 4000, seed=5, scheme="adaptive_euler_maruyama").final[:, 0]
    assert stats.kstest(xt, stats.t(df=5, scale=1 / np.sqrt(5)).cdf).pvalue > 1e-3
    assert stats.kstest(xt, stats.cauchy.cdf).pvalue < 1e-3


def test_adaptive_scheme_reports_an_exploding_solution():
    """dX = X² dW... with drift X³ explodes in finite time: the refinement budget runs out and the error says so
    (step, time, partial solution) instead of refining forever."""
    x = sp.Symbol("x", real=True)
    sde = ItoSDE([x], [x ** 3], sp.Matrix([[x ** 2]]))
    with pytest.raises(DivergenceError, match="adaptive_euler_maruyama diverged at step .*halvings") as info:
        integrate(sde, 1.0, 2.0, 20, 10, seed=1, save_every=1,
                  scheme=AdaptiveEulerMaruyama(max_halvings=30, max_substeps=10_000))
    assert info.value.step >= 1 and info.value.partial.values.shape[1:] == (10, 1)


def test_adaptive_substep_budget_is_per_path():
    """dX = dW from 0 with dt = 0.1, rho = 0.25: sqrt(0.1) > 0.25 >= sqrt(0.05), so every path halves each step once
    (2 substeps). A budget of 3 substeps per path holds for any ensemble size; a budget of 1 is exceeded. The two
    halves' increments add up to the step's, so X(t) is Euler–Maruyama's sum of the same increments."""
    x = sp.Symbol("x", real=True)
    sde = ItoSDE([x], [sp.Integer(0)], sp.Matrix([[1]]))
    run = dict(x0=0.0, t1=0.3, n_steps=3, n_paths=5000, seed=2)
    sol = integrate(sde, scheme=AdaptiveEulerMaruyama(max_substeps=3), **run)
    np.testing.assert_allclose(sol.values, integrate(sde, scheme="euler_maruyama", **run).values, rtol=0, atol=1e-14)
    with pytest.raises(DivergenceError, match="max_substeps = 1 substeps"):
        integrate(sde, scheme=AdaptiveEulerMaruyama(max_substeps=1), **run)


@pytest.mark.parametrize("kwargs", [dict(rho=0), dict(rho=float("nan")), dict(rho=True), dict(max_halvings=-1),
                                    dict(max_substeps=0)])
def test_adaptive_scheme_validates_its_parameters(kwargs):
    with pytest.raises(ParameterError):
        AdaptiveEulerMaruyama(**kwargs)
