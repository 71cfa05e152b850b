"""derivations.calculus.gaussian_integral: exact parts stay exact, the rest is a displayed integral whose number
comes with an error estimate that bounds the true error, and a missed accuracy is refused."""

import mpmath
import numpy as np
import pytest
import sympy as sp

from derivations.calculus.gaussian_integral import evaluate, expectation
from derivations.errors import ParameterError, QuadratureError

x1, x2, eps, w = sp.symbols("x1 x2 epsilon w", real=True)
sigma = sp.Symbol("sigma", positive=True)


def test_polynomial_expectations_are_exact_isserlis():
    out = expectation(x1 ** 4 * eps ** 2, [x1, eps], [0, 0], sp.diag(1, sigma ** 2))
    assert not out.has(sp.Integral) and sp.simplify(out - 3 * sigma ** 2) == 0


def test_polynomial_directions_are_integrated_exactly_and_the_rest_is_shown_as_an_integral():
    # E[(tanh(w x) − ε)²] = E tanh²(w x) + σ²: ε leaves exactly, x stays as one integral over ℝ
    out = expectation((sp.tanh(w * x1) - eps) ** 2, [x1, eps], [0, 0], sp.diag(1, sigma ** 2))
    integrals = out.atoms(sp.Integral)
    assert len(integrals) == 1 and sp.simplify(out - sigma ** 2 - integrals.pop()) == 0
    assert "\\int" in sp.latex(out)
    value = evaluate(out, {w: sp.Rational(7, 10), sigma: sp.Rational(1, 2)})
    mpmath.mp.dps = 30
    exact = mpmath.quad(lambda t: mpmath.npdf(t) * mpmath.tanh(mpmath.mpf(7) / 10 * t) ** 2, [-mpmath.inf, 0, mpmath.inf])
    exact += mpmath.mpf(1) / 4
    assert abs(float(value) - float(exact)) <= value.error <= 1e-9


@pytest.mark.parametrize("rho", [0, sp.Rational(3, 5), -sp.Rational(9, 10)])
def test_correlated_inputs_two_dimensional_cubature_against_a_closed_form(rho):
    # E exp(aᵀx) = exp(aᵀΣa/2) for x ~ N(μ, Σ) (times e^{aᵀμ}): non-polynomial in both directions
    cov, mean = sp.Matrix([[1, rho], [rho, 2]]), sp.Matrix([sp.Rational(1, 3), -1])
    a = sp.Matrix([sp.Rational(1, 2), -sp.Rational(1, 4)])
    out = expectation(sp.exp(a[0] * x1 + a[1] * x2), [x1, x2], mean, cov)
    exact = sp.exp((a.T * mean)[0] + (a.T * cov * a)[0] / 2)
    value = evaluate(out, rtol=1e-9)
    assert value.integrals == 1 and value.method == "cubature"
    true_error = abs(float(value) - float(sp.N(exact, 30)))
    assert true_error <= value.error <= 1e-8


def test_matrix_expression_propagates_errors_to_first_order():
    m = expectation(sp.Matrix([sp.tanh(x1) ** 2, sp.exp(x1 / 3)]), [x1], [0], [[1]])
    value = evaluate(sp.Matrix([m[0] - m[1] ** 2, 2 * m[1]]))
    assert value.value.shape == (2, 1) and value.integrals == 2
    assert abs(value.value[1, 0] - 2 * np.exp(1 / 18)) <= value.error[1, 0] <= 1e-9


def test_a_missed_accuracy_is_refused_with_its_own_error():
    out = expectation(sp.Heaviside(x1 - sp.Rational(1, 3)) * sp.sin(40 * x1), [x1], [0], [[1]])
    with pytest.raises(QuadratureError, match="did not reach"):
        evaluate(out, rtol=1e-12, atol=1e-15, max_subdivisions=3)
    with pytest.raises(ParameterError, match="numeric values"):
        evaluate(expectation(sp.tanh(w * x1), [x1], [0], [[1]]))
    with pytest.raises(ParameterError, match="rtol"):
        evaluate(out, rtol=0)


def test_overflowing_factors_where_the_gaussian_weight_vanishes_are_harmless():
    # e^{wx}/(1 + e^{wx}) is inf/inf for x ≳ 700/w; the weight is 0 there
    out = expectation(x1 * sp.exp(3 * x1) / (1 + sp.exp(3 * x1)), [x1], [0], [[1]])
    value = evaluate(out)
    assert np.isfinite(value.value) and value.error < 1e-10


@pytest.mark.parametrize("weight, teacher", [(40, 5), (1, 200)])
def test_logistic_regression_where_a_factor_overflows_double_precision_matches_mpmath(weight, teacher):
    # e^{uz}/(e^{uz} + 1) is inf/inf at uz ≳ 710 while φ(z) has not underflowed (|u| ≳ 20): those points are
    # evaluated again in mpmath, not refused as "not finite"
    from derivations.model import SGDModel

    wv, xv, yv = sp.symbols("w x y", real=True)
    s = sp.Symbol("s", positive=True)
    model = SGDModel(sp.log(1 + sp.exp(-yv * wv * xv)), wv, xv, target=yv, teacher=s * xv, labels="bernoulli",
                     fallback="quadrature")
    value = model.evaluate(model.mean_gradient, {"w": weight, "s": teacher})
    mpmath.mp.dps = 30
    W, S = mpmath.mpf(weight), mpmath.mpf(teacher)
    sg = lambda u: 1 / (1 + mpmath.exp(-u))  # noqa: E731
    g = lambda z, y: -y * z * sg(-y * W * z)  # noqa: E731
    points = sorted({-mpmath.inf, 0, mpmath.inf, *(k / W for k in (-3, 3)), *(k / S for k in (-3, 3))})
    exact = mpmath.quad(lambda z: (sg(S * z) * g(z, 1) + (1 - sg(S * z)) * g(z, -1)) * mpmath.npdf(z), points)
    mpmath.mp.dps = 15
    err = abs(float(value.value[0, 0]) - float(exact))
    assert err <= max(float(value.error[0, 0]), 1e-15) and err < 1e-10


def test_an_integrand_that_is_not_finite_in_mpmath_either_raises():
    # √(x − 1) is nan in numpy and imaginary in mpmath for x < 1: no real integrand, refused
    with pytest.raises(QuadratureError, match="not finite"):
        evaluate(sp.Integral(sp.sqrt(x1 - 1) * sp.exp(-x1 ** 2 / 2), (x1, -sp.oo, sp.oo)))


def test_an_rtol_finer_than_double_precision_is_refused():
    integral = sp.Integral(sp.tanh(x1) ** 2 * sp.exp(-x1 ** 2 / 2), (x1, -sp.oo, sp.oo))
    with pytest.raises(ParameterError, match="double precision"):
        evaluate(integral, rtol=1e-16)
    assert evaluate(integral, rtol=1e-14, atol=0).value > 0
