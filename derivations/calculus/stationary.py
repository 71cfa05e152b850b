"""Stationary densities of 1-D Itô SDEs (zero flux) and a detailed-balance test in n-D.

One dimension
-------------
For the Itô SDE ``dx = A(x) dt + G(x) dW`` with diffusion ``D = G²`` (``D = G Q Gᵀ`` in
general) on an interval ``(lo, hi)``, the stationary Fokker–Planck equation
``0 = −∂ₓ J`` with probability current ``J = A p − ½ ∂ₓ(D p)`` and zero flux ``J = 0`` gives

    A p − ½ (D p)′ = 0   ⇒   p(x) ∝ D(x)⁻¹ exp ∫ 2A(x)/D(x) dx,

i.e. ``p ∝ exp(−Φ)`` with the potential ``Φ = log D − ∫ 2A/D dx`` (Itô convention: the
``D⁻¹`` prefactor is the Itô "spurious drift"; a Stratonovich SDE must first be converted with
``StratonovichSDE.to_ito``). The log-derivative ``(log p)′ = 2A/D − D′/D`` needs no integral,
so the normalisability of ``p`` is decided from it alone: at an infinite boundary
``k = lim x (log p)′`` and ``p`` is integrable there iff ``k < −1`` (``k = −∞``: always); at a
finite boundary ``a``, ``k = lim (x − a)(log p)′`` and ``p`` is integrable there iff ``k > −1``
(``k = +∞``: always), since then ``p ~ |x|^k`` resp. ``|x − a|^k``. The borderline ``k = −1``
is reported as not integrable: right for ``p ~ 1/x``, wrong only for logarithmic corrections such
as ``1/(x log²x)``, which a limit of ``x (log p)′`` cannot see.

Every symbolic step runs under :func:`derivations.calculus.budget.time_budget`; an integral sympy does
not finish in time stays an unevaluated ``Integral`` and the numbers come from mpmath
quadrature instead. A value is never guessed: a ``Piecewise`` normalisation is kept only in the
branch whose condition is implied by the normalisability condition, else it is ``None``.

n dimensions
------------
:func:`detailed_balance`: with ``D`` invertible, the stationary current ``J = a p − ½ ∇·(D p)``
vanishes iff ``∇ log p = D⁻¹(2a − ∇·D)`` (``(∇·D)_i = Σ_j ∂_j D_ij``), so detailed balance
holds iff that vector field is a gradient, i.e. its Jacobian is symmetric (curl-free); then
``p ∝ exp(−Φ)`` with ``−∇Φ = D⁻¹(2a − ∇·D)``.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import mpmath
import sympy as sp

from derivations.calculus import budget as _budget
from derivations.errors import NotNormalisableError, ParameterError
from derivations.calculus.sde import ItoSDE

__all__ = ["StationaryDensity", "stationary_density", "detailed_balance", "DensityFunction"]

log = logging.getLogger(__name__)

# =========================================================================== helpers
def _try(seconds: float | None, func: Callable, *args, default=None, **kwargs):
    """``func(*args)`` under a time budget; ``default`` when it times out or sympy gives up."""
    try:
        with _budget.time_budget(seconds):
            return func(*args, **kwargs)
    except _budget.SymbolicTimeout:
        log.info("%s timed out after %s s", getattr(func, "__name__", func), seconds)
        return default
    except Exception as exc:  # noqa: BLE001 - sympy gives up in many ways; every one means "no closed form"
        log.info("%s failed: %s: %s", getattr(func, "__name__", func), type(exc).__name__, exc)
        return default


def _tidy(expr: sp.Expr, seconds: float | None) -> sp.Expr:
    """A cheap, budgeted simplification that never returns something worse than the input."""
    out = _try(seconds, sp.simplify, expr, default=None)
    if out is None or sp.count_ops(out) > sp.count_ops(expr):
        return expr
    return out


def _light(expr: sp.Expr, seconds: float | None) -> sp.Expr:
    """A cheap normal form (cancel for rational expressions) for intermediate results."""
    if not isinstance(expr, sp.Expr) or expr.has(sp.oo, -sp.oo, sp.zoo, sp.nan):
        return expr
    syms = tuple(expr.free_symbols)
    if syms and expr.is_rational_function(*syms):
        return _try(seconds, lambda: sp.factor_terms(sp.cancel(expr)), default=expr)
    return expr


def _integrate_termwise(f: sp.Expr, x: sp.Symbol, seconds: float | None) -> tuple[sp.Expr, sp.Expr]:
    """∫ f dx term by term: (closed-form antiderivative of the solved terms, sum of unsolved terms).

    Rational functions are first split with ``apart`` (partial fractions integrate at once).
    """
    g = f
    if f.is_rational_function(x):
        g = _try(seconds, sp.apart, sp.cancel(f), x, default=f)
    else:
        g = _try(seconds, sp.expand, f, default=f)
    closed, rest = sp.S.Zero, sp.S.Zero
    for term in sp.Add.make_args(g):
        if not term.has(x):
            closed += term * x
            continue
        # Integrate the x-dependent core only: sympy 1.14 can return 0 for ∫ c·R(x) dx with a symbolic
        # constant c (seen on the L = 2 deep-linear potential). Every antiderivative is verified.
        coeff, core = term.as_independent(x, as_Add=False)
        res = _try(seconds, sp.integrate, core, x, default=None)
        if res is None or res.has(sp.Integral) or not _is_antiderivative(res, core, x, seconds):
            rest += term
        else:
            closed += coeff * res
    return closed, rest


def _is_antiderivative(F: sp.Expr, f: sp.Expr, x: sp.Symbol, seconds: float | None) -> bool:
    """d F/dx = f: symbolically if simplify proves it, else at random points of the symbols' domains
    (relative error < 1e-10 at three points); anything unproven counts as not verified."""
    residual = sp.diff(F, x) - f
    if _try(seconds, lambda: sp.simplify(residual) == 0, default=False):
        return True
    rng = random.Random(12345)
    for _ in range(3):
        point = {sym: sp.Rational(rng.randint(11, 29), 10) * (1 if (sym.is_positive or sym.is_nonnegative) else rng.choice((-1, 1)))
                 for sym in residual.free_symbols}
        scale = abs(complex(sp.N(f.subs(point), 30))) + 1e-300
        err = abs(complex(sp.N(residual.subs(point), 30)))
        if not err <= 1e-10 * scale:
            return False
    return True


def _real_logs(expr: sp.Expr, x: sp.Symbol, x0: sp.Expr) -> sp.Expr:
    """Replace log(g) by log(−g) where g < 0 at the reference point (e.g. ∫ dx/(x − 1) = log(x − 1)
    on (0, 1)): the antiderivative changes by the constant iπ only, and p stays real."""
    def negative_there(e) -> bool:
        if not (isinstance(e, sp.log) and e.args[0].has(x)):
            return False
        val = e.args[0].subs(x, x0)
        return bool(val.is_negative)
    return expr.replace(negative_there, lambda e: sp.log(sp.expand(-e.args[0])))


def _exp_of_minus(phi: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """exp(−Φ) written as a product of powers: exp(−c log g) → g**(−c) for x-free c."""
    phi = sp.expand_log(sp.expand(phi), force=False)
    powers, rest = [], sp.S.Zero
    for term in sp.Add.make_args(phi):
        coeff, logs = sp.S.One, []
        for fac in sp.Mul.make_args(term):
            if isinstance(fac, sp.log) and fac.has(x):
                logs.append(fac)
            else:
                coeff *= fac
        if len(logs) == 1 and not coeff.has(x):
            powers.append(logs[0].args[0] ** (-coeff))
        else:
            rest += term
    out = sp.Mul(*powers) * sp.exp(-rest)
    return sp.powsimp(out, combine="exp")


def _as_positive_form(rel) -> tuple[sp.Expr, bool] | None:
    """A relational as ``e > 0`` (strict) or ``e ≥ 0``: (e, strict); None for others."""
    if isinstance(rel, sp.StrictGreaterThan):
        return rel.lhs - rel.rhs, True
    if isinstance(rel, sp.StrictLessThan):
        return rel.rhs - rel.lhs, True
    if isinstance(rel, sp.GreaterThan):
        return rel.lhs - rel.rhs, False
    if isinstance(rel, sp.LessThan):
        return rel.rhs - rel.lhs, False
    return None


def _nice_relational(rel):
    """Rewrite ``lhs ⋚ rhs`` as ``e ⋚ 0`` with positive factors and denominators dropped and,
    when e is linear in a parameter with a coefficient of known sign, solved for it
    (``2μ/σ² − 2 > −1`` → ``μ > σ²/2``). Equivalent to the input under the symbols' assumptions."""
    form = _as_positive_form(rel)
    if form is None:
        return rel
    e, strict = form
    num, den = sp.fraction(sp.together(e))
    if den.is_positive:
        e = num
    elif den.is_negative:
        e = -num
    e = sp.factor_terms(sp.expand(e))
    kept = [f for f in sp.Mul.make_args(e) if not f.is_positive]
    if len(kept) < len(sp.Mul.make_args(e)):
        e = sp.Mul(*kept)
    if e.is_number or e == 1:
        return sp.Gt(e, 0) if strict else sp.Ge(e, 0)
    for sym in sorted(e.free_symbols, key=str):
        try:
            poly = sp.Poly(sp.expand(e), sym)
        except sp.PolynomialError:
            continue
        if poly.degree() != 1:
            continue
        c = poly.coeff_monomial(sym)
        rest = sp.expand(e - c * sym)
        if c.is_positive:
            bound = sp.simplify(-rest / c)
            return sp.Gt(sym, bound) if strict else sp.Ge(sym, bound)
        if c.is_negative:
            bound = sp.simplify(-rest / c)
            return sp.Lt(sym, bound) if strict else sp.Le(sym, bound)
    return sp.Gt(e, 0) if strict else sp.Ge(e, 0)


def _rel_implies(premise, conclusion, seconds) -> bool:
    """Sufficient (not necessary) test that the relational ``premise`` implies ``conclusion``:
    with both written ``e > 0`` / ``e ≥ 0``, e₂/e₁ is a positive constant or e₂ − e₁ ≥ 0."""
    a = _as_positive_form(premise)
    b = _as_positive_form(conclusion)
    if a is None or b is None:
        return False
    (e1, s1), (e2, s2) = a, b
    strict_ok = s1 or not s2
    for simplifier in (sp.cancel, sp.simplify):
        ratio = _try(seconds, simplifier, e2 / e1, default=None)
        if ratio is not None and not ratio.has(sp.zoo, sp.nan) and ratio.is_positive and strict_ok:
            return True
        diff = _try(seconds, simplifier, e2 - e1, default=None)
        if diff is not None and (diff.is_positive or (diff.is_nonnegative and strict_ok)):
            return True
    return False


def _sign_substitution(premises) -> dict:
    """Premises ``s > c`` (c ≥ 0) or ``s < c`` (c ≤ 0) on a single symbol s give its sign:
    {s: positive (negative) Dummy}, so that sympy's assumptions can evaluate a condition."""
    out = {}
    for p in premises:
        form = _as_positive_form(p)
        if form is None:
            continue
        e, strict = form
        syms = e.free_symbols
        if len(syms) != 1:
            continue
        (sym,) = syms
        poly = _try(1.0, sp.Poly, e, sym, default=None)
        if poly is None or poly.degree() != 1:
            continue
        c, d = poly.all_coeffs()  # e = c·s + d > 0  ⇔  s > −d/c (c > 0)
        if not (c.is_number and d.is_number):
            continue
        bound = -d / c
        if c > 0 and (bound > 0 or (bound == 0 and strict)):
            out[sym] = sp.Dummy(str(sym), positive=True)
        elif c < 0 and (bound < 0 or (bound == 0 and strict)):
            out[sym] = sp.Dummy(str(sym), negative=True)
    return out


def _decide(cond, assumption, seconds, _depth: int = 0) -> bool | None:
    """Is ``cond`` true (False: false) whenever ``assumption`` holds? None when undecided.

    Cheap tests first (sign information from the premises, implication between relationals),
    ``simplify``/``refine`` last; And/Or are decided part by part."""
    if cond in (sp.true, True):
        return True
    if cond in (sp.false, False):
        return False
    premises = [] if assumption in (None, sp.true, True, sp.false, False) else (
        list(assumption.args) if isinstance(assumption, sp.And) else [assumption])
    if isinstance(cond, sp.And):
        parts = [_decide(c, assumption, seconds, _depth) for c in cond.args]
        if all(p is True for p in parts):
            return True
        if any(p is False for p in parts):
            return False
        return None
    if isinstance(cond, sp.Or):
        parts = [_decide(c, assumption, seconds, _depth) for c in cond.args]
        if any(p is True for p in parts):
            return True
        if all(p is False for p in parts):
            return False
        return None
    if isinstance(cond, sp.Not):
        inner = _decide(cond.args[0], assumption, seconds, _depth)
        return None if inner is None else not inner
    signs = _sign_substitution(premises)
    if signs:
        val = _try(seconds, lambda: cond.subs(signs), default=None)
        if val in (sp.true, True):
            return True
        if val in (sp.false, False):
            return False
    if any(_rel_implies(p, cond, seconds) for p in premises):
        return True
    negated = _try(seconds, lambda: sp.Not(cond), default=None)
    if negated is not None and any(_rel_implies(p, negated, seconds) for p in premises):
        return False
    if _depth == 0:
        simp = _try(seconds, sp.simplify, cond, default=None)
        if simp is not None and simp != cond:
            return _decide(simp, assumption, seconds, _depth + 1)
    if premises:
        refined = _try(seconds, sp.refine, cond, assumption, default=None)
        if refined in (sp.true, True):
            return True
        if refined in (sp.false, False):
            return False
    return None


def _finite_number(value) -> bool:
    try:
        v = complex(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(v.real) and math.isfinite(v.imag)


class _Grid:
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
    """Adaptive Chebyshev–Lobatto interpolant (33 points, bisected until the trailing coefficients
    are below 1e-13 of the largest) of a float function on [a, b], with its antiderivative:
    ``integral(x) = ∫_a^x f`` and ``total = ∫_a^b f`` (Clenshaw–Curtis, spectral accuracy)."""

    def __init__(self, f: Callable[[float], float], a: float, b: float, depth: int = 0, max_depth: int = 10):
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
        scale = max(abs(c) for c in coef)
        tail = max(abs(c) for c in coef[-3:])
        if tail > 1e-13 * scale + 1e-300:
            if depth >= max_depth:
                raise _ChebFailure(f"no convergence on [{a}, {b}]")
            m = (self.a + self.b) / 2
            left = _ChebPiece(f, self.a, m, depth + 1, max_depth)
            right = _ChebPiece(f, m, self.b, depth + 1, max_depth)
            self.children = (left, right)
            self.total = left.total + right.total
            return
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
    """Fallback for a segment a Chebyshev fit cannot resolve: mpmath quadrature on demand."""

    def __init__(self, f_mp: Callable, a, b):
        self.f, self.a, self.b = f_mp, mpmath.mpf(a), mpmath.mpf(b)
        self.total = self.integral(self.b)

    def integral(self, x) -> float:
        with mpmath.workdps(15):
            return float(mpmath.re(mpmath.quad(self.f, [self.a, mpmath.mpf(x)])))


def _piece(f_float: Callable, f_mp: Callable, a, b):
    try:
        return _ChebPiece(f_float, a, b)
    except _ChebFailure as exc:
        log.debug("Chebyshev fit failed (%s); mpmath quadrature on this segment", exc)
        return _QuadPiece(f_mp, a, b)


def _float_function(expr: sp.Expr, x: sp.Symbol) -> tuple[Callable, Callable]:
    """(float function, mpmath function) of x: math-module lambdify, mpmath (real part) as fallback."""
    f_mp = sp.lambdify(x, expr, "mpmath")
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
            return float(mpmath.re(f_mp(mpmath.mpf(t))))
    return f, (lambda t: mpmath.re(f_mp(t)))


class _Cumulative:
    """R(x) = ∫_c^x r(t) dt (c the grid centre): the part of the potential sympy could not integrate.

    Grid segment k is [x(k h), x((k+1) h)]; each carries an adaptive Chebyshev antiderivative of
    r, built when first needed, and the node values ∫_c^{x(k h)} r are memoised, so an
    evaluation costs a Clenshaw sum."""

    def __init__(self, r_float: Callable, r_mp: Callable, grid: _Grid, h: float):
        self.r_float, self.r_mp, self.grid, self.h = r_float, r_mp, grid, h
        self.pieces: dict[int, Any] = {}
        self.nodes: dict[int, float] = {0: 0.0}

    def piece(self, k: int):
        if k not in self.pieces:
            self.pieces[k] = _piece(self.r_float, self.r_mp, self.grid.x(k * self.h), self.grid.x((k + 1) * self.h))
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


_H = 0.125          # grid step in u
_U_MAX = 40.0       # the walk gives up beyond |u| = 40 (x ~ e^40 scale lengths away)
_TAIL_RTOL = 1e-17  # tail mass (power-law extrapolated) neglected below this fraction


class _Numeric:
    """Numerical model of the density at fixed parameter values (built once per parameter set)."""

    def __init__(self, sd: "StationaryDensity", values: dict, check_tails: bool = False):
        self.values = values
        x = sd.variable
        self.lo, self.hi = sd._float_domain()
        self.x0 = mpmath.mpf(sp.N(sd.reference_point, 30))
        closed = sp.lambdify(x, (-(sp.log(sd.diffusion) - sd._potential_closed)).subs(values), "mpmath")
        self._closed = lambda t: mpmath.re(closed(t))
        dlog = sp.lambdify(x, sd.log_derivative.subs(values), "mpmath")
        self.dlog = lambda t: mpmath.re(dlog(t))
        self.maxima, self.minima = self._stationary_points()
        self.centre = self.maxima[0] if self.maxima else self.x0
        scale = None
        if self.maxima:
            try:
                curv = -mpmath.diff(self.dlog, self.centre)
                if mpmath.isfinite(curv) and curv > 0:
                    scale = 1 / mpmath.sqrt(curv)
            except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                scale = None
        self.grid = _Grid(self.lo, self.hi, self.centre, scale)
        closed_float, _ = _float_function((-(sp.log(sd.diffusion) - sd._potential_closed)).subs(values), x)
        rest = sd._potential_rest.subs(values)
        self.closed_form = rest == 0
        self.rest_expr = rest
        self.cumulative = None
        self.segments: list = []  # (a, b, piece) of the normalising walk, left to right
        if not self.closed_form:
            self.cumulative = _Cumulative(*_float_function(rest, x), self.grid, _H)
        self._closed_float = closed_float
        if check_tails:
            self.check_tails()
        self.shift = self._log_un(self.centre)
        self.log_z, self.method = self._normalise(sd)

    def log_un(self, t):
        """log of the unnormalised density (up to an additive constant when not closed-form), mpf."""
        return self._log_un(t)

    def _log_un(self, t):
        t = mpmath.mpf(t)
        if self.cumulative is None:
            return self._closed(t)
        return self._closed(t) + self.cumulative(t)

    def log_un_float(self, t: float) -> float:
        if self.cumulative is None:
            return self._closed_float(t)
        return self._closed_float(t) + self.cumulative(t)

    def _stationary_points(self) -> tuple[list, list]:
        """Maxima and minima of log p: sign changes of (log p)′ on a coarse grid, refined."""
        grid = _Grid(self.lo, self.hi, self.x0)
        maxima, minima = [], []
        prev = None
        for i in range(-240, 241):
            xv = grid.x(i * 0.025)
            if not (self.lo < xv < self.hi):
                continue
            try:
                g = self.dlog(xv)
            except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                prev = None
                continue
            if not mpmath.isfinite(g):
                prev = None
                continue
            if prev is not None and (prev[1] > 0) != (g > 0) and g != 0:
                try:
                    root = mpmath.findroot(self.dlog, (prev[0], xv), solver="anderson")
                except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                    root = (prev[0] + xv) / 2
                if not (prev[0] <= root <= xv):
                    root = (prev[0] + xv) / 2
                (maxima if prev[1] > 0 else minima).append(root)
            prev = (xv, g)
        return maxima, minima

    def check_tails(self) -> None:
        """Numerical stand-in for an undecided boundary condition: the local exponent
        k(x) = x (log p)′ (resp. (x − b)(log p)′) far out (resp. close to b) must be < −1
        (resp. > −1) at the three outermost of the probes 10³…10⁸ scale lengths away."""
        for boundary in (self.lo, self.hi):
            side = 1 if boundary == self.hi else -1
            ks = []
            for j in range(3, 9):
                if mpmath.isinf(boundary):
                    t = self.centre + side * self.grid.s * mpmath.mpf(10) ** j
                    factor = t
                else:
                    t = boundary - (boundary - self.centre) * mpmath.mpf(10) ** (-j)
                    factor = t - boundary
                try:
                    ks.append(factor * self.dlog(t))
                except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                    ks.append(mpmath.nan)
            tail = ks[-3:]
            ok = not any(mpmath.isnan(k) for k in tail) and (
                all(k < -1 for k in tail) if mpmath.isinf(boundary) else all(k > -1 for k in tail))
            if not ok:
                raise NotNormalisableError(
                    f"the stationary density does not look normalisable at x = {boundary} for {_fmt(self.values)}: "
                    f"the local exponent k = {'x' if mpmath.isinf(boundary) else '(x - b)'}·(log p)' is "
                    f"{', '.join(mpmath.nstr(k, 4) for k in tail)} at the outermost probes (need "
                    f"{'< -1' if mpmath.isinf(boundary) else '> -1'}); "
                    "the boundary condition was undecided symbolically")

    def _normalise(self, sd) -> tuple:
        if sd.normalisation is not None:
            z = sd.normalisation.subs(self.values)
            try:
                zc = complex(sp.N(z, 30))
            except (TypeError, ValueError):
                zc = None
            if zc is not None and math.isfinite(zc.real) and zc.real > 0 and abs(zc.imag) <= 1e-12 * zc.real:
                return mpmath.log(mpmath.mpf(sp.N(sp.re(z), 30))), "closed form"
            log.info("closed-form normalisation %s evaluates to %s at %s; using quadrature",
                     sd.normalisation, zc, _fmt(self.values))
        log.info("normalising the stationary density by mpmath quadrature at %s", _fmt(self.values))
        shift = float(self.shift)
        def f_float(t: float) -> float:
            try:
                return math.exp(self.log_un_float(t) - shift)
            except OverflowError:
                return math.inf  # the Chebyshev fit refuses it; mpmath takes over on that segment

        z = self.integrate(lambda t: mpmath.exp(self._log_un(t) - self.shift), self.dlog,
                           "the unnormalised density", record=True,
                           f_float=None if self.closed_form else f_float)
        if not z > 0:
            raise NotNormalisableError(f"the unnormalised density integrates to {z} at {_fmt(self.values)}")
        return mpmath.log(z) + self.shift, "quadrature"

    def integrate(self, f: Callable, dlog_f: Callable, what: str, record: bool = False,
                  f_float: Callable | None = None):
        """∫ f over the domain: tanh-sinh split at the stationary points when the potential is
        closed-form, else a walk outwards over grid segments until the tail is negligible."""
        if self.closed_form:
            points = sorted({self.x0, *self.maxima, *self.minima})
            with mpmath.workdps(20):
                try:
                    val, err = mpmath.quad(f, [self.lo, *points, self.hi], error=True, maxdegree=8)
                except (ZeroDivisionError, OverflowError, ValueError) as exc:
                    raise NotNormalisableError(f"quadrature of {what} failed ({exc}) at {_fmt(self.values)}") from exc
                val = mpmath.re(val)
            if not mpmath.isfinite(val) or not mpmath.isfinite(err) or err > max(1e-6 * abs(val), 1e-14):
                raise NotNormalisableError(
                    f"quadrature of {what} does not converge (value {mpmath.nstr(val, 8)}, error estimate "
                    f"{mpmath.nstr(err, 3)}) at {_fmt(self.values)}: the integral diverges or is too hard")
            return val
        return self._walk(f, dlog_f, what, record, f_float)

    def _walk(self, f, dlog_f, what, record, f_float=None):
        """∫ f by adaptive Chebyshev pieces on grid segments, walking outwards from the centre
        (past every maximum of p) until the power-law extrapolated tail beyond the last node,
        |f(b)|·|b − boundary| / |k_loc ± 1| with k_loc the local log-slope exponent, is below
        1e-17 of the integral so far."""
        grid, h = self.grid, _H
        if f_float is None:
            def f_float(t):
                return float(mpmath.re(f(mpmath.mpf(t))))
        f_mp = lambda t: mpmath.re(f(t))  # noqa: E731
        total, abs_total = 0.0, 0.0
        left, right = [], []
        for side in (1, -1):
            boundary = self.hi if side > 0 else self.lo
            if self.maxima:
                beyond = max(self.maxima) if side > 0 else min(self.maxima)
            else:
                beyond = self.centre
            j = 0
            while True:
                k = j if side > 0 else j - 1
                a, b = grid.x(k * h), grid.x((k + 1) * h)
                outer = b if side > 0 else a
                if not (self.lo < a < b < self.hi):
                    raise NotNormalisableError(f"quadrature of {what}: the walk towards {boundary} reached the "
                                               f"end of floating-point resolution with a non-negligible tail")
                piece = _piece(f_float, f_mp, a, b)
                total += piece.total
                abs_total += abs(piece.total)
                (right if side > 0 else left).append((float(a), float(b), piece))
                j += side
                if (outer - beyond) * side <= 0:
                    continue
                mag = abs(f_float(float(outer)))
                kl = float((outer if mpmath.isinf(boundary) else (outer - boundary)) * dlog_f(outer))
                if mpmath.isinf(boundary):
                    tail = mag * abs(float(outer)) / (-kl - 1) if kl < -1 else math.inf
                else:
                    tail = mag * abs(float(boundary - outer)) / (kl + 1) if kl > -1 else math.inf
                if tail <= _TAIL_RTOL * abs_total:
                    break
                if abs(j) * h > _U_MAX:
                    raise NotNormalisableError(
                        f"quadrature of {what} does not converge at {_fmt(self.values)}: the tail towards "
                        f"{boundary} is still not negligible at {mpmath.nstr(outer, 5)} (local exponent "
                        f"{kl:.4g})")
        if not math.isfinite(total):
            raise NotNormalisableError(f"quadrature of {what} gives {total} at {_fmt(self.values)}")
        if record:
            self.segments = list(reversed(left)) + right
        return mpmath.mpf(total)


# =========================================================================== density
class DensityFunction:
    """Numeric stationary density at fixed parameters: ``f(x)`` → float (0 outside the domain).

    ``log(x)`` is the log-density (mpmath); ``normalisation`` the constant ``Z`` dividing
    the unnormalised density (``method``: ``"closed form"`` or ``"quadrature"``); when the
    potential has no closed form the unnormalised density is only defined up to a constant
    factor, so only the normalised values are meaningful. Evaluation is scalar (mpmath); for
    vectorised evaluation use :meth:`StationaryDensity.to_scipy`.
    """

    def __init__(self, model: _Numeric):
        self._model = model
        self.log_normalisation = model.log_z
        self.normalisation = mpmath.exp(model.log_z)
        self.domain = (model.lo, model.hi)
        self.method = model.method

    def log(self, x):
        x = mpmath.mpf(x)
        lo, hi = self.domain
        if not (lo < x < hi):
            return mpmath.ninf
        return self._model.log_un(x) - self.log_normalisation

    def __call__(self, x) -> float:
        return float(mpmath.exp(self.log(x)))


@dataclass
class StationaryDensity:
    """Zero-flux stationary density ``p ∝ D⁻¹ exp ∫ 2A/D dx = exp(−Φ)`` of a 1-D Itô SDE.

    Attributes (sympy unless stated):

    - ``variable``, ``domain`` ``(lo, hi)``, ``drift`` A, ``diffusion`` D, ``parameters``
      (the free symbols other than the variable, sorted by name);
    - ``log_derivative`` = (log p)′ = 2A/D − D′/D;
    - ``potential`` Φ = log D − ∫ 2A/D dx (an unevaluated ``Integral`` from ``reference_point``
      stands for the part sympy could not integrate within the budget);
    - ``unnormalised`` = exp(−Φ); ``closed_form``: whether Φ is free of ``Integral``;
    - ``normalisation`` = ∫ unnormalised over the domain in closed form, or ``None``;
      ``normalised`` = unnormalised / normalisation or ``None``;
    - ``boundary_exponents`` {boundary: k} and ``boundary_conditions`` {boundary: condition}
      (a sympy relational in the parameters, ``true``/``false``, or ``None`` if undecided);
    - ``normalisable``: the conjunction of the boundary conditions (``None`` if one is
      undecided and none is false);
    - ``notes``: what fell back to numerics and why.
    """

    variable: sp.Symbol
    domain: tuple[sp.Expr, sp.Expr]
    drift: sp.Expr
    diffusion: sp.Expr
    parameters: tuple[sp.Symbol, ...]
    log_derivative: sp.Expr
    potential: sp.Expr
    unnormalised: sp.Expr
    closed_form: bool
    reference_point: sp.Expr
    normalisation: sp.Expr | None
    normalised: sp.Expr | None
    boundary_exponents: dict
    boundary_conditions: dict
    normalisable: Any
    notes: list[str] = field(default_factory=list)
    _potential_closed: sp.Expr = field(default=sp.S.Zero, repr=False)
    _potential_rest: sp.Expr = field(default=sp.S.Zero, repr=False)

    # ------------------------------------------------------------------ parameters
    def _values(self, parameters: Mapping | None) -> dict:
        """Map names/symbols to sympy numbers; every parameter needed, none unknown."""
        parameters = dict(parameters or {})
        by_name = {str(p): p for p in self.parameters}
        values = {}
        for key, val in parameters.items():
            sym = key if isinstance(key, sp.Symbol) and key in self.parameters else by_name.get(str(key))
            if sym is None:
                raise ParameterError(f"unknown parameter {key!r}; this density has parameters "
                                     f"{[str(p) for p in self.parameters]}")
            v = sp.sympify(val)
            if not v.is_number or not _finite_number(v):
                raise ParameterError(f"parameter {sym} must be a finite number, got {val!r}")
            if sym.is_positive and not v.is_positive:
                raise ParameterError(f"parameter {sym} is declared positive, got {val!r}")
            if sym.is_nonnegative and v.is_negative:
                raise ParameterError(f"parameter {sym} is declared nonnegative, got {val!r}")
            values[sym] = v
        missing = [str(p) for p in self.parameters if p not in values]
        if missing:
            raise ParameterError(f"missing values for parameters {missing}")
        return values

    def check_normalisable(self, parameters: Mapping | None = None) -> bool | None:
        """Evaluate the boundary conditions at ``parameters``; raise NotNormalisableError on a violation.

        Returns True when all conditions hold, None when one is undecided (numerics decide).
        """
        values = self._values(parameters)
        undecided = False
        for b, cond in self.boundary_conditions.items():
            if cond is None:
                undecided = True
                continue
            val = sp.sympify(cond).subs(values)
            if val in (sp.false, False):
                raise NotNormalisableError(
                    f"the stationary density is not normalisable: at the boundary x = {b} the condition "
                    f"{cond} (from k = lim {'x' if b.is_infinite else '(x - a)'}·(log p)' = "
                    f"{self.boundary_exponents.get(b)}) fails for {_fmt(values)}")
            if val not in (sp.true, True):
                undecided = True
        return None if undecided else True

    # ------------------------------------------------------------------ numerics
    def _float_domain(self) -> tuple:
        lo, hi = self.domain
        return (mpmath.ninf if lo == -sp.oo else mpmath.mpf(sp.N(lo, 30)),
                mpmath.inf if hi == sp.oo else mpmath.mpf(sp.N(hi, 30)))

    def pdf(self, parameters: Mapping | None = None) -> DensityFunction:
        """Numeric normalised density at ``parameters`` (dict keyed by symbol or name).

        Normalised by the closed-form ``normalisation`` when there is one, else by mpmath
        quadrature over the domain (logged). Raises NotNormalisableError when a boundary
        condition fails at these parameters, or when the quadrature diverges.
        """
        values = self._values(parameters)
        decided = self.check_normalisable(values)
        key = tuple(sorted((str(k), str(v)) for k, v in values.items()))
        cache = self.__dict__.setdefault("_numeric_cache", {})
        if key not in cache:
            if len(cache) > 32:
                cache.clear()
            model = _Numeric(self, values, check_tails=decided is None)
            cache[key] = model
        return DensityFunction(cache[key])

    def moment(self, k: int | float, parameters: Mapping | None = None):
        """E[x^k] = ∫ x^k p(x) dx by mpmath quadrature (an mpf).

        Raises NotNormalisableError when x^k p is not integrable (checked from the boundary
        exponents where they are numbers, else by the quadrature)."""
        values = self._values(parameters)
        dens = self.pdf(values)
        model = dens._model
        x = self.variable
        k = sp.nsimplify(k)
        for b, e in self.boundary_exponents.items():
            if e is None:
                continue
            ev = sp.sympify(e).subs(values)
            if not ev.is_number or ev in (sp.oo, -sp.oo) or ev.is_finite is False:
                continue
            if b.is_infinite and bool(ev + k >= -1):
                raise NotNormalisableError(f"the moment E[{x}^{k}] diverges: p ~ |{x}|^({ev}) at {b} "
                                           f"and {ev} + {k} >= -1 (at {_fmt(values)})")
            if b == 0 and k < 0 and bool(ev + k <= -1):
                raise NotNormalisableError(f"the moment E[{x}^{k}] diverges at 0 (at {_fmt(values)})")
        memo = model.__dict__.setdefault("moments", {})
        if k not in memo:
            kk = mpmath.mpf(sp.N(k, 30))
            memo[k] = model.integrate(lambda t: t ** kk * mpmath.exp(dens.log(t)),
                                      lambda t: kk / t + model.dlog(t), f"{x}^{k} p({x})")
        return memo[k]

    def mean(self, parameters: Mapping | None = None):
        """E[x] (mpmath quadrature)."""
        return self.moment(1, parameters)

    def variance(self, parameters: Mapping | None = None):
        """Var[x] = E[x²] − E[x]² (mpmath quadrature)."""
        m1 = self.moment(1, parameters)
        return self.moment(2, parameters) - m1 ** 2

    def to_scipy(self, parameters: Mapping | None = None):
        """A ``scipy.stats.rv_continuous`` instance with this density (scipy imported lazily).

        ``_pdf`` is the lambdified density (numpy/scipy), normalised exactly as :meth:`pdf`;
        the support ``a``, ``b`` is the domain — except when the potential has no closed form:
        then it is the interval the normalising walk covered, outside which the (power-law
        extrapolated) tail mass is below 1e-17. ``cdf``, ``expect``, ``moment`` use scipy's
        quadrature; ``ppf`` and ``rvs`` use scipy's polynomial numerical inversion
        (``scipy.stats.sampling.NumericalInversePolynomial``, u-error ≤ 1e-10) when it sets up,
        else scipy's generic root finding on the cdf.
        """
        import bisect

        import numpy as np
        from scipy import integrate, stats

        values = self._values(parameters)
        dens = self.pdf(values)
        model = dens._model
        log_z = float(dens.log_normalisation)
        x = self.variable
        closed_np = sp.lambdify(x, (-(sp.log(self.diffusion) - self._potential_closed)).subs(values),
                                modules=["scipy", "numpy"])

        def closed_part(t):
            arr = np.asarray(t, dtype=float)
            flat = np.atleast_1d(arr).ravel()
            with np.errstate(all="ignore"):
                out = np.broadcast_to(np.asarray(closed_np(flat), dtype=complex), flat.shape).copy()
                bad = ~np.isfinite(out)
                if np.any(bad):  # logs of negative arguments: evaluate in the complex plane
                    out[bad] = np.broadcast_to(np.asarray(closed_np(flat[bad] + 0j), dtype=complex),
                                               (int(bad.sum()),))
            return out.real.reshape(arr.shape) if arr.ndim else float(out.real[0])

        lo, hi = float(model.lo), float(model.hi)
        if model.closed_form:
            def rest_part(t):
                return 0.0
            cdf_nodes = None
        else:
            cumulative = model.cumulative

            def rest_part(t):
                arr = np.asarray(t, dtype=float)
                vals = np.array([cumulative(s) for s in np.atleast_1d(arr).ravel()], dtype=float)
                return vals.reshape(arr.shape) if arr.ndim else float(vals[0])
            segs = model.segments
            lo, hi = segs[0][0], segs[-1][1]
            z = sum(piece.total for _, _, piece in segs)
            edges = [a_ for a_, _, _ in segs]
            masses = [0.0]
            for _, _, piece in segs:
                masses.append(masses[-1] + piece.total / z)
            cdf_nodes = (edges, masses, [piece for _, _, piece in segs], z)
        center = float(model.centre)

        log_un_float = model.log_un_float
        width = float(model.grid.s) if mpmath.isfinite(model.grid.s) else 1.0
        maxima = [float(m) for m in model.maxima]

        def logpdf(t):
            if np.ndim(t) == 0:  # scalar calls (scipy's quad): plain floats, no array overhead
                return log_un_float(float(t)) - log_z
            return closed_part(t) + rest_part(t) - log_z

        def pdf_scalar(u: float) -> float:
            return math.exp(log_un_float(u) - log_z)

        class StationaryDistribution(stats.rv_continuous):
            """Stationary density of a 1-D Itô SDE (see ``derivations.calculus.stationary``)."""

            _inversion = None
            _inversion_failed = False

            def _logpdf(self, t):
                return logpdf(t)

            def _pdf(self, t):
                return np.exp(logpdf(t))

            if cdf_nodes is None:
                # integrate from the nearer end: the default ∫_a^x misses the bulk for far-out x
                def _cdf_one(self, s):
                    if s <= center:
                        return integrate.quad(pdf_scalar, lo, s, limit=200)[0]
                    return 1.0 - integrate.quad(pdf_scalar, s, hi, limit=200)[0]

                def _sf_one(self, s):
                    if s > center:
                        return integrate.quad(pdf_scalar, s, hi, limit=200)[0]
                    return 1.0 - integrate.quad(pdf_scalar, lo, s, limit=200)[0]

                def _cdf(self, t):
                    t = np.asarray(t, dtype=float)
                    if t.size <= 2:
                        return np.clip(np.vectorize(self._cdf_one, otypes=[float])(t), 0.0, 1.0)
                    # many points (a KS test): accumulate ∫ over the gaps between sorted points
                    flat = t.ravel()
                    order = np.argsort(flat)
                    srt = flat[order]
                    vals = np.empty_like(srt)
                    vals[0] = self._cdf_one(srt[0])
                    for i in range(1, srt.size):
                        a_, b_ = srt[i - 1], srt[i]
                        if b_ - a_ <= 10 * width and not any(a_ < m <= b_ for m in maxima):
                            vals[i] = vals[i - 1] + integrate.quad(pdf_scalar, a_, b_, limit=200)[0]
                        else:  # a wide gap or one holding a peak: evaluate afresh from the nearer end
                            vals[i] = self._cdf_one(b_)
                    out = np.empty_like(vals)
                    out[order] = vals
                    return np.clip(out.reshape(t.shape), 0.0, 1.0)

                def _sf(self, t):
                    return np.clip(np.vectorize(self._sf_one, otypes=[float])(t), 0.0, 1.0)
            else:
                def _cdf(self, t):
                    edges, masses, pieces, z = cdf_nodes

                    def one(s):
                        j = max(0, min(bisect.bisect_right(edges, s) - 1, len(edges) - 1))
                        return min(1.0, max(0.0, masses[j] + pieces[j].integral(s) / z))
                    return np.vectorize(one, otypes=[float])(t)

            def _get_inversion(self):
                if self._inversion is None and not self._inversion_failed:
                    from scipy.stats import sampling

                    class _Dist:
                        def pdf(_self, t):
                            return pdf_scalar(float(t))

                    try:
                        self._inversion = sampling.NumericalInversePolynomial(
                            _Dist(), center=center, domain=(self.a, self.b), u_resolution=1e-10)
                    except Exception as exc:  # scipy raises UNURANError and friends
                        log.info("numerical inversion unavailable (%s); using root finding", exc)
                        self._inversion_failed = True
                return self._inversion

            def _ppf(self, q):
                inv = self._get_inversion()
                if inv is None:
                    return super()._ppf(q)
                return inv.ppf(q)

            def _rvs(self, size=None, random_state=None):
                inv = self._get_inversion()
                if inv is None:
                    return super()._rvs(size=size, random_state=random_state)
                return inv.rvs(size=size, random_state=random_state)

        return StationaryDistribution(a=lo, b=hi, name="stationary")

    # ------------------------------------------------------------------ display
    def __str__(self) -> str:
        lo, hi = self.domain
        return (f"StationaryDensity(p({self.variable}) ∝ {self.unnormalised} on ({lo}, {hi}); "
                f"normalisable: {self.normalisable})")


def _fmt(values: Mapping) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in values.items()) + "}"


def _coefficients(sde_or_coefficients) -> tuple[sp.Expr, sp.Expr, sp.Symbol]:
    if isinstance(sde_or_coefficients, ItoSDE):
        sde = sde_or_coefficients
        if sde.dimension != 1:
            raise ParameterError(f"stationary_density needs a 1-D SDE, this one has dimension {sde.dimension}")
        return sde.drift[0], sde.diffusion_matrix[0, 0], sde.state[0]
    if getattr(sde_or_coefficients, "calculus", None) == "stratonovich":
        raise ParameterError("stationary_density uses the Itô convention: convert with .to_ito() first")
    try:
        a, d, x = sde_or_coefficients
    except (TypeError, ValueError):
        raise ParameterError("pass a 1-D ItoSDE or a tuple (drift A(x), diffusion D(x) = G², variable x)") from None
    if not isinstance(x, sp.Symbol):
        raise ParameterError(f"the variable must be a sympy Symbol, got {x!r}")
    return sp.sympify(a), sp.sympify(d), x


def _reference_point(lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
    if lo == -sp.oo and hi == sp.oo:
        return sp.S.Zero
    if lo == -sp.oo:
        return hi - 1
    if hi == sp.oo:
        return lo + 1
    return (lo + hi) / 2


def _boundary(log_derivative: sp.Expr, x: sp.Symbol, b: sp.Expr, lower: bool, seconds) -> tuple:
    """(k, condition) at the boundary b; condition None when undecided."""
    infinite = b.is_infinite
    expr = (x if infinite else (x - b)) * log_derivative
    expr = _try(seconds, sp.cancel, expr, default=expr)
    direction = "+" if lower else "-"
    k = _try(seconds, sp.limit, expr, x, b, dir=direction, default=None)
    if k is None or k.has(sp.Limit, sp.nan, sp.zoo, sp.AccumBounds):
        return None, None
    k = _light(k, seconds)
    if k == -sp.oo:
        return k, sp.true if infinite else sp.false
    if k == sp.oo:
        return k, sp.false if infinite else sp.true
    if k.has(sp.oo, -sp.oo):
        # k = c·∞ (e.g. −oo·sign(θ)): the sign of c decides
        factors = sp.Mul.make_args(k)
        infs = [f for f in factors if f in (sp.oo, -sp.oo)]
        others = [f for f in factors if f not in (sp.oo, -sp.oo)]
        if len(infs) != 1 or any(f.has(sp.oo, -sp.oo, sp.nan, sp.zoo) for f in others):
            return k, None
        coeff = sp.Mul(*others) * (1 if infs[0] == sp.oo else -1)
        # a product keeps its sign when each sign(a) factor is replaced by a
        coeff = sp.Mul(*[f.args[0] if isinstance(f, sp.sign) else
                         -f.args[0] if (isinstance(f, sp.Mul) and len(f.args) == 2 and f.args[0] == -1
                                        and isinstance(f.args[1], sp.sign)) else f
                         for f in sp.Mul.make_args(coeff)])
        cond = sp.Lt(coeff, 0) if infinite else sp.Gt(coeff, 0)
        if cond not in (sp.true, sp.false):
            cond = _try(seconds, _nice_relational, cond, default=cond)
        return k, cond
    cond = sp.Lt(k, -1) if infinite else sp.Gt(k, -1)
    if cond not in (sp.true, sp.false):
        cond = _try(seconds, _nice_relational, cond, default=cond)
    return k, cond


def stationary_density(sde_or_coefficients, domain: Sequence = (-sp.oo, sp.oo),
                       time_budget: float | None = 10.0) -> StationaryDensity:
    """Zero-flux stationary density of a 1-D Itô SDE on ``domain = (lo, hi)``.

    ``sde_or_coefficients``: a 1-D :class:`~derivations.calculus.sde.ItoSDE` or a tuple
    ``(A, D, x)`` of drift, diffusion ``D = G²`` and the variable.

    Itô convention. Zero flux ``J = A p − ½ (D p)′ = 0`` gives

        p(x) ∝ D(x)⁻¹ exp ∫ 2A/D dx = exp(−Φ),   Φ = log D − ∫ 2A/D dx.

    ``time_budget`` (seconds, ``None`` = unlimited) bounds each symbolic stage separately
    (each term of the potential integral, each boundary limit, the normalisation integral,
    simplifications); what does not finish is left to mpmath quadrature.
    """
    a, d, x_user = _coefficients(sde_or_coefficients)
    try:
        lo, hi = (sp.sympify(v) for v in domain)
    except (TypeError, ValueError):
        raise ParameterError(f"domain must be a pair (lo, hi), got {domain!r}") from None
    if not (lo.is_extended_real and hi.is_extended_real) or bool(lo >= hi):
        raise ParameterError(f"domain must be an interval (lo, hi) with lo < hi (numbers or ±oo), got {domain!r}")
    seconds = time_budget
    notes: list[str] = []

    # work with a variable whose assumptions match the domain
    if lo.is_nonnegative:
        x = sp.Dummy(str(x_user), positive=True)
    elif hi.is_nonpositive:
        x = sp.Dummy(str(x_user), negative=True)
    else:
        x = sp.Dummy(str(x_user), real=True)
    a, d = a.subs(x_user, x), d.subs(x_user, x)
    if d == 0:
        raise ParameterError("the diffusion D is identically zero: no stationary density")
    params = tuple(sorted((a.free_symbols | d.free_symbols) - {x}, key=str))

    f = _light(sp.cancel(2 * a / d), seconds)
    log_derivative = _tidy(sp.together(2 * a / d - sp.diff(d, x) / d), seconds)

    # potential Φ = log D − ∫ 2A/D
    closed_int, rest = _integrate_termwise(f, x, seconds)
    closed_int = _light(closed_int, seconds)
    x0 = _reference_point(lo, hi)
    closed_int = _real_logs(closed_int, x, x0)
    t = sp.Dummy("t", real=True)
    if rest != 0:
        notes.append(f"∫ {rest.subs(x, x_user)} d{x_user}: sympy found no closed form (time budget "
                     f"{time_budget} s per term); kept as an Integral from {x0}, evaluated by quadrature")
        rest_integral = sp.Integral(rest.subs(x, t), (t, x0, x))
    else:
        rest_integral = sp.S.Zero
    potential = sp.log(d) - closed_int - rest_integral
    unnormalised = _exp_of_minus(sp.log(d) - closed_int, x) * sp.exp(rest_integral)
    if rest == 0:
        unnormalised = _tidy(unnormalised, seconds)

    # boundary conditions from the log-derivative
    exponents, conditions = {}, {}
    for b, lower in ((lo, True), (hi, False)):
        k, cond = _boundary(log_derivative, x, b, lower, seconds)
        if cond is None:
            notes.append(f"could not decide integrability at {b} (limit {None if k is None else k.subs(x, x_user)})")
        exponents[b], conditions[b] = k, cond
    conds = list(conditions.values())
    if any(c in (sp.false, False) for c in conds):
        normalisable = sp.false
    elif any(c is None for c in conds):
        normalisable = None
    else:
        normalisable = sp.And(*conds)
        if normalisable not in (sp.true, sp.false):
            normalisable = _tidy(normalisable, seconds)

    # normalisation
    normalisation = None
    if rest == 0 and normalisable not in (sp.false, None):
        z = _try(seconds, sp.integrate, unnormalised, (x, lo, hi), default=None)
        normalisation = _accept_normalisation(z, normalisable, seconds, notes)
    normalised = None
    if normalisation is not None:
        normalised = _tidy(unnormalised / normalisation, seconds)
        normalised = _try(seconds, sp.gammasimp, normalised, default=normalised)
        normalised = _try(seconds, sp.powsimp, normalised, default=normalised)

    back = {x: x_user}
    sub = lambda e: None if e is None else (e.subs(back) if isinstance(e, sp.Basic) else e)  # noqa: E731
    return StationaryDensity(
        variable=x_user, domain=(lo, hi), drift=sub(a), diffusion=sub(d), parameters=params,
        log_derivative=sub(log_derivative), potential=sub(potential), unnormalised=sub(unnormalised),
        closed_form=rest == 0, reference_point=x0, normalisation=sub(normalisation),
        normalised=sub(normalised), boundary_exponents={b: sub(k) for b, k in exponents.items()},
        boundary_conditions={b: sub(c) for b, c in conditions.items()},
        normalisable=sub(normalisable), notes=notes,
        _potential_closed=sub(closed_int), _potential_rest=sub(rest))


def _accept_normalisation(z, normalisable, seconds, notes) -> sp.Expr | None:
    """The closed-form normalisation, or None when it is not honestly known."""
    if z is None:
        notes.append("normalisation integral: no closed form within the time budget (quadrature)")
        return None
    if isinstance(z, sp.Piecewise):
        chosen = None
        for expr, cond in z.args:
            verdict = _decide(cond, normalisable, seconds)
            if verdict is False:
                continue
            if verdict is True:
                chosen = expr
            break
        if chosen is None:
            notes.append(f"normalisation integral: Piecewise whose valid branch is not implied by {normalisable}")
            return None
        z = chosen
    if z.has(sp.Integral, sp.Piecewise) or z.has(sp.oo, -sp.oo, sp.zoo, sp.nan) or z.is_zero or z.is_positive is False:
        notes.append(f"normalisation integral: unusable result {z}")
        return None
    return _tidy(z, seconds)


# =========================================================================== detailed balance
def detailed_balance(sde: ItoSDE, time_budget: float | None = 10.0) -> tuple[Any, sp.Expr | None]:
    """Detailed-balance test for an n-D Itô SDE ``dX = a dt + G dW`` with invertible ``D = G Q Gᵀ``.

    Zero stationary current ``J_i = a_i p − ½ Σ_j ∂_j(D_ij p) = 0`` ⇔
    ``∇ log p = v := D⁻¹ (2a − ∇·D)`` with ``(∇·D)_i = Σ_j ∂_j D_ij``; such a ``p`` exists iff
    ``v`` is a gradient, i.e. ``∂_j v_i = ∂_i v_j`` for all i < j (curl-free).

    Returns ``(condition, potential)``: ``condition`` is ``sympy.true``/``false`` or, with
    symbolic parameters, the sympy Boolean (coefficient equations, to hold for every state)
    under which the Jacobian of ``v`` is symmetric; ``potential`` Φ (``p ∝ exp(−Φ)``,
    ``−∇Φ = v``, up to a constant) when the condition is identically true, else ``None``.
    For the OU process ``dx = −Hx dt + B dW`` (D = BBᵀ) the condition is that ``D⁻¹H`` is
    symmetric — for symmetric ``H``, that ``H`` and ``D`` commute.
    """
    x = list(sde.state)
    n = len(x)
    d = sde.diffusion_matrix
    if d.shape != (n, n):
        raise ParameterError(f"diffusion matrix has shape {d.shape}, the state has dimension {n}")
    det = sp.simplify(d.det())
    if det == 0:
        raise ParameterError("detailed_balance needs an invertible diffusion matrix D = G Q Gᵀ (det D = 0)")
    div_d = sp.Matrix([sum(sp.diff(d[i, j], x[j]) for j in range(n)) for i in range(n)])
    v = (d.inv() * (2 * sde.drift - div_d)).applyfunc(lambda e: _light(sp.cancel(e), time_budget))
    conditions = []
    for i in range(n):
        for j in range(i + 1, n):
            diff = sp.cancel(sp.together(sp.diff(v[i], x[j]) - sp.diff(v[j], x[i])))
            if diff != 0:
                diff = _tidy(diff, time_budget)
            if diff == 0:
                continue
            num = sp.numer(sp.together(diff))
            try:
                coeffs = sp.Poly(sp.expand(num), *x).coeffs()
            except sp.PolynomialError:
                coeffs = [num]
            for c in coeffs:
                c = sp.factor(c)
                rel = sp.Eq(c, 0)
                if rel is sp.false or (c.is_number and c != 0):
                    return sp.false, None
                conditions.append(rel)
    condition = sp.And(*conditions) if conditions else sp.true
    if condition is not sp.true:
        condition = _tidy(condition, time_budget)
        return condition, None
    # integrate the gradient field coordinate by coordinate
    phi = sp.S.Zero
    for i in range(n):
        remainder = _tidy(v[i] - sp.diff(phi, x[i]), time_budget)
        if remainder != 0:
            part = _try(time_budget, sp.integrate, remainder, x[i], default=None)
            if part is None or part.has(sp.Integral):
                return condition, None
            phi += part
    return condition, _tidy(-phi, time_budget)
