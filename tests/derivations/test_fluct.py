"""fluct.*: leverage formula (Isserlis), limits, detailed balance, isotropic case, two-layer structure, IVFR."""

import sympy as sp

import derivations
from derivations.calculus.linear_sde import lyapunov_solve
from derivations.fluct import (F, N, P, T, alpha, balance_step, c, eta, explicit_jacobian,
                                             explicit_label_noise_average, explicit_two_layer, ou_current_matrix, s,
                                             sigma)


def zero(m) -> bool:
    return all(sp.simplify(e) == 0 for e in sp.Matrix(m))


def test_label_noise_average_equals_leverage_formula_symbolic_one_feature():
    X = sp.Matrix(sp.symbols("a1:4", real=True))  # N = 1, P = 3, symbolic data
    EC, formula = explicit_label_noise_average(X)
    assert zero(EC - formula)


def test_label_noise_average_equals_leverage_formula_two_features_rational_data():
    X = sp.Matrix([[1, 2], [-1, sp.Rational(1, 2)], [3, -2], [sp.Rational(2, 3), 1]])  # N = 2, P = 4
    EC, formula = explicit_label_noise_average(X)
    assert zero(EC - formula)
    G = (X.T * X).inv()
    assert sum((X[p, :] * G * X[p, :].T)[0, 0] for p in range(4)) == 2  # Σ h_p = N
    H = X.T * X / 4
    assert not zero(H * EC - EC * H)  # finite P: [H, C] ≠ 0, detailed balance broken


def test_large_P_limit_and_leave_one_out_leverage():
    d = derivations.get("fluct.single_layer")
    assert sp.simplify(d.extras["leave_one_out_leverage"] - N / P) == 0
    assert sp.simplify(d.extras["large_P"] - sigma ** 2 * (1 - N / P)) == 0
    assert sp.limit(d.extras["large_P"], P, sp.oo) == sigma ** 2


def test_stationary_current_is_commutator_and_detailed_balance_iff_commuting():
    d = derivations.get("fluct.single_layer")
    M2, S2 = d.extras["current_matrix_n2"], d.extras["sigma_n2"]
    l1, l2 = sp.symbols("lambda1 lambda2", positive=True)
    H2 = sp.diag(l1, l2)
    assert zero(M2 - (S2 * H2 - H2 * S2) * S2.inv() / 2)
    c12 = sp.Symbol("c12", real=True)
    assert zero(M2.subs(c12, 0))
    assert zero(M2.subs(l2, l1))
    cond = d.extras["detailed_balance_n2"]
    assert cond.subs(c12, 0) == sp.true and cond.subs(l2, l1) == sp.true
    assert cond.subs({c12: 1, l1: 1, l2: 2}) == sp.false


def test_isotropic_noise_gives_isotropic_sigma_for_a_general_hessian():
    h11, h22 = sp.symbols("h11 h22", positive=True)
    h12 = sp.Symbol("h12", real=True)
    H = sp.Matrix([[h11, h12], [h12, h22]])
    assert zero(lyapunov_solve(H, T * c * H) - T * c / 2 * sp.eye(2))
    M, _ = ou_current_matrix(H, T * c * H)
    assert zero(M)  # no probability current


def test_excess_loss_is_quarter_trace_of_noise():
    d = derivations.get("fluct.single_layer")
    c11, c22 = sp.symbols("c11 c22", positive=True)
    assert sp.simplify(d.extras["excess_loss_n2"] - T * (c11 + c22) / 4) == 0


def test_two_layer_gradients_share_the_residual_and_noise_is_symmetric():
    m = explicit_two_layer(2, 2, 2)
    W1, W2, loss = m["W1"], m["W2"], m["loss"]
    assert zero(m["g1"] - W1.applyfunc(lambda u: sp.diff(loss, u)))
    assert zero(m["g2"] - W2.applyfunc(lambda v: sp.diff(loss, v)))
    J = explicit_jacobian(W1, W2)
    g = sp.Matrix(list(m["g1"].reshape(4, 1)) + list(m["g2"].reshape(4, 1)))
    assert zero(g - J.T * (m["r"] * m["x"].T).reshape(4, 1))  # g_θ = Jᵀ vec(r xᵀ): one residual, both layers
    outer = g * g.T
    assert zero(outer[:4, 4:] - outer[4:, :4].T)  # cross-layer blocks are transposes: C_θ symmetric


def test_rescaling_symmetry_conserved_balance_and_discrete_drift():
    m = explicit_two_layer(2, 2, 1)
    W1, W2, loss = m["W1"], m["W2"], m["loss"]
    G = sp.Matrix([[2, 1], [sp.Rational(1, 3), 1]])
    sub = dict(zip(list(W1) + list(W2), list(G * W1) + list(W2 * G.inv())))
    assert sp.simplify(loss.xreplace(sub) - loss) == 0
    g1, g2 = m["g1"], m["g2"]
    flow = -(g1 * W1.T + W1 * g1.T) + (g2.T * W2 + W2.T * g2)  # dΔ/dt under gradient flow
    assert zero(flow)
    Gm = sp.Matrix(1, 2, sp.symbols("G1:3", real=True))
    assert zero(balance_step(W1, W2, Gm) - eta ** 2 * (W2.T * Gm * Gm.T * W2 - W1 * Gm.T * Gm * W1.T))


def test_projector_blocks_match_mode_formulas():
    d = derivations.get("fluct.two_layer")
    s1, s2, a1, a2 = sp.symbols("s1 s2 a1 a2", positive=True)
    m = explicit_two_layer(2, 2, 2)
    diag = {m["W1"][0, 0]: s1, m["W1"][1, 1]: s2, m["W2"][0, 0]: a1, m["W2"][1, 1]: a2,
            m["W1"][0, 1]: 0, m["W1"][1, 0]: 0, m["W2"][0, 1]: 0, m["W2"][1, 0]: 0}
    J = explicit_jacobian(m["W1"], m["W2"]).subs(diag)
    Pi = (J.T * (J * J.T).inv() * J).applyfunc(sp.simplify)
    sec, first, cross = Pi[4:, 4:], Pi[:4, :4], Pi[:4, 4:]
    var2 = d.extras["second_layer_variance"] / (T * c / 2)
    var1 = d.extras["first_layer_variance"] / (T * c / 2)
    cov = d.extras["cross_covariance"] / (T * c / 2)
    av, sv = (a1, a2), (s1, s2)
    for k in range(2):
        for m_ in range(2):
            i = 2 * k + m_  # W2[k, m] and W1[k, m] (row-major)
            assert sp.simplify(sec[i, i] - var2.subs({alpha: av[k] ** 2, s: sv[m_]})) == 0
            assert sp.simplify(first[i, i] - var1.subs({alpha: av[k] ** 2, s: sv[m_]})) == 0
    assert sp.simplify(cross[0, 0] - cov.subs({alpha: a1 ** 2, s: s1})) == 0
    assert zero(Pi * Pi - Pi)
    assert zero(d.extras["scalar_projector"] - d.extras["scalar_projector"].T)


def test_ivfr_exponent_limits_and_pairs():
    d = derivations.get("fluct.ivfr")
    psi = d.extras["psi_of_flatness"]
    assert sp.limit(psi, F, sp.oo) == 2 and sp.limit(psi, F, 0) == 0
    assert sp.simplify(d.result.rhs - 2 * alpha / (alpha + s ** 2)) == 0
    assert d.extras["psi_pair_sum_square"] == 2
    sig = d.extras["variance_of_flatness"]
    assert sp.simplify(sig.subs(F, d.extras["flatness"]) - T * c * s ** 2 / (2 * (alpha + s ** 2))) == 0
    assert sp.simplify(d.extras["variance"] - d.extras["variance_of_flatness"].subs(F, d.extras["flatness"])) == 0
    for name in ("fluct.single_layer", "fluct.two_layer", "fluct.ivfr"):
        assert "\\section" in derivations.get(name).latex()


def test_ivfr_chord_exponent_is_the_mean_local_exponent_between_two_directions():
    """psi_chord = -(ln sigma^2(F_2) - ln sigma^2(F_1))/(ln F_2 - ln F_1) at fixed alpha: the mean of psi_loc over
    ln s between the two directions, hence between their psi_loc, and psi_loc in the limit s_2 -> s_1."""
    d = derivations.get("fluct.ivfr")
    chord, psi_loc = d.extras["psi_chord"], d.result.rhs
    s1, s2 = sp.symbols("s_1 s_2", positive=True)
    assert chord.free_symbols == {alpha, s1, s2}
    sig, width = d.extras["variance"], d.extras["flatness"]
    direct = -(sp.log(sig.subs(s, s2)) - sp.log(sig.subs(s, s1))) / (sp.log(width.subs(s, s2)) - sp.log(width.subs(s, s1)))
    point = {alpha: sp.Rational(3, 5), s1: sp.Rational(1, 2), s2: sp.Rational(7, 4)}
    scales = {T: sp.Rational(1, 3), c: 2, sp.Symbol("L_0", positive=True): sp.Rational(5, 7), sp.Symbol("h", positive=True): 3}
    assert abs(sp.N((chord - direct).subs({**point, **scales}), 30)) < 1e-25  # the scales cancel
    u = sp.Symbol("u", real=True)
    mean = sp.integrate(psi_loc.subs(s, sp.exp(u)), (u, sp.log(s1), sp.log(s2))) / (sp.log(s2) - sp.log(s1))
    assert abs(sp.N((chord - mean).subs(point), 30)) < 1e-25
    lo, hi = sorted(float(psi_loc.subs({alpha: point[alpha], s: point[k]})) for k in (s1, s2))
    assert lo < float(chord.subs(point)) < hi
    eps = sp.Symbol("epsilon", positive=True)
    assert sp.simplify(sp.limit(chord.subs(s2, s1 * (1 + eps)), eps, 0) - psi_loc.subs(s, s1)) == 0
