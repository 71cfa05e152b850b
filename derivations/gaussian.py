"""Gaussian (Isserlis/Wick) moments and the noise covariance of minibatch gradients.

Isserlis' theorem: for zero-mean jointly Gaussian x, E[x_{i1} ⋯ x_{i2k}] = Σ over perfect matchings of
the product of covariances of the matched pairs (odd moments vanish). Expectations of polynomials follow
by linearity after shifting by the mean.
"""

from __future__ import annotations

import functools
from typing import Sequence

import sympy as sp

from .errors import ParameterError

__all__ = ["isserlis_moment", "gaussian_expectation", "noise_covariance", "minibatch_noise_scale"]


def isserlis_moment(indices: Sequence[int], cov: sp.Matrix) -> sp.Expr:
    """E[x_{i1} ⋯ x_{ik}] for zero-mean Gaussian x with covariance ``cov`` (sum over perfect matchings)."""
    cov = sp.ImmutableMatrix(cov)
    return _matchings(tuple(sorted(indices)), cov)


@functools.lru_cache(maxsize=4096)
def _matchings(indices: tuple[int, ...], cov: sp.ImmutableMatrix) -> sp.Expr:
    if not indices:
        return sp.Integer(1)
    if len(indices) % 2:
        return sp.Integer(0)
    first, rest = indices[0], indices[1:]
    total = sp.Integer(0)
    for pos, j in enumerate(rest):
        if cov[first, j] == 0:
            continue
        total += cov[first, j] * _matchings(rest[:pos] + rest[pos + 1:], cov)
    return sp.expand(total)


def _monomial_moment(exponents: Sequence[int], cov: sp.ImmutableMatrix, diagonal: bool) -> sp.Expr:
    if diagonal:  # independent coordinates: E x^k = (k − 1)!! s^k for even k
        out = sp.Integer(1)
        for i, k in enumerate(exponents):
            if k % 2:
                return sp.Integer(0)
            out *= sp.factorial2(k - 1) * cov[i, i] ** (k // 2)
        return out
    indices = [i for i, k in enumerate(exponents) for _ in range(k)]
    return _matchings(tuple(indices), cov)


def gaussian_expectation(expr, variables: Sequence[sp.Symbol], mean=None, cov=None) -> sp.Expr:
    """E[expr] for x = ``variables`` ~ N(mean, cov) (defaults: 0, identity); ``expr`` polynomial in x.

    Raises ParameterError if ``expr`` is not a polynomial in the variables.
    """
    variables = list(variables)
    n = len(variables)
    cov = sp.ImmutableMatrix(sp.eye(n) if cov is None else cov)
    if cov.shape != (n, n):
        raise ParameterError(f"cov must be {n}x{n} for {n} Gaussian variables, got {cov.shape}")
    expr = sp.sympify(expr)
    if mean is not None:
        mean = list(mean)
        if len(mean) != n:
            raise ParameterError(f"mean must have {n} entries, got {len(mean)}")
        shifted = [sp.Dummy(f"z{i}") for i in range(n)]
        expr = expr.subs({v: m + z for v, m, z in zip(variables, mean, shifted)}, simultaneous=True)
        variables = shifted
    try:
        poly = sp.Poly(sp.expand(expr), *variables)
    except sp.PolificationFailed as exc:  # pragma: no cover - sympy raises this for non-polynomials
        raise ParameterError(f"expectation needs a polynomial in {variables}: {exc}") from None
    if any(c.has(*variables) for c in poly.coeffs()):
        raise ParameterError(f"{expr} is not a polynomial in the Gaussian variables {variables}")
    diagonal = cov.is_diagonal()
    return sp.expand(sum((coeff * _monomial_moment(monom, cov, diagonal) for monom, coeff in poly.terms()), sp.Integer(0)))


def noise_covariance(per_sample_gradient, variables: Sequence[sp.Symbol], mean=None, cov=None) -> sp.Matrix:
    """C = E[g gᵀ] − E[g] E[g]ᵀ for a per-sample gradient g polynomial in Gaussian variables.

    Label noise is one more Gaussian variable (put its variance in ``cov``).
    """
    g = sp.Matrix(per_sample_gradient)
    expect = functools.partial(gaussian_expectation, variables=variables, mean=mean, cov=cov)
    m = g.applyfunc(expect)
    n = g.shape[0]
    second = sp.Matrix(n, n, lambda i, j: expect(g[i] * g[j]) if i <= j else 0)
    second = sp.Matrix(n, n, lambda i, j: second[min(i, j), max(i, j)])
    return (second - m * m.T).applyfunc(sp.expand)


def minibatch_noise_scale(batch_size, sampling: str = "with_replacement", n_samples=None) -> sp.Expr:
    """κ, the factor multiplying the per-sample covariance C for the minibatch-mean gradient.

    with_replacement and online: κ = 1/B; without_replacement: κ = (P − B)/(B(P − 1)) (finite-population
    correction); epoch: refused — minibatches within an epoch are correlated, so no i.i.d. formula applies.
    """
    B = sp.sympify(batch_size)
    if B.is_number and (B < 1 or not B.is_integer):
        raise ParameterError(f"batch_size must be an integer >= 1, got {batch_size}")
    if sampling in ("with_replacement", "online"):
        return 1 / B
    if sampling == "without_replacement":
        if n_samples is None:
            raise ParameterError("sampling='without_replacement' needs n_samples (P)")
        P = sp.sympify(n_samples)
        if B.is_number and P.is_number and B > P:
            raise ParameterError(f"batch_size = {batch_size} exceeds n_samples = {n_samples} (need 1 <= B <= P)")
        if P.is_number and P == 1:
            return sp.Integer(0)
        return (P - B) / (B * (P - 1))
    if sampling == "epoch":
        raise ParameterError("sampling='epoch' (random reshuffling) correlates minibatches within an epoch: "
                             "the i.i.d. minibatch noise scale does not apply")
    raise ParameterError(f"sampling must be 'with_replacement', 'without_replacement', 'online' or 'epoch'; got {sampling!r}")

