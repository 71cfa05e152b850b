"""Least squares under SGD: noise covariance, continuum (Lyapunov) and exact discrete stationary covariances.

Model: ℓ_p = ½ (wᵀx_p − y_p)², y = w*ᵀx + ε, ε ~ N(0, σ²); L = (1/P) Σ_p ℓ_p; H = (1/P) Σ_p x_p x_pᵀ
(or Σ_x = E x xᵀ online). δ = w − ŵ with ŵ the minimiser; κ = minibatch noise scale (ARCHITECTURE.md).

Each registered derivation is stated in matrix form for any dimension N and *derived* in an explicit
small dimension with Isserlis' theorem (``explicit_*`` helpers), so that tests can compare the two
with ``simplify(a − b) == 0`` and the numerics can be checked against the lambdified explicit form.
"""

from __future__ import annotations

import sympy as sp

from derivations.derivation import Derivation, register
from derivations.calculus.gaussian import gaussian_expectation, noise_covariance
from derivations.calculus.linear_sde import lyapunov_solve
from derivations.references import GROSS_2024, ISSERLIS_1918, LI_TAI_E_2017, MANDT_2017

eta = sp.Symbol("eta", positive=True)
kappa = sp.Symbol("kappa", positive=True)
sigma = sp.Symbol("sigma", positive=True)
N = sp.Symbol("N", positive=True, integer=True)
P = sp.Symbol("P", positive=True, integer=True)


def _vector(name: str, n: int, **assumptions) -> sp.Matrix:
    return sp.Matrix(sp.symbols(f"{name}1:{n + 1}", **assumptions))


def _symmetric(name: str, n: int) -> sp.Matrix:
    return sp.Matrix(n, n, lambda i, j: sp.Symbol(f"{name}{min(i, j) + 1}{max(i, j) + 1}", real=True))


def explicit_population_noise_covariance(n: int, cov: sp.Matrix | None = None):
    """C(w) for Gaussian inputs x ~ N(0, Σ_x) in dimension ``n``, by Isserlis on g = x(xᵀδ − ε).

    Returns (C, δ, x, ε, Σ_x) with C an explicit n×n sympy matrix.
    """
    x, delta = _vector("x", n, real=True), _vector("delta", n, real=True)
    eps = sp.Symbol("epsilon", real=True)
    cov_x = _symmetric("S", n) if cov is None else sp.Matrix(cov)
    full_cov = sp.diag(cov_x, sp.Matrix([[sigma ** 2]]))
    g = x * ((x.T * delta)[0, 0] - eps)  # ℓ = ½(xᵀw − y)², xᵀw − y = xᵀδ − ε at δ = w − w*
    C = noise_covariance(g, list(x) + [eps], cov=full_cov)
    return C.applyfunc(sp.expand), delta, x, eps, cov_x


def population_noise_covariance_formula(delta: sp.Matrix, cov_x: sp.Matrix) -> sp.Matrix:
    """The closed form C(w) = Σ_x δδᵀ Σ_x + (δᵀΣ_xδ + σ²) Σ_x (explicit matrices)."""
    return (cov_x * delta * delta.T * cov_x + ((delta.T * cov_x * delta)[0, 0] + sigma ** 2) * cov_x).applyfunc(sp.expand)


def finite_sample_noise_covariance(X: sp.Matrix, y: sp.Matrix, w: sp.Matrix) -> sp.Matrix:
    """Finite data: C(w) = (1/P) Σ_p r_p² x_p x_pᵀ − ∇L ∇Lᵀ with r_p = x_pᵀw − y_p, ∇L = (1/P) Σ_p r_p x_p."""
    n_samples = X.shape[0]
    r = X * w - y
    grad = X.T * r / n_samples
    second = sum((r[p] ** 2 * X[p, :].T * X[p, :] for p in range(n_samples)), sp.zeros(X.shape[1]))
    return second / n_samples - grad * grad.T


@register("linreg.noise_covariance",
          title="Noise covariance of least squares",
          example={r"\Sigma_x": [[1.0, 0.2], [0.2, 0.5]], r"\delta": [[0.3], [-0.1]], "sigma": 0.5})
def _noise_covariance() -> Derivation:
    n = 2
    C2, delta, x, eps, cov_x = explicit_population_noise_covariance(n)
    Sx, dl = sp.MatrixSymbol(r"\Sigma_x", N, N), sp.MatrixSymbol(r"\delta", N, 1)
    Cw = sp.MatrixSymbol("C(w)", N, N)
    gp, xs = sp.MatrixSymbol("g", N, 1), sp.MatrixSymbol("x", N, 1)
    e = sp.Symbol("epsilon", real=True)
    result = sp.Eq(Cw, Sx * dl * dl.T * Sx + (sp.Trace(dl.T * Sx * dl) + sigma ** 2) * Sx)
    d = Derivation(
        summary=("Per-sample-gradient covariance of $\\ell = \\frac12 (w^T x - y)^2$ with a linear teacher and label "
                 "noise: exact for Gaussian inputs (Isserlis) and for a finite data set."),
        assumptions=[
            "$y = w_*^T x + \\epsilon$, $\\epsilon \\sim N(0, \\sigma^2)$ independent of $x$; $\\delta = w - w_*$.",
            "Population form: $x \\sim N(0, \\Sigma_x)$. Finite-sample form: $P$ fixed pairs $(x_p, y_p)$.",
        ],
        steps=[],
        result=result,
        parameters=(),
        references=(ISSERLIS_1918, GROSS_2024),
    )
    d.step("Per-sample gradient of $\\ell$ at $w = w_* + \\delta$.", sp.Eq(gp, xs * (xs.T * dl - sp.Matrix([[e]]))))
    d.step("Mean gradient.", sp.Eq(sp.MatrixSymbol(r"\nabla L", N, 1), Sx * dl))
    d.step("Isserlis' theorem for the fourth moments, e.g. $E[x_i x_j x_k x_l] = S_{ij}S_{kl} + S_{ik}S_{jl} + S_{il}S_{jk}$.",
           sp.Eq(sp.Symbol(r"\mathbb{E}[x_1 x_2 x_1 x_2]"), gaussian_expectation(x[0] * x[1] * x[0] * x[1], list(x), cov=cov_x)))
    d.step("Explicitly for $N = 2$: $C = E[g g^T] - E[g] E[g]^T$.", sp.Eq(sp.MatrixSymbol("C_2", 2, 2), C2))
    d.step("Finite data: with residuals $r_p = x_p^T w - y_p$.",
           sp.Eq(Cw, sp.Symbol(r"\frac{1}{P}\sum_p r_p^2 x_p x_p^T - \nabla L \nabla L^T"), evaluate=False))
    d.extras["explicit_n2"] = C2
    return d


@register("linreg.stationary_covariance",
          title="Stationary weight covariance of least squares in the continuum limit (Lyapunov equation)",
          example={"C_*": [[0.5, 0.1], [0.1, 0.3]], "eta": 0.1, "kappa": 0.5})
def _stationary_covariance() -> Derivation:
    lam1, lam2 = sp.symbols("lambda1 lambda2", positive=True)
    c11, c12, c22 = sp.symbols("c11 c12 c22", real=True)
    H2, C2 = sp.diag(lam1, lam2), sp.Matrix([[c11, c12], [c12, c22]])
    Sigma2 = lyapunov_solve(H2, eta * kappa * C2)
    Hs, Cs, Ss = sp.MatrixSymbol("H", N, N), sp.MatrixSymbol("C_*", N, N), sp.MatrixSymbol(r"\Sigma", N, N)
    dl, dW = sp.MatrixSymbol(r"d\delta", N, 1), sp.MatrixSymbol("dW", N, 1)
    delta = sp.MatrixSymbol(r"\delta", N, 1)
    t = sp.Symbol("dt", positive=True)
    lam_i, lam_j, c_ij = sp.symbols("lambda_i lambda_j c_ij", positive=True)
    iso = lyapunov_solve(sp.eye(2), eta * kappa * sigma ** 2 * sp.eye(2))
    d = Derivation(
        summary=("Near the minimum the SDE of SGD is an Ornstein--Uhlenbeck process; its stationary covariance solves "
                 "a continuous Lyapunov equation. Accurate to leading order in $\\eta$."),
        assumptions=[
            "Quadratic loss: $\\nabla L = H\\delta$ exactly, $\\delta = w - \\hat w$.",
            "Noise frozen at the minimum, $C(w) \\approx C_* = C(\\hat w)$ (the state dependence of $C$ and the "
            "discreteness of SGD both give $O(\\eta)$ relative corrections; see linreg.discrete_stationary_covariance).",
            "$\\kappa$ is the minibatch noise scale (sgd.continuum_sde).",
        ],
        steps=[],
        result=sp.Eq(Hs * Ss + Ss * Hs, eta * kappa * Cs),
        parameters=(eta, kappa),
        references=(MANDT_2017, LI_TAI_E_2017, GROSS_2024),
    )
    d.step("Linearised SDE (Ornstein--Uhlenbeck).", sp.Eq(dl, -Hs * delta * t + sp.sqrt(eta * kappa) * sp.MatrixSymbol("C_*^{1/2}", N, N) * dW))
    d.step("Stationarity of $E[\\delta\\delta^T]$ under It\\^o's rule gives the Lyapunov equation.", d.result)
    d.step("In the eigenbasis of $H$ (eigenvalues $\\lambda_i$), element by element.",
           sp.Eq(sp.Symbol(r"\tilde\Sigma_{ij}"), eta * kappa * c_ij / (lam_i + lam_j)))
    d.step("Explicitly for $N = 2$ with $H = \\mathrm{diag}(\\lambda_1, \\lambda_2)$.", sp.Eq(sp.MatrixSymbol(r"\Sigma_2", 2, 2), Sigma2))
    d.step("Population with whitened inputs at the teacher ($H = I$, $C_* = \\sigma^2 I$): isotropic.",
           sp.Eq(sp.MatrixSymbol(r"\Sigma_{\mathrm{iso}}", 2, 2), iso))
    d.extras["explicit_n2"] = Sigma2
    d.extras["eigenbasis_element"] = eta * kappa * c_ij / (lam_i + lam_j)
    d.extras["isotropic_population"] = iso[0, 0]
    return d


def discrete_second_moment_map(S: sp.Matrix, H: sp.Matrix, M_of_S: sp.Matrix, C_star: sp.Matrix, lr=eta, scale=kappa) -> sp.Matrix:
    """One step of E δδᵀ under minibatch SGD on least squares (exact):

    S_{k+1} = (I − ηH) S_k (I − ηH) + η² κ [M(S_k) − H S_k H + C_*],  M(S) = E_p[(x_pᵀ S x_p) x_p x_pᵀ].
    """
    n = H.shape[0]
    A = sp.eye(n) - lr * H
    return A * S * A.T + lr ** 2 * scale * (M_of_S - H * S * H + C_star)


def explicit_online_whitened_second_moment(n: int = 2):
    """Solve the exact discrete stationary equation for online SGD with x ~ N(0, I_n), label noise σ².

    M(S) and C_* are computed by Isserlis in dimension ``n``; returns the solved S (explicit matrix).
    """
    S = _symmetric("s", n)
    x = _vector("x", n, real=True)
    quad = (x.T * S * x)[0, 0]
    M = (x * x.T).applyfunc(lambda e: gaussian_expectation(quad * e, list(x)))
    H, C_star = sp.eye(n), sigma ** 2 * sp.eye(n)
    equations = discrete_second_moment_map(S, H, M, C_star) - S
    unknowns = sorted(S.free_symbols - {eta, kappa, sigma}, key=str)
    solution = sp.solve(list(equations), unknowns, dict=True)[0]
    return S.subs(solution).applyfunc(sp.simplify)


@register("linreg.discrete_stationary_covariance",
          title="Exact stationary second moment of discrete minibatch SGD on least squares",
          example={"C_*": [[0.5, 0.1], [0.1, 0.3]], "eta": 0.1, "kappa": 0.5})
def _discrete_stationary_covariance() -> Derivation:
    Hs, Ss, Cs = sp.MatrixSymbol("H", N, N), sp.MatrixSymbol("S", N, N), sp.MatrixSymbol("C_*", N, N)
    Ms = sp.MatrixSymbol(r"\mathcal{M}(S)", N, N)
    Sk, Sk1 = sp.MatrixSymbol("S_k", N, N), sp.MatrixSymbol("S_{k+1}", N, N)
    Mk = sp.MatrixSymbol(r"\mathcal{M}(S_k)", N, N)
    I = sp.Identity(N)
    xi_cov = sp.MatrixSymbol(r"E[\xi_k \xi_k^T]", N, N)
    S_online = explicit_online_whitened_second_moment(2)
    s_iso = sp.factor(S_online[0, 0])
    n_sym = sp.Symbol("N", positive=True, integer=True)
    s_general = sp.Symbol("s", positive=True)
    # General N with the isotropic ansatz S = s I: M(sI) = s (N + 2) I for whitened Gaussian inputs.
    general = sp.solve(sp.Eq(s_general, (1 - eta) ** 2 * s_general + eta ** 2 * kappa * (s_general * (n_sym + 2) - s_general + sigma ** 2)), s_general)[0]
    result = sp.Eq(eta * (Hs * Ss + Ss * Hs) - eta ** 2 * Hs * Ss * Hs - eta ** 2 * kappa * (Ms - Hs * Ss * Hs), eta ** 2 * kappa * Cs)
    d = Derivation(
        summary=("No continuum approximation: the second moment $S = E[\\delta\\delta^T]$ of discrete SGD obeys a closed "
                 "linear recursion, whose fixed point is the exact stationary covariance for any $\\eta$ in the stable range."),
        assumptions=[
            "Finite data $(x_p, y_p)_{p=1}^P$ (or online Gaussian data), least squares, minimiser $\\hat w$, $\\delta = w - \\hat w$.",
            "Minibatches i.i.d. across steps: with replacement ($\\kappa = 1/B$), without replacement "
            "($\\kappa = (P-B)/(B(P-1))$) or online ($\\kappa = 1/B$, population moments).",
            "Stationary mean $E\\delta = 0$, since $E\\delta_{k+1} = (I - \\eta H) E\\delta_k$.",
            "Stability: the spectral radius of the map $S_k \\mapsto S_{k+1}$ (homogeneous part) is below one.",
        ],
        steps=[],
        result=result,
        parameters=(eta, kappa, sigma),
        references=(GROSS_2024, LI_TAI_E_2017),
    )
    d.step("Per-sample gradient at $w = \\hat w + \\delta$ with residuals $\\hat r_p = y_p - x_p^T\\hat w$; "
           "the normal equations give $\\sum_p \\hat r_p x_p = 0$.",
           sp.Eq(sp.MatrixSymbol("g_p", N, 1), sp.MatrixSymbol("h_p", N, N) * sp.MatrixSymbol(r"\delta", N, 1) - sp.MatrixSymbol(r"\hat r_p x_p", N, 1)))
    d.step("Minibatch gradient: $\\hat g_k = H\\delta_k + \\xi_k$ with conditional covariance "
           "$\\kappa\\,[\\frac1P\\sum_p g_p g_p^T - H\\delta\\delta^T H]$; averaging over $\\delta$ (mean zero):",
           sp.Eq(xi_cov, kappa * (Mk - Hs * Sk * Hs + Cs)))
    d.step("Recursion of the second moment ($\\delta_{k+1} = (I - \\eta H)\\delta_k - \\eta\\xi_k$, $\\xi_k$ uncorrelated with $\\delta_k$).",
           sp.Eq(Sk1, (I - eta * Hs) * Sk * (I - eta * Hs) + eta ** 2 * kappa * (Mk - Hs * Sk * Hs + Cs)))
    d.step("Definitions: $\\mathcal{M}(S) = \\frac1P\\sum_p (x_p^T S x_p) x_p x_p^T$ and $C_* = \\frac1P\\sum_p \\hat r_p^2 x_p x_p^T$.", result)
    d.step("Online whitened Gaussian inputs, $N = 2$, solved exactly (Isserlis for $\\mathcal{M}$).",
           sp.Eq(sp.MatrixSymbol("S_2", 2, 2), S_online))
    d.step("Any $N$ (isotropic ansatz, $\\mathcal{M}(sI) = s(N+2)I$): the exact discrete variance per coordinate.",
           sp.Eq(s_general, general))
    d.step("Small $\\eta$ at fixed $B$: the frozen-noise Lyapunov value $\\eta\\kappa\\sigma^2/2$, exceeded at $O(\\eta)$.",
           sp.Eq(sp.Limit(general / (eta * kappa), eta, 0), sp.limit(general / (eta * kappa), eta, 0)))
    T = sp.Symbol("T", positive=True)
    d.step("Continuum limit at fixed temperature $T = \\eta\\kappa$: the discreteness term $\\eta^2 HSH$ vanishes, "
           "the state dependence of the noise ($\\mathcal{M}$) survives.",
           sp.Eq(sp.Limit(general.subs(kappa, T / eta), eta, 0), sp.limit(general.subs(kappa, T / eta), eta, 0)))
    rho = (1 - eta) ** 2 + eta ** 2 * kappa * (n_sym + 1)  # eigenvalue of the homogeneous map on S = I
    d.step("Stability of the online isotropic case: the homogeneous map has eigenvalue $\\rho$ on $S = I$, and "
           "the stationary variance is finite iff $\\rho < 1$.", sp.StrictLessThan(sp.factor(rho - 1), 0))
    d.extras["explicit_online_n2"] = S_online
    d.extras["online_isotropic"] = general
    d.extras["online_isotropic_n2"] = s_iso
    d.extras["online_isotropic_stability"] = rho
    return d
