"""Symbolic steps of the stationary-density construction, each bounded by *work*, not time: tidying,
termwise integration with its verification by differentiation, real logarithms, textbook normalisations,
the rewriting of sympy's closed-form artefacts.

What is attempted depends on the input alone: ``simplify`` only on expressions of at most
:data:`SIMPLIFY_OPS` operations (:func:`work`: ``sympy.count_ops``, integer powers of sums counted expanded),
``sympy.integrate`` only on integrands of at most :data:`INTEGRATE_OPS`, rational functions by ``apart`` and
``ratint`` only below the gate :func:`rational_work` (their subresultant and RootSum steps grow steeply with
the denominator's degree, the number of free parameters and the size of the coefficients: a degree-8
denominator in two parameters does not finish in minutes). sympy's own "gave up" (an unevaluated ``Integral``, ``NotImplementedError``) is
deterministic and may fall back; a wall-clock :class:`~derivations.calculus.budget.SymbolicTimeout` is never
caught here: the caller's hang guard reports it.
"""

from __future__ import annotations

import logging
import random
from typing import Callable

import sympy as sp
from sympy.integrals.rationaltools import ratint

from derivations.calculus.budget import SymbolicTimeout

log = logging.getLogger(__name__)

SIMPLIFY_OPS = 60     # simplify / refine only up to this many operations
INTEGRATE_OPS = 30    # sympy.integrate on one non-rational term of ∫2A/D only up to this size
NORMALISE_OPS = 30    # sympy.integrate of a normalisation that is no textbook integral only up to this size
# apart/ratint only on a rational 2A/D whose denominator (after cancel) has degree ≤ RATINT_DEGREE, degree ×
# (1 + free parameters) ≤ RATINT_WORK and integer coefficients of ≤ RATINT_DIGITS digits. Calibrated on this
# package's models (the largest: degree 5 in 4 parameters, 0.4 s) against the w³x model (degree 8: 7 s with
# numbers, in differentiating a RootSum over a sextic; no end in minutes with 2 parameters)
RATINT_DEGREE = 5
RATINT_WORK = 25
RATINT_DIGITS = 30


def attempt(func: Callable, *args, default=None, **kwargs):
    """``func(*args)``, or ``default`` when sympy gives up (raises); a SymbolicTimeout propagates."""
    try:
        return func(*args, **kwargs)
    except SymbolicTimeout:
        raise
    except Exception as exc:  # noqa: BLE001 - sympy gives up in many ways; every one means "no closed form"
        log.info("%s failed: %s: %s", getattr(func, "__name__", func), type(exc).__name__, exc)
        return default


def work(expr) -> int:
    """The work measure: operations (``count_ops``), an integer power of a sum counted as expanded (|n| copies
    of the base, which simplify or integrate may build: (2s² − 4sw + σ² + 2w²)⁻²¹ is not small)."""
    return sp.count_ops(expr) + sum((abs(int(p.exp)) - 1) * sp.count_ops(p.base) for p in expr.atoms(sp.Pow)
                                    if p.exp.is_Integer and p.base.is_Add)


def small(expr, bound: int) -> bool:
    """The work gate: ``expr`` has a :func:`work` of at most ``bound``."""
    return work(expr) <= bound


def tidy(expr):
    """``simplify`` when the expression is small enough (:data:`SIMPLIFY_OPS`), never something larger."""
    if not small(expr, SIMPLIFY_OPS):
        return expr
    out = attempt(sp.simplify, expr)
    if out is None or sp.count_ops(out) > sp.count_ops(expr):
        return expr
    return out


def light(expr):
    """A cheap normal form (cancel for rational expressions) for intermediate results."""
    if not isinstance(expr, sp.Expr) or expr.has(sp.oo, -sp.oo, sp.zoo, sp.nan):
        return expr
    syms = tuple(expr.free_symbols)
    if syms and expr.is_rational_function(*syms):
        return attempt(lambda: sp.factor_terms(sp.cancel(expr)), default=expr)
    return expr


def rational_work(f: sp.Expr, x: sp.Symbol) -> str | None:
    """Why the rational function ``f`` of ``x`` is above the work gate of ``apart``/``ratint``, or None when it
    is not: the degree d of its denominator after ``cancel``, d × (1 + number of free parameters), the digits of
    its largest integer coefficient (:data:`RATINT_DEGREE`, :data:`RATINT_WORK`, :data:`RATINT_DIGITS`)."""
    num, den = sp.fraction(sp.cancel(f))
    params = sorted(f.free_symbols - {x}, key=str)
    degree = sp.degree(den, x)
    digits = max((len(str(abs(n))) for c in sp.Poly(num * den, x, *params).coeffs() if c.is_Rational
                  for n in (c.p, c.q)), default=0)
    if degree > RATINT_DEGREE:
        return f"its denominator has degree {degree} > {RATINT_DEGREE}"
    if degree * (1 + len(params)) > RATINT_WORK:
        return (f"its denominator has degree {degree} in {len(params)} free parameters: {degree} × "
                f"{1 + len(params)} > {RATINT_WORK}")
    if digits > RATINT_DIGITS:
        return f"a coefficient has {digits} > {RATINT_DIGITS} digits"
    return None


def integrate_termwise(f: sp.Expr, x: sp.Symbol) -> tuple[sp.Expr, sp.Expr, list[tuple[sp.Expr, str]]]:
    """∫ f dx term by term: (closed-form antiderivative of the solved terms, sum of unsolved terms,
    [(unsolved term, why)]).

    A rational f below the work gate (:func:`rational_work`) is split by ``apart`` and each term integrated by
    ``ratint``; above it f stays one unsolved term. Other terms by ``sympy.integrate`` when they have at most
    :data:`INTEGRATE_OPS` operations.
    """
    rational = f.is_rational_function(x)
    if rational and f.has(x) and (why := rational_work(f, x)) is not None:
        return sp.S.Zero, f, [(f, f"rational, above the work gate of apart/ratint: {why}")]
    g = attempt(sp.apart, sp.cancel(f), x, default=f) if rational else sp.expand(f)
    closed, rest, reasons = sp.S.Zero, sp.S.Zero, []
    for term in sp.Add.make_args(g):
        if not term.has(x):
            closed += term * x
            continue
        # Integrate the x-dependent core only: sympy 1.14 can return 0 for ∫ c·R(x) dx with a symbolic
        # constant c (seen on the L = 2 deep-linear potential). Every antiderivative is verified.
        coeff, core = term.as_independent(x, as_Add=False)
        if core.is_rational_function(x):
            res = attempt(ratint, core, x)
        elif small(core, INTEGRATE_OPS):
            res = attempt(sp.integrate, core, x)
        else:
            rest += term
            reasons.append((term, f"above the work bound of {INTEGRATE_OPS} operations for sympy.integrate"))
            continue
        if res is None or res.has(sp.Integral):
            rest += term
            reasons.append((term, "sympy.integrate gave up"))
        elif not is_antiderivative(res, core, x):
            rest += term
            reasons.append((term, "sympy's antiderivative failed verification by differentiation"))
        else:
            closed += coeff * res
    return closed, rest, reasons


def is_antiderivative(F: sp.Expr, f: sp.Expr, x: sp.Symbol) -> bool:
    """d F/dx = f: symbolically if (work-gated) simplify proves it, else at fixed pseudo-random points of the
    symbols' domains (relative error < 1e-10 at three points); anything unproven counts as not verified."""
    residual = sp.diff(F, x) - f
    if tidy(residual) == 0:
        return True
    rng = random.Random(12345)
    for _ in range(3):
        point = {sym: sp.Rational(rng.randint(11, 29), 10) * (1 if (sym.is_positive or sym.is_nonnegative) else rng.choice((-1, 1)))
                 for sym in sorted(residual.free_symbols, key=str)}
        scale = abs(complex(sp.N(f.subs(point), 30))) + 1e-300
        err = abs(complex(sp.N(residual.subs(point), 30)))
        if not err <= 1e-10 * scale:
            return False
    return True


def real_logs(expr: sp.Expr, x: sp.Symbol, x0: sp.Expr) -> sp.Expr:
    """Replace log(g) by log(−g) where g < 0 at the reference point (e.g. ∫ dx/(x − 1) = log(x − 1)
    on (0, 1)): the antiderivative changes by the constant iπ only, and p stays real."""
    def negative_there(e) -> bool:
        if not (isinstance(e, sp.log) and e.args[0].has(x)):
            return False
        val = e.args[0].subs(x, x0)
        return bool(val.is_negative)
    return expr.replace(negative_there, lambda e: sp.log(sp.expand(-e.args[0])))


def exp_of_minus(phi: sp.Expr, x: sp.Symbol) -> sp.Expr:
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


def textbook_integral(p: sp.Expr, x: sp.Symbol, lo: sp.Expr, hi: sp.Expr) -> tuple[sp.Expr, str] | None:
    """∫_lo^hi p dx when p is one of the textbook families, else None:

    - on ℝ, ``C exp(−a x² + b x)`` (Gaussian): ``C √(π/a) exp(b²/4a)``;
    - on ℝ, ``C q(x)^(−ν)``, q = x² + βx + γ with 4γ − β² > 0 (Pearson VII, Student-t; quadratic factors
      with positive leading coefficients are made monic, and equal ones merged):
      ``C √π Γ(ν − ½)/Γ(ν) (γ − β²/4)^(½ − ν)``;
    - on (lo, ∞) or (−∞, hi), with t = |x − endpoint|, ``C t^α exp(−b t)`` (Gamma): ``C Γ(α + 1) b^(−α−1)``;
    - on (lo, hi), with t = (x − lo)/(hi − lo), ``C t^α (1 − t)^β`` (Beta):
      ``C (hi − lo) Γ(α + 1) Γ(β + 1)/Γ(α + β + 2)``.

    Each value holds wherever its integral converges, i.e. under the normalisability condition.
    """
    if lo == -sp.oo and hi == sp.oo:
        kind, t = "line", sp.Dummy("t", real=True)
        q = p.subs(x, t)
    else:
        t = sp.Dummy("t", positive=True)
        if hi == sp.oo:
            kind, q = "half", p.subs(x, lo + t)
        elif lo == -sp.oo:
            kind, q = "half", p.subs(x, hi - t)
        else:
            kind, q = "unit", p.subs(x, lo + (hi - lo) * t) * (hi - lo)
    const, alpha, beta, g, quadratics = sp.S.One, sp.S.Zero, sp.S.Zero, sp.S.Zero, {}
    for fac in sp.Mul.make_args(sp.expand_power_base(q, force=False)):
        if not fac.has(t):
            const *= fac
            continue
        if isinstance(fac, sp.exp):
            g += fac.args[0]
            continue
        base, e = fac.as_base_exp()
        if e.has(t) or not base.is_polynomial(t):
            return None
        poly = sp.Poly(base, t)
        if kind == "line":
            lc = poly.LC()
            if poly.degree() != 2 or not lc.is_positive:
                return None
            monic = tuple(sp.cancel(c / lc) for c in poly.all_coeffs())
            const, quadratics[monic] = const * lc ** e, quadratics.get(monic, 0) - e
            continue
        # base = lc ∏ (t − r)^m with roots r ∈ {0, 1}: t^m₀ (1 − t)^m₁ times the positive constant lc (−1)^m₁
        roots = sp.roots(poly)
        allowed = {sp.S.Zero, sp.S.One} if kind == "unit" else {sp.S.Zero}
        if sum(roots.values()) != poly.degree() or not set(roots) <= allowed:
            return None
        m0, m1 = roots.get(sp.S.Zero, 0), roots.get(sp.S.One, 0)
        lc = poly.LC() * (-1) ** m1
        if not lc.is_positive:
            return None
        const, alpha, beta = const * lc ** e, alpha + m0 * e, beta + m1 * e
    g = sp.expand(g)
    if not g.is_polynomial(t):
        return None
    coeffs = sp.Poly(g, t).all_coeffs()
    if len(coeffs) > 3:
        return None
    c2, c1, c0 = [sp.S.Zero] * (3 - len(coeffs)) + coeffs
    const *= sp.exp(c0)
    if kind == "line" and not quadratics and c2 != 0:
        a = -c2
        return const * sp.sqrt(sp.pi) / sp.sqrt(a) * sp.exp(c1 ** 2 / (4 * a)), "Gaussian integral"
    if kind == "line" and len(quadratics) == 1 and c2 == 0 and c1 == 0:
        ((_, B, C), nu), = quadratics.items()
        if not sp.factor(4 * C - B ** 2).is_positive:
            return None
        value = sp.sqrt(sp.pi) * sp.gamma(nu - sp.S.Half) / sp.gamma(nu) * (C - B ** 2 / 4) ** (sp.S.Half - nu)
        return const * value, "Pearson VII (Student-t) integral"
    if kind == "half" and c2 == 0 and c1 != 0:
        b = -c1
        return const * sp.gamma(alpha + 1) / b ** (alpha + 1), "Gamma integral"
    if kind == "unit" and c2 == 0 and c1 == 0:
        return const * sp.gamma(alpha + 1) * sp.gamma(beta + 1) / sp.gamma(alpha + beta + 2), "Beta integral"
    return None


def clean_closed_form(expr: sp.Expr, holds: Callable) -> tuple[sp.Expr, list[str]]:
    """Rewrite what ``sympy.integrate`` leaves in a normalisation that is right at valid parameters but
    unreadable: (notes on what had to be kept, as a case split).

    - ``0**e`` → 0 where e > 0 holds (it is 1 at e = 0 and infinite for e < 0);
    - ``hyper((a, b), (c,), 1)`` → Γ(c) Γ(c − a − b)/(Γ(c − a) Γ(c − b)) where c − a − b > 0 holds (Gauss's
      summation; the series diverges otherwise); ``hyper(..., 0)`` → 1;
    - I₋ᵥ(z) − Iᵥ(z) → (2/π) sin(νπ) Kᵥ(z), so that π(I₋ᵥ − Iᵥ)/(2 sin νπ) reads Kᵥ(z) and stays finite at
      integer ν.

    ``holds(condition)`` is True, False or None (undecided), e.g. a decision under the normalisability
    condition; a rewrite whose condition does not hold is not made, and a note says so.
    """
    notes: list[str] = []

    def zero_power(e):
        if holds(sp.Gt(e.exp, 0)) is True:
            return sp.S.Zero
        notes.append(f"{e} kept: 0 for {e.exp} > 0, 1 for {e.exp} = 0, infinite for {e.exp} < 0")
        return e

    def gauss(e):
        (a, b), (c,) = e.ap, e.bq
        if holds(sp.Gt(c - a - b, 0)) is True:
            return sp.gamma(c) * sp.gamma(c - a - b) / (sp.gamma(c - a) * sp.gamma(c - b))
        notes.append(f"{e} kept: Gauss's sum Γ(c)Γ(c − a − b)/(Γ(c − a)Γ(c − b)) needs {c - a - b} > 0")
        return e

    def bessel_k(e):
        (first, second) = e.args
        for plus, minus in ((first, -second), (second, -first)):
            if (isinstance(plus, sp.besseli) and isinstance(minus, sp.besseli) and plus.args[1] == minus.args[1]
                    and plus.args[0] == -minus.args[0]):
                nu, z = minus.args
                sign = -1 if nu.could_extract_minus_sign() else 1  # K₋ᵥ = Kᵥ
                return sign * 2 * sp.sin(sp.pi * sign * nu) * sp.besselk(sign * nu, z) / sp.pi
        return e

    expr = expr.replace(lambda e: isinstance(e, sp.Pow) and e.base == 0, zero_power)
    expr = expr.replace(lambda e: isinstance(e, sp.hyper) and e.argument == 0, lambda e: sp.S.One)
    expr = expr.replace(lambda e: (isinstance(e, sp.hyper) and e.argument == 1 and len(e.ap) == 2
                                   and len(e.bq) == 1), gauss)
    expr = sp.gammasimp(expr)  # Γ(a)Γ(1 − a) → π/sin(πa): the Bessel pair then shows
    expr = expr.replace(lambda e: isinstance(e, sp.Add) and len(e.args) == 2 and e.has(sp.besseli), bessel_k)
    return expr, notes
