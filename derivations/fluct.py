"""Seed 003: weight fluctuations of one- and two-layer linear networks, broken detailed balance, and the
inverse variance–flatness relation (IVFR).

Conventions (ARCHITECTURE.md): ℓ_p = ½‖f(x_p) − y_p‖², L = (1/P) Σ_p ℓ_p; Itô; t = ηk; κ the minibatch noise scale;
T = ηκ. Single layer: y = w*ᵀx + ε, ε ~ N(0, σ²), P > N, H = XᵀX/P, ŵ the least-squares solution,
Π = X(XᵀX)⁻¹Xᵀ, leverages h_p = Π_pp. Two layers: f(x) = W₂W₁x, W₁ ∈ ℝ^{M×N}, W₂ ∈ ℝ^{K×M}, product
W = W₂W₁, θ = (W₁, W₂), J = ∂W/∂θ (δW = W₂δW₁ + δW₂W₁).

Each registered derivation states its result in matrix form and carries explicit small-dimension
helpers (``explicit_*``) that the tests compare with ``simplify(a − b) == 0``.
"""

from __future__ import annotations

import sympy as sp

from derivations.sgd import sgd_sde
from derivations.derivation import Derivation, Reference, register
from derivations.calculus.gaussian import gaussian_expectation
from derivations.calculus.linear_sde import lyapunov_solve
from derivations.references import FENG_TU_2021, GARDINER_2009, GROSS_2024, MANDT_2017
from derivations.calculus.stationary import detailed_balance

eta = sp.Symbol("eta", positive=True)
kappa = sp.Symbol("kappa", positive=True)
sigma = sp.Symbol("sigma", positive=True)
N = sp.Symbol("N", positive=True, integer=True)
P = sp.Symbol("P", positive=True, integer=True)
c = sp.Symbol("c", positive=True)           # C = c H (noise proportional to the Hessian)
T = sp.Symbol("T", positive=True)           # T = η κ
alpha = sp.Symbol("alpha", positive=True)   # eigenvalue of W₂W₂ᵀ (output mode)
s = sp.Symbol("s", positive=True)           # singular value of W₁ (hidden mode)
h = sp.Symbol("h", positive=True)           # v_mᵀ H v_m along the input direction of the mode
L0 = sp.Symbol("L_0", positive=True)        # loss at the centre of the fluctuations
F = sp.Symbol("F", positive=True)           # Feng–Tu flatness

KUNIN_2021 = Reference(
    "kunin2021", "D. Kunin, J. Sagastuy-Brena, S. Ganguli, D. L. K. Yamins and H. Tanaka",
    "Neural mechanics: symmetry and broken conservation laws in deep learning dynamics", "ICLR", 2021, "2012.04728")


# =========================================================================== single layer
def explicit_label_noise_average(X: sp.Matrix) -> tuple[sp.Matrix, sp.Matrix]:
    """For data X (P×N, explicit entries): (E_ε C(ŵ) by Isserlis over ε ~ N(0, σ²I_P), the leverage formula
    σ²[H − (1/P) Σ_p h_p x_p x_pᵀ]). C(ŵ) = (1/P) Σ_p r̂_p² x_p x_pᵀ with r̂ = −(I − Π)ε (the teacher part of y
    is fitted exactly, so only ε enters)."""
    X = sp.Matrix(X)
    n_samples, n = X.shape
    eps = sp.symbols(f"epsilon1:{n_samples + 1}", real=True)
    G = (X.T * X).inv()
    Pi = X * G * X.T
    r = -(sp.eye(n_samples) - Pi) * sp.Matrix(eps)
    C = sum((r[p] ** 2 * X[p, :].T * X[p, :] for p in range(n_samples)), sp.zeros(n)) / n_samples
    EC = C.applyfunc(lambda e: gaussian_expectation(sp.expand(e), eps, cov=sigma ** 2 * sp.eye(n_samples)))
    H = X.T * X / n_samples
    lev = [(X[p, :] * G * X[p, :].T)[0, 0] for p in range(n_samples)]
    formula = sigma ** 2 * (H - sum((lev[p] * X[p, :].T * X[p, :] for p in range(n_samples)), sp.zeros(n)) / n_samples)
    return EC, formula


def ou_current_matrix(H: sp.Matrix, D: sp.Matrix) -> tuple[sp.Matrix, sp.Matrix]:
    """Stationary OU current J(δ) = M δ p(δ) of dδ = −Hδ dt + D^{1/2} dW: returns (M = −H + ½DΣ⁻¹, Σ) with
    HΣ + ΣH = D (J_i = a_i p − ½ Σ_j D_ij ∂_j p for the Gaussian p ∝ exp(−½δᵀΣ⁻¹δ))."""
    Sigma = lyapunov_solve(H, D)
    return (-H + D * Sigma.inv() / 2).applyfunc(sp.simplify), Sigma


@register("fluct.single_layer",
          title="Single-layer linear network: noise covariance at the minimum, detailed balance, isotropic loss",
          example={"sigma": 0.5, "H": [[2.0, 0.3], [0.3, 1.0]], r"\frac{1}{P}\sum_p h_p x_p x_p^T": [[0.2, 0.0], [0.0, 0.1]]})
def _single_layer() -> Derivation:
    n = N
    Hs, Cs, Ss = sp.MatrixSymbol("H", n, n), sp.MatrixSymbol("C", n, n), sp.MatrixSymbol(r"\Sigma", n, n)
    q, t = sp.symbols("q t", positive=True)
    hp = sp.Symbol("h_p", positive=True)
    d = Derivation(
        summary=("At the least-squares minimum the SGD noise is set by the residuals, which are label noise "
                 "projected off the column space of $X$; its label-noise average is $\\sigma^2$ times the Hessian minus "
                 "a leverage term. The leverage term makes $C$ differ from (and not commute with) $H$ when $P$ is close "
                 "to $N$; then the stationary Ornstein--Uhlenbeck process carries a probability current and detailed "
                 "balance is broken."),
        assumptions=[
            "$y = X w_* + \\epsilon$, $\\epsilon \\sim N(0, \\sigma^2 I_P)$; $P > N$ and $X$ of rank $N$.",
            "Continuum limit near $\\hat w$ with the noise frozen at $C = C(\\hat w)$ (O($\\eta$) accurate; the exact "
            "discrete second moment is linreg.discrete_stationary_covariance).",
            "Large-$P$ statements: Gaussian inputs, $N, P \\to \\infty$ at fixed $q = N/P < 1$ (leverages concentrate).",
        ],
        steps=[],
        result=sp.Eq(sp.MatrixSymbol(r"\mathbb{E}_\epsilon C", n, n),
                     sigma ** 2 * (Hs - sp.MatrixSymbol(r"\frac{1}{P}\sum_p h_p x_p x_p^T", n, n))),
        parameters=(sigma,),
        references=(GROSS_2024, MANDT_2017, GARDINER_2009),
    )
    rhat = sp.MatrixSymbol(r"\hat r", P, 1)
    Pi = sp.MatrixSymbol(r"\Pi", P, P)
    d.step("Residuals at the minimum: the teacher part is fitted exactly, the label noise is projected off "
           "the column space, $\\Pi = X(X^TX)^{-1}X^T$.",
           sp.Eq(rhat, -(sp.Identity(P) - Pi) * sp.MatrixSymbol(r"\epsilon", P, 1)))
    d.step("Noise covariance at the minimum ($\\nabla L = 0$).",
           sp.Eq(Cs, sp.MatrixSymbol(r"\frac{1}{P}\sum_p \hat r_p^2 x_p x_p^T", n, n)))
    d.step("Label-noise average of one squared residual ($I - \\Pi$ is a projector): leverage $h_p = x_p^T (X^TX)^{-1} x_p$.",
           sp.Eq(sp.Symbol(r"\mathbb{E}\hat r_p^2"), sigma ** 2 * (1 - hp)))
    d.step("Hence the exact finite-$P$ average (checked by Isserlis on explicit data).", d.result)
    d.step("The leverages sum to the rank.", sp.Eq(sp.Sum(sp.Symbol("h_p"), (sp.Symbol("p"), 1, P)), N))
    loo = sp.simplify((t / (1 + t)).subs(t, N / (P - N)))
    d.step("Leave-one-out (Sherman--Morrison): $h_p = t_p/(1 + t_p)$ with $t_p = x_p^T A_{-p}^{-1} x_p$, which "
           "concentrates at $\\mathrm{tr} A_{-p}^{-1} \\to N/(P - N)$ (Marchenko--Pastur mean of $1/\\lambda$).",
           sp.Eq(hp, loo))
    EC_large = sigma ** 2 * (1 - N / P)
    d.step("Equal leverages give $C \\propto H$: the large-$P$ limit at fixed $q = N/P$.", sp.Eq(Cs, EC_large * Hs))
    d.step("Deviation from proportionality: exactly the leverage dispersion.",
           sp.Eq(Cs - EC_large * Hs, -sp.MatrixSymbol(r"\frac{\sigma^2}{P}\sum_p (h_p - N/P) x_p x_p^T", n, n)))
    d.step("$P \\to \\infty$ at fixed $N$.", sp.Eq(sp.Limit(EC_large, P, sp.oo), sp.limit(EC_large, P, sp.oo)))
    d.step("Continuum stationary covariance (Lyapunov).", sp.Eq(Hs * Ss + Ss * Hs, eta * kappa * Cs))
    # current and detailed balance, explicitly for N = 2 in H's eigenbasis
    l1, l2 = sp.symbols("lambda1 lambda2", positive=True)
    c11, c22 = sp.symbols("c11 c22", positive=True)
    c12 = sp.Symbol("c12", real=True)
    H2, C2 = sp.diag(l1, l2), sp.Matrix([[c11, c12], [c12, c22]])
    M2, S2 = ou_current_matrix(H2, T * C2)
    Jm = sp.MatrixSymbol("J(\\delta)", n, 1)
    delta = sp.MatrixSymbol(r"\delta", n, 1)
    d.step("Stationary probability current of the OU process $d\\delta = -H\\delta\\,dt + \\sqrt{T}C^{1/2}dW$ "
           "($T = \\eta\\kappa$, $p \\propto e^{-\\delta^T\\Sigma^{-1}\\delta/2}$); using the Lyapunov equation.",
           sp.Eq(Jm, sp.Rational(1, 2) * (Ss * Hs - Hs * Ss) * sp.Inverse(Ss) * delta * sp.Symbol("p(\\delta)")))
    d.step("Explicitly for $N = 2$, $H = \\mathrm{diag}(\\lambda_1, \\lambda_2)$: the current matrix $M$ in $J = M\\delta p$.",
           sp.Eq(sp.MatrixSymbol("M_2", 2, 2), M2))
    x1, x2 = sp.symbols("delta1 delta2", real=True)
    sde = sgd_sde([x1, x2], H2 * sp.Matrix([x1, x2]), C2, eta=T, batch_size=1)
    condition, _ = detailed_balance(sde)
    d.step("Detailed balance (curl-free $D^{-1}a$, derivations.calculus.stationary) of that SDE: it holds iff "
           "$c_{12}(\\lambda_1 - \\lambda_2) = 0$, i.e. iff $[H, C] = 0$.", condition)
    iso = lyapunov_solve(H2, T * c * H2)
    d.step("Isotropic case $C = cH$: detailed balance, $\\Sigma \\propto I$, "
           "$p \\propto \\exp(-2L/(Tc))$.", sp.Eq(sp.MatrixSymbol(r"\Sigma_{C = cH}", 2, 2), iso))
    excess = sp.simplify((H2 * S2).trace() / 2)
    d.step("Excess loss $\\mathbb{E}[L - L(\\hat w)] = \\frac12 \\mathrm{tr}(H\\Sigma) = \\frac{\\eta\\kappa}{4} \\mathrm{tr}\\,C$ "
           "(trace of the Lyapunov equation; explicit $N = 2$).", sp.Eq(sp.Symbol(r"\Delta L"), excess))
    ki, ci, si = sp.symbols("k_i c_i sigma_i^2", positive=True)
    d.step("Along a principal direction $v_i$ of $\\Sigma$ ($\\Sigma v_i = \\sigma_i^2 v_i$) the loss is exactly "
           "quadratic with curvature $k_i = v_i^T H v_i$, and $v_i^T(H\\Sigma + \\Sigma H)v_i$ gives, with $c_i = v_i^T C v_i$:",
           sp.Eq(si, T * ci / (2 * ki)))
    d.step("So the variance follows the curvature only through the noise-to-curvature ratio $c_i/k_i$, which is "
           "constant when $C \\propto H$: an effectively isotropic loss, no variance--flatness relation.",
           sp.Eq(si.subs(ci, c * ki), (T * ci / (2 * ki)).subs(ci, c * ki)))
    d.extras.update(current_matrix_n2=M2, sigma_n2=S2, detailed_balance_n2=condition, isotropic_sigma=iso,
                    excess_loss_n2=excess, large_P=EC_large, leave_one_out_leverage=loo,
                    pca_variance=T * ci / (2 * ki))
    return d


# =========================================================================== two layers
def explicit_two_layer(n_in: int, n_hidden: int, n_out: int):
    """Symbolic W₁ (M×N), W₂ (K×M), an input x and target y: returns dict with the per-sample gradients
    (g₁ = W₂ᵀ r xᵀ, g₂ = r xᵀW₁ᵀ with the shared residual r = W₂W₁x − y) and the loss ℓ."""
    W1 = sp.Matrix(n_hidden, n_in, lambda i, j: sp.Symbol(f"u{i + 1}{j + 1}", real=True))
    W2 = sp.Matrix(n_out, n_hidden, lambda i, j: sp.Symbol(f"v{i + 1}{j + 1}", real=True))
    x = sp.Matrix(sp.symbols(f"x1:{n_in + 1}", real=True))
    y = sp.Matrix(sp.symbols(f"y1:{n_out + 1}", real=True))
    r = W2 * W1 * x - y
    loss = (r.T * r)[0, 0] / 2
    return dict(W1=W1, W2=W2, x=x, y=y, r=r, loss=loss, g1=W2.T * r * x.T, g2=r * x.T * W1.T)


def _flat(M: sp.Matrix) -> sp.Matrix:
    return M.reshape(M.shape[0] * M.shape[1], 1)


def explicit_jacobian(W1: sp.Matrix, W2: sp.Matrix) -> sp.Matrix:
    """J = ∂vec(W₂W₁)/∂θ, θ = (vec W₁, vec W₂) row-major (explicit matrices)."""
    theta = list(_flat(W1)) + list(_flat(W2))
    return _flat(W2 * W1).jacobian(theta)


def balance_step(W1: sp.Matrix, W2: sp.Matrix, G: sp.Matrix, lr=eta) -> sp.Matrix:
    """Δ_{k+1} − Δ_k for one SGD step (∇_{W₁} = W₂ᵀG, ∇_{W₂} = GW₁ᵀ), Δ = W₁W₁ᵀ − W₂ᵀW₂."""
    W1n, W2n = W1 - lr * W2.T * G, W2 - lr * G * W1.T
    return (W1n * W1n.T - W2n.T * W2n - (W1 * W1.T - W2.T * W2)).applyfunc(sp.expand)


@register("fluct.two_layer",
          title="Two-layer linear network: layer-wise SGD noise, the balance matrix and the stationary covariances",
          example={"T": 0.01, "alpha": 0.5, "c": 0.3, "s": 1.0})
def _two_layer() -> Derivation:
    Mh, K = sp.symbols("M K", positive=True, integer=True)
    W1, W2 = sp.MatrixSymbol("W_1", Mh, N), sp.MatrixSymbol("W_2", K, Mh)
    G, A, Bm = sp.MatrixSymbol("G", K, N), sp.MatrixSymbol("A", K, K), sp.MatrixSymbol("B", N, N)
    Delta = sp.MatrixSymbol(r"\Delta", Mh, Mh)
    Jm = sp.MatrixSymbol("J", K * N, Mh * N + K * Mh)
    Sig = sp.MatrixSymbol(r"\Sigma_\theta", Mh * N + K * Mh, Mh * N + K * Mh)
    sig2 = T * c / 2 * s ** 2 / (alpha + s ** 2)
    d = Derivation(
        summary=("Both layers are driven by the same per-sample residual, so their noises are correlated. The "
                 "rescaling symmetry makes the minima a manifold; gradient flow conserves the balance matrix, and "
                 "SGD noise drives it to a noise-balanced late-time state. Linearised there, the fluctuations are "
                 "confined to the directions normal to the manifold; with $C \\propto H$ their covariance is the "
                 "orthogonal projector onto those directions, whose layer blocks are anisotropic: the inter-layer "
                 "coupling is a source of anisotropy of its own."),
        assumptions=[
            "$f(x) = W_2 W_1 x$, $\\ell = \\frac12\\|f(x) - y\\|^2$, $y = W_* x + \\epsilon$, "
            "$\\epsilon \\sim N(0, \\sigma^2 I_K)$; $P > N$; hidden width $M = \\min(K, N)$ so that $W_2W_1$ can equal $\\hat W$.",
            "Late-time regime: $W_2W_1 = \\hat W$ (least squares) up to fluctuations of order $\\sqrt{\\eta\\kappa}$; "
            "the motion along the minimum manifold is slow (rate $\\eta\\kappa$) and is frozen in the linearisation.",
            "Closed forms with noise proportional to the Hessian, $C_W = c\\,(I_K \\otimes H)$ (large $P/N$, "
            "fluct.single_layer), and $H = I$ for the flatness.",
        ],
        steps=[],
        result=sp.Eq(sp.Symbol(r"\sigma^2_{W_2}(k, m)"), sig2),
        parameters=(T, c, alpha, s),
        references=(GROSS_2024, KUNIN_2021, MANDT_2017),
    )
    d.step("Minibatch gradients share the product-space gradient $G = \\frac1B\\sum_b r_b x_b^T$ "
           "($r_b = W_2W_1x_b - y_b$).",
           sp.Eq(sp.MatrixSymbol(r"\hat g_{W_1}", Mh, N), W2.T * G))
    d.step("Second layer.", sp.Eq(sp.MatrixSymbol(r"\hat g_{W_2}", K, Mh), G * W1.T))
    d.step("Per-layer SDEs, $d\\theta = -J^T\\nabla_W L\\,dt + \\sqrt{\\eta\\kappa}\\,(J^T C_W J)^{1/2} dW$: the "
           "noise covariance $C_\\theta = J^T C_W J$ has off-diagonal layer blocks $J_1^T C_W J_2$ (shared residual), "
           "symmetric as a whole.",
           sp.Eq(sp.MatrixSymbol(r"C_\theta", Mh * N + K * Mh, Mh * N + K * Mh), Jm.T * sp.MatrixSymbol("C_W", K * N, K * N) * Jm))
    d.step("Rescaling symmetry: $(W_1, W_2) \\to (G W_1, W_2 G^{-1})$ leaves $W_2W_1$ and $L$ unchanged; "
           "gradient flow conserves the balance matrix.",
           sp.Eq(sp.Derivative(Delta, sp.Symbol("t")), sp.ZeroMatrix(Mh, Mh), evaluate=False))
    d.step("Exact discrete step: the $O(\\eta)$ terms cancel, the balance matrix moves at $O(\\eta^2)$.",
           sp.Eq(sp.MatrixSymbol(r"\Delta_{k+1} - \Delta_k", Mh, Mh), eta ** 2 * (W2.T * G * G.T * W2 - W1 * G.T * G * W1.T)))
    d.step("At the minimum $\\mathbb{E}GG^T = \\kappa A$, $\\mathbb{E}G^TG = \\kappa B$ with "
           "$A = \\frac1P\\sum_p\\|x_p\\|^2\\hat r_p\\hat r_p^T$, $B = \\frac1P\\sum_p\\|\\hat r_p\\|^2 x_px_p^T$: noise-driven drift.",
           sp.Eq(sp.MatrixSymbol(r"\mathbb{E}[\Delta_{k+1} - \Delta_k]", Mh, Mh), eta ** 2 * kappa * (W2.T * A * W2 - W1 * Bm * W1.T)))
    d.step("Its fixed point on the manifold $W_2W_1 = \\hat W$ (the late-time state; unique up to a hidden rotation): "
           "with $A^{1/2}\\hat W B^{1/2} = R\\Lambda V^T$, $W_2 = A^{-1/2}R\\Lambda^{1/2}$, $W_1 = \\Lambda^{1/2}V^TB^{-1/2}$.",
           sp.Eq(W2.T * A * W2, W1 * Bm * W1.T))
    d.step("Linearisation at that state: $\\nabla_W L = 0$ there, so the Hessian is exactly Gauss--Newton and "
           "singular along the manifold; the Lyapunov equation is solved on the range of $J^T$.",
           sp.Eq(sp.MatrixSymbol(r"H_\theta", Mh * N + K * Mh, Mh * N + K * Mh),
                 Jm.T * sp.MatrixSymbol(r"I_K \otimes H", K * N, K * N) * Jm))
    Ht, Ct = (sp.MatrixSymbol(name, Mh * N + K * Mh, Mh * N + K * Mh) for name in (r"H_\theta", r"C_\theta"))
    lyapunov = d.step("Stationary covariance of the linearised (Ornstein--Uhlenbeck) SDE, with $C_\\theta = J^T C_W J$, "
                      "solved on the range of $J^T$ (zero along the manifold):", sp.Eq(Ht * Sig + Sig * Ht, T * Ct))
    d.step("With $C_W = c(I_K \\otimes H)$: $C_\\theta = cH_\\theta$ and the stationary covariance is the "
           "orthogonal projector onto the normal directions (isotropic there, zero along the manifold).",
           sp.Eq(Sig, T * c / 2 * Jm.T * sp.Inverse(Jm * Jm.T) * Jm))
    d.step("$JJ^T Z = W_2W_2^T Z + Z W_1^TW_1$; in the eigenbases ($W_2W_2^T e_k = \\alpha_k e_k$, "
           "$W_1 = \\sum_m s_m u_m v_m^T$) the second-layer block has eigenvectors $e_k u_m^T$ with eigenvalues:",
           d.result)
    d.step("First-layer block: eigenvectors $f_k v_j^T$ ($W_2 = \\sum_k \\sqrt{\\alpha_k} e_k f_k^T$), zero for "
           "$f \\perp$ rows of $W_2$.", sp.Eq(sp.Symbol(r"\sigma^2_{W_1}(k, j)"), T * c / 2 * alpha / (alpha + s ** 2)))
    d.step("Inter-layer coupling: the cross block pairs $e_k u_m^T$ with $f_k v_m^T$.",
           sp.Eq(sp.Symbol(r"\mathrm{Cov}_{W_1 W_2}(k, m)"), T * c / 2 * sp.sqrt(alpha) * s / (alpha + s ** 2)))
    # explicit scalar chain N = M = K = 1 and a diagonal 2×2×2 check
    a1, s1 = sp.symbols("a s", positive=True)
    J1 = sp.Matrix([[a1, s1]])  # w = a s: ∂/∂W₁ = a, ∂/∂W₂ = s
    proj1 = (J1.T * (J1 * J1.T).inv() * J1).applyfunc(sp.simplify)
    d.step("Scalar chain $w = W_2W_1$ with $W_1 = s$, $W_2 = a$: the projector ($\\Sigma_\\theta = \\frac{Tc}{2}\\times$ this).",
           sp.Eq(sp.MatrixSymbol(r"\Pi_{1,1,1}", 2, 2), proj1))
    d.extras.update(linearised_lyapunov=lyapunov, second_layer_variance=sig2, first_layer_variance=T * c / 2 * alpha / (alpha + s ** 2),
                    cross_covariance=T * c / 2 * sp.sqrt(alpha) * s / (alpha + s ** 2), scalar_projector=proj1)
    return d


# =========================================================================== IVFR
@register("fluct.ivfr",
          title="Inverse variance--flatness relation of the second layer of a two-layer linear network",
          example={"alpha": 0.5, "s": 1.0})
def _ivfr() -> Derivation:
    theta_ = sp.Symbol("theta", real=True)
    e = sp.E
    profile = L0 + s ** 2 * h * theta_ ** 2 / 2
    roots = sp.solve(sp.Eq(profile, e * L0), theta_)
    right, left = (next(r for r in roots if r.is_positive), next(r for r in roots if r.is_negative))
    width = sp.simplify(right - left)
    s2_of_F = sp.solve(sp.Eq(F, width), s)[0] ** 2
    sig2 = T * c / 2 * s ** 2 / (alpha + s ** 2)
    sig2_F = sp.simplify(sig2.subs(s, sp.sqrt(s2_of_F)))
    psi_local = sp.simplify(-sp.diff(sp.log(sig2_F), F) * F)
    psi_in_s = sp.simplify(psi_local.subs(F, width))
    km = sp.symbols("lambda_k lambda_m", positive=True)
    rho = sp.Symbol("rho", positive=True)  # K/N
    psi_pair = 2 * rho * km[0] / (rho * km[0] + km[1])
    d = Derivation(
        summary=("With Feng and Tu's definitions, the variance along a principal direction of the second layer "
                 "and the flatness along it are both set by the hidden singular value $s_m$; eliminating it gives "
                 "$\\sigma^2(F)$ in closed form. The local exponent $\\psi = -d\\ln\\sigma^2/d\\ln F = 2\\alpha_k/(\\alpha_k + s_m^2)$ "
                 "lies in $(0, 2)$: $\\psi = 2$ is the limit of directions much flatter than their output mode "
                 "($s_m^2 \\ll \\alpha_k$), not a universal value. The single layer has no such relation, and "
                 "equilibrium (Boltzmann, isotropic temperature) would give the opposite sign, $\\psi = -2$."),
        assumptions=[
            "Feng--Tu: PCA of the late-time weights gives variances $\\sigma_i^2$ along directions $p_i$; "
            "$F_i = \\theta_r - \\theta_l$ where $L(\\bar\\theta + \\theta p_i) = e\\,L_0$, $L_0 = L(\\bar\\theta) > 0$ (label noise).",
            "Second-layer principal directions $e_k u_m^T$ with $\\sigma^2 = \\frac{Tc}{2}\\frac{s_m^2}{\\alpha_k + s_m^2}$ (fluct.two_layer, "
            "noise $\\propto$ Hessian, centre at the minimum).",
            "The loss is exactly quadratic in $W_2$ at fixed $W_1$; along $e_k u_m^T$ its curvature is $s_m^2 h_m$, "
            "$h_m = v_m^T H v_m$ ($= 1$ for $H = I$).",
        ],
        steps=[],
        result=sp.Eq(sp.Symbol(r"\psi_{\mathrm{loc}}"), psi_in_s),
        parameters=(alpha, s),
        references=(FENG_TU_2021, GROSS_2024),
    )
    d.step("Loss profile along $p = e_k u_m^T$ (exact: $\\delta W = \\theta s_m e_k v_m^T$).",
           sp.Eq(sp.Function("L")(theta_), profile))
    d.step("Flatness: the two crossings of $e\\,L_0$.", sp.Eq(F, width))
    d.step("Variance of the same direction (fluct.two_layer).", sp.Eq(sp.Symbol(r"\sigma^2"), sig2))
    d.step("Eliminating $s_m$: the variance--flatness relation.", sp.Eq(sp.Symbol(r"\sigma^2(F)"), sig2_F))
    d.step("Local exponent $\\psi = -d\\ln\\sigma^2/d\\ln F$ in terms of $F$.", sp.Eq(sp.Symbol(r"\psi_{\mathrm{loc}}"), psi_local))
    d.step("In terms of the modes.", d.result)
    d.step("Flat directions ($F \\to \\infty$, $s_m^2 \\ll \\alpha_k$): the hypothesis $\\psi = 2$, "
           "$\\sigma^2 \\propto F^{-2}$.", sp.Eq(sp.Limit(psi_local, F, sp.oo), sp.limit(psi_local, F, sp.oo)))
    d.step("Sharp directions ($F \\to 0$): the variance saturates at $Tc/2$.",
           sp.Eq(sp.Limit(psi_local, F, 0), sp.limit(psi_local, F, 0)))
    d.step("Noise-balanced late-time state with isotropic data ($A \\propto N I_K$, $B \\propto K I_N$): "
           "$\\alpha_k/s_m^2 = (K/N)\\lambda_k/\\lambda_m$ ($\\lambda$: singular values of $\\hat W$, $\\rho = K/N$).",
           sp.Eq(sp.Symbol(r"\psi_{km}"), psi_pair))
    s_pair = sp.symbols("s_1 s_2", positive=True)  # two hidden modes seen by the same output mode k
    F_pair = [width.subs(s, si) for si in s_pair]
    chord = sp.simplify(sp.expand_log(-(sp.log(sig2_F.subs(F, F_pair[1])) - sp.log(sig2_F.subs(F, F_pair[0])))
                                      / (sp.log(F_pair[1]) - sp.log(F_pair[0])), force=True))
    u = sp.Symbol("u", real=True)
    d.step("Two directions of the same output mode ($\\alpha_k$ fixed), hidden modes $s_1$, $s_2$: the chord exponent "
           "$\\psi_{12} = -\\Delta\\ln\\sigma^2/\\Delta\\ln F$ between them. As $F \\propto 1/s$, it is the mean of "
           "$\\psi_{\\mathrm{loc}}$ over $\\ln s$ between $\\ln s_1$ and $\\ln s_2$: it lies between the two local "
           "exponents and tends to $\\psi_{\\mathrm{loc}}$ as $s_2 \\to s_1$ (the measurable form of the local exponent).",
           sp.Eq(sp.Symbol(r"\psi_{12}"), sp.Integral(psi_in_s.subs(s, sp.exp(u)), (u, sp.log(s_pair[0]), sp.log(s_pair[1])))
                 / (sp.log(s_pair[1]) - sp.log(s_pair[0]))))
    d.step("Evaluated.", sp.Eq(sp.Symbol(r"\psi_{12}"), chord))
    pair_sum = sp.simplify((psi_pair + psi_pair.subs({km[0]: km[1], km[1]: km[0]}, simultaneous=True)).subs(rho, 1))
    d.step("Square net ($\\rho = 1$): $\\psi_{km} + \\psi_{mk} = 2$, so the mean local exponent over all "
           "second-layer directions is exactly 1 (the pooled Feng--Tu fit is configuration dependent; PCA "
           "mixes nearly degenerate directions, e.g. the $k = m$ ones, all at $\\sigma^2 = Tc/4$).",
           sp.Eq(sp.Symbol(r"\psi_{km} + \psi_{mk}"), pair_sum))
    ki = sp.Symbol("k_i", positive=True)
    F_single = sp.simplify(width.subs(s ** 2 * h, ki).subs(s, sp.sqrt(ki / h)))
    d.step("Single layer: $\\sigma_i^2 = Tc_i/(2k_i)$ with $F_i$ a function of $k_i$ only; for $C = cH$, "
           "$\\sigma_i^2 = Tc/2$ whatever $F_i$: no relation ($\\psi = 0$).",
           sp.Eq(sp.Symbol("F_i"), F_single))
    d.step("Equilibrium with an isotropic temperature, $p \\propto e^{-L/\\tau}$: $\\sigma_i^2 = \\tau/k_i \\propto F_i^2$.",
           sp.Eq(sp.Symbol(r"\psi_{\mathrm{eq}}"), sp.Integer(-2)))
    d.extras.update(flatness=width, variance=sig2, variance_of_flatness=sig2_F, psi_of_flatness=psi_local, psi_chord=chord,
                    psi_pair=psi_pair, psi_pair_sum_square=pair_sum, psi_equilibrium=sp.Integer(-2))
    return d
