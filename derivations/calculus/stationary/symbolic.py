"""Symbolic steps of the stationary-density construction, each under a wall-clock budget: tidying,
termwise integration with its verification by differentiation, real logarithms."""

from __future__ import annotations

import logging
import random
from typing import Callable

import sympy as sp

from derivations.calculus import budget as _budget

log = logging.getLogger(__name__)


def attempt(seconds: float | None, func: Callable, *args, default=None, **kwargs):
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


def tidy(expr: sp.Expr, seconds: float | None) -> sp.Expr:
    """A cheap, budgeted simplification that never returns something worse than the input."""
    out = attempt(seconds, sp.simplify, expr, default=None)
    if out is None or sp.count_ops(out) > sp.count_ops(expr):
        return expr
    return out


def light(expr: sp.Expr, seconds: float | None) -> sp.Expr:
    """A cheap normal form (cancel for rational expressions) for intermediate results."""
    if not isinstance(expr, sp.Expr) or expr.has(sp.oo, -sp.oo, sp.zoo, sp.nan):
        return expr
    syms = tuple(expr.free_symbols)
    if syms and expr.is_rational_function(*syms):
        return attempt(seconds, lambda: sp.factor_terms(sp.cancel(expr)), default=expr)
    return expr


def integrate_termwise(f: sp.Expr, x: sp.Symbol, seconds: float | None) -> tuple[sp.Expr, sp.Expr]:
    """∫ f dx term by term: (closed-form antiderivative of the solved terms, sum of unsolved terms).

    Rational functions are first split with ``apart`` (partial fractions integrate at once).
    """
    g = f
    if f.is_rational_function(x):
        g = attempt(seconds, sp.apart, sp.cancel(f), x, default=f)
    else:
        g = attempt(seconds, sp.expand, f, default=f)
    closed, rest = sp.S.Zero, sp.S.Zero
    for term in sp.Add.make_args(g):
        if not term.has(x):
            closed += term * x
            continue
        # Integrate the x-dependent core only: sympy 1.14 can return 0 for ∫ c·R(x) dx with a symbolic
        # constant c (seen on the L = 2 deep-linear potential). Every antiderivative is verified.
        coeff, core = term.as_independent(x, as_Add=False)
        res = attempt(seconds, sp.integrate, core, x, default=None)
        if res is None or res.has(sp.Integral) or not is_antiderivative(res, core, x, seconds):
            rest += term
        else:
            closed += coeff * res
    return closed, rest


def is_antiderivative(F: sp.Expr, f: sp.Expr, x: sp.Symbol, seconds: float | None) -> bool:
    """d F/dx = f: symbolically if simplify proves it, else at random points of the symbols' domains
    (relative error < 1e-10 at three points); anything unproven counts as not verified."""
    residual = sp.diff(F, x) - f
    if attempt(seconds, lambda: sp.simplify(residual) == 0, default=False):
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
