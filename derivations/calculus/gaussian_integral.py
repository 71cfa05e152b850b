"""Gaussian expectations of non-polynomial functions: exact where Isserlis applies, a displayed integral elsewhere.

For ξ ~ N(μ, Σ) and h(ξ) not polynomial in ξ, :func:`expectation` whitens ξ = μ + L z (L the lower Cholesky
factor of Σ, z ~ N(0, I)), splits z into the coordinates h is polynomial in (z_P) and the others (z_N), expands

    h = Σ_α c_α(z_N) z_P^α   ⇒   E h = Σ_α E[z_P^α] · ∫ c_α(z_N) φ(z_N) dz_N,     φ the standard normal density,

and keeps each remaining integral as an unevaluated ``sympy.Integral`` over ℝ^|N| — so the LaTeX of a result
shows the expectation as the integral it is (the Isserlis moments E[z_P^α] = Π (α_i − 1)!! are exact). Label
noise, which enters polynomially, is integrated out exactly; only the few directions the nonlinearity depends
on are left to numerics.

:func:`evaluate` gives the number with an error estimate: every integral in an expression (or matrix) is computed
by ``scipy.integrate.cubature`` (adaptive Gauss–Kronrod in one dimension, Genz–Malik in several, infinite limits
mapped onto finite ones), all integrals over the same variables in one vector-valued call (points where a factor
overflows double precision although the integrand is finite, e.g. e^{wz}/(e^{wz} + 1) at |w| ≳ 20, are evaluated
again by mpmath), and the estimates are propagated to the expression to first order, Σ_k |∂F/∂I_k| δI_k. An integral whose estimated error stays above
``atol + rtol·|I|`` within ``max_subdivisions`` raises :class:`~derivations.errors.QuadratureError` — a
requested accuracy is reached or refused, never silently missed.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp

from derivations.calculus.gaussian import gaussian_expectation
from derivations.errors import ParameterError, QuadratureError

__all__ = ["expectation", "evaluate", "NumericValue", "standard_normal_variables"]

_UNDERFLOW = 2 * 745.0  # |z|² beyond which exp(−|z|²/2) is 0 in double precision
RTOL_MIN = 1e-14  # a relative accuracy double precision can reach (ε ≈ 2.2e-16 per operation); finer is refused
_FACTOR_OPS = 300  # integrands up to this many operations are shown factored (a work bound: deterministic)


def standard_normal_variables(n: int, avoid=frozenset()) -> list[sp.Symbol]:
    """n real symbols z_1 … z_n for the whitened variables, renamed (z'_1, …) if ``avoid`` holds one."""
    prime = ""
    while True:
        zs = [sp.Symbol(f"z{prime}_{i + 1}", real=True) for i in range(n)]
        if not set(zs) & set(avoid):
            return zs
        prime += "'"


def _density(zs: list[sp.Symbol]) -> sp.Expr:
    """φ(z) = (2π)^(−n/2) exp(−|z|²/2)."""
    return sp.exp(-sp.Add(*[z ** 2 for z in zs]) / 2) / (2 * sp.pi) ** sp.Rational(len(zs), 2)


def expectation(expr, variables, mean, cov) -> sp.Expr:
    """E[expr] for ``variables`` ~ N(mean, cov): exact (Isserlis) where polynomial, else integrals over ℝ^k.

    ``cov`` must be positive definite (its Cholesky factor whitens the variables). The result is exact
    whenever it contains no ``Integral``; :func:`evaluate` computes one that does. A matrix is taken entrywise.
    """
    if isinstance(expr, sp.MatrixBase):
        return sp.Matrix(expr).applyfunc(lambda e: expectation(e, variables, mean, cov))
    expr = sp.sympify(expr)
    variables = list(variables)
    if not expr.has(*variables):
        return expr
    if expr.is_polynomial(*variables):
        return gaussian_expectation(expr, variables, mean, cov)
    mean, cov = sp.Matrix(mean), sp.Matrix(cov)
    root = cov.cholesky(hermitian=False)
    zs = standard_normal_variables(len(variables), expr.free_symbols | mean.free_symbols | cov.free_symbols)
    h = sp.expand(expr.xreplace(dict(zip(variables, mean + root * sp.Matrix(zs)))))
    poly_vars = [z for z in zs if h.is_polynomial(z)]
    rest = [z for z in zs if z not in poly_vars and h.has(z)]
    terms = sp.Poly(h, *poly_vars).terms() if poly_vars else [((), h)]
    exact, by_support = sp.S.Zero, {}
    for monomial, coeff in terms:
        # E[z_P^α] for iid standard normals: Π (α_i − 1)!! over even α_i, 0 if one is odd
        moment = sp.Mul(*[sp.factorial2(a - 1) if a % 2 == 0 else 0 for a in monomial])
        support = tuple(z for z in rest if coeff.has(z))
        if moment == 0:
            continue
        if support:
            by_support[support] = by_support.get(support, sp.S.Zero) + moment * coeff
        else:
            exact += moment * coeff
    # one integral per set of non-polynomial directions, its integrand factored while that stays cheap
    total = exact
    for support, integrand in by_support.items():
        if sp.count_ops(integrand) <= _FACTOR_OPS:
            integrand = sp.factor(integrand)
        total += sp.Integral(integrand * _density(list(support)), *[(z, -sp.oo, sp.oo) for z in support])
    return total


# =========================================================================== numbers
@dataclass(frozen=True)
class NumericValue:
    """A number (array) computed by quadrature: ``value`` and an estimate ``error`` of |value − exact| (same
    shape), the number of integrals it needed and the method."""

    value: np.ndarray
    error: np.ndarray
    integrals: int
    method: str

    def __float__(self) -> float:
        return float(self.value)


def _integrals(items) -> list[sp.Integral]:
    found = set()
    for e in items:
        found |= e.atoms(sp.Integral)
    return sorted(found, key=sp.default_sort_key)


class _PrecisePoints:
    """The integrands in mpmath (no overflow: its exponent range is unbounded), for the points where the double
    precision ones are not finite although the value is, e.g. e^{wz}/(e^{wz} + 1) = inf/inf at wz ≳ 710 where
    the Gaussian weight e^{−z²/2} has not underflowed yet (|w| ≳ 20). Only a value that is not finite here
    either raises."""

    def __init__(self, zs: list[sp.Symbol], functions: list[sp.Expr], members: list[sp.Integral]):
        self.zs, self.members = zs, members
        self.f = sp.lambdify(zs, functions, modules="mpmath")

    def __call__(self, points: np.ndarray) -> np.ndarray:
        out = np.empty((points.shape[0], len(self.members)))
        with mpmath.workdps(30):
            for row, z in enumerate(points):
                vals = [mpmath.mpmathify(v) for v in self.f(*(mpmath.mpf(float(c)) for c in z))]
                for col, v in enumerate(vals):
                    real = float(v.real) if mpmath.im(v) == 0 else np.nan
                    if not np.isfinite(real):
                        raise QuadratureError(f"the integrand of {self.members[col]} is not finite at "
                                              f"{dict(zip(self.zs, z))}: {mpmath.nstr(v, 6)}")
                    out[row, col] = real
        return out


def _compute(integrals: list[sp.Integral], rtol: float, atol: float, max_subdivisions: int) -> dict:
    """{Integral: (value, error)}: one vector-valued ``cubature`` call per set of integration variables."""
    from scipy.integrate import cubature

    groups: dict[tuple, list[sp.Integral]] = {}
    for integral in integrals:
        limits = tuple(integral.limits)
        if any(len(lim) != 3 or not all(sp.sympify(b).is_extended_real and not sp.sympify(b).free_symbols
                                         for b in lim[1:]) for lim in limits):
            raise ParameterError(f"cannot evaluate {integral}: its limits are not numbers")
        groups.setdefault(limits, []).append(integral)
    out = {}
    for limits, members in groups.items():
        zs = [lim[0] for lim in limits]
        stray = set().union(*(m.function.free_symbols for m in members)) - set(zs)
        if stray:
            raise ParameterError(f"give numeric values for {sorted(map(str, stray))} (the integrand depends on them)")
        functions = [m.function for m in members]
        f = sp.lambdify(zs, functions, modules=["scipy", "numpy"], cse=True)
        exact = _PrecisePoints(zs, functions, members)

        def integrand(z, f=f, exact=exact):
            # where the Gaussian weight underflows to 0 the integrand is 0, also when a factor overflows there:
            # those points are not evaluated
            live = np.sum(z * z, axis=1) < _UNDERFLOW
            vals = np.zeros((z.shape[0], len(members)))
            with np.errstate(all="ignore"):
                vals[live] = np.stack([np.broadcast_to(np.asarray(v, dtype=float), (int(live.sum()),))
                                       for v in f(*z[live].T)], axis=-1)
            bad = ~np.isfinite(vals).all(axis=1)
            if bad.any():
                vals[bad] = exact(z[bad])
            return vals
        lo = [float(lim[1]) for lim in limits]
        hi = [float(lim[2]) for lim in limits]
        with np.errstate(under="ignore"):
            res = cubature(integrand, lo, hi, rtol=rtol, atol=atol, max_subdivisions=max_subdivisions)
        est, err = np.atleast_1d(res.estimate), np.atleast_1d(res.error)
        if res.status != "converged" or not np.all(np.isfinite(est)):
            worst = int(np.argmax(err / (atol + rtol * np.abs(est))))
            raise QuadratureError(
                f"the Gaussian integral {members[worst]} did not reach rtol={rtol:g}, atol={atol:g} within "
                f"{max_subdivisions} subdivisions (estimate {est[worst]:.6g} ± {err[worst]:.2g}): raise "
                "max_subdivisions or accept a looser rtol")
        out.update({m: (float(v), float(e)) for m, v, e in zip(members, est, err)})
    return out


def evaluate(expr, values=None, *, rtol: float = 1e-10, atol: float = 1e-13,
             max_subdivisions: int = 20000) -> NumericValue:
    """``expr`` (an expression or matrix, possibly holding integrals from :func:`expectation`) at ``values``
    ({symbol: number}), with the propagated error estimate.

    Each integral is computed to ``atol + rtol·|I|`` or :class:`QuadratureError` is raised; ``rtol`` below
    :data:`RTOL_MIN` is refused (ParameterError), since rounding alone would exceed it; the expression's
    error is Σ_k |∂F/∂I_k| δI_k (first order in the integrals' errors; exact parts contribute none).
    """
    if not (RTOL_MIN <= rtol < 1) or not atol >= 0:
        raise ParameterError(f"need {RTOL_MIN:g} <= rtol < 1 (double precision resolves no finer) and atol >= 0, "
                             f"got rtol={rtol!r}, atol={atol!r}")
    values = {k: sp.sympify(v) for k, v in dict(values or {}).items()}
    matrix = isinstance(expr, sp.MatrixBase)
    items = [sp.sympify(e).xreplace(values) for e in (list(expr) if matrix else [expr])]
    integrals = _integrals(items)
    computed = _compute(integrals, rtol, atol, max_subdivisions)
    marks = sp.symbols(f"I0:{len(integrals)}")
    at = {m: computed[i][0] for m, i in zip(marks, integrals)}
    vals, errs = [], []
    for e in items:
        f = e.xreplace(dict(zip(integrals, marks)))
        v = complex(f.evalf(17, subs=at)) if f.free_symbols <= set(marks) else None
        if v is None:
            stray = sorted(map(str, f.free_symbols - set(marks)))
            raise ParameterError(f"give numeric values for {stray} (the expression depends on them)")
        vals.append(v.real)
        errs.append(sum(abs(complex(sp.diff(f, m).evalf(17, subs=at))) * computed[i][1]
                        for m, i in zip(marks, integrals) if f.has(m)))
    shape = expr.shape if matrix else ()
    return NumericValue(np.array(vals).reshape(shape), np.array(errs, dtype=float).reshape(shape),
                        len(integrals), "cubature" if integrals else "exact")
