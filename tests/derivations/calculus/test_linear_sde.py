"""Symbolic Lyapunov solutions against scipy and against the textbook OU variance."""

import numpy as np
import pytest
import scipy.linalg
import sympy as sp

from derivations.errors import ParameterError
from derivations.calculus.linear_sde import lyapunov_solve, ou_stationary_covariance


def test_scalar_ou_variance_is_sigma_squared_over_two_theta():
    theta, sigma = sp.symbols("theta sigma", positive=True)
    var = ou_stationary_covariance(sp.Matrix([[theta]]), sp.Matrix([[sigma]]))[0, 0]
    assert sp.simplify(var - sigma ** 2 / (2 * theta)) == 0


def test_symbolic_lyapunov_matches_scipy_at_rational_points():
    rng = np.random.default_rng(4)
    for _ in range(3):
        A = sp.Matrix(3, 3, lambda i, j: sp.Rational(int(rng.integers(-3, 4)), 4) + (3 if i == j else 0))
        G = sp.Matrix(3, 2, lambda i, j: sp.Rational(int(rng.integers(-4, 5)), 3))
        Q = G * G.T
        S = lyapunov_solve(A, Q)
        assert (A * S + S * A.T - Q).applyfunc(sp.simplify) == sp.zeros(3)
        numeric = scipy.linalg.solve_continuous_lyapunov(np.array(A, dtype=float), np.array(Q, dtype=float))
        np.testing.assert_allclose(np.array(S, dtype=float), numeric, rtol=1e-12, atol=1e-14)


def test_singular_drift_has_no_unique_solution():
    with pytest.raises(ParameterError, match="unique"):
        lyapunov_solve(sp.Matrix([[1, 0], [0, 0]]), sp.eye(2))
