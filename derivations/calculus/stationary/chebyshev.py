"""Integration primitives of the numerical stationary density: the grid map u ↦ x onto the domain, adaptive
Chebyshev–Lobatto pieces (Clenshaw–Curtis, mpmath quadrature where a fit fails), lambdified integrands, and
the cumulative integral R(x) = ∫_c^x r of the part of the potential sympy could not integrate."""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any, Callable

import mpmath
import numpy as np
import sympy as sp

log = logging.getLogger(__name__)


class Grid:
    """A smooth increasing map u ↦ x of ℝ onto the domain with x(0) = centre, dx/du(0) = scale.

    (−∞, ∞): x = c + s sinh u;  (lo, ∞): x = lo + (c − lo) exp(σ sinh u), σ = s/(c − lo);
    (−∞, hi): the mirror image;  (lo, hi): x = lo + (hi − lo) logistic(z₀ + σ sinh u).
    Equal steps in u resolve the peak (spacing ≈ s·h there) and reach far tails in few steps.
    """

    def __init__(self, lo, hi, centre, scale=None):
        self.lo, self.hi, self.c = lo, hi, mpmath.mpf(centre)
        inf_lo, inf_hi = mpmath.isinf(lo), mpmath.isinf(hi)
        self.kind = ("both" if inf_lo and inf_hi else "upper" if inf_hi else "lower" if inf_lo else "finite")
        c = self.c
        if self.kind == "both":
            natural = mpmath.mpf(1)
        elif self.kind == "upper":
            natural = c - lo
        elif self.kind == "lower":
            natural = hi - c
        else:
            natural = (c - lo) * (hi - c) / (hi - lo)
            self.z0 = mpmath.log((c - lo) / (hi - c))
        s = natural if scale is None or not mpmath.isfinite(scale) or scale <= 0 else mpmath.mpf(scale)
        self.s = s
        self.sigma = s / natural if self.kind != "both" else s
        self._floats()

    def x(self, u):
        v = self.sigma * mpmath.sinh(u)
        if self.kind == "both":
            return self.c + v
        if self.kind == "upper":
            return self.lo + (self.c - self.lo) * mpmath.exp(v)
        if self.kind == "lower":
            return self.hi - (self.hi - self.c) * mpmath.exp(-v)
        return self.lo + (self.hi - self.lo) / (1 + mpmath.exp(-(self.z0 + v)))

    def u_float(self, x: float) -> float:
        """``u(x)`` in float arithmetic (mpmath only where floats overflow)."""
        try:
            c, sg = self._fc, self._fsigma
            if self.kind == "both":
                v = x - c
            elif self.kind == "upper":
                v = math.log((x - self._flo) / (c - self._flo))
            elif self.kind == "lower":
                v = -math.log((self._fhi - x) / (self._fhi - c))
            else:
                v = math.log((x - self._flo) / (self._fhi - x)) - self._fz0
            return math.asinh(v / sg)
        except (AttributeError, ValueError, OverflowError, ZeroDivisionError):
            return float(self.u(mpmath.mpf(x)))

    def _floats(self):
        self._fc, self._fsigma = float(self.c), float(self.sigma)
        self._flo, self._fhi = float(self.lo), float(self.hi)
        self._fz0 = float(getattr(self, "z0", 0.0))

    def u(self, x):
        if self.kind == "both":
            v = x - self.c
        elif self.kind == "upper":
            v = mpmath.log((x - self.lo) / (self.c - self.lo))
        elif self.kind == "lower":
            v = -mpmath.log((self.hi - x) / (self.hi - self.c))
        else:
            v = mpmath.log((x - self.lo) / (self.hi - x)) - self.z0
        return mpmath.asinh(v / self.sigma)


class _ChebFailure(ArithmeticError):
    """An adaptive Chebyshev fit did not converge (non-finite values or too many splits)."""


_CHEB_N = 33
_CHEB_COS = [[math.cos(math.pi * j * k / (_CHEB_N - 1)) for k in range(_CHEB_N)] for j in range(_CHEB_N)]
_CHEB_T = [math.cos(math.pi * k / (_CHEB_N - 1)) for k in range(_CHEB_N)]


class _ChebPiece:
    """Adaptive Chebyshev–Lobatto interpolant (33 points) of a float function on [a, b], bisected until the
    trailing coefficients of every part are below ``atol`` (1e-13 of the largest coefficient on all of [a, b]),
    with its antiderivative: ``integral(x) = ∫_a^x f`` and ``total = ∫_a^b f`` (Clenshaw–Curtis, spectral
    accuracy). ``error`` = Σ over the parts of width × |three trailing coefficients|: an estimate of the error
    of ``total`` (of the interpolation error, whose integral is usually far smaller; not a rigorous bound)."""

    def __init__(self, f: Callable[[float], float], a: float, b: float, depth: int = 0, max_depth: int = 10,
                 atol: float | None = None):
        self.a, self.b = float(a), float(b)
        self.children = None
        mid, half = (self.a + self.b) / 2, (self.b - self.a) / 2
        vals = [f(mid + half * t) for t in _CHEB_T]
        if not all(math.isfinite(v) for v in vals):
            raise _ChebFailure(f"non-finite values on [{a}, {b}]")
        n = _CHEB_N
        coef = []
        for j in range(n):
            row = _CHEB_COS[j]
            s = 0.5 * (vals[0] * row[0] + vals[-1] * row[-1]) + sum(vals[k] * row[k] for k in range(1, n - 1))
            coef.append(2 * s / (n - 1))
        coef[0] /= 2
        coef[-1] /= 2
        if atol is None:
            atol = 1e-13 * max(abs(c) for c in coef) + 1e-300
        if max(abs(c) for c in coef[-3:]) > atol:
            if depth >= max_depth:
                raise _ChebFailure(f"no convergence on [{a}, {b}]")
            m = (self.a + self.b) / 2
            left = _ChebPiece(f, self.a, m, depth + 1, max_depth, atol)
            right = _ChebPiece(f, m, self.b, depth + 1, max_depth, atol)
            self.children = (left, right)
            self.total, self.error = left.total + right.total, left.error + right.error
            return
        self.error = (self.b - self.a) * sum(abs(c) for c in coef[-3:])
        # antiderivative in t ∈ [−1, 1]: with b_0 = 2c_0, b_j = c_j: C_k = (b_{k−1} − b_{k+1}) / (2k)
        b_ = [2 * coef[0]] + coef[1:] + [0.0, 0.0]
        anti = [0.0] + [(b_[k - 1] - b_[k + 1]) / (2 * k) for k in range(1, n + 1)]
        anti[0] = -sum(c * (-1) ** k for k, c in enumerate(anti))  # F(−1) = 0
        self.anti = [c * half for c in anti]
        self.mid, self.half = mid, half
        self.total = self._clenshaw(1.0)

    def _clenshaw(self, t: float) -> float:
        b1 = b2 = 0.0
        for c in reversed(self.anti[1:]):
            b1, b2 = 2 * t * b1 - b2 + c, b1
        return t * b1 - b2 + self.anti[0]

    def integral(self, x: float) -> float:
        x = float(x)
        if self.children is not None:
            left, right = self.children
            return left.integral(x) if x <= left.b else left.total + right.integral(x)
        t = min(1.0, max(-1.0, (x - self.mid) / self.half))
        return self._clenshaw(t)


class _QuadPiece:
    """Fallback for a segment a Chebyshev fit cannot resolve: mpmath quadrature on demand (``error``: its
    estimate, at least 1e-15 of the total)."""

    def __init__(self, f_mp: Callable, a, b):
        self.f, self.a, self.b = f_mp, mpmath.mpf(a), mpmath.mpf(b)
        with mpmath.workdps(15):
            total, error = mpmath.quad(self.f, [self.a, self.b], error=True)
        self.total = float(mpmath.re(total))
        self.error = float(error) + 1e-15 * abs(self.total)

    def integral(self, x) -> float:
        with mpmath.workdps(15):
            return float(mpmath.re(mpmath.quad(self.f, [self.a, mpmath.mpf(x)])))


def fit_piece(f_float: Callable, f_mp: Callable, a, b, max_depth: int = 10):
    try:
        return _ChebPiece(f_float, a, b, max_depth=max_depth)
    except _ChebFailure as exc:
        log.debug("Chebyshev fit failed (%s); mpmath quadrature on this segment", exc)
        return _QuadPiece(f_mp, a, b)


def mp_function(expr: sp.Expr, x: sp.Symbol) -> Callable:
    """mpmath function of x (real part). Coefficients holding integrals (Gaussian expectations of a non-polynomial
    model) are evaluated by ``scipy.integrate.quad`` in double precision (about 1e-8 relative, quad's default
    tolerance) rather than by nested mpmath quadrature, which is thousands of times slower."""
    if expr.has(sp.Integral):
        from scipy.integrate import IntegrationWarning

        f = sp.lambdify(x, expr, ["scipy", "numpy"])

        def value(t):
            with warnings.catch_warnings():
                warnings.simplefilter("error", IntegrationWarning)
                try:
                    return mpmath.mpf(float(np.real(f(float(t)))))
                except IntegrationWarning:  # quad's own verdict that its value is unreliable: no number
                    return mpmath.nan
        return value
    f = sp.lambdify(x, expr, "mpmath")
    return lambda t: mpmath.re(f(t))


def float_function(expr: sp.Expr, x: sp.Symbol) -> tuple[Callable, Callable]:
    """(float function, mpmath function) of x: math-module lambdify, mpmath (real part) as fallback."""
    f_mp = mp_function(expr, x)
    try:
        f_math = sp.lambdify(x, expr, "math")
    except Exception:  # noqa: BLE001 - a printer limitation; mpmath covers it
        f_math = None

    def f(t: float) -> float:
        if f_math is not None:
            try:
                v = f_math(t)
                if isinstance(v, complex):
                    v = v.real
                return float(v)
            except (ValueError, OverflowError, ZeroDivisionError, TypeError, NameError, AttributeError):
                pass
        with mpmath.workdps(15):
            return float(f_mp(mpmath.mpf(t)))
    return f, f_mp


class Cumulative:
    """R(x) = ∫_c^x r(t) dt (c the grid centre): the part of the potential sympy could not integrate.

    Grid segment k is [x(k h), x((k+1) h)]; each carries an adaptive Chebyshev antiderivative of
    r, built when first needed, and the node values ∫_c^{x(k h)} r are memoised, so an
    evaluation costs a Clenshaw sum."""

    def __init__(self, r_float: Callable, r_mp: Callable, grid: Grid, h: float):
        self.r_float, self.r_mp, self.grid, self.h = r_float, r_mp, grid, h
        self.pieces: dict[int, Any] = {}
        self.nodes: dict[int, float] = {0: 0.0}

    def piece(self, k: int):
        if k not in self.pieces:
            self.pieces[k] = fit_piece(self.r_float, self.r_mp, self.grid.x(k * self.h), self.grid.x((k + 1) * self.h))
        return self.pieces[k]

    def node(self, k: int) -> float:
        if k in self.nodes:
            return self.nodes[k]
        step = 1 if k > 0 else -1
        j = k
        while j - step not in self.nodes:
            j -= step
        while True:  # node j − step is known: fill j, j + step, …, k
            prev = self.nodes[j - step]
            self.nodes[j] = prev + self.piece(j - 1).total if step > 0 else prev - self.piece(j).total
            if j == k:
                return self.nodes[k]
            j += step

    def __call__(self, x) -> float:
        k = math.floor(self.grid.u_float(float(x)) / self.h)
        return self.node(k) + self.piece(k).integral(x)
