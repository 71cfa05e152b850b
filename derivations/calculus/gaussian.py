"""Gaussian moments (Isserlis / Wick) and the noise covariance of minibatch SGD.

- :func:`isserlis_moment` — ``E[x_{i1} ⋯ x_{ik}]`` for a zero-mean Gaussian vector with covariance
  Σ: Isserlis' theorem ``E[x_{i1}⋯x_{ik}] = Σ_{perfect matchings} Π_{pairs (a,b)} Σ_{i_a i_b}``
  (0 for odd k).
- :func:`gaussian_expectation` — exact expectation of a polynomial in Gaussian variables.
- :func:`noise_covariance` — ``C = E[g gᵀ] − E[g] E[g]ᵀ`` of a per-sample gradient ``g``.

Conventions (see ARCHITECTURE.md): per-sample-gradient covariance ``C(w) = E[g_p g_pᵀ] − ∇L ∇Lᵀ``; the
minibatch-mean gradient has covariance ``C/B`` (with replacement, online) and
``C/B · (P − B)/(P − 1)`` (without replacement). Label noise is one more Gaussian variable.
"""

from __future__ import annotations

import functools
from typing import Iterable, Sequence

import sympy as sp

from derivations.errors import ParameterError

__all__ = ["isserlis_moment", "gaussian_expectation", "noise_covariance"]


# --------------------------------------------------------------------------- helpers
def _as_cov(cov, n: int | None = None) -> sp.ImmutableMatrix:
    if cov is None:
        if n is None:
            raise ParameterError("cov is required when the dimension is unknown")
        return sp.ImmutableMatrix(sp.eye(n))
    if isinstance(cov, (sp.MatrixBase, list, tuple)):
        m = sp.ImmutableMatrix(cov)
    else:  # a scalar variance
        m = sp.ImmutableMatrix([[sp.sympify(cov)]])
    if not m.is_square:
        raise ParameterError(f"the covariance must be a square matrix, got shape {m.shape}")
    if n is not None and m.shape[0] != n:
        raise ParameterError(f"the covariance is {m.shape[0]}x{m.shape[0]} but there are {n} Gaussian variables")
    n_ = m.shape[0]
    asymmetric = ((m[i, j] - m[j, i]) != 0 and sp.simplify(m[i, j] - m[j, i]) != 0
                  for i in range(n_) for j in range(i + 1, n_))
    if any(asymmetric):
        raise ParameterError("the covariance matrix must be symmetric")
    return m


def _double_factorial_odd(k: int) -> int:
    """(k − 1)!! for even k ≥ 0 (the number of perfect matchings of k items)."""
    out = 1
    for j in range(k - 1, 0, -2):
        out *= j
    return out


@functools.lru_cache(maxsize=65536)
def _moment_counts(counts: tuple[int, ...], cov: sp.ImmutableMatrix) -> sp.Expr:
    """E[Π_i x_i^{counts_i}] for x ~ N(0, cov), by the Isserlis recursion
    E[x_i · R] = Σ_j Σ_ij E[∂R/∂x_j]: pair one factor x_i with each remaining factor x_j."""
    total = sum(counts)
    if total == 0:
        return sp.S.One
    if total % 2:
        return sp.S.Zero
    i = next(k for k, c in enumerate(counts) if c)
    reduced = list(counts)
    reduced[i] -= 1
    acc = sp.S.Zero
    for j, cj in enumerate(reduced):
        if cj == 0 or cov[i, j] == 0:
            continue
        nxt = list(reduced)
        nxt[j] -= 1
        acc += cj * cov[i, j] * _moment_counts(tuple(nxt), cov)
    return sp.expand(acc)


def _monomial_moment(counts: Sequence[int], cov: sp.ImmutableMatrix) -> sp.Expr:
    counts = tuple(int(c) for c in counts)
    if sum(counts) % 2:
        return sp.S.Zero
    if cov.is_diagonal():
        # independent coordinates: E[x^k] = σ^k (k − 1)!! for even k, 0 for odd k
        out = sp.S.One
        for i, k in enumerate(counts):
            if k % 2:
                return sp.S.Zero
            if k:
                out *= _double_factorial_odd(k) * cov[i, i] ** (k // 2)
        return out
    return _moment_counts(counts, cov)


# --------------------------------------------------------------------------- public API
def isserlis_moment(indices: Iterable[int], cov) -> sp.Expr:
    """``E[x_{i1} x_{i2} ⋯ x_{ik}]`` for a zero-mean Gaussian vector with covariance ``cov``.

    Isserlis' (Wick's) theorem: the moment is the sum over the (k − 1)!! perfect matchings of
    the k factors of the products of the paired covariances,
    ``E[x_{i1}⋯x_{ik}] = Σ_{matchings} Π_{(a,b)} Σ_{i_a i_b}``, and 0 for odd k. Indices are
    0-based and may repeat (``(0, 0, 0, 0)`` is E[x₀⁴] = 3Σ₀₀²). For whitened (identity) or
    diagonal covariance the closed form ``Π_j Σ_jj^{k_j/2} (k_j − 1)!!`` is used; otherwise a
    memoised recursion over multiplicities. ``cov`` may be a sympy matrix, a nested list or a
    scalar variance.
    """
    idx = [int(i) for i in indices]
    cov_m = _as_cov(cov)
    n = cov_m.shape[0]
    if any(i < 0 or i >= n for i in idx):
        raise ParameterError(f"indices {idx} out of range for a {n}x{n} covariance")
    counts = [0] * n
    for i in idx:
        counts[i] += 1
    return _monomial_moment(counts, cov_m)


def _variables(variables) -> list[sp.Symbol]:
    if isinstance(variables, sp.Basic) and not isinstance(variables, sp.MatrixBase):
        variables = [variables]
    out = list(variables)
    if not out or not all(isinstance(v, sp.Symbol) for v in out):
        raise ParameterError(f"variables must be a non-empty sequence of sympy Symbols, got {variables!r}")
    if len(set(out)) != len(out):
        raise ParameterError(f"variables must be distinct, got {out}")
    return out


def _mean(mean, n: int) -> list[sp.Expr]:
    if mean is None:
        return [sp.S.Zero] * n
    if isinstance(mean, sp.MatrixBase):
        mean = list(mean)
    elif not isinstance(mean, (list, tuple)):
        mean = [mean]
    if len(mean) != n:
        raise ParameterError(f"mean has {len(mean)} entries but there are {n} Gaussian variables")
    return [sp.sympify(m) for m in mean]


def _expectation(expr: sp.Expr, xs: list[sp.Symbol], mu: list[sp.Expr], cov: sp.ImmutableMatrix) -> sp.Expr:
    expr = sp.sympify(expr)
    if not expr.has(*xs):
        return expr
    if not expr.is_polynomial(*xs):
        raise ParameterError(
            f"gaussian_expectation needs a polynomial in the Gaussian variables {xs}; {expr} is not one "
            "(expectations of non-polynomial functions have no finite Isserlis expansion)")
    if any(m != 0 for m in mu):
        expr = expr.subs({x: x + m for x, m in zip(xs, mu)}, simultaneous=True)
    poly = sp.Poly(sp.expand(expr), *xs)
    total = sp.S.Zero
    for monom, coeff in poly.terms():
        moment = _monomial_moment(monom, cov)
        if moment != 0:
            total += coeff * moment
    return sp.expand(total)


def gaussian_expectation(expr, variables, mean=None, cov=None):
    """Exact ``E[expr]`` for ``variables ~ N(mean, cov)`` when ``expr`` is a polynomial in them.

    Write x = μ + y with y ~ N(0, Σ), expand ``expr(μ + y)`` as a polynomial in y,
    ``Σ_α c_α y^α``, and map each monomial to its Isserlis moment:
    ``E[expr] = Σ_α c_α E[y^α]`` (:func:`isserlis_moment`). Other symbols in ``expr`` are
    parameters. ``mean`` defaults to 0 and ``cov`` to the identity. A sympy matrix ``expr`` is
    handled entrywise. Raises :class:`ParameterError` when ``expr`` is not polynomial in the
    variables.
    """
    xs = _variables(variables)
    mu = _mean(mean, len(xs))
    cov_m = _as_cov(cov, len(xs))
    if isinstance(expr, sp.MatrixBase):
        return sp.Matrix(expr).applyfunc(lambda e: _expectation(e, xs, mu, cov_m))
    return _expectation(expr, xs, mu, cov_m)


def noise_covariance(per_sample_gradient, variables, mean=None, cov=None) -> sp.Matrix:
    """Covariance of a per-sample gradient: ``C = E[g gᵀ] − E[g] E[g]ᵀ``.

    ``per_sample_gradient`` is a sympy column vector (or list) ``g`` polynomial in the Gaussian
    ``variables ~ N(mean, cov)`` (inputs, label noise, …); the expectations are exact
    (:func:`gaussian_expectation`). Example: least squares ``g = x (xᵀδ − ε)`` with
    x ~ N(0, I), ε ~ N(0, σ²) gives ``C = δδᵀ + (δᵀδ + σ²) I``. Entries are returned
    expanded-and-factored where that is shorter; the matrix is symmetric by construction.
    """
    g = per_sample_gradient
    if isinstance(g, sp.MatrixBase):
        g = sp.Matrix(g)
        if g.shape[1] != 1:
            if g.shape[0] == 1:
                g = g.T
            else:
                raise ParameterError(f"the per-sample gradient must be a vector, got shape {g.shape}")
    else:
        g = sp.Matrix(list(g) if isinstance(g, (list, tuple)) else [g])
    xs = _variables(variables)
    mu = _mean(mean, len(xs))
    cov_m = _as_cov(cov, len(xs))
    n = g.shape[0]
    m1 = [_expectation(g[i], xs, mu, cov_m) for i in range(n)]
    out = sp.zeros(n, n)
    for i in range(n):
        for j in range(i, n):
            c = _expectation(g[i] * g[j], xs, mu, cov_m) - m1[i] * m1[j]
            c = sp.expand(c)
            f = sp.factor(c)
            c = f if sp.count_ops(f) < sp.count_ops(c) else c
            out[i, j] = out[j, i] = c
    return out
