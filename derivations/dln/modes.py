"""Seed 000 — per-mode SDEs of deep linear networks (Corlouer et al. 2026).

Setting (ARCHITECTURE.md conventions): network W = W_L ⋯ W_1, per-sample loss ℓ = ½|W x − y|², whitened
inputs x ~ N(0, I), teacher y = M x + ε with M = U diag(s_α) Vᵀ and label noise ε ~ N(0, σ² I);
online SGD w_{k+1} = w_k − η ĝ_k with minibatch size B; continuum time t = η k; noise scale
T = η/B; Itô calculus throughout.

Aligned + balanced weights: W_l = R_l diag(a_α) R_{l−1}ᵀ with R_0 = V, R_L = U, so the end-to-end map
is U diag(u_α) Vᵀ with u_α = a_α^L. Along one mode (drop α), with x̃ = Vᵀx and Q(u) = 2(s − u)² + σ²:

    per-layer SDE   da = a^{L−1}(s − a^L) dt + √T a^{L−1} √Q dW                          (same dW for all layers)
    end-to-end SDE  du = [L u^{2−2/L}(s − u) + ½L(L−1) T u^{3−4/L} Q] dt + √T L u^{2−2/L} √Q dW,
                    D_u = T L² u^{4−4/L} Q,   D_a = T u^{2−2/L} Q.

Stationary density (zero flux, u > 0 for L ≥ 2, u ∈ ℝ for L = 1), written for every L as

    p(u) ∝ u^{−3(L−1)/L} Q(u)^{−1} exp(−V(u)/T),   V(u) = −∫_s^u 2(s − v) / (L v^{2−2/L} Q(v)) dv,

i.e. a Boltzmann factor in the effective potential V times a T-independent prefactor (D⁻¹ and the
Itô term). ``derivations`` never imports ``numerics``; the numerics use the lambdified extras.
"""

from __future__ import annotations

import sympy as sp

from derivations.derivation import Derivation, Reference, register
from derivations.calculus.gaussian import gaussian_expectation, noise_covariance
from derivations.references import CORLOUER_2026, GARDINER_2009, ISSERLIS_1918
from derivations.calculus.sde import ItoSDE
from derivations.calculus.stationary import stationary_density

__all__ = ["s", "sigma", "eta", "B", "L", "u", "a", "m", "T", "Q", "t",
           "layer_sde", "mode_sde", "drift_u", "diffusion_u", "diffusion_a", "ito_term",
           "per_sample_mode_gradient", "peak_ratio", "peak_quadratic", "peak_root",
           "gradient_flow_antiderivative", "effective_potential_derivative", "stationary_log_density_derivative",
           "stationary_unnormalised", "verified_antiderivative"]

SAXE_2014 = Reference(
    "saxe2014", "A. M. Saxe, J. L. McClelland and S. Ganguli",
    "Exact solutions to the nonlinear dynamics of learning in deep linear neural networks", "ICLR", 2014,
    "1312.6120")

s = sp.Symbol("s", positive=True)            # teacher singular value of the mode
sigma = sp.Symbol("sigma", positive=True)    # label-noise standard deviation (σ = 0 by substitution)
eta = sp.Symbol("eta", positive=True)
B = sp.Symbol("B", positive=True)
L = sp.Symbol("L", positive=True, integer=True)
u = sp.Symbol("u", positive=True)            # end-to-end mode strength (u > 0 for L ≥ 2)
a = sp.Symbol("a", positive=True)            # per-layer mode strength, u = a^L
m = sp.Symbol("m", positive=True)            # exponent of the diffusion, D ∝ u^m Q(u)
t = sp.Symbol("t", nonnegative=True)
u0 = sp.Symbol("u_0", positive=True)
T = eta / B                                   # noise scale (temperature) η/B

DEPTHS = (1, 2, 3, 4, 5)


def Q(x):
    """Q = 2(s − x)² + σ²: the per-sample gradient variance along a mode divided by a^{2L−2}."""
    return 2 * (s - x) ** 2 + sigma ** 2


def _depth(depth):
    return L if depth is None else sp.Integer(depth)


def per_sample_mode_gradient(depth=None):
    """g = a^{L−1}[(u − s) x̃² − ε x̃], u = a^L: derivative of ℓ w.r.t. any layer's mode strength.

    Returns (g, x̃, ε). Same expression for every layer l (aligned + balanced weights)."""
    lam = _depth(depth)
    x, e = sp.Symbol("xtilde", real=True), sp.Symbol("epsilon", real=True)
    return a ** (lam - 1) * ((a ** lam - s) * x ** 2 - e * x), x, e


def layer_sde(depth=None) -> ItoSDE:
    """Per-layer Itô SDE da = a^{L−1}(s − a^L) dt + √(η/B) a^{L−1} √Q(a^L) dW."""
    lam = _depth(depth)
    return ItoSDE(a, a ** (lam - 1) * (s - a ** lam), sp.sqrt(T) * a ** (lam - 1) * sp.sqrt(Q(a ** lam)))


def mode_sde(depth=None, ito: bool = True) -> ItoSDE:
    """SDE of u = a^L by :meth:`ItoSDE.ito_lemma` (``ito=False`` drops the Itô drift term, a negative control)."""
    lam = _depth(depth)
    sde = layer_sde(depth).ito_lemma(a ** lam, u, inverse={a: u ** (1 / lam)})
    if ito:
        return sde
    return ItoSDE(u, sp.simplify(sde.drift[0] - ito_term(depth)), sde.noise, sde.wiener_covariance, sde.time)


def drift_u(depth=None):
    """A_u = L u^{2−2/L}(s − u) + ½ L(L−1)(η/B) u^{3−4/L} Q(u)."""
    lam = _depth(depth)
    return lam * u ** (2 - 2 / lam) * (s - u) + ito_term(depth)


def ito_term(depth=None):
    """The Itô drift ½ L(L−1)(η/B) u^{3−4/L} Q(u) of u = a^L."""
    lam = _depth(depth)
    return lam * (lam - 1) / 2 * T * u ** (3 - 4 / lam) * Q(u)


def diffusion_u(depth=None):
    """D_u = (η/B) L² u^{4−4/L} Q(u)."""
    lam = _depth(depth)
    return T * lam ** 2 * u ** (4 - 4 / lam) * Q(u)


def diffusion_a(depth=None):
    """Per-layer D_a = (η/B) a^{2L−2} Q = (η/B) u^{2−2/L} Q(u) (as a function of u)."""
    lam = _depth(depth)
    return T * u ** (2 - 2 / lam) * Q(u)


def peak_ratio(exponent):
    """u*/s = m/(m + 2): the maximum of u^m (s − u)² on (0, s)."""
    return exponent / (exponent + 2)


def peak_quadratic(exponent=m):
    """(2m + 4)u² − (4m + 4)s u + 2m s² + mσ²: zero at the stationary points of u^m Q(u) (u > 0)."""
    return (2 * exponent + 4) * u ** 2 - (4 * exponent + 4) * s * u + 2 * exponent * s ** 2 + exponent * sigma ** 2


def peak_root(exponent=m):
    """The smaller root of :func:`peak_quadratic`: the interior maximum of u^m Q(u) (σ² ≤ 2s²/(m(m+2)))."""
    disc = 8 * (2 * s ** 2 - exponent * (exponent + 2) * sigma ** 2)
    return ((4 * exponent + 4) * s - sp.sqrt(disc)) / (2 * (2 * exponent + 4))


def gradient_flow_antiderivative(depth=None):
    """F(u) with F′(u) = 1/(L u^{2−2/L}(s − u)), so that t(u) = F(u) − F(u₀) along gradient flow.

    L = 2: F = ln(u/(s − u))/(2s); otherwise, with c = 2/L − 1 ≠ 0,
    F = u^c ₂F₁(1, c; c + 1; u/s)/(c s L) (termwise integration of the geometric series in u/s)."""
    lam = _depth(depth)
    if lam == 2:
        return sp.log(u / (s - u)) / (2 * s)
    c = 2 / lam - 1
    return u ** c * sp.hyper([1, c], [c + 1], u / s) / (c * s * lam)


def effective_potential_derivative(depth=None):
    """V′(u) = −2 A₀/D̃ = −2(s − u)/(L u^{2−2/L} Q(u)), with A₀ the gradient-flow drift and D̃ = D_u/T."""
    lam = _depth(depth)
    return -2 * (s - u) / (lam * u ** (2 - 2 / lam) * Q(u))


def stationary_log_density_derivative(depth=None, ito: bool = True):
    """(log p)′ = 2A/D − D′/D of the zero-flux density of u (``ito=False``: without the Itô drift)."""
    A = drift_u(depth) if ito else drift_u(depth) - ito_term(depth)
    D = diffusion_u(depth)
    return 2 * A / D - sp.diff(D, u) / D


def stationary_unnormalised(depth=None, potential=None, variable=u):
    """p ∝ u^{−3(L−1)/L} Q(u)^{−1} exp(−V/T); ``potential`` V (default: the unevaluated integral from s)."""
    lam = _depth(depth)
    if potential is None:
        v = sp.Dummy("v", positive=True)
        potential = sp.Integral(effective_potential_derivative(depth).subs(u, v), (v, s, u))
    expr = u ** (-3 * (lam - 1) / lam) / Q(u) * sp.exp(-potential / T)
    return expr.subs(u, variable)


def verified_antiderivative(f, x):
    """∫ f dx term by term (partial fractions, x-free coefficients pulled out), checked by differentiation.

    Pulling the coefficient out works around sympy 1.14 returning 0 for ∫ c·R(x) dx with some symbolic
    constants c and rational R (seen for the L = 2 potential). Raises ArithmeticError if the check fails."""
    total = sp.S.Zero
    for term in sp.Add.make_args(sp.apart(sp.cancel(f), x)):
        coeff, core = term.as_independent(x, as_Add=False)
        total += coeff * sp.integrate(core, x)
    if sp.simplify(sp.diff(total, x) - f) != 0:
        raise ArithmeticError(f"antiderivative of {f} failed its differentiation check")
    return total


# =========================================================================== dln.mode_sde
@register("dln.mode_sde",
          title="Per-mode SDEs of a deep linear network under online SGD",
          example={"B": 1, "L": 2, "dW": 0.1, "dt": 0.01, "eta": 0.01, "s": 1.0, "sigma": 0.5, "u": 0.5})
def _mode_sde() -> Derivation:
    g, x, e = per_sample_mode_gradient()
    cov = sp.diag(1, sigma ** 2)
    mean = sp.simplify(gaussian_expectation(g, [x, e], cov=cov))
    var = sp.factor(sp.simplify(noise_covariance(sp.Matrix([g]), [x, e], cov=cov)[0, 0]))
    # two modes α, β: independent x̃_α, x̃_β, ε_α, ε_β
    ua, ub, sa, sb, pa, pb = sp.symbols("u_alpha u_beta s_alpha s_beta p_alpha p_beta", real=True)
    xa, xb, ea, eb = sp.symbols("xtilde_alpha xtilde_beta epsilon_alpha epsilon_beta", real=True)
    g_two = sp.Matrix([pa * ((ua - sa) * xa ** 2 - ea * xa), pb * ((ub - sb) * xb ** 2 - eb * xb)])
    cross = noise_covariance(g_two, [xa, xb, ea, eb], cov=sp.diag(1, 1, sigma ** 2, sigma ** 2))[0, 1]
    # off-diagonal component (α, β) of layer l's gradient in the aligned basis: q (u_α − s_α) x̃_α x̃_β − q ε_α x̃_β
    q = sp.Symbol("q_l", positive=True)  # q_l = a_α^{L−l} a_β^{l−1}
    g_off = q * ((ua - sa) * xa * xb - ea * xb)
    off_mean = gaussian_expectation(g_off, [xa, xb, ea], cov=sp.diag(1, 1, sigma ** 2))
    off_var = sp.factor(gaussian_expectation(g_off ** 2, [xa, xb, ea], cov=sp.diag(1, 1, sigma ** 2)) - off_mean ** 2)
    layer = layer_sde()
    sde_u = mode_sde()
    du, dW, dt, da = sp.symbols("du dW dt da")
    result = sp.Eq(du, drift_u() * dt + sp.sqrt(T) * L * u ** (2 - 2 / L) * sp.sqrt(Q(u)) * dW)
    d = Derivation(
        summary=("With aligned and balanced weights the per-sample gradient along a teacher mode depends on that mode "
                 "alone; Isserlis' theorem gives its mean and variance, hence one It\\^o SDE per mode for the layer "
                 "strength $a$ and, by It\\^o's lemma, for the end-to-end strength $u = a^L$."),
        assumptions=[
            "Whitened Gaussian inputs $x \\sim N(0, I)$; teacher $y = U\\,\\mathrm{diag}(s)V^T x + \\epsilon$, "
            "$\\epsilon \\sim N(0, \\sigma^2 I)$; $\\ell = \\frac12 |W x - y|^2$, $W = W_L \\cdots W_1$; online SGD, batch $B$.",
            "Aligned: $W_l = R_l\\,\\mathrm{diag}(a) R_{l-1}^T$ with orthogonal $R_l$, $R_0 = V$, $R_L = U$. The SGD noise "
            "has off-diagonal components (step 5) with zero mean and variance $q_l^2((u_\\alpha - s_\\alpha)^2 + \\sigma^2)$, "
            "$q_l = a_\\alpha^{L-l} a_\\beta^{l-1}$, per sample: they are dropped. Under SGD they make the "
            "misalignment diffuse with $O(\\eta/B)$ variance per unit time against the restoring gradient flow.",
            "Balanced: every layer carries the same $a$. The mode noise is identical in every layer (step 2), so "
            "SGD keeps exactly balanced layers balanced; for the conservation law that drives unbalanced "
            "layers towards balance see \\texttt{dln.law\\_of\\_balance}.",
            "Continuum limit $t = \\eta k$ matching the first two moments per step (\\texttt{sgd.continuum\\_sde}): "
            "weak error $O(\\eta)$ on finite time intervals; It\\^o convention; $T = \\eta/B$.",
        ],
        steps=[],
        result=result,
        parameters=(u, s, sigma, eta, B, L),
        references=(CORLOUER_2026, SAXE_2014, ISSERLIS_1918, GARDINER_2009),
    )
    d.step("Rotate $\\tilde x = V^T x \\sim N(0, I)$: the residual along mode $\\alpha$ is "
           "$(u - s)\\tilde x_\\alpha - \\epsilon_\\alpha$, so the gradient w.r.t. layer $l$'s mode strength is",
           sp.Eq(sp.Symbol("g"), g))
    d.step("It does not depend on $l$ (every layer receives the same noise). Mean over $\\tilde x$ and "
           "$\\epsilon$ (Isserlis, $E\\tilde x^4 = 3$):", sp.Eq(sp.Symbol("E g"), mean))
    d.step("Variance of the per-sample mode gradient:", sp.Eq(sp.Symbol(r"\mathrm{Var}\,g"), var))
    d.step("Different modes are uncorrelated ($p_\\alpha = a_\\alpha^{L-1}$):", sp.Eq(sp.Symbol(r"\mathrm{Cov}(g_\alpha, g_\beta)"), cross))
    d.step("Off-diagonal gradient component $(\\alpha, \\beta)$ of layer $l$ (dropped by alignment): mean",
           sp.Eq(sp.Symbol("E g_alphabeta"), off_mean))
    d.step("and variance", sp.Eq(sp.Symbol(r"\mathrm{Var}\,g_{\alpha\beta}"), off_var))
    d.step("Per-layer It\\^o SDE with minibatch noise $(\\eta/B)\\,\\mathrm{Var}\\,g$:",
           sp.Eq(da, layer.drift[0] * dt + layer.noise[0, 0] * dW))
    d.step("It\\^o's lemma for $u = a^L$ (computed by \\texttt{ItoSDE.ito\\_lemma}): drift",
           sp.Eq(sp.Symbol("A_u"), sde_u.drift[0]))
    d.step("and diffusion", sp.Eq(sp.Symbol("D_u"), sde_u.diffusion_matrix[0, 0]))
    d.step("The It\\^o term of the drift:", sp.Eq(sp.Symbol("A_Ito"), ito_term()))
    for k in DEPTHS:
        sk = mode_sde(k)
        d.step(f"Depth $L = {k}$:", sp.Eq(du, sk.drift[0] * dt + sk.noise[0, 0] * dW))
        d.extras[f"drift_u_L{k}"] = sk.drift[0]
        d.extras[f"diffusion_u_L{k}"] = sk.diffusion_matrix[0, 0]
    d.extras.update(mode_gradient_mean=mean, mode_gradient_variance=var, cross_mode_covariance=cross,
                    off_diagonal_mean=off_mean, off_diagonal_variance=off_var,
                    drift_a=layer.drift[0], noise_a=layer.noise[0, 0], diffusion_a=layer.diffusion_matrix[0, 0],
                    drift_u=sde_u.drift[0], diffusion_u=sde_u.diffusion_matrix[0, 0], ito_term=ito_term())
    return d


# =========================================================================== dln.diffusion_peak
@register("dln.diffusion_peak",
          title="Where the diffusion along a mode peaks",
          example={"L": 3})
def _diffusion_peak() -> Derivation:
    f = u ** m * Q(u)
    df = sp.factor(sp.diff(f, u))
    quad = peak_quadratic()
    disc = sp.factor(sp.discriminant(quad, u))
    cond = sp.Le(sigma ** 2, 2 * s ** 2 / (m * (m + 2)))
    ratio0 = sp.factor(peak_root().subs(sigma, 0) / s)
    m_u, m_a = 4 - 4 / L, 2 - 2 / L
    ratio_u, ratio_a = sp.factor(sp.simplify(peak_ratio(m_u))), sp.factor(sp.simplify(peak_ratio(m_a)))
    ustar = sp.Symbol("u^*", positive=True)
    d = Derivation(
        summary=("The end-to-end diffusion $D_u \\propto u^{4-4/L}Q(u)$ and the per-layer diffusion "
                 "$D_a \\propto u^{2-2/L}Q(u)$ are both of the form $u^m Q(u)$; without label noise they peak at "
                 "$u^*/s = m/(m+2)$, before the mode is learned. With label noise the stationary points solve a "
                 "quadratic; an interior peak exists iff its discriminant is non-negative."),
        assumptions=[
            "The per-mode SDE of \\texttt{dln.mode\\_sde} (aligned, balanced; $Q(u) = 2(s-u)^2 + \\sigma^2$).",
            "$D_u$ is the diffusion of the end-to-end singular value (the variable of the per-mode SDE, which we take "
            "to be the paper's ``diffusion along a mode''); $D_a$ is the minibatch-gradient variance along the mode "
            "in weight space (per layer). Both are reported.",
            "The mode moves monotonically from $u_0 < u^*$ to $s$ (gradient flow), so a peak in $u$ is a peak in time.",
        ],
        steps=[],
        result=sp.Eq(ustar / s, ratio_u),
        parameters=(L,),
        references=(CORLOUER_2026,),
    )
    d.step("Diffusion as a function of $u$ (up to a positive constant):", sp.Eq(sp.Symbol("D"), f))
    d.step("Its derivative:", sp.Eq(sp.Symbol("D'"), df))
    d.step("Stationary points in $u > 0$: zeros of the quadratic", sp.Eq(quad, 0))
    d.step("Discriminant:", sp.Eq(sp.Symbol("Delta"), disc))
    d.step("Real roots (an interior maximum, the smaller root) exist iff", cond)
    d.step("The interior maximum:", sp.Eq(ustar, peak_root()))
    d.step("Without label noise:", sp.Eq(ustar / s, ratio0))
    d.step("End-to-end diffusion, $m = 4 - 4/L$:", sp.Eq(ustar / s, ratio_u))
    d.step("Per-layer diffusion (minibatch-gradient variance of a layer), $m = 2 - 2/L$:", sp.Eq(ustar / s, ratio_a))
    d.step("Label-noise threshold for $D_u$:", sp.Le(sigma ** 2, sp.factor(sp.simplify(cond.rhs.subs(m, m_u)))))
    d.step("Label-noise threshold for $D_a$:", sp.Le(sigma ** 2, sp.factor(sp.simplify(cond.rhs.subs(m, m_a)))))
    for k in DEPTHS:
        d.extras[f"ratio_u_L{k}"] = ratio_u.subs(L, k)
        d.extras[f"ratio_a_L{k}"] = ratio_a.subs(L, k)
    d.extras.update(ratio_u=ratio_u, ratio_a=ratio_a, quadratic=quad, discriminant=disc,
                    existence_condition=cond, peak_root=peak_root(), derivative=df)
    return d


# =========================================================================== dln.gradient_flow
@register("dln.gradient_flow",
          title="Gradient-flow trajectory of a mode (saddle-to-saddle timing)",
          example={"L": 2, "s": 1.0, "u": 0.5, "u_0": 0.01})
def _gradient_flow() -> Derivation:
    rate = L * u ** (2 - 2 / L) * (s - u)
    traj1 = s - (s - u0) * sp.exp(-t)
    traj2 = s / (1 + (s / u0 - 1) * sp.exp(-2 * s * t))
    t2 = gradient_flow_antiderivative(2) - gradient_flow_antiderivative(2).subs(u, u0)
    lead2 = sp.simplify(gradient_flow_antiderivative(2).subs(u, sp.Rational(9, 10) * s)
                        - gradient_flow_antiderivative(2).subs(u, s / 2))
    lead2a = sp.simplify(gradient_flow_antiderivative(2).subs(u, sp.Rational(9, 10) * s)
                         - gradient_flow_antiderivative(2).subs(u, s / 3))
    learn2 = sp.simplify(t2.subs(u, sp.Rational(9, 10) * s))
    v = sp.Dummy("v", positive=True)
    tu = sp.Integral(1 / (L * v ** (2 - 2 / L) * (s - v)), (v, u0, u))
    tt = sp.Symbol("t(u)")
    d = Derivation(
        summary=("As $\\eta/B \\to 0$ the mode obeys $du/dt = L u^{2-2/L}(s-u)$: exponential ($L=1$), logistic "
                 "($L=2$), and for general $L$ an implicit $t(u)$ through a hypergeometric function. With $L = 2$ the "
                 "end-to-end diffusion peak ($u = s/2$) precedes $u = 0.9 s$ by $\\ln 9/(2s)$, independently of $u_0$."),
        assumptions=["Deterministic limit of \\texttt{dln.mode\\_sde} ($\\eta/B \\to 0$, no It\\^o term); $0 < u_0 < s$.",
                     "Time $t = \\eta k$ (in SGD steps: divide by $\\eta$)."],
        steps=[],
        result=sp.Eq(tt, tu),
        parameters=(u, u0, s, L),
        references=(SAXE_2014, CORLOUER_2026),
    )
    d.step("Mode ODE:", sp.Eq(sp.Derivative(sp.Function("u")(t), t), rate))
    d.step("$L = 1$ (linear regression):", sp.Eq(sp.Function("u")(t), traj1))
    d.step("$L = 2$ (logistic):", sp.Eq(sp.Function("u")(t), traj2))
    d.step("$L = 2$, time to reach $u$:", sp.Eq(tt, t2))
    d.step("$L = 2$ learning time to $u = 0.9 s$:", sp.Eq(sp.Symbol("t_0.9"), learn2))
    d.step("General $L$, antiderivative with $c = 2/L - 1$ ($L \\neq 2$), $t(u) = F(u) - F(u_0)$:",
           sp.Eq(sp.Symbol("F(u)"), gradient_flow_antiderivative()))
    d.step("$L = 2$ lead time of the $D_u$ peak ($u = s/2$) before $u = 0.9 s$:", sp.Eq(sp.Symbol("Delta t_u"), lead2))
    d.step("$L = 2$ lead time of the per-layer $D_a$ peak ($u = s/3$):", sp.Eq(sp.Symbol("Delta t_a"), lead2a))
    d.extras.update(trajectory_L1=traj1, trajectory_L2=traj2, time_L2=t2, lead_time_L2=lead2, lead_time_a_L2=lead2a,
                    learning_time_L2=learn2, antiderivative=gradient_flow_antiderivative(), rate=rate)
    for k in DEPTHS:
        d.extras[f"antiderivative_L{k}"] = gradient_flow_antiderivative(k)
    return d


# =========================================================================== dln.stationary_density
@register("dln.stationary_density",
          title="Stationary density of a mode: Student-t, closed form for L = 2, Boltzmann limit",
          example={"B": 1, "L": 2, "eta": 0.01, "s": 1.0, "sigma": 0.5, "u": 0.9})
def _stationary_density() -> Derivation:
    x = sp.Symbol("u", real=True)  # L = 1: u = a ranges over ℝ
    sd1 = stationary_density((s - x, T * Q(x), x), domain=(-sp.oo, sp.oo))
    # L = 1: V = ½ ln(Q/σ²): Student-t
    V1 = sp.log(Q(u) / sigma ** 2) / 2
    nu = 1 + B / eta
    lam2 = sigma ** 2 / (2 * nu)
    student = (1 + (x - s) ** 2 / (nu * lam2)) ** (-(nu + 1) / 2)
    var1 = sp.simplify(nu * lam2 / (nu - 2))
    # L = 2: elementary potential (log + arctan)
    V2 = verified_antiderivative(effective_potential_derivative(2), u)
    V2 = V2 - V2.subs(u, s)
    p2 = stationary_unnormalised(2, V2)
    sd2 = stationary_density(mode_sde(2), domain=(0, sp.oo))
    cond2 = sd2.boundary_conditions[sp.S.Zero]
    # general L: Itô prefactor and effective potential; σ = 0 boundary exponent at s; small-T limit
    prefactor_exp = sp.simplify((sp.diff(sp.log(u ** (-3 * (L - 1) / L) / Q(u)), u)
                                 - effective_potential_derivative() / T - stationary_log_density_derivative()))
    k0 = sp.simplify(sp.limit(((u - s) * stationary_log_density_derivative()).subs(sigma, 0), u, s))
    Vpp = sp.simplify(sp.diff(effective_potential_derivative(), u).subs(u, s))
    var_boltz = sp.simplify(T / Vpp)
    loss = (u - s) ** 2 / 2
    p = sp.Symbol("p(u)")
    d = Derivation(
        summary=("Zero-flux solution of the Fokker--Planck equation of \\texttt{dln.mode\\_sde}: "
                 "$p \\propto u^{-3(L-1)/L} Q(u)^{-1} e^{-V(u)/T}$ with an effective potential $V$. $L = 1$ gives a "
                 "Student-t with $\\nu = 1 + B/\\eta$; $L = 2$ is elementary; general $L$ by quadrature. "
                 "Without label noise all mass sits at $u = s$; for small $T$ the density is Gaussian with "
                 "variance $T L s^{2-2/L} \\sigma^2/2$."),
        assumptions=[
            "Per-mode SDE of \\texttt{dln.mode\\_sde}; zero probability flux (detailed balance in 1-D); It\\^o convention.",
            "Domain $u \\in (0, \\infty)$ for $L \\ge 2$ ($u = 0$ is a fixed point: drift and noise vanish there); "
            "$u \\in \\mathbb{R}$ for $L = 1$.",
            "The continuum density approximates discrete SGD up to $O(\\eta)$ relative corrections; for $L = 1$, "
            "$B = 1$ they are of the same order as the Student-t's departure from the Gaussian (see the check "
            "\\texttt{dln.stationary\\_density}).",
        ],
        steps=[],
        result=sp.Eq(p, stationary_unnormalised()),
        parameters=(u, s, sigma, eta, B, L),
        references=(CORLOUER_2026, GARDINER_2009),
    )
    d.step("Zero flux: $p \\propto D^{-1}\\exp\\int 2A/D$; the It\\^o term contributes $\\frac{L-1}{L}\\ln u$ and "
           "$D^{-1} \\propto u^{-4+4/L}Q^{-1}$, leaving the effective potential (difference of the log-derivatives):",
           sp.Eq(sp.Symbol("residual"), prefactor_exp))
    d.step("Effective potential:", sp.Eq(sp.Symbol("V'(u)"), effective_potential_derivative()))
    d.step("$L = 1$: \\texttt{stationary\\_density} on $\\mathbb{R}$ gives", sp.Eq(p, sd1.unnormalised))
    d.step("which is a Student-t with", sp.Eq(sp.Symbol("nu"), nu))
    d.step("(kernel $(1 + (u-s)^2/(\\nu\\lambda^2))^{-(\\nu+1)/2}$, $\\lambda^2 = \\sigma^2/(2\\nu)$) and variance ($B > \\eta$)",
           sp.Eq(sp.Symbol(r"\mathrm{Var}\,u"), var1))
    d.step("$L = 2$: elementary potential (partial fractions):", sp.Eq(sp.Symbol("V_2"), V2))
    d.step("$L = 2$ density:", sp.Eq(p, p2))
    d.step("$L = 2$ normalisable at $u \\to 0$ iff (boundary exponent from \\texttt{stationary\\_density})", cond2)
    d.step("$\\sigma = 0$: boundary exponent at $u = s$ (non-integrable for $k \\le -1$: all mass at $u = s$, "
           "$p = \\delta(u - s)$)", sp.Eq(sp.Symbol("k_s"), k0))
    d.step("Small $T$: Laplace around the minimum of $V$ at $u = s$,", sp.Eq(sp.Symbol("V''(s)"), Vpp))
    d.step("Gaussian variance:", sp.Eq(sp.Symbol(r"\mathrm{Var}\,u"), var_boltz))
    d.step("$V$ is the loss $\\ell = \\frac12(u-s)^2$ up to a factor only near $u = s$ (any $L$: "
           "$V \\approx \\ell/(L s^{2-2/L}\\sigma^2/2)$), and globally only for $L = 1$ with label-noise dominated "
           "noise, $2(u - s)^2 \\ll \\sigma^2$:", sp.Eq(sp.Symbol("V_1"), sp.series(V1, u, s, 3).removeO()))
    d.extras.update(
        unnormalised_L1=sd1.unnormalised, student_t_kernel=student, student_t_nu=nu, student_t_scale2=lam2,
        variance_L1=var1, potential_L1=V1, potential_L2=V2, unnormalised_L2=p2, normalisable_L2=cond2,
        boundary_exponent_at_s_sigma0=k0, boltzmann_variance=var_boltz, potential_second_derivative=Vpp,
        prefactor_residual=prefactor_exp, loss=loss,
        log_density_derivative=stationary_log_density_derivative(),
        log_density_derivative_no_ito=stationary_log_density_derivative(ito=False))
    return d
