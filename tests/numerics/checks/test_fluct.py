"""fluct checks: each passes at its quick settings with its negative controls rejected; helper formulas."""

import numpy as np
import sympy as sp

from derivations.fluct import explicit_label_noise_average, sigma
from numerics.checks.fluct import leverage_noise_covariance
from numerics.models.noise_curvature import best_multiple_error, commutator_measure


def test_leverage_formula_matches_the_symbolic_label_noise_average():
    X = sp.Matrix([[1, 2], [-1, sp.Rational(1, 2)], [3, -2], [sp.Rational(2, 3), 1]])
    EC, _ = explicit_label_noise_average(X)
    exact = np.array(EC.subs(sigma, sp.Rational(1, 2)), dtype=float)
    np.testing.assert_allclose(leverage_noise_covariance(np.array(X, dtype=float), 0.5), exact, rtol=1e-12)


def test_detailed_balance_measures_vanish_exactly_when_expected():
    H = np.diag([1.0, 2.0, 3.0])
    assert commutator_measure(H, np.diag([3.0, 1.0, 2.0])) == 0
    assert best_multiple_error(0.7 * H, H) < 1e-15
    assert commutator_measure(H, np.ones((3, 3))) > 0.1
