"""Least-squares derivations: Isserlis forms vs closed forms, Lyapunov element formula, exact discrete limits."""

import sympy as sp

import derivations
from derivations.sgd import sgd_sde
from derivations.linreg import (eta, explicit_online_whitened_second_moment,
                                           explicit_population_noise_covariance, kappa,
                                           population_noise_covariance_formula, sigma)


def zero_matrix(m) -> bool:
    return all(sp.simplify(e) == 0 for e in m)


def test_population_noise_covariance_isserlis_equals_closed_form_general_covariance():
    C, delta, _, _, cov = explicit_population_noise_covariance(2)
    assert zero_matrix(C - population_noise_covariance_formula(delta, cov))
    assert derivations.get("linreg.noise_covariance").extras["explicit_n2"] == C


def test_population_noise_covariance_whitened_three_dimensions():
    C, delta, _, _, cov = explicit_population_noise_covariance(3, cov=sp.eye(3))
    expected = delta * delta.T + ((delta.T * delta)[0, 0] + sigma ** 2) * sp.eye(3)
    assert zero_matrix(C - expected)


def test_lyapunov_solution_matches_eigenbasis_element_formula():
    d = derivations.get("linreg.stationary_covariance")
    S = d.extras["explicit_n2"]
    lam = sp.symbols("lambda1 lambda2", positive=True)
    c = sp.Matrix([[sp.Symbol("c11", real=True), sp.Symbol("c12", real=True)],
                   [sp.Symbol("c12", real=True), sp.Symbol("c22", real=True)]])
    element = d.extras["eigenbasis_element"]
    li, lj, cij = sp.symbols("lambda_i lambda_j c_ij", positive=True)
    for i in range(2):
        for j in range(2):
            assert sp.simplify(S[i, j] - element.subs({li: lam[i], lj: lam[j], cij: c[i, j]})) == 0
    assert sp.simplify(d.extras["isotropic_population"] - eta * kappa * sigma ** 2 / 2) == 0


def test_exact_discrete_online_variance_general_N_reduces_to_N2_and_to_lyapunov():
    d = derivations.get("linreg.discrete_stationary_covariance")
    N = sp.Symbol("N", positive=True, integer=True)
    general = d.extras["online_isotropic"]
    S2 = explicit_online_whitened_second_moment(2)
    assert sp.simplify(S2[0, 1]) == 0 and sp.simplify(S2[0, 0] - S2[1, 1]) == 0
    assert sp.simplify(S2[0, 0] - general.subs(N, 2)) == 0
    # at fixed T = ηκ the continuum limit keeps the state-dependent noise: s → Tσ²/(2 − T(N+1)) …
    T = sp.Symbol("T", positive=True)
    assert sp.simplify(sp.limit(general.subs(kappa, T / eta), eta, 0) - T * sigma ** 2 / (2 - T * (N + 1))) == 0
    # … and at fixed B the frozen-noise Lyapunov value ηκσ²/2 is the leading term
    # … and the discrete correction is first order: s = ηκσ²/2 · (1 + η(1 + κ(N+1))/2 + O(η²))
    series = sp.series(general / (eta * kappa * sigma ** 2 / 2), eta, 0, 2).removeO()
    assert sp.simplify(series - (1 + eta * (1 + kappa * (N + 1)) / 2)) == 0


def test_exact_discrete_online_three_dimensions_explicit():
    S3 = explicit_online_whitened_second_moment(3)
    general = derivations.get("linreg.discrete_stationary_covariance").extras["online_isotropic"]
    assert sp.simplify(S3[2, 2] - general.subs(sp.Symbol("N", positive=True, integer=True), 3)) == 0


def test_stability_condition_is_positivity_of_the_variance():
    d = derivations.get("linreg.discrete_stationary_covariance")
    rho, general = d.extras["online_isotropic_stability"], d.extras["online_isotropic"]
    # (1 − ρ) s = η²κσ²: the variance is positive exactly where ρ < 1
    N = sp.Symbol("N", positive=True, integer=True)
    assert sp.simplify((1 - rho) * general - eta ** 2 * kappa * sigma ** 2) == 0
    assert N in rho.free_symbols


def test_continuum_sde_of_scalar_least_squares():
    w, ws = sp.symbols("w w_star", real=True)
    B = sp.Symbol("B", positive=True, integer=True)
    delta = w - ws
    C = 2 * delta ** 2 + sigma ** 2  # linreg.noise_covariance in one dimension, whitened
    sde = sgd_sde(w, sp.Matrix([delta]), C, eta, B)
    assert sp.simplify(sde.drift[0] + delta) == 0
    assert sp.simplify(sde.diffusion_matrix[0, 0] - eta / B * C) == 0
    C1, d1 = explicit_population_noise_covariance(1, cov=sp.eye(1))[:2]
    assert sp.simplify(C1[0, 0] - C.subs(w, d1[0] + ws)) == 0
