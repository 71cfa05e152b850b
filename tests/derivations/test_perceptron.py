"""perceptron.temperature_scaling: density, exact x_min law, radial SDE, scale invariance, exponents of χ."""

import mpmath
import sympy as sp

import derivations
from derivations.perceptron import (P, T, abs_cdf, abs_density, chi, density, lam, r, radial_sde, s, small_u_constant,
                                    u, w1, x, xmin_density)


def D():
    return derivations.get("perceptron.temperature_scaling")


def test_density_normalised_and_gaussian_at_chi_zero():
    d = D()
    assert d.extras["normalisation"] == 1
    assert sp.simplify(density(sp.Integer(0)) - sp.exp(-x ** 2 / 2) / sp.sqrt(2 * sp.pi)) == 0
    assert sp.simplify(d.extras["abs_from_gamma"] - abs_density()) == 0  # x₁ = ±√(2G) has density ρ
    for c in (0, 1, 2, sp.Rational(1, 2)):
        assert sp.simplify(sp.integrate(abs_density(c), (u, 0, sp.oo)) - 1) == 0


def test_cdf_is_the_integral_of_the_density():
    assert sp.simplify(sp.diff(abs_cdf(), u) - abs_density()) == 0
    assert sp.limit(abs_cdf(sp.Integer(1)), u, sp.oo) == 1


def test_xmin_law_integrates_to_one_exactly_and_numerically():
    assert D().extras["xmin_total"] == 1
    for c, n in ((0, 7), (1, 20), (2, 50)):
        f = sp.lambdify(u, xmin_density(sp.Integer(c), sp.Integer(n)), modules="mpmath")
        assert abs(mpmath.quad(f, [0, 0.1, 1, mpmath.inf]) - 1) < 1e-12


def test_small_u_constant_and_weibull_scaling():
    for c in (0, 1, 2):
        c = sp.Integer(c)
        lead = sp.limit(abs_cdf(c) / u ** (1 + c), u, 0)
        assert sp.simplify(lead - small_u_constant(c)) == 0
    assert sp.simplify(small_u_constant(sp.Integer(0)) - sp.sqrt(2 / sp.pi)) == 0
    # (1 − c s^{1+χ}/P)^P → Weibull survival
    c0 = small_u_constant(sp.Integer(1))
    assert sp.simplify(sp.limit((1 - c0 * s ** 2 / P) ** P, P, sp.oo) - D().extras["weibull_survival"].subs(chi, 1)) == 0


def test_radial_ito_term_for_several_dimensions():
    f_v, d_ = sp.Symbol("f_v", positive=True), sp.Symbol("d", positive=True)
    a = sp.Symbol("a", positive=True)
    for m in (2, 3, 4):
        _, drift = radial_sde(m)
        assert sp.simplify(drift - (-a + (m - 1) * T * f_v / (2 * d_ * r))) == 0


def test_scale_invariance_removes_T():
    d = D()
    drift, noise = d.extras["rescaled_drift"].subs(lam, T), d.extras["rescaled_noise"].subs(lam, T)
    assert T not in drift.free_symbols and T not in noise.free_symbols
    assert d.extras["exponent_delta_norm"] == 1 and d.extras["exponent_delta_time"] == 1


def test_exponents_are_functions_of_chi_and_reduce_to_gaussian():
    e = D().extras
    for key in ("gamma_snr", "gamma_norm", "b_star", "a"):
        assert sp.simplify(e[f"exponent_{key}"] - 1 / (1 + chi)) == 0
        assert e[f"exponent_{key}"].subs(chi, 0) == 1
    assert sp.simplify(e["exponent_xmin"] + 1 / (1 + chi)) == 0
    assert e["exponent_gamma_wperp"] == 0
    assert sp.simplify(e["exponent_a"] - e["exponent_gamma_norm"] / e["exponent_delta_norm"]) == 0  # a = γ/δ
    assert sp.simplify(e["zeta_violated"].subs(chi, 0) - sp.sqrt(sp.pi / 2)) == 0
    assert w1 not in e["w_final"].free_symbols


def test_latex_renders():
    text = D().latex()
    assert "perceptron.temperature" in text and "\\begin{enumerate}" in text
