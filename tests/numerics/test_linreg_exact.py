"""Independent exact check of ``numerics.models.linreg`` against brute-force enumeration of minibatches.

Least squares on finite data: L(w) = (1/2P) Σ_p (w·x_p − y_p)², and minibatch SGD

    w_{k+1} = w_k − η (1/B) Σ_b x_{i_b} (w_k·x_{i_b} − y_{i_b}) = A_β w_k + c_β,
    A_β = I − η G_β,   G_β = (1/B) Σ_b x_{i_b} x_{i_b}ᵀ,   c_β = η (1/B) Σ_b x_{i_b} y_{i_b},

with a fresh minibatch β = (i_1..i_B) every step. Nothing here comes from a formula for the
noise: the one-step maps of the first moment m = E[w] and of the raw second moment Q = E[w wᵀ]
are obtained by averaging the update over *every* minibatch with its probability,

    "with_replacement":    every one of the P^B index tuples, probability P^{−B};
    "without_replacement": every one of the C(P, B) subsets,  probability 1/C(P, B);

    m' = E[A_β] m + E[c_β]
    Q' = E[A_β Q A_βᵀ] + E[A_β m c_βᵀ + c_β mᵀ A_βᵀ] + E[c_β c_βᵀ],

all in exact rational arithmetic (sympy Rational). The fixed point (m*, Q*) is solved exactly
(vec(A Q Aᵀ) = (A ⊗ A) vec Q for row-major vec), m* = ŵ is asserted, and S = Q* − ŵŵᵀ is the
exact stationary second moment about the minimiser. The package's numerical results are compared
with it; its stability verdict is compared with the spectral radius of the enumerated linear part
𝒜 = E[A_β ⊗ A_β] (the affine map is stable iff ρ(𝒜) < 1; ρ(E[A_β])² ≤ ρ(𝒜) by Jensen).
"""

from __future__ import annotations

import itertools
from collections import Counter
from fractions import Fraction
from functools import lru_cache

import numpy as np
import pytest
import sympy as sp

from numerics.models import linreg
from numerics.errors import UnstableLearningRateError

R = sp.Rational

# --------------------------------------------------------------------------- tiny exact data sets

DATASETS = {
    # P = 3, N = 2
    "p3": ([[1, 0], [0, 1], [1, 1]], [1, 2, 0]),
    # P = 4, N = 2, non-integer rationals, correlated features
    "p4": ([[1, R(1, 2)], [-1, 1], [2, 0], [R(1, 2), -1]], [1, R(-1, 3), R(3, 2), 2]),
    # P = 4, N = 3
    "p4n3": ([[1, 0, 1], [0, 1, R(1, 2)], [1, -1, 0], [R(1, 2), 1, 1]], [1, 0, R(-1, 2), 2]),
}

# (dataset, B, scheme) cases; B = P without replacement is full-batch GD (S = 0), tested apart.
CASES = [
    ("p3", 1, "with_replacement"), ("p3", 2, "with_replacement"), ("p3", 3, "with_replacement"),
    ("p3", 1, "without_replacement"), ("p3", 2, "without_replacement"),
    ("p4", 1, "with_replacement"), ("p4", 2, "with_replacement"), ("p4", 3, "with_replacement"),
    ("p4", 1, "without_replacement"), ("p4", 2, "without_replacement"), ("p4", 3, "without_replacement"),
    ("p4n3", 1, "with_replacement"), ("p4n3", 2, "with_replacement"),
    ("p4n3", 2, "without_replacement"), ("p4n3", 3, "without_replacement"),
]

RTOL = 1e-9


def exact_data(name):
    Xl, yl = DATASETS[name]
    return sp.Matrix(Xl).applyfunc(sp.nsimplify), sp.Matrix(yl).applyfunc(sp.nsimplify)


def float_data(name):
    X, y = exact_data(name)
    return np.array(X.tolist(), dtype=float), np.array(y.T.tolist()[0], dtype=float)


def to_rational(x) -> sp.Rational:
    """A float (e.g. the package's boundary η) as the exactly equal rational."""
    f = Fraction(float(x))
    return R(f.numerator, f.denominator)


def to_numpy(M: sp.Matrix) -> np.ndarray:
    return np.array(M.tolist(), dtype=float)


# --------------------------------------------------------------------------- enumeration

def minibatches(P: int, B: int, scheme: str) -> list[tuple[tuple[int, ...], sp.Rational]]:
    """Every minibatch with its probability (multiset key → total probability)."""
    if scheme == "with_replacement":
        counts = Counter(tuple(sorted(t)) for t in itertools.product(range(P), repeat=B))
        total = P**B
    elif scheme == "without_replacement":
        counts = Counter(itertools.combinations(range(P), B))
        total = sum(counts.values())
    else:
        raise ValueError(scheme)
    assert sum(counts.values()) == total
    return [(batch, R(n, total)) for batch, n in counts.items()]


@lru_cache(maxsize=None)
def batch_moments(name: str, B: int, scheme: str):
    """For each minibatch: (probability, G_β, g_β) with G_β = mean x xᵀ, g_β = mean x y (exact)."""
    X, y = exact_data(name)
    P, N = X.shape
    out = []
    for batch, prob in minibatches(P, B, scheme):
        G = sp.zeros(N, N)
        g = sp.zeros(N, 1)
        for i in batch:
            x = X[i, :].T
            G += x * x.T
            g += x * y[i]
        out.append((prob, G / B, g / B))
    assert sum(p for p, _, _ in out) == 1
    return out


def linear_part(name: str, B: int, scheme: str, eta) -> tuple[sp.Matrix, sp.Matrix]:
    """(E[A_β], 𝒜 = E[A_β ⊗ A_β]) for A_β = I − η G_β, by enumeration."""
    N = exact_data(name)[0].shape[1]
    I = sp.eye(N)
    Abar = sp.zeros(N, N)
    AA = sp.zeros(N * N, N * N)
    for prob, G, _ in batch_moments(name, B, scheme):
        A = I - eta * G
        Abar += prob * A
        AA += prob * sp.kronecker_product(A, A)
    return Abar, AA


def one_step(name: str, B: int, scheme: str, eta, m: sp.Matrix, Q: sp.Matrix):
    """The exact enumerated one-step map (m, Q) ↦ (m', Q') of the raw moments of w."""
    N = m.shape[0]
    I = sp.eye(N)
    m2, Q2 = sp.zeros(N, 1), sp.zeros(N, N)
    for prob, G, g in batch_moments(name, B, scheme):
        A, c = I - eta * G, eta * g
        m2 += prob * (A * m + c)
        Q2 += prob * (A * Q * A.T + A * m * c.T + c * m.T * A.T + c * c.T)
    return m2, Q2


@lru_cache(maxsize=None)
def exact_stationary(name: str, B: int, scheme: str, eta: sp.Rational) -> sp.Matrix:
    """Exact S = lim E[(w − ŵ)(w − ŵ)ᵀ] by solving the enumerated affine map's fixed point."""
    X, y = exact_data(name)
    P, N = X.shape
    I = sp.eye(N)
    Abar, AA = linear_part(name, B, scheme, eta)
    cbar = sp.zeros(N, 1)
    for prob, G, g in batch_moments(name, B, scheme):
        cbar += prob * eta * g
    m = (I - Abar).LUsolve(cbar)
    # inhomogeneous part of the Q map at the fixed m
    F = sp.zeros(N, N)
    for prob, G, g in batch_moments(name, B, scheme):
        A, c = I - eta * G, eta * g
        F += prob * (A * m * c.T + c * m.T * A.T + c * c.T)
    vecF = sp.Matrix(N * N, 1, list(F))  # row-major
    vecQ = (sp.eye(N * N) - AA).LUsolve(vecF)
    Q = sp.Matrix(N, N, list(vecQ))
    # the fixed point is exact, not approximate
    m2, Q2 = one_step(name, B, scheme, eta, m, Q)
    assert m2 == m and (Q2 - Q).applyfunc(sp.simplify) == sp.zeros(N, N)
    # m* is the least-squares minimiser (normal equations, computed independently)
    w_hat = (X.T * X).LUsolve(X.T * y)
    assert m == w_hat
    S = Q - w_hat * w_hat.T
    assert S == S.T
    return S


def enumerated_spectral_radius(name: str, B: int, scheme: str, eta) -> float:
    """ρ of the linear part of the enumerated (m, Q) map: max(ρ(E[A]), ρ(E[A ⊗ A]))."""
    Abar, AA = linear_part(name, B, scheme, eta)
    rho_m = max(abs(np.linalg.eigvals(to_numpy(Abar))))
    rho_q = max(abs(np.linalg.eigvals(to_numpy(AA))))
    return float(max(rho_m, rho_q))


def exactly_stable(name: str, B: int, scheme: str, eta) -> bool:
    """Exact (rational) verdict ρ(𝒜) < 1. 𝒜 is symmetric (A_β symmetric) so its eigenvalues are
    real; all lie in (−1, 1) iff I − 𝒜 and I + 𝒜 are positive definite (Sylvester's criterion)."""
    _, AA = linear_part(name, B, scheme, eta)
    n = AA.shape[0]
    assert AA == AA.T

    def pd(M):
        return all(M[:k, :k].det() > 0 for k in range(1, n + 1))

    return pd(sp.eye(n) - AA) and pd(sp.eye(n) + AA)


@lru_cache(maxsize=None)
def exact_boundary(name: str, B: int, scheme: str) -> float:
    """Smallest η > 0 with ρ(𝒜(η)) = 1, from the enumeration: 𝒜 preserves the PSD cone so its
    spectral radius is an eigenvalue and the first crossing is at +1, where
    I − 𝒜(η) = η K1 − η² K2 is singular, K1 = E[G⊗I + I⊗G], K2 = E[G⊗G]."""
    N = exact_data(name)[0].shape[1]
    I = sp.eye(N)
    K1, K2 = sp.zeros(N * N, N * N), sp.zeros(N * N, N * N)
    for prob, G, _ in batch_moments(name, B, scheme):
        K1 += prob * (sp.kronecker_product(G, I) + sp.kronecker_product(I, G))
        K2 += prob * sp.kronecker_product(G, G)
    t = sp.Symbol("t")
    poly = sp.Poly((K1 - t * K2).det(), t)
    roots = [r.evalf(30) for r in poly.real_roots() if r > 0]
    return float(min(roots))


# --------------------------------------------------------------------------- enumeration self-checks

def test_enumeration_counts_and_probabilities():
    assert len(minibatches(3, 2, "without_replacement")) == 3
    # with replacement, multisets of size 2 from 3: {00,11,22} prob 1/9, {01,02,12} prob 2/9
    probs = sorted(p for _, p in minibatches(3, 2, "with_replacement"))
    assert probs == [R(1, 9)] * 3 + [R(2, 9)] * 3


def test_enumeration_zero_noise_cases():
    """Full-batch without replacement is GD (S = 0); B = 1 with and without replacement coincide."""
    eta = R(1, 5)
    assert exact_stationary("p3", 3, "without_replacement", eta) == sp.zeros(2, 2)
    assert exact_stationary("p4", 1, "with_replacement", eta) == exact_stationary("p4", 1, "without_replacement", eta)


def test_enumeration_matches_iterated_map():
    """Iterating the enumerated map in floats from w₀ = 0 converges to the solved fixed point."""
    name, B, scheme, eta = "p3", 2, "with_replacement", R(1, 5)
    S = to_numpy(exact_stationary(name, B, scheme, eta))
    X, y = float_data(name)
    w_hat = np.linalg.lstsq(X, y, rcond=None)[0]
    moments = [(float(p), to_numpy(G), to_numpy(g).ravel()) for p, G, g in batch_moments(name, B, scheme)]
    m, Q = np.zeros(2), np.zeros((2, 2))
    e = float(eta)
    for _ in range(2000):
        m2, Q2 = np.zeros(2), np.zeros((2, 2))
        for p, G, g in moments:
            A, c = np.eye(2) - e * G, e * g
            m2 += p * (A @ m + c)
            Q2 += p * (A @ Q @ A.T + np.outer(A @ m, c) + np.outer(c, A @ m) + np.outer(c, c))
        m, Q = m2, Q2
    np.testing.assert_allclose(m, w_hat, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(Q - np.outer(w_hat, w_hat), S, rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------------- package vs enumeration

def lam_max(name: str) -> float:
    X, _ = float_data(name)
    return float(np.linalg.eigvalsh(X.T @ X / X.shape[0])[-1])


def safe_eta(name: str) -> sp.Rational:
    """A simple rational η well inside every stable range: ~ 0.4 / λ_max, rounded to 1/20."""
    return R(max(1, int(8 / lam_max(name))), 20)


def assert_close(actual, expected, rtol=RTOL):
    actual = np.asarray(actual, dtype=float)
    assert actual.shape == expected.shape
    err = np.linalg.norm(actual - expected) / np.linalg.norm(expected)
    assert err < rtol, f"relative error {err:.3e}\npackage:\n{actual}\nexact:\n{expected}"


@pytest.mark.parametrize("method", ["dense", "iterative"])
@pytest.mark.parametrize("name,B,scheme", CASES)
def test_discrete_stationary_covariance_is_exact(name, B, scheme, method):
    eta = safe_eta(name)
    S = to_numpy(exact_stationary(name, B, scheme, eta))
    assert np.all(np.linalg.eigvalsh(S) > 0)
    X, y = float_data(name)
    got = linreg.discrete_stationary_covariance(X, y, float(eta), B, scheme, method=method)
    assert_close(got, S)


@pytest.mark.parametrize("name,B,scheme,eta", [
    ("p3", 1, "with_replacement", R(1, 5)),
    ("p3", 2, "without_replacement", R(1, 5)),
    ("p4", 2, "with_replacement", R(1, 3)),
    ("p4", 2, "without_replacement", R(2, 5)),
])
def test_discrete_stationary_covariance_simple_rational_eta(name, B, scheme, eta):
    assert exactly_stable(name, B, scheme, eta)
    S = to_numpy(exact_stationary(name, B, scheme, eta))
    X, y = float_data(name)
    for method in ("dense", "iterative"):
        assert_close(linreg.discrete_stationary_covariance(X, y, float(eta), B, scheme, method=method), S)
    assert_close(linreg.discrete_stationary_covariance(X, y, float(eta), B, scheme), S)


def test_zero_noise_edge_cases():
    """Full-batch without replacement (deterministic GD) and interpolating data give S = 0."""
    X, y = float_data("p3")
    for method in ("dense", "iterative"):
        got = linreg.discrete_stationary_covariance(X, y, 0.2, 3, "without_replacement", method=method)
        np.testing.assert_allclose(got, 0.0, atol=1e-12)
    # interpolating data: y = X w₀ exactly, so every per-sample gradient vanishes at ŵ
    X4, _ = float_data("p4")
    y4 = X4 @ np.array([0.5, -1.0])
    for method in ("dense", "iterative"):
        got = linreg.discrete_stationary_covariance(X4, y4, 0.2, 2, "with_replacement", method=method)
        np.testing.assert_allclose(got, 0.0, atol=1e-12)


# --------------------------------------------------------------------------- continuum (Lyapunov) limit

@pytest.mark.parametrize("name,B,scheme", [
    ("p3", 1, "with_replacement"), ("p3", 2, "without_replacement"),
    ("p4", 2, "with_replacement"), ("p4", 3, "without_replacement"),
    ("p4n3", 2, "with_replacement"),
])
def test_lyapunov_is_leading_order_only(name, B, scheme):
    X, y = float_data(name)
    eta0 = safe_eta(name)
    ratios = []
    for k in range(3):
        eta = eta0 / 2**k
        S = to_numpy(exact_stationary(name, B, scheme, eta))
        lyap = np.asarray(linreg.lyapunov_covariance(X, y, float(eta), B, scheme), dtype=float)
        rel = np.linalg.norm(S - lyap) / np.linalg.norm(S)
        assert rel > 1e-4, f"Lyapunov agrees with the exact discrete S to {rel:.2e} at eta={eta}"
        ratios.append(rel / float(eta))
    assert max(ratios) / min(ratios) < 1.5, ratios


# --------------------------------------------------------------------------- stability

STABILITY_CASES = [
    ("p3", 1, "with_replacement"), ("p3", 2, "with_replacement"), ("p3", 2, "without_replacement"),
    ("p4", 1, "with_replacement"), ("p4", 2, "without_replacement"), ("p4", 3, "with_replacement"),
]


@pytest.mark.parametrize("name,B,scheme", STABILITY_CASES)
def test_max_stable_eta_matches_enumeration(name, B, scheme):
    X, _ = float_data(name)
    got = linreg.max_stable_eta(X, B, scheme)
    expected = exact_boundary(name, B, scheme)
    assert got == pytest.approx(expected, rel=1e-8)
    assert expected <= 2 / lam_max(name) * (1 + 1e-12)


@pytest.mark.parametrize("factor", [0.9, 0.999, 1.001, 1.1])
@pytest.mark.parametrize("name,B,scheme", STABILITY_CASES)
def test_stability_verdict_agrees_with_enumeration(name, B, scheme, factor):
    X, y = float_data(name)
    eta_f = linreg.max_stable_eta(X, B, scheme) * factor
    eta = to_rational(eta_f)
    stable = exactly_stable(name, B, scheme, eta)
    rho = enumerated_spectral_radius(name, B, scheme, eta)
    assert stable == (factor < 1)
    assert (rho < 1) == stable
    for method in ("dense", "iterative"):
        if stable:
            S = to_numpy(exact_stationary(name, B, scheme, eta))
            assert_close(linreg.discrete_stationary_covariance(X, y, eta_f, B, scheme, method=method), S,
                         rtol=1e-6)
        else:
            with pytest.raises(UnstableLearningRateError) as info:
                linreg.discrete_stationary_covariance(X, y, eta_f, B, scheme, method=method)
            assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("factor", [1.05, 1.5, 3.0])
@pytest.mark.parametrize("scheme", ["with_replacement", "without_replacement"])
def test_beyond_gd_bound_raises(scheme, factor):
    """η > 2/λ_max(XᵀX/P): even the mean diverges; the enumeration's ρ ≥ 1 and the package raises."""
    assert issubclass(UnstableLearningRateError, ValueError)
    name, B = "p4", 2
    X, y = float_data(name)
    eta_f = factor * 2 / lam_max(name)
    assert enumerated_spectral_radius(name, B, scheme, to_rational(eta_f)) >= 1
    assert not exactly_stable(name, B, scheme, to_rational(eta_f))
    for method in ("dense", "iterative"):
        with pytest.raises(UnstableLearningRateError):
            linreg.discrete_stationary_covariance(X, y, eta_f, B, scheme, method=method)
