"""``sgd.continuum_sde``: minibatch SGD as an Itô SDE with state-dependent noise.

Conventions (ARCHITECTURE.md): L(w) = (1/P) Σ_p ℓ_p(w); w_{k+1} = w_k − η ĝ_k with ĝ_k the minibatch-mean
gradient; t = η k; dw = −∇L dt + √(η κ) C^{1/2} dW, where C is the per-sample-gradient covariance
and κ the minibatch scale (1/B with replacement or online, (P−B)/(B(P−1)) without replacement).
"""

from __future__ import annotations

import sympy as sp

from derivations.derivation import Derivation, register
from derivations.conventions import minibatch_noise_scale
from derivations.references import LI_TAI_E_2017, MANDT_2017
from derivations.calculus.sde import ItoSDE

eta = sp.Symbol("eta", positive=True)
B = sp.Symbol("B", positive=True, integer=True)
P = sp.Symbol("P", positive=True, integer=True)
kappa = sp.Symbol("kappa", positive=True)


def sgd_sde(state, gradient, covariance, eta=eta, batch_size=B, sampling: str = "with_replacement",
            n_samples=None) -> ItoSDE:
    """The continuum SDE of SGD: dw = −∇L(w) dt + √(η κ) C(w)^{1/2} dW (Itô, t = η k).

    ``gradient`` is ∇L (column), ``covariance`` the per-sample-gradient covariance C(w)
    (n×n; C = E g gᵀ − ∇L ∇Lᵀ), κ = ``minibatch_noise_scale(batch_size, sampling, n_samples)``.
    The noise coefficient is √(ηκ) times a square root of C: the scalar root in one dimension,
    the Cholesky factor otherwise (only D = η κ C enters the law of the process).
    """
    scale = eta * minibatch_noise_scale(batch_size, sampling, n_samples)
    cov = sp.Matrix(covariance) if isinstance(covariance, (sp.MatrixBase, list)) else sp.Matrix([[covariance]])
    if cov.shape == (1, 1):
        root = sp.Matrix([[sp.sqrt(cov[0, 0])]])
    else:
        root = cov.cholesky(hermitian=False)
    grad = gradient if isinstance(gradient, sp.MatrixBase) else sp.Matrix([gradient])
    return ItoSDE(state, -grad, sp.sqrt(scale) * root)


@register("sgd.continuum_sde",
          title="Minibatch SGD as an It\\^o SDE with state-dependent noise",
          example={"C(w)^{1/2}": [[1.0, 0.0], [0.2, 0.5]], r"\nabla L(w)": [[0.3], [-0.1]], "dW_t": [[0.1], [0.05]], "dt": 0.01, "eta": 0.1, "kappa": 0.5})
def _continuum_sde() -> Derivation:
    n = sp.Symbol("n", positive=True, integer=True)
    w_k, w_next = sp.MatrixSymbol("w_k", n, 1), sp.MatrixSymbol("w_{k+1}", n, 1)
    g_hat, grad = sp.MatrixSymbol(r"\hat{g}_k", n, 1), sp.MatrixSymbol(r"\nabla L(w_k)", n, 1)
    xi, C = sp.MatrixSymbol(r"\xi_k", n, 1), sp.MatrixSymbol("C(w)", n, n)
    dw, dW, grad_w = sp.MatrixSymbol("dw", n, 1), sp.MatrixSymbol("dW_t", n, 1), sp.MatrixSymbol(r"\nabla L(w)", n, 1)
    dt, t, k = sp.symbols("dt t k", nonnegative=True)
    Ewdelta, Covdelta = sp.Function(r"\mathbb{E}"), sp.Function(r"\mathrm{Cov}")
    a, D = sp.MatrixSymbol("a(w)", n, 1), sp.MatrixSymbol("D(w)", n, n)
    C_half = sp.MatrixSymbol("C(w)^{1/2}", n, n)

    d = Derivation(
        summary=("SGD is matched, step by step, by the It\\^o SDE whose drift and diffusion reproduce the first "
                 "two conditional moments of one SGD increment over the time step $\\Delta t = \\eta$."),
        assumptions=[
            "Loss $L(w) = \\frac{1}{P}\\sum_p \\ell_p(w)$; minibatch of size $B$, gradient $\\hat g_k$ = mean of the per-sample gradients.",
            "Continuum time $t = \\eta k$; the SDE is a weak first-order approximation of SGD (errors $O(\\eta)$ on fixed time intervals).",
            "Per-sample-gradient covariance $C(w) = \\frac{1}{P}\\sum_p g_p g_p^T - \\nabla L \\nabla L^T$ (finite data) or its population analogue (online).",
            "Sampling scale $\\kappa$: $1/B$ with replacement and online; $(P-B)/(B(P-1))$ without replacement; epoch-wise reshuffling is not i.i.d. and is excluded.",
        ],
        steps=[],
        result=sp.Eq(dw, -grad_w * dt + sp.sqrt(eta * kappa) * C_half * dW),
        parameters=(eta, kappa),
        references=(LI_TAI_E_2017, MANDT_2017),
    )
    d.step("One SGD step.", sp.Eq(w_next, w_k - eta * g_hat))
    d.step("The minibatch gradient is the full gradient plus a zero-mean noise.", sp.Eq(g_hat, grad + xi))
    d.step("Its conditional mean vanishes.", sp.Eq(Ewdelta(xi), sp.ZeroMatrix(n, 1), evaluate=False))
    d.step("Its conditional covariance is the per-sample covariance times the sampling scale $\\kappa$.",
           sp.Eq(Covdelta(xi), kappa * C, evaluate=False))
    d.step("With replacement and online sampling the scale is $1/B$.",
           sp.Eq(kappa, minibatch_noise_scale(B, "with_replacement")))
    d.step("Without replacement the finite-population correction multiplies it.",
           sp.Eq(kappa, minibatch_noise_scale(B, "without_replacement", P)))
    d.step("Time step of the continuum limit.", sp.Eq(t, eta * k))
    d.step("Conditional mean of one increment, to be matched by the drift times $\\Delta t = \\eta$.",
           sp.Eq(Ewdelta(w_next - w_k), -eta * grad, evaluate=False))
    d.step("Conditional covariance of one increment, to be matched by $D\\,\\Delta t$.",
           sp.Eq(Covdelta(w_next - w_k), eta ** 2 * kappa * C, evaluate=False))
    d.step("Drift of the SDE.", sp.Eq(a, -grad_w))
    d.step("Diffusion matrix of the SDE.", sp.Eq(D, eta * kappa * C))
    d.extras["diffusion_matrix"] = eta * kappa * C
    return d
