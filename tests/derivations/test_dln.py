"""Seed 000 derivations: per-mode SDEs, diffusion peak, gradient flow, stationary density (all symbolic)."""

import sympy as sp

import derivations
from derivations.dln import modes as dl
from derivations.linreg import explicit_population_noise_covariance

s, sigma, eta, B, L, u, a, m = dl.s, dl.sigma, dl.eta, dl.B, dl.L, dl.u, dl.a, dl.m
T = eta / B


def zero(expr) -> bool:
    return sp.simplify(expr) == 0


def test_all_four_render_as_latex():
    for name in ("dln.mode_sde", "dln.diffusion_peak", "dln.gradient_flow", "dln.stationary_density"):
        tex = derivations.get(name).latex()
        assert "\\section" in tex and "Result" in tex


def test_isserlis_moments_cross_modes_and_off_diagonal_noise():
    d = derivations.get("dln.mode_sde")
    assert zero(d.extras["mode_gradient_mean"] - a ** (L - 1) * (a ** L - s))
    assert zero(d.extras["mode_gradient_variance"] - a ** (2 * L - 2) * dl.Q(a ** L))
    assert d.extras["cross_mode_covariance"] == 0
    assert d.extras["off_diagonal_mean"] == 0
    q, ua, sa = sp.Symbol("q_l", positive=True), sp.Symbol("u_alpha", real=True), sp.Symbol("s_alpha", real=True)
    assert zero(d.extras["off_diagonal_variance"] - q ** 2 * ((ua - sa) ** 2 + sigma ** 2))


def test_ito_lemma_gives_the_sheet_formula_for_symbolic_L_and_L_1_to_5():
    d = derivations.get("dln.mode_sde")
    assert zero(d.extras["drift_u"] - dl.drift_u())
    assert zero(d.extras["diffusion_u"] - dl.diffusion_u())
    for k in dl.DEPTHS:
        assert zero(d.extras[f"drift_u_L{k}"] - dl.drift_u().subs(L, k))
        assert zero(d.extras[f"diffusion_u_L{k}"] - dl.diffusion_u().subs(L, k))
    # noise without the Itô term: the drift is the gradient-flow rate
    assert zero(dl.mode_sde(3, ito=False).drift[0] - 3 * u ** sp.Rational(4, 3) * (s - u))


def test_L1_is_scalar_linear_regression():
    C, delta, *_ = explicit_population_noise_covariance(1, cov=sp.eye(1))
    sde1 = dl.mode_sde(1)
    assert zero(sde1.drift[0] - (s - u))
    # population noise covariance of least squares with δ = u − s, times η/B
    assert zero(sde1.diffusion_matrix[0, 0] - T * C[0, 0].subs(delta[0], u - s))


def test_layers_receive_identical_noise_so_balance_is_preserved():
    g, x, e = dl.per_sample_mode_gradient(3)
    # the per-sample gradient of ℓ = ½((a1 a2 a3 − s) x − ε)² w.r.t. each layer, at a1 = a2 = a3 = a
    a1, a2, a3 = sp.symbols("a1:4", positive=True)
    loss = ((a1 * a2 * a3 - s) * x - e) ** 2 / 2
    grads = [sp.diff(loss, ai).subs({a1: a, a2: a, a3: a}) for ai in (a1, a2, a3)]
    assert all(zero(gi - g) for gi in grads)


def test_diffusion_peak_closed_forms_satisfy_the_derivative_condition_exactly():
    d = derivations.get("dln.diffusion_peak")
    assert zero(d.result.rhs - (2 * L - 2) / (3 * L - 2))
    for k in dl.DEPTHS:
        for key, power in (("ratio_u", 4 - sp.Rational(4, k)), ("ratio_a", 2 - sp.Rational(2, k))):
            r = d.extras[f"{key}_L{k}"]
            assert r == sp.Rational(power, power + 2)
            if k > 1:
                assert sp.diff(u ** power * (s - u) ** 2, u).subs(u, r * s) == 0
                assert sp.diff(u ** power * (s - u) ** 2, u, 2).subs(u, r * s).subs(s, 1) < 0
    assert d.extras["ratio_u_L2"] == sp.Rational(1, 2)
    assert sp.limit(d.extras["ratio_u"], L, sp.oo) == sp.Rational(2, 3)
    # with label noise: the root solves the quadratic and the derivative vanishes there
    root = d.extras["peak_root"]
    assert zero(d.extras["quadratic"].subs(u, root))
    assert zero(d.extras["derivative"].subs(u, root))
    assert zero(d.extras["discriminant"] - 8 * (2 * s ** 2 - m * (m + 2) * sigma ** 2))
    assert zero(root.subs(sigma, 0) - m * s / (m + 2))
    # at the threshold the two roots merge
    at = {sigma: s * sp.sqrt(2 / (m * (m + 2)))}
    assert zero(d.extras["discriminant"].subs(at))


def test_gradient_flow_closed_forms_and_lead_time():
    d = derivations.get("dln.gradient_flow")
    t, u0 = dl.t, dl.u0
    for k, traj in ((1, d.extras["trajectory_L1"]), (2, d.extras["trajectory_L2"])):
        rate = d.extras["rate"].subs({L: k, u: traj})
        assert zero(sp.diff(traj, t) - rate) and zero(traj.subs(t, 0) - u0)
    assert zero(d.extras["lead_time_L2"] - sp.log(9) / (2 * s))
    assert zero(d.extras["lead_time_a_L2"] - sp.log(18) / (2 * s))
    # the L = 2 time solves the trajectory: u(t(u)) = u
    assert zero(d.extras["trajectory_L2"].subs(t, d.extras["time_L2"]) - u)
    for k in (1, 3, 4, 5):
        F = d.extras[f"antiderivative_L{k}"]
        assert zero(sp.hyperexpand(sp.diff(F, u)) - 1 / (k * u ** (2 - sp.Rational(2, k)) * (s - u)))


def test_stationary_density_L1_student_t_and_variance():
    d = derivations.get("dln.stationary_density")
    x = sp.Symbol("u", real=True)
    p1 = d.extras["unnormalised_L1"]
    student = d.extras["student_t_kernel"]
    assert zero(sp.diff(sp.log(p1) - sp.log(student), x))
    assert zero(d.extras["student_t_nu"] - (1 + B / eta))
    assert zero(d.extras["variance_L1"] - eta * sigma ** 2 / (2 * (B - eta)))
    # Student-t variance ν λ²/(ν − 2) to first order in T equals the Boltzmann variance at L = 1
    series = sp.series(d.extras["variance_L1"].subs(eta, B * sp.Symbol("T", positive=True)), sp.Symbol("T", positive=True), 0, 2)
    assert zero(series.removeO() - d.extras["boltzmann_variance"].subs({L: 1, eta: B * sp.Symbol("T", positive=True)}))


def test_stationary_density_general_form_and_L2_closed_form():
    d = derivations.get("dln.stationary_density")
    assert d.extras["prefactor_residual"] == 0
    for k in (2, 3):
        sde = dl.mode_sde(k)
        logp = 2 * sde.drift[0] / sde.diffusion_matrix[0, 0] - sp.diff(sde.diffusion_matrix[0, 0], u) / sde.diffusion_matrix[0, 0]
        assert zero(logp - d.extras["log_density_derivative"].subs(L, k))
    p2 = d.extras["unnormalised_L2"]
    assert zero(sp.diff(sp.log(p2), u) - d.extras["log_density_derivative"].subs(L, 2))
    assert p2.has(sp.atan)
    cond = d.extras["normalisable_L2"]
    assert zero(sp.solve(sp.Eq(cond.lhs, cond.rhs), B)[0] - eta * (2 * s ** 2 + sigma ** 2) / (2 * s))


def test_sigma_zero_collapses_and_boltzmann_limit():
    d = derivations.get("dln.stationary_density")
    k = d.extras["boundary_exponent_at_s_sigma0"]
    assert zero(k - (-1 / (T * L * s ** (2 - 2 / L)) - 2))
    assert zero(d.extras["boltzmann_variance"] - T * L * s ** (2 - 2 / L) * sigma ** 2 / 2)
    V1 = d.extras["potential_L1"]
    assert zero(sp.series(V1, u, s, 3).removeO() - 2 * d.extras["loss"] / sigma ** 2)


def test_verified_antiderivative_works_around_the_sympy_constant_factor_bug():
    f = dl.effective_potential_derivative(2) / T
    F = dl.verified_antiderivative(f, u)
    assert zero(sp.diff(F, u) - f)
