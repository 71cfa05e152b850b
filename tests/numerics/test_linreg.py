"""numerics.models.linreg: numbers from the least-squares derivations, solvers, stability, bad input."""

import numpy as np
import pytest
import sympy as sp

from derivations.linreg import finite_sample_noise_covariance
from numerics.errors import ParameterError, UnstableLearningRateError
from numerics.models.linreg import (
    SecondMomentOperator, discrete_stationary_covariance, hessian, max_stable_eta, minibatch_scale,
    noise_covariance, second_moment_spectral_radius, stationary_covariance,
)


def data(P, N, seed=0, noise=0.5):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((P, N))
    return X, X @ rng.standard_normal(N) / np.sqrt(N) + noise * rng.standard_normal(P)


def test_noise_covariance_matches_the_symbolic_finite_sample_form_exactly():
    rng = np.random.default_rng(1)
    Xr = sp.Matrix(5, 2, lambda i, j: sp.Rational(int(rng.integers(-9, 10)), 4))
    yr = sp.Matrix(5, 1, lambda i, j: sp.Rational(int(rng.integers(-9, 10)), 3))
    wr = sp.Matrix([sp.Rational(1, 2), sp.Rational(-2, 3)])
    exact = np.array(finite_sample_noise_covariance(Xr, yr, wr), dtype=float)
    numeric = noise_covariance(np.array(Xr, dtype=float), np.array(yr, dtype=float).ravel(), np.array(wr, dtype=float).ravel())
    np.testing.assert_allclose(numeric, exact, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("sampling", ["with_replacement", "without_replacement"])
def test_dense_and_iterative_solvers_agree_and_solve_the_equation(sampling):
    X, y = data(40, 12, seed=2)
    eta = 0.5 * max_stable_eta(X, 4, sampling)
    dense = discrete_stationary_covariance(X, y, eta, 4, sampling, method="dense")
    iterative = discrete_stationary_covariance(X, y, eta, 4, sampling, method="iterative")
    np.testing.assert_allclose(iterative, dense, rtol=1e-8, atol=1e-12 * np.abs(dense).max())
    op = SecondMomentOperator(X, eta, minibatch_scale(4, sampling, 40))
    rhs = eta ** 2 * minibatch_scale(4, sampling, 40) * noise_covariance(X, y)
    np.testing.assert_allclose(op.apply(dense), rhs, atol=1e-12 * np.abs(rhs).max())


def test_exact_and_continuum_agree_to_first_order_in_eta():
    X, y = data(30, 4, seed=3)
    errors = []
    for eta in (0.04, 0.02, 0.01):
        exact = stationary_covariance(X, y, eta, 2)
        continuum = stationary_covariance(X, y, eta, 2, exact=False)
        errors.append(np.abs(exact - continuum).max() / np.abs(exact).max())
    ratios = np.array(errors) / np.array([0.04, 0.02, 0.01])
    assert ratios.max() / ratios.min() < 1.2  # relative error ∝ η


def test_stability_bound_is_where_the_spectral_radius_crosses_one():
    X, y = data(20, 3, seed=5)
    bound = max_stable_eta(X, 2)
    assert bound < 2 / np.linalg.eigvalsh(hessian(X))[-1]
    assert second_moment_spectral_radius(X, 0.98 * bound, 2) < 1 < second_moment_spectral_radius(X, 1.02 * bound, 2)
    with pytest.raises(UnstableLearningRateError, match="stable for eta <"):
        discrete_stationary_covariance(X, y, 1.05 * bound, 2)
    assert isinstance(UnstableLearningRateError("x"), ValueError)


def test_large_problem_uses_the_matrix_free_solver():
    X, y = data(200, 60, seed=6)
    eta = 0.3 / np.linalg.eigvalsh(hessian(X))[-1]
    S = discrete_stationary_covariance(X, y, eta, 8, check_stability=False)
    assert S.shape == (60, 60) and np.allclose(S, S.T)
    assert np.linalg.eigvalsh(S)[0] > 0


@pytest.mark.parametrize("X, y, kwargs, match", [
    (np.ones((4, 3)), np.ones(4), {}, "rank"),
    (np.ones((4, 3)), np.ones(5), {}, "shape|must be"),
    (np.eye(3), np.ones(3), dict(batch_size=4), "batch_size"),
    (np.eye(3), np.ones(3), dict(eta=-0.1), "eta"),
    (np.eye(3), np.ones(3), dict(sampling="epoch"), "sampling"),
    (np.array([[np.nan, 1.0], [1.0, 0.0]]), np.ones(2), {}, "finite"),
])
@pytest.mark.parametrize("exact", [True, False])
def test_bad_input_is_refused_clearly(X, y, kwargs, match, exact):
    args = dict(eta=0.1, batch_size=1)
    args.update(kwargs)
    with pytest.raises(ParameterError, match=match):
        stationary_covariance(X, y, exact=exact, **args)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(P=st.integers(1, 8), N=st.integers(1, 4), B=st.integers(-1, 9), eta=st.one_of(st.floats(-1, 3), st.just(float("nan")), st.just(float("inf"))),
       data=st.data())
def test_fuzz_stationary_covariance_returns_psd_or_raises_parameter_error(P, N, B, eta, data):
    X = data.draw(arrays(float, (P, N), elements=st.floats(-3, 3, allow_nan=False)))
    y = data.draw(arrays(float, (P,), elements=st.floats(-3, 3, allow_nan=False)))
    for exact in (True, False):
        try:
            S = stationary_covariance(X, y, eta, B, exact=exact)
        except ParameterError:
            continue
        assert np.isfinite(S).all() and np.allclose(S, S.T)
        assert np.linalg.eigvalsh(S)[0] >= -1e-9 * max(1.0, np.abs(S).max())


def test_max_stable_eta_brackets_its_root_on_a_large_problem():
    """Regression: N = 64 uses the iterative eigensolver; the bracket must not start at a tiny η."""
    X, y = data(256, 64, seed=8)
    bound = max_stable_eta(X, 16)
    assert 0 < bound < 2 / np.linalg.eigvalsh(hessian(X))[-1]
    with pytest.raises(UnstableLearningRateError, match="stable for eta <"):
        discrete_stationary_covariance(X, y, 1.2 * bound, 16)


def test_max_stable_eta_refuses_data_whose_square_underflows():
    """Regression (found by hypothesis): X ~ 1e-229 made scale**2 underflow to 0 (ZeroDivisionError)."""
    with pytest.raises(ParameterError, match="too small"):
        max_stable_eta(np.array([[6.63499313e-229]]), 1)
