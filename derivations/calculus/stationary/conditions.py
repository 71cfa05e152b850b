"""Three-valued decisions on conditions (True, False, None = undecided, sympy's fuzzy logic): does a
normalisability or existence condition hold whenever the assumptions do?"""

from __future__ import annotations


import sympy as sp
from sympy.core.logic import fuzzy_and, fuzzy_not, fuzzy_or

from derivations.calculus.stationary.symbolic import attempt


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


def nice_relational(rel):
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
        ratio = attempt(seconds, simplifier, e2 / e1, default=None)
        if ratio is not None and not ratio.has(sp.zoo, sp.nan) and ratio.is_positive and strict_ok:
            return True
        diff = attempt(seconds, simplifier, e2 - e1, default=None)
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
        poly = attempt(1.0, sp.Poly, e, sym, default=None)
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


def decide(cond, assumption, seconds, _depth: int = 0) -> bool | None:
    """Is ``cond`` true (False: false) whenever ``assumption`` holds? None when undecided.

    Cheap tests first (sign information from the premises, implication between relationals),
    ``simplify``/``refine`` last; And/Or are decided part by part."""
    if cond in (sp.true, True):
        return True
    if cond in (sp.false, False):
        return False
    premises = [] if assumption in (None, sp.true, True, sp.false, False) else (
        list(assumption.args) if isinstance(assumption, sp.And) else [assumption])
    if isinstance(cond, (sp.And, sp.Or)):  # three-valued: sympy's fuzzy logic (None = undecided)
        merge = fuzzy_and if isinstance(cond, sp.And) else fuzzy_or
        return merge(decide(c, assumption, seconds, _depth) for c in cond.args)
    if isinstance(cond, sp.Not):
        return fuzzy_not(decide(cond.args[0], assumption, seconds, _depth))
    signs = _sign_substitution(premises)
    if signs:
        val = attempt(seconds, lambda: cond.subs(signs), default=None)
        if val in (sp.true, True):
            return True
        if val in (sp.false, False):
            return False
    if any(_rel_implies(p, cond, seconds) for p in premises):
        return True
    negated = attempt(seconds, lambda: sp.Not(cond), default=None)
    if negated is not None and any(_rel_implies(p, negated, seconds) for p in premises):
        return False
    if _depth == 0:
        simp = attempt(seconds, sp.simplify, cond, default=None)
        if simp is not None and simp != cond:
            return decide(simp, assumption, seconds, _depth + 1)
    if premises:
        refined = attempt(seconds, sp.refine, cond, assumption, default=None)
        if refined in (sp.true, True):
            return True
        if refined in (sp.false, False):
            return False
    return None
