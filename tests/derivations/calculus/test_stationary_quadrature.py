"""Quadrature normalisation next to an integrable endpoint singularity p ~ |x − e|^(−1+ε) (endpoint.EndPiece).

The densities have closed forms (Beta, Gamma); the quadrature path is forced by dropping the closed-form
normalisation ("tanh-sinh" below: the potential stays closed-form) or, in addition, by declaring all of
∫2A/D not integrated symbolically ("walk": the potential is a cumulative quadrature, as for an integrand sympy
cannot integrate). Reference values: mpmath at 30 digits.
"""

from __future__ import annotations

import dataclasses
import functools

import mpmath
import numpy as np
import pytest
import sympy as sp
from scipy import stats

from derivations.calculus.stationary import StationaryDensity, stationary_density
from derivations.errors import QuadratureError

x = sp.Symbol("x", real=True)
al, be = sp.symbols("alpha beta", positive=True)

# p ∝ x^(α−1) (1 − x)^(β−1) on (0, 1) (Jacobi diffusion), x^(α−1) e^(−x) on (0, ∞),
# (1 + x)^(α−1) (1 − x)^(β−1) on (−1, 1)
MODELS = {
    "beta": (((al * (1 - x) - be * x) / 2, x * (1 - x), x), (0, 1)),
    "gamma": (((al - x) / 2, x, x), (0, sp.oo)),
    "beta_pm1": (((al * (1 - x) - be * (1 + x)) / 2, 1 - x ** 2, x), (-1, 1)),
}


@functools.cache
def symbolic_density(model: str) -> StationaryDensity:
    # the budget only bounds sympy's attempt at the normalisation, which is dropped anyway
    return stationary_density(MODELS[model][0], domain=MODELS[model][1], time_budget=3.0)


@functools.cache
def quadrature_density(model: str, path: str) -> StationaryDensity:
    sd = dataclasses.replace(symbolic_density(model), normalisation=None, normalised=None)
    if path == "walk":
        sd = dataclasses.replace(sd, closed_form=False, _potential_closed=sp.S.Zero,
                                 _potential_rest=sp.cancel(2 * sd.drift / sd.diffusion))
    return sd


def exact_log_pdf(model: str, a, b, t):
    """log p(t), 30 digits."""
    with mpmath.workdps(30):
        a, b, t = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(t)
        if model == "gamma":
            return (a - 1) * mpmath.log(t) - t - mpmath.log(mpmath.gamma(a))
        if model == "beta":
            return (a - 1) * mpmath.log(t) + (b - 1) * mpmath.log(1 - t) - mpmath.log(mpmath.beta(a, b))
        return ((a - 1) * mpmath.log(1 + t) + (b - 1) * mpmath.log(1 - t)
                - mpmath.log(2 ** (a + b - 1) * mpmath.beta(a, b)))


def parameters(model: str, a, b) -> dict:
    return {al: a} if model == "gamma" else {al: a, be: b}


PATHS = ["tanh-sinh", "walk"]
EPS = [sp.Rational(1, 20), sp.Rational(1, 10), sp.Rational(1, 5), sp.Rational(1, 2)]
SHAPES = [("beta", lambda e: (e, 1)), ("beta", lambda e: (e, e)), ("gamma", lambda e: (e, 0))]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("model, shape", SHAPES, ids=["Beta(eps,1)", "Beta(eps,eps)", "Gamma(eps)"])
@pytest.mark.parametrize("eps", EPS, ids=[str(e) for e in EPS])
def test_normalisation_near_a_singular_endpoint_is_exact_and_its_error_bound_holds(path, model, shape, eps):
    a, b = shape(eps)
    p = quadrature_density(model, path).pdf(parameters(model, a, b))
    assert p.method == "quadrature"
    # the relative error of Z is that of p at any point
    rel = abs(mpmath.expm1(p.log(0.3) - exact_log_pdf(model, a, b, 0.3)))
    bound = p._model.normalisation_error
    assert rel <= bound <= 1e-12


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("a, b", [(0.3, 0.7), (0.07, 2.5), (0.013, 0.013)])
def test_float_parameters_and_non_integer_substitution_powers(path, a, b):
    # m = n/(1 + k) is not an integer here; the exponent 1 + k is as small as 0.013 (Z ~ 150)
    p = quadrature_density("beta", path).pdf(parameters("beta", a, b))
    rel = abs(mpmath.expm1(p.log(0.3) - exact_log_pdf("beta", a, b, 0.3)))
    assert rel <= p._model.normalisation_error <= 1e-12


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("model", ["beta", "gamma"])
def test_moments_near_the_singular_endpoint(path, model):
    eps = sp.Rational(1, 20)
    sd = quadrature_density(model, path)
    values = parameters(model, eps, eps)
    for k in (sp.Rational(1, 2), 1, 2):
        if model == "gamma":
            exact = mpmath.gamma(eps + k) / mpmath.gamma(eps)
        else:
            exact = mpmath.beta(eps + k, eps) / mpmath.beta(eps, eps)
        assert float(sd.moment(k, values)) == pytest.approx(float(exact), rel=1e-12)


@pytest.mark.parametrize("path", PATHS)
def test_moments_with_zero_inside_the_domain(path):
    # on (−1, 1) the weight x^k vanishes at 0, between the two singular ends
    sd = quadrature_density("beta_pm1", path)
    for a, b in ((sp.Rational(1, 20), sp.Rational(1, 20)), (sp.Rational(1, 10), sp.Rational(3, 2))):
        values = parameters("beta_pm1", a, b)
        mean_y = a / (a + b)  # y = (1 + x)/2 ~ Beta(a, b)
        second_y = mean_y * (a + 1) / (a + b + 1)
        assert float(sd.moment(1, values)) == pytest.approx(float(2 * mean_y - 1), abs=1e-13)
        assert float(sd.moment(2, values)) == pytest.approx(float(4 * second_y - 4 * mean_y + 1), rel=1e-12)
        p = sd.pdf(values)
        assert abs(mpmath.expm1(p.log(0.3) - exact_log_pdf("beta_pm1", a, b, 0.3))) <= p._model.normalisation_error


def test_cdf_of_the_walk_includes_the_endpoint_pieces():
    a, b = 0.05, 0.05
    dist = quadrature_density("beta", "walk").to_scipy(parameters("beta", a, b))
    assert (dist.a, dist.b) == (0.0, 1.0)
    q = np.array([1e-300, 1e-40, 1e-12, 1e-3, 0.2, 0.5, 0.9, 1 - 1e-9])
    assert dist.cdf(q) == pytest.approx(stats.beta.cdf(q, a, b), abs=1e-13)


def test_a_failed_integral_raises_quadrature_error():
    # p ∝ exp(x²) passed off as normalisable: the walk fails, which is not a statement about normalisability
    sd = stationary_density((x, 1, x), time_budget=3.0)
    lie = dataclasses.replace(sd, boundary_conditions={-sp.oo: sp.true, sp.oo: sp.true}, normalisable=sp.true,
                              normalisation=None, normalised=None, closed_form=False,
                              _potential_closed=sp.S.Zero, _potential_rest=2 * x)
    with pytest.raises(QuadratureError):
        lie.pdf({})


@pytest.mark.parametrize("a, b", [(sp.Rational(1, 20), 1), (sp.Rational(3, 10), sp.Rational(7, 10)),
                                  (sp.Rational(1, 20), sp.Rational(1, 20))])
def test_closed_form_density_cdf_is_exact_next_to_singular_ends(a, b):
    # Jacobi diffusion D = x(1 − x), A = (a − (a + b)x)/2: Beta(a, b) with a closed-form normalisation; the cdf's
    # end pieces integrate |x − e|^(a−1) exactly (plain quad from the end was off by up to 7e-4)
    xx = sp.Symbol("x", positive=True)
    sd = stationary_density(((a - (a + b) * xx) / 2, xx * (1 - xx), xx), domain=(0, 1))
    assert sd.normalisation is not None
    points = np.array([1e-12, 1e-6, 0.01, 0.2, 0.5, 0.9, 0.999, 1 - 1e-9])
    dist = sd.to_scipy({})
    assert np.max(np.abs(dist.cdf(points) - stats.beta(float(a), float(b)).cdf(points))) < 1e-12
    assert max(abs(dist.cdf(t) - stats.beta(float(a), float(b)).cdf(t)) for t in points) < 1e-12
