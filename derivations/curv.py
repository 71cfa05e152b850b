"""Seed 001: SGD noise covariance vs curvature — C ∝ E_p[h_p²], commutation of C and H, and C_ii ∝ H_ii^γ.

Zhang, Yang & Tu (arXiv 2602.05600). Conventions (ARCHITECTURE.md): L = (1/P) Σ_p ℓ_p, ℓ_p = ½‖f(x_p) − y_p‖² for
regression (cross-entropy ℓ_p = −log π_{y_p}, π = softmax(f)); g_p = ∇ℓ_p, ḡ = ∇L; h_p = ∇²ℓ_p, H = E_p h_p
(E_p the mean over the P samples). Per-sample-gradient covariance C₁ = E_p[g_p g_pᵀ] − ḡḡᵀ; the minibatch noise
covariance with the paper's normalisation is C = C₁/B (sampling with replacement). λ_i, v_i: eigenpairs of H;
C_ii = v_iᵀ C v_i, H_ii = λ_i, S_i = v_iᵀ E_p[h_p²] v_i. Parameters are flattened row-major: vec(W)_{(k,j)} = W_kj,
so a dense layer's per-sample Hessian is G_p ⊗ a_p a_pᵀ (G_p the output-space Hessian, a_p the layer input).

Each symbolic claim comes with an explicit small-dimension helper (``explicit_*``) whose residual the tests
simplify to zero; the helpers are also what the derivation's steps display.
"""

from __future__ import annotations

import sympy as sp

from derivations.derivation import Derivation, Reference, register
from derivations.errors import ParameterError
from derivations.calculus.gaussian import gaussian_expectation
from derivations.references import FENG_TU_2021, ZHANG_YANG_TU_2026

B = sp.Symbol("B", positive=True, integer=True)
sigma_w = sp.Symbol("sigma_w", positive=True)     # dual-weight fluctuation scale
sigma = sp.Symbol("sigma", positive=True)         # label-noise scale
q = sp.Symbol("q", nonnegative=True)              # concentration exponent of the rank-one family
pi_j = sp.Symbol("pi_j", positive=True)           # fraction of samples aligned with direction j
kappa0 = sp.Symbol("kappa_0", positive=True)
lam = sp.Symbol("lambda_i", positive=True)        # eigenvalue of H
kappa_max = sp.Symbol("kappa_max", positive=True)
trS = sp.Symbol(r"\mathrm{tr}\Sigma", positive=True)

MARTENS_2020 = Reference(
    "martens2020", "J. Martens", "New insights and perspectives on the natural gradient method",
    "J. Mach. Learn. Res. 21", 2020, "1412.1193")


# --------------------------------------------------------------------------- explicit helpers
def explicit_pair_covariance(n_samples: int, dim: int) -> tuple[sp.Matrix, sp.Matrix]:
    """For symbolic per-sample gradients g_p ∈ ℝ^dim, p = 1..n_samples: (E_p[g_p g_pᵀ] − ḡḡᵀ,
    ½ E_{p,q}[(g_p − g_q)(g_p − g_q)ᵀ]). They are equal (the pair form of the covariance)."""
    if n_samples < 1 or dim < 1:
        raise ParameterError("n_samples and dim must be >= 1")
    g = [sp.Matrix(sp.symbols(f"g{p}_1:{dim + 1}", real=True)) for p in range(n_samples)]
    mean = sum(g, sp.zeros(dim, 1)) / n_samples
    cov = sum((gp * gp.T for gp in g), sp.zeros(dim)) / n_samples - mean * mean.T
    pair = sum(((gp - gq) * (gp - gq).T for gp in g for gq in g), sp.zeros(dim)) / (2 * n_samples ** 2)
    return cov, pair


def explicit_awd(n_out: int, n_in: int) -> tuple[sp.Matrix, sp.Matrix]:
    """Activity–weight duality for a dense layer W (n_out×n_in), input a, activity change Δa: returns
    ((W + ΔW*) a, W (a + Δa)) with ΔW* = (WΔa)aᵀ/‖a‖². They are equal for every a ≠ 0."""
    W = sp.Matrix(n_out, n_in, lambda i, j: sp.Symbol(f"W_{i + 1}{j + 1}", real=True))
    a = sp.Matrix(sp.symbols(f"a1:{n_in + 1}", real=True))
    da = sp.Matrix(sp.symbols(f"Delta_a1:{n_in + 1}", real=True))
    dW = W * da * a.T / (a.T * a)[0, 0]
    return (W + dW) * a, W * (a + da)


def _symmetric(name: str, n: int) -> sp.Matrix:
    return sp.Matrix(n, n, lambda i, j: sp.Symbol(f"{name}_{min(i, j) + 1}{max(i, j) + 1}", real=True))


def explicit_isotropic_dual_weight(n: int = 2) -> tuple[sp.Matrix, sp.Matrix]:
    """E over Δw ~ N(0, σ_w² I_n) of (h Δw)(h Δw)ᵀ for a symbolic symmetric h (Isserlis), and σ_w² h²."""
    h = _symmetric("h", n)
    dw = sp.symbols(f"Delta_w1:{n + 1}", real=True)
    u = h * sp.Matrix(dw)
    outer = u * u.T
    E = outer.applyfunc(lambda e: gaussian_expectation(sp.expand(e), dw, cov=sigma_w ** 2 * sp.eye(n)))
    return E, sigma_w ** 2 * h * h


def explicit_cauchy_schwarz(n: int = 2) -> tuple[sp.Expr, sp.Expr]:
    """For a symbolic vector v ∈ ℝⁿ and symmetric h: (‖v‖²(‖v‖²‖hv‖² − (vᵀhv)²), ‖(‖v‖²I − vvᵀ)hv‖²), equal as
    polynomials; for a unit v this is ‖hv‖² − (vᵀhv)² = ‖(I − vvᵀ)hv‖² ≥ 0."""
    if n < 1:
        raise ParameterError(f"n must be >= 1, got {n}")
    h = _symmetric("h", n)
    v = sp.Matrix(sp.symbols(f"v1:{n + 1}", real=True))
    vv = (v.T * v)[0, 0]
    hv = h * v
    lhs = vv * (vv * (hv.T * hv)[0, 0] - (v.T * hv)[0, 0] ** 2)
    perp = (vv * sp.eye(n) - v * v.T) * hv
    return lhs, (perp.T * perp)[0, 0]


def explicit_kmax_gap() -> tuple[sp.Matrix, sp.Matrix]:
    """For h = R diag(k₁, k₂) Rᵀ (R a rotation by θ) with k₁ = κ_max ≥ k₂ ≥ 0: (κ_max h − h²,
    R diag(0, k₂(κ_max − k₂)) Rᵀ); equal, so h² ⪯ κ_max h for h ⪰ 0."""
    t = sp.Symbol("theta", real=True)
    k2 = sp.Symbol("k_2", nonnegative=True)
    R = sp.Matrix([[sp.cos(t), -sp.sin(t)], [sp.sin(t), sp.cos(t)]])
    h = R * sp.diag(kappa_max, k2) * R.T
    return kappa_max * h - h * h, R * sp.diag(0, k2 * (kappa_max - k2)) * R.T


def rank_one_family_exponent() -> sp.Expr:
    """γ(q) of the aligned rank-one family: h_p = κ_j e_j e_jᵀ for the π_j-fraction of samples aligned with
    direction j, κ_j = κ₀ π_j^q. Then λ_j = π_j κ_j = κ₀ π_j^{1+q}, S_j = π_j κ_j² = κ₀² π_j^{1+2q}, so
    S_j = κ₀^{2−γ} λ_j^γ with γ = (1 + 2q)/(1 + q)."""
    return (1 + 2 * q) / (1 + q)


def rank_one_family_moments() -> tuple[sp.Expr, sp.Expr]:
    """(λ_j, S_j) of the aligned rank-one family (see :func:`rank_one_family_exponent`)."""
    kap = kappa0 * pi_j ** q
    return pi_j * kap, pi_j * kap ** 2


def softmax_output_hessians(K: int):
    """Symbolic logits f (K), target y, π = softmax(f): returns (f, y, π, ∇²_f of cross-entropy −Σ y_k log π_k,
    ∇²_f of ½‖π − y‖², the closed forms diag π − ππᵀ and J_πJ_π + Σ_k (π_k − y_k)∇²π_k with
    ∂²π_k/∂f_i∂f_j = π_k[(δ_ki − π_i)(δ_kj − π_j) − π_i(δ_ij − π_j)]), with exp(f_k) written as positive e_k."""
    f = sp.symbols(f"f1:{K + 1}", real=True)
    y = sp.symbols(f"y1:{K + 1}", real=True)
    Z = sum(sp.exp(fi) for fi in f)
    pi = [sp.exp(fi) / Z for fi in f]
    ce = -sum(yk * sp.log(pk) for yk, pk in zip(y, pi))
    smse = sum((pk - yk) ** 2 for pk, yk in zip(pi, y)) / 2
    ce_h = sp.hessian(ce, f)
    J = sp.Matrix(K, K, lambda i, j: pi[i] * (int(i == j) - pi[j]))
    d2 = [sp.Matrix(K, K, lambda i, j: pi[k] * ((int(k == i) - pi[i]) * (int(k == j) - pi[j]) - pi[i] * (int(i == j) - pi[j])))
          for k in range(K)]
    smse_closed = J * J + sum(((pi[k] - y[k]) * d2[k] for k in range(K)), sp.zeros(K))
    # exp(f_k) → positive symbols e_k: every entry becomes a rational function (fast exact cancellation)
    e = sp.symbols(f"e1:{K + 1}", positive=True)
    rational = {sp.exp(fk): ek for fk, ek in zip(f, e)}
    out = [sp.Matrix(m).subs(rational) for m in (ce_h, sp.hessian(smse, f), J, smse_closed)]
    return (f, y, [p.subs(rational) for p in pi], *out)


def explicit_last_layer_hessian(K: int, n: int, loss: str):
    """Hessian of ℓ(W a) with respect to vec(W) (row-major, W ∈ ℝ^{K×n}) computed by sympy, and the closed form
    G ⊗ aaᵀ with G = ∇²_f ℓ: I_K for ``mse`` (ℓ = ½‖Wa − y‖²), diag π − ππᵀ for ``ce`` (π = softmax(Wa), Σ_k y_k = 1;
    evaluated exactly at W_k1 = log(k + 2)/a_1, W_kj = 0 otherwise, with a and y symbolic)."""
    if loss not in ("mse", "ce"):
        raise ParameterError(f"loss must be 'mse' or 'ce', got {loss!r}")
    W = sp.Matrix(K, n, lambda i, j: sp.Symbol(f"W_{i + 1}{j + 1}", real=True))
    a = sp.Matrix(sp.symbols(f"a1:{n + 1}", real=True))
    y = sp.symbols(f"y1:{K + 1}", real=True)
    f = W * a
    flat = list(W)  # row-major
    if loss == "mse":
        ell = sum((f[k] - y[k]) ** 2 for k in range(K)) / 2
        G = sp.eye(K)
    else:
        Z = sum(sp.exp(f[k]) for k in range(K))
        pi = [sp.exp(f[k]) / Z for k in range(K)]
        ell = -sum(y[k] * sp.log(pi[k]) for k in range(K))
        G = sp.diag(*pi) - sp.Matrix(pi) * sp.Matrix(pi).T
        # the closed form uses Σ_k y_k = 1 (one-hot): impose it on the sympy Hessian
    hess = sp.hessian(ell, flat)
    closed = sp.kronecker_product(G, a * a.T)
    if loss == "ce":
        # exact evaluation on the family W_k1 = log(k + 2)/a_1, W_kj = 0 (j > 1): f_k = log(k + 2), so every
        # exponential becomes an integer and the entries are rational functions of a and y
        point = {W[k, j]: (sp.log(k + 2) / a[0] if j == 0 else 0) for k in range(K) for j in range(n)}
        hess = hess.subs(y[-1], 1 - sum(y[:-1])).subs(point)
        closed = closed.subs(point)
    return hess, closed


def loglog_slope(curve: sp.Expr, x: sp.Symbol = lam) -> sp.Expr:
    """Local log–log slope x ∂ log(curve)/∂x (the exponent γ of curve ∝ x^γ where it is a power law)."""
    return sp.simplify(x * sp.diff(sp.log(curve), x))


def least_squares_gaussian_moment(n: int = 2) -> tuple[sp.Matrix, sp.Matrix]:
    """x ~ N(0, Σ), Σ = diag(λ_1..λ_n): (E[‖x‖² x xᵀ] by Isserlis, tr(Σ) Σ + 2Σ²)."""
    lams = sp.symbols(f"lambda1:{n + 1}", positive=True)
    xs = sp.symbols(f"x1:{n + 1}", real=True)
    x = sp.Matrix(xs)
    Sig = sp.diag(*lams)
    M = ((x.T * x)[0, 0] * x * x.T).applyfunc(lambda e: gaussian_expectation(sp.expand(e), xs, cov=Sig))
    return M, Sig.trace() * Sig + 2 * Sig * Sig


# =========================================================================== derivations
@register("curv.noise_curvature",
          title="SGD noise covariance vs curvature: $C \\propto E_p[h_p^2]$, commutation, $C_{ii} \\propto H_{ii}^\\gamma$",
          example={"B": 4, "sigma_w": 0.5, r"\mathbb{E}_p[h_p^2]": [[2.0, 0.3], [0.3, 1.0]]})
def _noise_curvature() -> Derivation:
    n = sp.Symbol("n", positive=True, integer=True)
    Cm, Hm = sp.MatrixSymbol("C", n, n), sp.MatrixSymbol("H", n, n)
    Eh2 = sp.MatrixSymbol(r"\mathbb{E}_p[h_p^2]", n, n)
    d = Derivation(
        summary=("The minibatch noise covariance is a covariance of per-sample gradients. Through the activity--weight "
                 "duality, per-sample gradient differences near a minimum are per-sample Hessians acting on dual weight "
                 "displacements; isotropic dual-weight fluctuations give $C \\propto E_p[h_p^2]$, a matrix that commutes "
                 "with $H = E_p[h_p]$ when the $h_p$ share $H$'s eigenbasis but is not proportional to it. In $H$'s "
                 "eigenbasis $\\lambda_i^2 \\le S_i \\le \\kappa_{\\max}\\lambda_i$, so on a log--log plot "
                 "$C_{ii} \\propto H_{ii}^\\gamma$ with $1 \\le \\gamma \\le 2$; an exactly solvable rank-one family "
                 "realises every $\\gamma \\in [1, 2)$, and least squares with isotropic dual-weight residuals realises "
                 "$C = \\sigma_w^2 E_p[h_p^2]$ exactly with $\\gamma \\to 1$."),
        assumptions=[
            "$L = (1/P)\\sum_p \\ell_p$; minibatches of size $B$ drawn with replacement (noise covariance $C_1/B$).",
            "Near a minimum: $g_p - g_q \\approx h_p \\Delta w_p$ with the dual weight displacement $\\Delta w_p$ of "
            "sample $p$ (activity--weight duality) independent of $h_p$ and isotropic, $E[\\Delta w\\Delta w^T] = "
            "\\sigma_w^2 I$.",
            "Bounds: $h_p \\succeq 0$ (true for the last layer with MSE or cross-entropy, and for the Gauss--Newton "
            "part in general); $\\kappa_{\\max} = \\max_p \\|h_p\\|$.",
            "Rank-one family: $h_p = \\kappa_j e_j e_j^T$ for a fraction $\\pi_j$ of the samples, "
            "$\\kappa_j = \\kappa_0 \\pi_j^q$, $q \\ge 0$.",
            "Least squares: $h_p = x_p x_p^T$, $g_p = r_p x_p$; Gaussian inputs $x \\sim N(0, \\Sigma)$ for the "
            "exponent.",
        ],
        steps=[],
        result=sp.Eq(Cm, sigma_w ** 2 / (2 * B) * Eh2),
        parameters=(sigma_w, B),
        references=(ZHANG_YANG_TU_2026, FENG_TU_2021, MARTENS_2020),
    )
    g = sp.MatrixSymbol("g_p", n, 1)
    gbar = sp.MatrixSymbol(r"\bar g", n, 1)
    C1 = sp.MatrixSymbol("C_1", n, n)
    d.step("Per-sample-gradient covariance and the minibatch noise covariance (mean of $B$ i.i.d. draws; the paper's "
           "normalisation $C = C_1/B$).",
           sp.Eq(Cm, (sp.MatrixSymbol(r"\mathbb{E}_p[g_p g_p^T]", n, n) - gbar * gbar.T) / B))
    cov2, pair2 = explicit_pair_covariance(3, 2)
    d.extras["pair_covariance_residual"] = (cov2 - pair2).applyfunc(sp.simplify)
    d.step("Pair form of the covariance (checked with three symbolic 2-vectors).",
           sp.Eq(C1, sp.MatrixSymbol(r"\frac{1}{2}\mathbb{E}_{p,q}[(g_p - g_q)(g_p - g_q)^T]", n, n)))
    lhs, rhs = explicit_awd(2, 3)
    d.extras["awd_residual"] = (lhs - rhs).applyfunc(sp.simplify)
    Wm, a, da = sp.MatrixSymbol("W", n, n), sp.MatrixSymbol("a", n, 1), sp.MatrixSymbol(r"\Delta a", n, 1)
    W_star = sp.MatrixSymbol(r"\Delta W^*", n, n)
    d.step("Activity--weight duality: $\\Delta W^* = (W\\Delta a)a^T/\\|a\\|^2$ reproduces the pre-activation of the "
           "changed activity (checked symbolically for $W \\in \\mathbb{R}^{2\\times 3}$).",
           sp.Eq((Wm + W_star) * a, Wm * (a + da)))
    dw = sp.MatrixSymbol(r"\Delta w_p", n, 1)
    d.step("Near a minimum the per-sample gradient differences are per-sample curvatures acting on the dual weight "
           "displacements.", sp.Eq(g - sp.MatrixSymbol("g_q", n, 1), sp.MatrixSymbol("h_p", n, n) * dw))
    Eiso, iso = explicit_isotropic_dual_weight(2)
    d.extras["isotropic_residual"] = (Eiso - iso).applyfunc(sp.simplify)
    d.step("Isotropic dual-weight fluctuations: $E[(h\\Delta w)(h\\Delta w)^T] = \\sigma_w^2 h^2$ (Isserlis, "
           "checked for a symbolic $2\\times2$ $h$).",
           sp.Eq(sp.MatrixSymbol(r"\mathbb{E}[h_p\Delta w_p\Delta w_p^T h_p]", n, n),
                 sigma_w ** 2 * sp.MatrixSymbol("h_p^2", n, n)))
    d.step("Hence (Theorem 1 of the paper), by the pair form: $C$ is proportional to the mean squared per-sample "
           "Hessian, not to $H$. $C$ and $H$ commute exactly when the $h_p$ share one eigenbasis, approximately "
           "when they nearly do.", d.result)
    S_i = sp.Symbol("S_i", positive=True)
    d.step("Diagonal elements in $H$'s eigenbasis ($Hv_i = \\lambda_i v_i$, $\\|v_i\\| = 1$).",
           sp.Eq(S_i, sp.Symbol(r"\mathbb{E}_p\|h_p v_i\|^2")))
    cs_l, cs_r = explicit_cauchy_schwarz(2)
    d.extras["cauchy_schwarz_residual"] = sp.expand(cs_l - cs_r)
    d.step("Lower bound: $\\|h v\\|^2 - (v^T h v)^2 = \\|(I - vv^T)hv\\|^2 \\ge 0$ (checked symbolically), then "
           "Jensen $E[x^2] \\ge E[x]^2$ with $x_p = v_i^Th_pv_i$, $E_p x_p = \\lambda_i$.",
           sp.Ge(S_i, lam ** 2))
    gap, gap_closed = explicit_kmax_gap()
    d.extras["kmax_gap_residual"] = (gap - gap_closed).applyfunc(sp.simplify)
    d.step("Upper bound: for $h \\succeq 0$, $\\kappa_{\\max}h - h^2 = R\\,\\mathrm{diag}(k_j(\\kappa_{\\max} - k_j))R^T "
           "\\succeq 0$ (checked for $2\\times 2$), so $v_i^T h_p^2 v_i \\le \\kappa_{\\max} v_i^T h_p v_i$.",
           sp.Le(S_i, kappa_max * lam))
    # the exponent bounds are the log-log slopes of the two bounding curves (extras: the checks take them from here)
    d.extras.update(gamma_lower=loglog_slope(kappa_max * lam), gamma_upper=loglog_slope(lam ** 2))
    d.step("On a log--log plot the points $(\\lambda_i, S_i)$ lie between the bounding curves, whose slopes "
           "$\\lambda\\,\\partial_\\lambda\\log S$ are 1 ($\\kappa_{\\max}\\lambda_i$) and 2 ($\\lambda_i^2$): a "
           "power law across directions has",
           sp.And(sp.Ge(sp.Symbol("gamma"), d.extras["gamma_lower"]), sp.Le(sp.Symbol("gamma"), d.extras["gamma_upper"])))
    lam_j, S_j = rank_one_family_moments()
    gamma_q = rank_one_family_exponent()
    d.extras.update(rank_one_lambda=lam_j, rank_one_S=S_j, rank_one_gamma=gamma_q)
    d.step("Rank-one family $h_p = \\kappa_j e_je_j^T$ on a fraction $\\pi_j$ of samples, $\\kappa_j = \\kappa_0\\pi_j^q$: "
           "$H$ and $E_p[h_p^2]$ are diagonal (they commute), with",
           sp.Eq(sp.Tuple(sp.Symbol("lambda_j"), sp.Symbol("S_j")), sp.Tuple(lam_j, S_j)))
    d.step("Eliminating $\\pi_j$: $S_j = \\kappa_0^{2-\\gamma}\\lambda_j^{\\gamma}$ exactly, with "
           "($q = 0$: curvature independent of direction, $\\gamma = 1$; $q \\to \\infty$: curvature concentrated "
           "on the top directions, $\\gamma \\to 2$)",
           sp.Eq(sp.Symbol("gamma"), gamma_q))
    d.step("Least squares: $h_p = x_px_p^T$, $g_p = r_px_p$, so at the minimum ($\\bar g = 0$)",
           sp.Eq(C1, sp.MatrixSymbol(r"\mathbb{E}_p[r_p^2 x_p x_p^T]", n, n)))
    d.step("and $E_p[h_p^2] = E_p[\\|x_p\\|^2 x_px_p^T]$: $C_1 = c\\,E_p[h_p^2]$ exactly when "
           "$E[r_p^2\\mid x_p] = c\\|x_p\\|^2$ — isotropic dual-weight residuals $r_p = x_p^T\\Delta w_p$, "
           "$E\\Delta w\\Delta w^T = \\sigma_w^2 I$ (teacher mismatch that is isotropic in weight space).",
           sp.Eq(sp.Symbol(r"\mathbb{E}[r_p^2|x_p]"), sigma_w ** 2 * sp.Symbol(r"\|x_p\|^2")))
    d.step("Label noise instead ($E[r_p^2\\mid x_p] = \\sigma^2$): $C_1 = \\sigma^2 H$ exactly, $\\gamma = 1$; it is "
           "$\\propto E_p[h_p^2]$ only when $\\|x_p\\|$ is constant.", sp.Eq(C1, sigma ** 2 * Hm))
    M, closed = least_squares_gaussian_moment(2)
    d.extras["gaussian_moment_residual"] = (M - closed).applyfunc(sp.simplify)
    S_ls = sigma_w ** 2 * lam * (trS + 2 * lam)
    d.extras["least_squares_S"] = S_ls
    d.step("Gaussian inputs, isotropic dual-weight residuals: $E[\\|x\\|^2xx^T] = \\mathrm{tr}(\\Sigma)\\Sigma + "
           "2\\Sigma^2$ (Isserlis), so along $H$'s eigen-directions", sp.Eq(sp.Symbol("C_{1,ii}"), S_ls))
    local = loglog_slope(S_ls)
    d.extras["least_squares_local_gamma"] = local
    d.step("Local log--log slope: $\\gamma = 1 + O(\\lambda_{\\max}/\\mathrm{tr}\\Sigma)$ — least squares in many "
           "dimensions gives $\\gamma \\to 1$.", sp.Eq(sp.Symbol("gamma_i"), local))
    return d


@register("curv.per_sample_hessians",
          title="Per-sample Hessians of a dense last layer: MSE, cross-entropy, softmax + MSE",
          example={"G_p": [[1.0, 0.2], [0.2, 0.5]], "a_p a_p^T": [[1.0, 0.5], [0.5, 0.25]]})
def _per_sample_hessians() -> Derivation:
    K = sp.Symbol("K", positive=True, integer=True)
    n = sp.Symbol("n", positive=True, integer=True)
    hp = sp.MatrixSymbol("h_p", K * n, K * n)
    Gp = sp.MatrixSymbol("G_p", K, K)
    aa = sp.MatrixSymbol("a_p a_p^T", n, n)
    d = Derivation(
        summary=("The output $f = Wa$ is linear in the last-layer weights, so the per-sample Hessian with respect to "
                 "$\\mathrm{vec}(W)$ (row-major) is exactly $G_p \\otimes a_pa_p^T$ with $G_p = \\nabla_f^2 \\ell_p$. "
                 "For a hidden layer of a ReLU network the map from that layer's weights to $f$ is piecewise linear, "
                 "so its diagonal Hessian block is $J_p^TG_pJ_p$ (Gauss--Newton) almost everywhere, too."),
        assumptions=["$f = Wa$, no bias; one-hot targets $y$ for cross-entropy; $\\pi = \\mathrm{softmax}(f)$."],
        steps=[],
        result=sp.Eq(hp, sp.kronecker_product(Gp, aa)),
        references=(ZHANG_YANG_TU_2026, MARTENS_2020),
    )
    d.step("MSE, $\\ell = \\frac12\\|Wa - y\\|^2$: $G_p = I_K$ (checked by sympy for $K = 2$, $n = 2$).",
           sp.Eq(Gp, sp.Identity(K)))
    pis = sp.MatrixSymbol(r"\pi_p", K, 1)
    d.step("Cross-entropy, $\\ell = -\\log\\pi_{y}$: $G_p = \\mathrm{diag}\\,\\pi_p - \\pi_p\\pi_p^T$ — curvature "
           "set by the confidence: it vanishes as $\\pi_p \\to$ one-hot (checked by sympy for $K = 2$, $n = 2$, exactly on a family of points).",
           sp.Eq(Gp, sp.MatrixSymbol(r"\mathrm{diag}\,\pi_p", K, K) - pis * pis.T))
    d.step("Softmax + MSE, $\\ell = \\frac12\\|\\pi - y\\|^2$: $G_p = J_\\pi^2 + \\sum_k (\\pi_k - y_k)\\nabla^2\\pi_k$, "
           "$J_\\pi = \\mathrm{diag}\\,\\pi - \\pi\\pi^T$, $\\partial^2\\pi_k/\\partial f_i\\partial f_j = "
           "\\pi_k[(\\delta_{ki} - \\pi_i)(\\delta_{kj} - \\pi_j) - \\pi_i(\\delta_{ij} - \\pi_j)]$ (checked for $K = 3$); "
           "the residual term makes $G_p$ indefinite away from the minimum.",
           sp.Eq(Gp, sp.MatrixSymbol(r"J_\pi^2 + \sum_k (\pi_k - y_k)\nabla^2\pi_k", K, K)))
    d.step("Squared per-sample Hessian (mixed product): the quantity entering $C$.",
           sp.Eq(sp.MatrixSymbol("h_p^2", K * n, K * n),
                 sp.kronecker_product(sp.MatrixSymbol("G_p^2", K, K), sp.MatrixSymbol(r"\|a_p\|^2 a_p a_p^T", n, n))))
    return d
