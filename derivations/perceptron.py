"""Seed 002 — ``perceptron.temperature_scaling``: the hinge perceptron under SGD noise, T = η/B.

Setting (formula sheet 002; Sclocchi, Geiger & Wyart 2023; Sclocchi & Wyart 2024): x ∈ ℝ^d with
ρ(x₁) = |x₁|^χ e^{−x₁²/2}/(2^{(χ+1)/2} Γ((χ+1)/2)), x_⊥ ~ N(0, I_{d−1}), y = sign(x₁); f(w, x) = w·x/√d with
the output centred at initialisation (so the weights below are w − w₀, starting at 0); per-sample loss
ℓ = max(0, 1 − α y f)/α, i.e. a point is fitted when its margin h = y w·x/√d ≥ κ ≡ 1/α. Itô, t = ηk,
L = mean over samples, T = η/B (with replacement: minibatch noise C/B).

Result: the exponents of the noise-dominated phase as functions of χ — the signal-to-noise ratio at the end
of training w₁/‖w_⊥‖ ∝ P^{1/(1+χ)}, ‖w‖ ∝ T P^{1/(1+χ)}, t* ∝ T (exact in the continuum limit at κ → 0), the
crossover batch size B* ∝ P^{1/(1+χ)} and the weight-change temperature T_c ∝ P^{−1/(1+χ)} (a = γ/δ).
Everything that is not exact is listed in the assumptions and flagged in the step that uses it.
"""

from __future__ import annotations

import sympy as sp

from derivations.derivation import Derivation, Reference, register
from derivations.references import GARDINER_2009, SCLOCCHI_2023
from derivations.calculus.sde import ItoSDE

SCLOCCHI_WYART_2024 = Reference(
    "sclocchi2024", "A. Sclocchi and M. Wyart", "On the different regimes of stochastic gradient descent",
    "Proc. Natl. Acad. Sci. USA 121, e2316301121", 2024, "2309.10688")

chi = sp.Symbol("chi", nonnegative=True)         # density exponent near the boundary
x = sp.Symbol("x", real=True)                    # x₁
u = sp.Symbol("u", positive=True)                # |x₁| (or a threshold on it)
s = sp.Symbol("s", positive=True)                # scaled variable P^{1/(1+χ)} u
v = sp.Symbol("v", positive=True)
P = sp.Symbol("P", positive=True)                # training-set size
d = sp.Symbol("d", positive=True)                # input dimension
T = sp.Symbol("T", positive=True)                # η/B
eta = sp.Symbol("eta", positive=True)
B = sp.Symbol("B", positive=True)
f_v = sp.Symbol("f_v", positive=True)            # fraction of margin-violating training points
w1 = sp.Symbol("w_1", positive=True)             # informative weight
r = sp.Symbol("r", positive=True)                # ‖w_⊥‖
lam = sp.Symbol("lambda", positive=True)         # rescaling factor


def density(c=chi, var=x) -> sp.Expr:
    """ρ(x₁) = |x₁|^χ e^{−x₁²/2} / (2^{(χ+1)/2} Γ((χ+1)/2))."""
    c = sp.sympify(c)
    return sp.Abs(var) ** c * sp.exp(-var ** 2 / 2) / (2 ** ((c + 1) / 2) * sp.gamma((c + 1) / 2))


def abs_density(c=chi, var=u) -> sp.Expr:
    """Density of |x₁| on (0, ∞): 2ρ(u)."""
    c = sp.sympify(c)
    return 2 * var ** c * sp.exp(-var ** 2 / 2) / (2 ** ((c + 1) / 2) * sp.gamma((c + 1) / 2))


def abs_cdf(c=chi, var=u) -> sp.Expr:
    """F(u) = Pr(|x₁| ≤ u) = γ((χ+1)/2, u²/2)/Γ((χ+1)/2) (regularised lower incomplete gamma)."""
    c = sp.sympify(c)
    return sp.lowergamma((c + 1) / 2, var ** 2 / 2) / sp.gamma((c + 1) / 2)


def small_u_constant(c=chi) -> sp.Expr:
    """c_χ with F(u) = c_χ u^{1+χ} + O(u^{3+χ}): c_χ = 1/(2^{(χ+1)/2} Γ((χ+3)/2))."""
    c = sp.sympify(c)
    return 1 / (2 ** ((c + 1) / 2) * sp.gamma((c + 3) / 2))


def xmin_density(c=chi, n=P, var=u) -> sp.Expr:
    """Exact density of x_min = min_μ |x₁^μ| over n i.i.d. points: n F'(u) (1 − F(u))^{n−1}."""
    return n * abs_density(c, var) * (1 - abs_cdf(c, var)) ** (n - 1)


def half_normal_moment(k) -> sp.Expr:
    """E[ζ^k 1{ζ>0}] for ζ ~ N(0, 1): 2^{k/2} Γ((k+1)/2) / (2√π)."""
    return 2 ** (k / 2) * sp.gamma((k + 1) / 2) / (2 * sp.sqrt(sp.pi))


def violated_zeta_mean(c=chi) -> sp.Expr:
    """⟨ζ⟩ over violated points late in training: ζ-density ∝ φ(ζ) ζ^{1+χ} on ζ > 0 (the pull step)."""
    c = sp.sympify(c)
    return sp.simplify(half_normal_moment(c + 2) / half_normal_moment(c + 1))


def radial_sde(m: int) -> tuple[ItoSDE, sp.Expr]:
    """Itô SDE of the m components of w_⊥ with isotropic diffusion T f_v/d and a drift −a ŵ_⊥ (a ≥ 0 the
    pull of the violated points back along −ŵ_⊥), and the SDE of r = ‖w_⊥‖ obtained from it by Itô's lemma.
    Returns (SDE of r, its drift)."""
    a = sp.Symbol("a", positive=True)
    comps = sp.symbols(f"w2:{m + 2}", real=True)
    norm = sp.sqrt(sum(c_ ** 2 for c_ in comps))
    drift = [-a * c_ / norm for c_ in comps]
    sde = ItoSDE(comps, drift, sp.sqrt(T * f_v / d) * sp.eye(m))
    radial = sde.ito_lemma(norm, r)
    drift_r = sp.simplify(radial.drift[0].subs(norm, r).subs(sp.sqrt(sum(c_ ** 2 for c_ in comps)), r))
    return radial, drift_r


@register("perceptron.temperature_scaling",
          title="Perceptron under SGD noise: smallest margin law, noise covariance and the exponents of the crossover temperature, training time and batch size as functions of chi",
          example={"chi": 1.0})
def _temperature_scaling() -> Derivation:
    k = (chi + 1) / 2
    Gv = sp.Symbol("G", positive=True)
    d_ = Derivation(
        summary=("Hinge perceptron on data with density $\\rho(x_1)\\propto|x_1|^\\chi e^{-x_1^2/2}$ near the decision "
                 "boundary. The smallest $|x_1|$ among $P$ points has an exact law and scales as $P^{-1/(1+\\chi)}$. SGD "
                 "noise acts only through margin-violating points; it makes $\\|w_\\perp\\|$ settle at a value "
                 "proportional to $T$, and training stops when $w_1/\\|w_\\perp\\|$ exceeds $1/x_{\\min}$, so the "
                 "signal-to-noise ratio at the end of training grows as $P^{1/(1+\\chi)}$ and $\\|w\\| \\propto T "
                 "P^{1/(1+\\chi)}$; $B^*\\propto P^{1/(1+\\chi)}$ and $T_c\\propto P^{-1/(1+\\chi)}$ follow."),
        assumptions=[
            "Data: $x_1 = \\pm\\sqrt{2G}$, $G\\sim\\mathrm{Gamma}((\\chi+1)/2, 1)$, $x_\\perp\\sim N(0, I_{d-1})$, "
            "$y=\\mathrm{sign}(x_1)$; $\\chi\\ge 0$ ($\\chi=0$: Gaussian).",
            "$f = w\\cdot x/\\sqrt d$ centred at initialisation (weights measured from $w_0$, starting at 0); "
            "$\\ell = \\max(0, 1-\\alpha y f)/\\alpha$, margin $\\kappa = 1/\\alpha$; stop when every margin "
            "$h_\\mu = y_\\mu w\\cdot x_\\mu/\\sqrt d \\ge \\kappa$.",
            "Continuum limit (It\\^o, $t=\\eta k$), minibatches with replacement: noise covariance $C/B$, $T=\\eta/B$.",
            "(A1) Isotropy: in the $d-2$ directions orthogonal to $e_1$ and $w_\\perp$ the violation indicator is "
            "independent of $x$, so $C_{\\perp\\perp} = (f_v/d) I$ there; the mean-gradient term "
            "$\\nabla L\\nabla L^T$ is $O(f_v^2)$ and dropped late in training ($f_v\\ll 1$).",
            "(A2) Noise-dominated phase: $\\kappa \\ll \\|w\\|$ at the end of training ($\\kappa\\to0$ in the "
            "scale-invariance step), i.e. $T \\gg \\kappa$ (margins at stopping are of order $r^*/\\sqrt d \\propto T$).",
            "(A3) Late in training the harmful projections $\\zeta_\\mu = -y_\\mu w_\\perp\\cdot x_{\\perp\\mu}/\\|w_\\perp\\|$ of "
            "the hard points are standard normal and independent of $|x_1^\\mu|$ (the noise part of $w_\\perp$ "
            "dominates its data-adapted part); violated points have $|x_1| \\le \\varepsilon\\zeta$ with "
            "$\\varepsilon = \\|w_\\perp\\|/w_1 \\ll 1$. This gives $\\|w_\\perp\\|$ up to a slowly varying "
            "factor $\\langle\\zeta\\rangle_v$ (corrections to scaling, logarithmic in $P$).",
            "(A4) Large-first-step phase: its final $\\|w\\|$ is of the order of its first step $\\eta E|x_1|/\\sqrt d$ "
            "(used only for $B^*$).",
            "$T_c$ criterion (claim 6 of the seed, $a=\\gamma/\\delta$): the noise-driven weight change reaches the "
            "initialisation scale, $\\|\\Delta w\\| = \\|w_0\\|\\approx\\sqrt d$. The departure of SGD from gradient "
            "descent itself happens at $T\\sim\\kappa = 1/\\alpha$, since both end with $w_1/\\|w_\\perp\\|\\propto "
            "P^{1/(1+\\chi)}$ (gradient descent: $\\|w_\\perp\\|\\propto\\kappa$) — a $P$-independent temperature.",
            "Not derived: the $P$-exponent of $t^*$ (the late stage mixes the slow drift of $w_1$ with the memorisation "
            "of hard points by their own kicks); only $t^*\\propto T$ is derived. The drift-only estimate "
            "$(3+\\chi)/(1+\\chi)$ is recorded in the extras as an estimate, not a prediction.",
        ],
        steps=[],
        result=sp.Eq(sp.Symbol(r"\gamma"), 1 / (1 + chi)),
        parameters=(chi,),
        references=(SCLOCCHI_2023, SCLOCCHI_WYART_2024, GARDINER_2009),
    )
    rho = density()
    # 1-2: the density and its construction from the Gamma variable
    g_density = Gv ** (k - 1) * sp.exp(-Gv) / sp.gamma(k)
    abs_from_gamma = sp.simplify((g_density * sp.diff(u ** 2 / 2, u)).subs(Gv, u ** 2 / 2))
    d_.step("Data density near the boundary.", sp.Eq(sp.Symbol(r"\rho(x_1)"), rho))
    d_.step("$|x_1| = \\sqrt{2G}$, $G\\sim\\mathrm{Gamma}((\\chi+1)/2,1)$: change of variables $G = u^2/2$ gives the "
            "density of $|x_1|$, which is $2\\rho(u)$.", sp.Eq(sp.Symbol("p_{|x_1|}(u)"), abs_from_gamma))
    norm = sp.simplify(2 * sp.integrate(abs_density() / 2, (u, 0, sp.oo), conds="none"))
    d_.step("Normalisation (symmetric in $x_1$).", sp.Eq(sp.Integral(rho, (x, -sp.oo, sp.oo)), norm))
    # 3-6: x_min
    F = abs_cdf()
    d_.step("Distribution function of $|x_1|$ (regularised lower incomplete gamma).", sp.Eq(sp.Symbol("F(u)"), F))
    survival = (1 - F) ** P
    d_.step("Smallest $|x_1|$ among $P$ i.i.d. points, exact: $\\Pr(x_{\\min} > u) = (1-F(u))^P$; density",
            sp.Eq(sp.Symbol(r"p_{x_{\min}}(u)"), xmin_density()))
    total = sp.integrate(P * (1 - v) ** (P - 1), (v, 0, 1), conds="none")
    d_.step("It integrates to one (substitute $v = F(u)$, $F(0)=0$, $F(\\infty)=1$).",
            sp.Eq(sp.Integral(P * (1 - v) ** (P - 1), (v, 0, 1)), sp.simplify(total)))
    c_chi = small_u_constant()
    d_.step("Small $u$: $F(u) = c_\\chi u^{1+\\chi} + O(u^{3+\\chi})$ with", sp.Eq(sp.Symbol(r"c_\chi"), c_chi))
    weibull = sp.exp(-c_chi * s ** (1 + chi))
    nu = sp.solve(sp.Eq(P * c_chi * u ** (1 + chi), 1), u)[0]
    d_.step("Hence $\\Pr(P^{1/(1+\\chi)} x_{\\min} > s) = (1 - c_\\chi s^{1+\\chi}/P + \\dots)^P \\to$ a Weibull law "
            "of shape $1+\\chi$:", sp.Eq(sp.Symbol(r"\Pr(P^{1/(1+\chi)}x_{\min} > s)"), weibull))
    xmin_mean = sp.gamma(1 + 1 / (1 + chi)) * (c_chi * P) ** (-1 / (1 + chi))
    d_.step("Typical value ($P c_\\chi u^{1+\\chi} = 1$) and large-$P$ mean: $x_{\\min}\\propto P^{-1/(1+\\chi)}$.",
            sp.Eq(sp.Symbol(r"E\,x_{\min}"), xmin_mean))
    # 7-9: gradient, covariance, SDE
    d_.step("Per-sample gradient of the hinge loss: only margin-violating points contribute.",
            sp.Eq(sp.Symbol(r"g_\mu"), sp.Symbol(r"-\frac{y_\mu x_\mu}{\sqrt d}\,\Theta(\kappa - h_\mu)")))
    d_.step("Per-sample gradient covariance (sum over the violating set $V$, $f_v = |V|/P$).",
            sp.Eq(sp.Symbol("C(w)"), sp.Symbol(r"\frac{1}{P d}\sum_{\mu\in V} x_\mu x_\mu^T - \nabla L\,\nabla L^T")))
    d_.step("(A1) Transverse block: isotropic, proportional to the violating fraction.",
            sp.Eq(sp.Symbol(r"C_{\perp\perp}"), f_v / d * sp.Symbol("I")))
    m_sym = d - 1
    radial, drift_r = radial_sde(3)
    a = sp.Symbol("a", positive=True)
    general_drift = -a + (m_sym - 1) * T * f_v / (2 * d * r)
    d_.step("It\\^o's lemma on $r = \\|w_\\perp\\|$ ($m=3$ transverse components shown; drift $-a\\hat w_\\perp$, "
            "diffusion $T f_v/d$ per component):", sp.Eq(sp.Symbol("dr/dt"), drift_r))
    d_.step("For $m = d-1$ components (the It\\^o term is $(m-1)D/(2r)$); the noise is $\\sqrt{T f_v/d}\\,dW$:",
            sp.Eq(sp.Symbol("dr/dt"), general_drift))
    zeta_v = violated_zeta_mean()
    pull = f_v * zeta_v / sp.sqrt(d)
    d_.step("(A3) Pull of the violated points: each adds $y x/(P\\sqrt d)$, whose component along $\\hat w_\\perp$ is "
            "$-\\zeta/\\sqrt d$ (a point violates when $\\zeta > w_1|x_1|/r > 0$); violated "
            "points have $\\zeta$-density $\\propto\\varphi(\\zeta)\\zeta^{1+\\chi}$, so $a = f_v\\langle\\zeta\\rangle_v/\\sqrt d$:",
            sp.Eq(sp.Symbol("a"), pull))
    r_star = sp.solve(sp.Eq(general_drift.subs(a, pull), 0), r)[0]
    d_.step("Balance of pull and It\\^o drift: $\\|w_\\perp\\|$ settles at a value independent of $f_v$ and $P$, "
            "proportional to $T$.", sp.Eq(sp.Symbol(r"r^*"), r_star))
    d_.step("Informative direction: $dw_1/dt = f_v\\langle|x_1|\\rangle_v/\\sqrt d$ (no noise to leading order).",
            sp.Eq(sp.Symbol(r"\mathrm{d}w_1/\mathrm{d}t"), sp.Symbol(r"f_v \langle |x_1|\rangle_v/\sqrt{d}")))
    # 10: scale invariance
    A_fun, G_fun = sp.Function("A"), sp.Function("G")
    theta = w1 / r
    sde_w = ItoSDE([w1, r], [A_fun(theta), sp.Function("A_r")(theta) + T * sp.Function("b")(theta) / r],
                   sp.Matrix([[0], [sp.sqrt(T) * G_fun(theta)]]))
    rescaled_drift = (sde_w.drift.subs({w1: lam * w1, r: lam * r}, simultaneous=True))  # dX̃/dt̃ = A(λX̃)
    rescaled_noise = (sde_w.noise.subs({w1: lam * w1, r: lam * r}, simultaneous=True) / sp.sqrt(lam))
    d_.step("(A2) At $\\kappa\\to0$ the violation indicator depends on $w_1/r$ only, so drift and diffusion are "
            "homogeneous of degree 0 (up to the It\\^o term). Rescaling $w = \\lambda\\tilde w$, $t = \\lambda\\tilde t$ "
            "($dW = \\sqrt\\lambda\\, d\\tilde W$) gives the same SDE with $T\\to T/\\lambda$:",
            sp.Eq(sp.Symbol(r"(\tilde a, \tilde G)"), sp.Tuple(rescaled_drift.T, rescaled_noise.T)))
    d_.step("With $\\lambda = T$ the process no longer depends on $T$: at fixed $P$, $\\|w(t^*)\\|\\propto T$ and "
            "$t^*\\propto T$ (weight exponent $\\delta = 1$, $\\chi$-independent).",
            sp.Eq(sp.Symbol(r"\delta"), sp.Integer(1)))
    # 11: stopping condition
    tail = sp.simplify(c_chi * half_normal_moment(1 + chi))
    d_.step("Stopping: $h_\\mu\\ge0$ for all $\\mu$ $\\Leftrightarrow$ $w_1/r \\ge \\max_\\mu(\\zeta_\\mu/|x_1^\\mu|)$ over "
            "$\\zeta_\\mu>0$; the tail $\\Pr(\\zeta_+/|x_1| > S) = E[F(\\zeta_+/S)] \\approx K_\\chi S^{-(1+\\chi)}$ with",
            sp.Eq(sp.Symbol(r"K_\chi"), tail))
    snr = (tail * P) ** (1 / (1 + chi))
    d_.step("so the signal-to-noise ratio at the end of training is the maximum of $P$ such variables:",
            sp.Eq(sp.Symbol(r"w_1/\|w_\perp\|"), snr))
    gamma_snr = sp.simplify(sp.diff(sp.log(snr), P) * P)
    d_.step("Its $P$-exponent (the signal-to-noise exponent):", sp.Eq(sp.Symbol(r"\gamma"), gamma_snr))
    w_final = r_star * snr
    d_.step("Final norm, $\\|w\\|\\approx w_1 = r^* \\cdot$ SNR:", sp.Eq(sp.Symbol(r"\|w(t^*)\|"), w_final))
    # 12: B*, T_c
    mean_abs = sp.simplify(sp.integrate(u * abs_density(), (u, 0, sp.oo), conds="none"))
    first_step = eta * mean_abs / sp.sqrt(d)
    B_star = sp.simplify(sp.solve(sp.Eq(w_final.subs(T, eta / B), first_step), B)[0])
    d_.step("(A4) First step with every point violated: $w_1 = \\eta E|x_1|/\\sqrt d$, $E|x_1|$ =",
            sp.Eq(sp.Symbol(r"E|x_1|"), mean_abs))
    d_.step("Crossover batch size: noise-dominated norm ($T=\\eta/B$) = first-step norm.", sp.Eq(sp.Symbol("B^*"), B_star))
    T_c = sp.simplify(sp.solve(sp.Eq(w_final, sp.sqrt(d)), T)[0])
    d_.step("Crossover temperature: noise-driven weight change = initialisation scale $\\sqrt d$.",
            sp.Eq(sp.Symbol("T_c"), T_c))
    exps = {
        "gamma_snr": gamma_snr,
        "gamma_norm": sp.simplify(P * sp.diff(sp.log(w_final), P)),
        "gamma_wperp": sp.simplify(P * sp.diff(sp.log(r_star), P)),
        "delta_norm": sp.simplify(T * sp.diff(sp.log(w_final), T)),
        "delta_time": sp.Integer(1),
        "b_star": sp.simplify(P * sp.diff(sp.log(B_star), P)),
        "a": sp.simplify(-P * sp.diff(sp.log(T_c), P)),
        "xmin": sp.simplify(P * sp.diff(sp.log(xmin_mean), P)),
    }
    d_.step("Exponents: $\\|w\\|\\propto T^{\\delta}P^{\\gamma}$, $B^*\\propto P^{b^*}$, $T_c\\propto P^{-a}$, $a=\\gamma/\\delta$.",
            sp.Eq(sp.Tuple(sp.Symbol(r"\gamma"), sp.Symbol(r"\delta"), sp.Symbol("b^*"), sp.Symbol("a")),
                  sp.Tuple(exps["gamma_norm"], exps["delta_norm"], exps["b_star"], exps["a"])))
    d_.step("Gaussian data $\\chi = 0$: $\\rho$ is the standard normal density and the exponents are",
            sp.Eq(sp.Tuple(sp.Symbol(r"\rho|_{\chi=0}"), sp.Symbol(r"\gamma|_{\chi=0}")),
                  sp.Tuple(sp.simplify(rho.subs(chi, 0)), exps["gamma_norm"].subs(chi, 0))))
    d_.extras.update({
        "density": rho, "abs_cdf": F, "xmin_survival": survival, "xmin_density": xmin_density(),
        "xmin_total": total, "c_chi": c_chi, "weibull_survival": weibull, "xmin_typical": nu,
        "xmin_mean": xmin_mean, "normalisation": norm, "abs_from_gamma": abs_from_gamma,
        "radial_drift_m3": drift_r, "radial_drift": general_drift, "zeta_violated": zeta_v, "r_star": r_star,
        "snr": snr, "tail_constant": tail, "w_final": w_final, "mean_abs_x1": mean_abs, "first_step": first_step,
        "B_star": B_star, "T_c": T_c, "rescaled_drift": rescaled_drift, "rescaled_noise": rescaled_noise,
        "original_drift": sde_w.drift, "original_noise": sde_w.noise,
        "t_star_drift_only_estimate": (3 + chi) / (1 + chi),
        **{f"exponent_{k_}": e for k_, e in exps.items()},
    })
    return d_
