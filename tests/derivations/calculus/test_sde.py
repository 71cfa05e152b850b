"""Textbook identities for the symbolic SDE core (Itô lemma, Stratonovich conversion, operators)."""

import pytest
import sympy as sp

from derivations.errors import ParameterError
from derivations.calculus.sde import ItoSDE, StratonovichSDE

x, y = sp.symbols("x y", real=True)
mu, sigma, theta, kappa = sp.symbols("mu sigma theta kappa", positive=True)


def zero(expr) -> bool:
    return sp.simplify(expr) == 0


def test_geometric_brownian_motion_log_has_drift_mu_minus_half_sigma_squared():
    xp = sp.Symbol("x", positive=True)
    gbm = ItoSDE(xp, mu * xp, sigma * xp)
    log_sde = gbm.ito_lemma(sp.log(xp), y, inverse={xp: sp.exp(y)})
    assert zero(log_sde.drift[0] - (mu - sigma ** 2 / 2))
    assert zero(log_sde.noise[0, 0] - sigma)
    assert log_sde.is_additive_noise


def test_ito_stratonovich_round_trip_scalar_and_vector():
    xp = sp.Symbol("x", positive=True)
    gbm = ItoSDE(xp, mu * xp, sigma * xp)
    strat = gbm.to_stratonovich()
    assert isinstance(strat, StratonovichSDE) and strat.calculus == "stratonovich"
    assert zero(strat.drift[0] - (mu - sigma ** 2 / 2) * xp)  # textbook: Stratonovich GBM drift
    back = strat.to_ito()
    assert back.calculus == "ito" and zero(back.drift[0] - mu * xp)
    vec = ItoSDE([x, y], [-x + y, x * y], sp.Matrix([[x * y, sp.sin(x)], [y, 1]]))
    again = ItoSDE.from_stratonovich(vec.to_stratonovich())
    assert all(zero(a - b) for a, b in zip(again.drift, vec.drift))


def test_stratonovich_correction_uses_the_wiener_covariance():
    rho = sp.Symbol("rho", real=True)
    Q = sp.Matrix([[1, rho], [rho, 1]])
    sde = ItoSDE([x], [0], sp.Matrix([[x, x]]), wiener_covariance=Q)
    # D = x² (1 + 2ρ + 1); Itô − Stratonovich drift = ½ Σ_{jl} Q_jl G_l ∂_x G_j = ½ x (2 + 2ρ)
    assert zero(sde.diffusion_matrix[0, 0] - x ** 2 * (2 + 2 * rho))
    assert zero(sde.to_stratonovich().drift[0] + x * (1 + rho))


def test_generator_and_fokker_planck_are_adjoint():
    sde = ItoSDE(x, -theta * x, sigma * (1 + x ** 2))
    f = x ** 3 + sp.sin(x)
    p = sp.exp(-x ** 4)
    a, D = sde.drift[0], sde.diffusion_matrix[0, 0]
    # p·𝒜f − f·𝓛*p is the derivative of the bilinear flux a p f + ½ D p f' − ½ f (D p)'
    flux = a * p * f + D * p * sp.diff(f, x) / 2 - f * sp.diff(D * p, x) / 2
    assert zero(p * sde.generator(f) - f * sde.fokker_planck(p) - sp.diff(flux, x))


def test_ou_gaussian_is_stationary_under_fokker_planck_and_current_vanishes():
    ou = ItoSDE(x, -theta * x, sigma)
    p = sp.exp(-theta * x ** 2 / sigma ** 2)
    assert zero(ou.fokker_planck(p))
    assert zero(ou.probability_current(p)[0])


def test_ito_lemma_vector_to_scalar_square_norm_of_brownian_motion():
    bm = ItoSDE([x, y], [0, 0], sp.eye(2))
    r2 = bm.ito_lemma(x ** 2 + y ** 2, sp.Symbol("r2"))
    assert zero(r2.drift[0] - 2)  # d|W|² = 2 dt + 2W·dW in two dimensions
    assert zero(r2.diffusion_matrix[0, 0] - 4 * (x ** 2 + y ** 2))


def test_bad_shapes_are_refused():
    with pytest.raises(ParameterError, match="drift"):
        ItoSDE([x, y], [x], sp.eye(2))
    with pytest.raises(ParameterError, match="rows"):
        ItoSDE([x, y], [x, y], sp.Matrix([[1, 2, 3]]).T.row_insert(0, sp.Matrix([[1]])))
    with pytest.raises(ParameterError, match="Symbols"):
        ItoSDE([x + 1], [x], 1)


def test_noise_means_the_amplitude_and_diffusion_is_refused_as_a_keyword():
    x = sp.Symbol("x", real=True)
    sde = ItoSDE([x], [-x], noise=sp.Matrix([[2]]))
    assert sde.diffusion_matrix == sp.Matrix([[4]])  # D = G G^T
    with pytest.raises(ParameterError, match="ambiguous"):
        ItoSDE([x], [-x], diffusion=4)
