"""curv.*: pair covariance, activity–weight duality, isotropic dual-weight average, bounds, rank-one family,
least squares, closed-form last-layer Hessians — all symbolic (simplify(a − b) == 0 or exact rationals)."""

import pytest
import sympy as sp

import derivations
from derivations.errors import ParameterError
from derivations.curv import (explicit_awd, explicit_cauchy_schwarz, explicit_isotropic_dual_weight,
                                         explicit_kmax_gap, explicit_last_layer_hessian, explicit_pair_covariance,
                                         kappa0, lam, least_squares_gaussian_moment, pi_j, q,
                                         rank_one_family_exponent, rank_one_family_moments, softmax_output_hessians,
                                         trS)


def zero(m) -> bool:
    return all(sp.simplify(e) == 0 for e in sp.Matrix(m))


def rational_zero(m) -> bool:
    return all(sp.cancel(sp.together(e)) == 0 for e in sp.Matrix(m))


def test_derivations_register_and_render():
    for name in ("curv.noise_curvature", "curv.per_sample_hessians"):
        d = derivations.get(name)
        assert d.steps and "\\section" in d.latex()


def test_extras_of_the_registered_derivation_are_exact_zeros():
    d = derivations.get("curv.noise_curvature")
    for key in ("pair_covariance_residual", "awd_residual", "isotropic_residual", "kmax_gap_residual",
                "gaussian_moment_residual"):
        assert zero(d.extras[key]), key
    assert sp.simplify(d.extras["cauchy_schwarz_residual"]) == 0


def test_pair_form_of_the_covariance():
    cov, pair = explicit_pair_covariance(4, 2)
    assert all(sp.expand(e) == 0 for e in cov - pair)


def test_activity_weight_duality_reproduces_the_preactivation():
    lhs, rhs = explicit_awd(3, 2)
    assert zero(lhs - rhs)


def test_isotropic_dual_weights_give_sigma_w_squared_h_squared():
    E, expected = explicit_isotropic_dual_weight(3)
    assert zero(E - expected)


def test_bounds_cauchy_schwarz_and_kmax():
    for n in (2, 3, 4):
        lhs, rhs = explicit_cauchy_schwarz(n)
        assert sp.expand(lhs - rhs) == 0
    gap, closed = explicit_kmax_gap()
    assert zero(gap - closed)
    with pytest.raises(ParameterError):
        explicit_cauchy_schwarz(0)


def test_rank_one_family_is_an_exact_power_law_with_gamma_of_q():
    lam_j, S_j = rank_one_family_moments()
    gamma = rank_one_family_exponent()
    assert sp.simplify(sp.powsimp(S_j / (kappa0 ** (2 - gamma) * lam_j ** gamma), force=True)) == 1
    assert gamma.subs(q, 0) == 1 and sp.limit(gamma, q, sp.oo) == 2
    assert gamma.subs(q, 1) == sp.Rational(3, 2)
    # inside the bracket 1 <= gamma <= 2 for every q >= 0
    assert sp.simplify(gamma - 1 - q / (1 + q)) == 0 and sp.simplify(2 - gamma - 1 / (1 + q)) == 0
    assert pi_j in lam_j.free_symbols


def test_least_squares_gaussian_moment_and_local_exponent():
    M, closed = least_squares_gaussian_moment(3)
    assert zero(M - closed)
    d = derivations.get("curv.noise_curvature")
    local = d.extras["least_squares_local_gamma"]
    assert sp.simplify(local - (1 + 2 * lam / (trS + 2 * lam))) == 0
    assert sp.limit(local, trS, sp.oo) == 1


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_last_layer_hessian_is_G_kron_aaT(loss):
    hess, closed = explicit_last_layer_hessian(2, 2, loss)
    assert rational_zero(hess - closed)


def test_softmax_output_hessians_closed_forms():
    f, y, pi, ce_h, smse_h, J, smse_closed = softmax_output_hessians(3)
    assert rational_zero((ce_h - J).subs(y[0], 1 - y[1] - y[2]))  # Σ y = 1
    assert rational_zero(smse_h - smse_closed)  # any y
