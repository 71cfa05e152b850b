"""Isserlis moments, Gaussian expectations, per-sample-gradient noise covariance, minibatch scales."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from derivations.errors import ParameterError
from derivations.calculus.gaussian import gaussian_expectation, isserlis_moment, noise_covariance


def is_zero(expr) -> bool:
    return sp.simplify(expr) == 0


def symmetric_cov(n: int) -> sp.Matrix:
    return sp.Matrix(n, n, lambda i, j: sp.Symbol(f"S{min(i, j) + 1}{max(i, j) + 1}", real=True))


# --------------------------------------------------------------------------- Isserlis
def test_fourth_moment_is_the_sum_over_the_three_pairings():
    S = symmetric_cov(4)
    m = isserlis_moment((0, 1, 2, 3), S)
    expected = S[0, 1] * S[2, 3] + S[0, 2] * S[1, 3] + S[0, 3] * S[1, 2]
    assert is_zero(m - expected)
    assert isserlis_moment((0, 1, 2), S) == 0  # odd moments vanish


def test_moments_of_a_scalar_gaussian():
    s = sp.Symbol("s", positive=True)
    assert is_zero(isserlis_moment([0] * 6, sp.Matrix([[s ** 2]])) - 15 * s ** 6)
    assert is_zero(isserlis_moment([0] * 6, s ** 2) - 15 * s ** 6)  # a scalar variance is accepted
    assert isserlis_moment([0] * 4, sp.eye(1)) == 3  # whitened: E x⁴ = 3
    assert isserlis_moment([0] * 8, sp.eye(3)) == 105  # 7!!
    assert isserlis_moment([0, 0, 1, 1, 2, 2], sp.eye(3)) == 1
    assert isserlis_moment([], sp.eye(2)) == 1


def test_repeated_indices_with_a_correlated_covariance():
    S = symmetric_cov(2)
    # E[x1² x2²] = S11 S22 + 2 S12²
    assert is_zero(isserlis_moment((0, 0, 1, 1), S) - (S[0, 0] * S[1, 1] + 2 * S[0, 1] ** 2))
    # E[x1³ x2] = 3 S11 S12
    assert is_zero(isserlis_moment((0, 0, 0, 1), S) - 3 * S[0, 0] * S[0, 1])


def test_isserlis_matches_brute_force_matchings_and_monte_carlo():
    cov = sp.Matrix([[2, 1, 0], [1, 3, 1], [0, 1, 1]])

    def matchings(items):
        if not items:
            yield []
            return
        first, rest = items[0], items[1:]
        for k in range(len(rest)):
            for m in matchings(rest[:k] + rest[k + 1:]):
                yield [(first, rest[k])] + m

    for idx in [(0, 1, 1, 2), (0, 0, 2, 2, 1, 1), (2, 2, 2, 2)]:
        brute = sum(sp.Mul(*[cov[idx[a], idx[b]] for a, b in m]) for m in matchings(list(range(len(idx)))))
        assert isserlis_moment(idx, cov) == brute
    rng = np.random.default_rng(1)
    z = rng.multivariate_normal(np.zeros(3), np.array(cov, dtype=float), size=400_000)
    mc = np.mean(z[:, 0] * z[:, 1] ** 2 * z[:, 2])
    assert float(isserlis_moment((0, 1, 1, 2), cov)) == pytest.approx(mc, abs=0.1)


def test_isserlis_validation():
    with pytest.raises(ParameterError):
        isserlis_moment((0, 2), sp.eye(2))
    with pytest.raises(ParameterError):
        isserlis_moment((0, 1), sp.Matrix([[1, 2], [0, 1]]))  # not symmetric
    with pytest.raises(ParameterError):
        isserlis_moment((0,), sp.Matrix([[1, 2, 3]]))  # not square


# --------------------------------------------------------------------------- expectations
def test_gaussian_expectation_with_nonzero_mean():
    x, y = sp.symbols("x y", real=True)
    m, s = sp.symbols("m s", real=True)
    # x ~ N(m, s²): E[x²] = m² + s², E[x³] = m³ + 3ms², E[x⁴] = m⁴ + 6m²s² + 3s⁴
    assert is_zero(gaussian_expectation(x ** 2, [x], [m], sp.Matrix([[s ** 2]])) - (m ** 2 + s ** 2))
    assert is_zero(gaussian_expectation(x ** 3, [x], [m], s ** 2) - (m ** 3 + 3 * m * s ** 2))
    assert is_zero(gaussian_expectation(x ** 4, x, m, s ** 2) - (m ** 4 + 6 * m ** 2 * s ** 2 + 3 * s ** 4))
    # bivariate with correlation ρ and parameters in the polynomial
    rho, a = sp.symbols("rho a", real=True)
    cov = sp.Matrix([[1, rho], [rho, 1]])
    e = gaussian_expectation(a * x * y + x ** 2 * y ** 2, [x, y], [1, 2], cov)
    # E[xy] = ρ + 2; E[x²y²] = E[x²]E[y²] + 2 Cov(x,y)² + 4·μxμy·ρ  with E[x²] = 2, E[y²] = 5
    expected = a * (rho + 2) + (2 * 5 + 2 * rho ** 2 + 4 * 1 * 2 * rho)
    assert is_zero(e - expected)
    assert gaussian_expectation(a + 3, [x]) == a + 3  # constants pass through


def test_gaussian_expectation_of_a_matrix_and_errors():
    x1, x2 = sp.symbols("x1 x2", real=True)
    X = sp.Matrix([x1, x2])
    assert gaussian_expectation(X * X.T, [x1, x2]) == sp.eye(2)
    with pytest.raises(ParameterError, match="polynomial"):
        gaussian_expectation(sp.exp(x1), [x1])
    with pytest.raises(ParameterError, match="polynomial"):
        gaussian_expectation(1 / (1 + x1 ** 2), [x1])
    with pytest.raises(ParameterError):
        gaussian_expectation(x1, [x1, x2], mean=[0])
    with pytest.raises(ParameterError):
        gaussian_expectation(x1, [x1, x1])


# --------------------------------------------------------------------------- noise covariance
def test_least_squares_noise_covariance():
    x1, x2, eps = sp.symbols("x1 x2 epsilon", real=True)
    d1, d2 = sp.symbols("delta1 delta2", real=True)
    sigma = sp.Symbol("sigma", positive=True)
    x = sp.Matrix([x1, x2])
    delta = sp.Matrix([d1, d2])
    g = x * ((x.T * delta)[0] - eps)  # per-sample gradient of ½(xᵀw − y)², y = xᵀw* + ε, δ = w − w*
    C = noise_covariance(g, [x1, x2, eps], cov=sp.diag(1, 1, sigma ** 2))
    expected = delta * delta.T + ((delta.T * delta)[0] + sigma ** 2) * sp.eye(2)
    assert (C - expected).applyfunc(sp.simplify) == sp.zeros(2, 2)
    assert C.is_symmetric()


def test_noise_covariance_with_mean_and_scalar_gradient():
    x = sp.Symbol("x", real=True)
    m = sp.Symbol("m", real=True)
    C = noise_covariance(x ** 2, [x], [m], 1)  # Var[x²] for x ~ N(m, 1) = 4m² + 2
    assert C.shape == (1, 1) and is_zero(C[0, 0] - (4 * m ** 2 + 2))
    with pytest.raises(ParameterError):
        noise_covariance(sp.Matrix([[x, x], [x, x]]), [x])


# --------------------------------------------------------------------------- minibatch scale
