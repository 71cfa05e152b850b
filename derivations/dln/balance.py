"""``dln.law_of_balance``: SGD noise drives Δ = w₁² − w₂² of a rescaling-symmetric pair to zero.

Model (through :class:`derivations.model.SGDModel`): f = w₁w₂x, ℓ = ½(w₁w₂x − y)², x ~ N(0, 1),
y = s x + ε, ε ~ N(0, σ²); u = w₁w₂, V(u) = 2(u − s)² + σ² (the variance of φ = (ux − y)x).

- Gradient flow conserves Δ: ∇Δ · ∇L = 0 (the loss is invariant under w₁ → c w₁, w₂ → w₂/c).
- Continuum (Itô, t = ηk): dΔ = −ηκ V(u) Δ dt, with a martingale part ∇Δᵀ G ≡ 0 (the noise of the pair
  lies along (w₂, w₁) ⟂ ∇Δ), so Δ decays deterministically given the path of u.
- Exact discrete time: ĝ = m̂ (w₂, w₁) with m̂ the minibatch mean of φ, hence Δ_{k+1} = Δ_k (1 − η² m̂_k²)
  exactly, and E[Δ_{k+1} | w_k] = Δ_k (1 − η² [(u − s)² + κ V(u)]) (κ = 1/B online / with replacement).
  Per unit time this is the Itô drift plus −η(u − s)²Δ, the order-η gradient-descent term that the
  second-order modified equation −(η/4)∇‖∇L‖² (Li, Tai & E) reproduces.

This justifies the "balanced" assumption (Δ = 0 is invariant and attracting) of the deep-linear
per-mode SDEs (seed 000, ``dln.mode_sde``).
"""

from __future__ import annotations

import sympy as sp

from derivations.sgd import B as B_SYMBOL
from derivations.sgd import eta, kappa
from derivations.derivation import Derivation, Reference, register
from derivations.model import SGDModel, matrix_equation
from derivations.references import CORLOUER_2026, ISSERLIS_1918, LI_TAI_E_2017

ZIYIN_2023 = Reference(
    "ziyin2023balance", "L. Ziyin, H. Li and M. Ueda",
    "Law of balance and stationary distribution of stochastic gradient descent", "arXiv preprint", 2023, "2308.06671")
DU_HU_LEE_2018 = Reference(
    "du2018balanced", "S. S. Du, W. Hu and J. D. Lee",
    "Algorithmic regularization in learning deep homogeneous models: layers are automatically balanced",
    "NeurIPS", 2018, "1806.00900")

w1, w2, x, y = sp.symbols("w1 w2 x y", real=True)
s, sigma = sp.symbols("s sigma", positive=True)


def balance_model() -> SGDModel:
    """The two-layer scalar network f = w₁w₂x with teacher y = s x + ε as an :class:`SGDModel`."""
    return SGDModel(sp.Rational(1, 2) * (w1 * w2 * x - y) ** 2, [w1, w2], [x], target=y, teacher=s * x,
                    noise_std=sigma, name="dln.law_of_balance")


@register("dln.law_of_balance",
          title="Law of balance: SGD noise drives the layer imbalance $\\Delta$ to zero",
          example={"eta": 0.05, "kappa": 0.5, "s": 1.0, "sigma": 0.5, "w1": 1.5, "w2": 0.6})
def _law_of_balance() -> Derivation:
    model = balance_model()
    Delta, u, m_hat = sp.Symbol("Delta", real=True), sp.Symbol("u", real=True), sp.Symbol(r"\hat{m}", real=True)
    Delta_w = w1 ** 2 - w2 ** 2
    grad_L = model.mean_gradient
    grad_Delta = sp.Matrix([sp.diff(Delta_w, v) for v in model.weights])

    # continuum: Itô lemma on the model's SDE, κ kept symbolic (κ = 1/B online / with replacement)
    sde = model.sde("with_replacement").subs(B_SYMBOL, 1 / kappa)
    ito = sde.ito_lemma(Delta_w, Delta)
    martingale = ito.noise.applyfunc(sp.expand)
    ito_drift = sp.factor(ito.drift[0])
    V_u = 2 * (u - s) ** 2 + sigma ** 2

    # discrete: the per-sample gradient is φ (w₂, w₁)
    phi = (w1 * w2 * x - y) * x
    direction = sp.Matrix([w2, w1])
    factor_residual = (model.per_sample_gradient - phi * direction).applyfunc(sp.expand)
    w_next = model.weights - eta * m_hat * direction
    Delta_next = sp.factor(sp.expand(w_next[0] ** 2 - w_next[1] ** 2))
    mean_phi = sp.factor(model.expectation(phi))
    var_phi = sp.factor(sp.expand(model.expectation(phi ** 2) - mean_phi ** 2))
    second_moment = mean_phi ** 2 + kappa * var_phi  # E[m̂² | w] = (Eφ)² + κ Var φ
    discrete = Delta_w * (1 - eta ** 2 * second_moment)
    increment = sp.factor(discrete - Delta_w)
    gd_term = sp.factor(sp.expand((discrete - Delta_w) / eta - ito_drift))
    modified = sp.factor(-(eta / 4) * (grad_Delta.T * sp.Matrix([sp.diff((grad_L.T * grad_L)[0, 0], v)
                                                                  for v in model.weights]))[0, 0])
    to_u = {w1 * w2: u}

    E_next = sp.Function(r"\mathbb{E}")(sp.Symbol(r"\Delta_{k+1} \mid w_k"))
    d = Derivation(
        summary=("For the rescaling-symmetric pair $f = w_1 w_2 x$ gradient flow conserves $\\Delta = w_1^2 - w_2^2$; "
                 "SGD does not: in the continuum limit $\\Delta$ decays at rate $\\eta\\kappa V(u)$ with no martingale "
                 "part, and in discrete time $\\Delta_{k+1} = \\Delta_k(1 - \\eta^2 \\hat m_k^2)$ exactly. Derived "
                 "through SGDModel; justifies the balanced assumption of dln.mode_sde."),
        assumptions=model.derivation("with_replacement").assumptions + [
            "$\\kappa = 1/B$ (online or with replacement); $u = w_1 w_2$, $V(u) = 2(u - s)^2 + \\sigma^2$.",
        ],
        steps=[],
        result=sp.Eq(E_next, discrete),
        parameters=(w1, w2, eta, kappa, s, sigma),
        references=(ZIYIN_2023, DU_HU_LEE_2018, LI_TAI_E_2017, ISSERLIS_1918, CORLOUER_2026),
    )
    d.step("Per-sample loss.", sp.Eq(sp.Symbol(r"\ell"), model.loss))
    d.step("Mean gradient (SGDModel, Isserlis).", matrix_equation(r"\nabla L", grad_L))
    d.step("Noise covariance (SGDModel): rank one, along $(w_2, w_1)$.",
           matrix_equation("C(w)", model.noise_covariance.applyfunc(sp.factor)))
    d.step("Gradient flow: $\\dot\\Delta = -\\nabla\\Delta \\cdot \\nabla L$ vanishes identically (Delta is conserved).",
           sp.Eq(sp.Symbol(r"\dot\Delta_{\mathrm{GF}}"), sp.expand(-(grad_Delta.T * grad_L)[0, 0])))
    d.step("It\\^o lemma on the SDE of SGD: martingale part $\\nabla\\Delta^T G$ vanishes identically.",
           matrix_equation(r"\nabla\Delta^T G", martingale))
    d.step("It\\^o lemma: drift of $\\Delta$ (only the second-order It\\^o term survives).",
           sp.Eq(sp.Symbol(r"d\Delta / dt"), ito_drift))
    d.step("In $u$ and $\\Delta$: exponential decay at rate $\\eta\\kappa V(u)$.",
           sp.Eq(sp.Symbol(r"d\Delta / dt"), -eta * kappa * V_u * Delta))
    d.step("Exact discrete time: the per-sample gradient is $\\phi\\,(w_2, w_1)$ with $\\phi = (w_1 w_2 x - y) x$ "
           "(residual of the factorisation).", matrix_equation(r"g - \phi\,(w_2, w_1)^T", factor_residual))
    d.step("One step with minibatch mean $\\hat m$ of $\\phi$: $w' = w - \\eta \\hat m (w_2, w_1)$, so",
           sp.Eq(sp.Symbol(r"\Delta_{k+1}"), Delta_next))
    d.step("Mean of $\\phi$ (Isserlis).", sp.Eq(sp.Symbol(r"E\phi"), mean_phi))
    d.step("Variance of $\\phi$ (Isserlis).", sp.Eq(sp.Symbol(r"\mathrm{Var}\,\phi"), var_phi))
    d.step("Exact conditional mean of one SGD step.", d.result)
    d.step("In $u$: ", sp.Eq(E_next, Delta * (1 - eta ** 2 * ((u - s) ** 2 + kappa * V_u))))
    d.step("Per unit time $t = \\eta k$, minus the It\\^o drift: the order-$\\eta$ gradient-descent term.",
           sp.Eq(sp.Symbol(r"(E\Delta_{k+1} - \Delta_k)/\eta - d\Delta/dt"), gd_term))
    d.step("It equals the second-order modified-equation term $-\\frac{\\eta}{4}\\nabla\\Delta\\cdot\\nabla\\|\\nabla L\\|^2$.",
           sp.Eq(sp.Symbol(r"-\frac{\eta}{4}\nabla\Delta\cdot\nabla\|\nabla L\|^2"), modified))
    d.extras.update({
        "gradient_flow_rate": sp.expand(-(grad_Delta.T * grad_L)[0, 0]),
        "martingale_part": martingale,
        "ito_drift": ito_drift,                      # dΔ/dt per unit t = ηk
        "discrete_update": discrete,                 # E[Δ_{k+1} | w_k]
        "discrete_increment": increment,             # E[Δ_{k+1} − Δ_k | w_k]
        "gd_term": gd_term,
        "modified_equation_term": modified,
        "one_step_identity": Delta_next,             # Δ_{k+1} in terms of m̂ (exact, any minibatch)
        "m_hat": m_hat,
        "ito_drift_in_u": sp.factor(ito_drift.subs(to_u)),
    })
    return d
