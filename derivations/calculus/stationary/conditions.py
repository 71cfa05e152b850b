"""Conditions at the boundaries of a 1-D diffusion, and three-valued decisions on conditions (True, False,
None = undecided, sympy's fuzzy logic).

- :func:`boundary_exponent`, :func:`integrable_at` — local power-law exponents k = lim ℓ (log f)′ and the
  integrability of f ~ |ℓ|^k at a boundary (ℓ = x − b at a finite boundary, x at an infinite one);
- :func:`feller_cases` — Feller's classification of a boundary (regular, exit, entrance, natural);
- :func:`decide`, :func:`nice_relational` — does a condition hold whenever the assumptions do?

Every step is bounded by work (sympy's ``limit``, ``cancel``, and ``simplify``/``refine`` only below
:data:`~derivations.calculus.stationary.symbolic.SIMPLIFY_OPS` operations), never by time.
"""

from __future__ import annotations

from typing import Callable

import sympy as sp
from sympy.core.logic import fuzzy_and, fuzzy_not, fuzzy_or

from derivations.calculus.stationary.symbolic import SIMPLIFY_OPS, attempt, light, small, tidy


# =========================================================================== boundary exponents
def boundary_exponent(log_derivative: sp.Expr, x: sp.Symbol, b: sp.Expr, lower: bool) -> sp.Expr | None:
    """k = lim ℓ(x)·(log f)′ as x → b from inside the domain (ℓ = x at an infinite boundary, x − b at a finite
    one), so that f ~ |ℓ|^k there (k = ±∞: faster than any power); None when sympy's limit gives no value."""
    expr = (x if b.is_infinite else (x - b)) * log_derivative
    return _limit(attempt(sp.cancel, expr, default=expr), x, b, lower)


def power_exponent(f: sp.Expr, x: sp.Symbol, b: sp.Expr, lower: bool) -> sp.Expr | None:
    """r = lim log f² / log ℓ² as x → b from inside, so that |f| ~ |ℓ|^r; no derivative of f is taken (an
    oscillating factor such as cos(x²) stays bounded instead of growing); None when undecided."""
    ell = x if b.is_infinite else (x - b)
    return _limit(sp.log(f ** 2) / sp.log(ell ** 2), x, b, lower)


def _limit(expr: sp.Expr, x: sp.Symbol, b: sp.Expr, lower: bool) -> sp.Expr | None:
    k = attempt(sp.limit, expr, x, b, dir="+" if lower else "-")
    if k is None or k.has(sp.Limit, sp.nan, sp.zoo, sp.AccumBounds):
        return None
    return light(k)


def integrable_at(k: sp.Expr | None, b: sp.Expr):
    """Condition for f ~ |ℓ|^k to be integrable at b: k > −1 at a finite boundary, k < −1 at an infinite one
    (k = ±∞ decides by its sign; k = c·∞ by the sign of c). The borderline k = −1 counts as not integrable:
    right for f ~ 1/ℓ, wrong only for logarithmic corrections such as 1/(x log²x), which a limit of
    ℓ (log f)′ cannot see. A sympy Boolean, or None when undecided."""
    if k is None:
        return None
    infinite = b.is_infinite
    if k == -sp.oo:
        return sp.true if infinite else sp.false
    if k == sp.oo:
        return sp.false if infinite else sp.true
    if k.has(sp.oo, -sp.oo):
        # k = c·∞ (e.g. −oo·sign(θ)): the sign of c decides
        factors = sp.Mul.make_args(k)
        infs = [f for f in factors if f in (sp.oo, -sp.oo)]
        others = [f for f in factors if f not in (sp.oo, -sp.oo)]
        if len(infs) != 1 or any(f.has(sp.oo, -sp.oo, sp.nan, sp.zoo) for f in others):
            return None
        coeff = sp.Mul(*others) * (1 if infs[0] == sp.oo else -1)
        # a product keeps its sign when each sign(a) factor is replaced by a
        coeff = sp.Mul(*[f.args[0] if isinstance(f, sp.sign) else
                         -f.args[0] if (isinstance(f, sp.Mul) and len(f.args) == 2 and f.args[0] == -1
                                        and isinstance(f.args[1], sp.sign)) else f
                         for f in sp.Mul.make_args(coeff)])
        cond = sp.Lt(coeff, 0) if infinite else sp.Gt(coeff, 0)
    else:
        cond = sp.Lt(k, -1) if infinite else sp.Gt(k, -1)
    if cond not in (sp.true, sp.false):
        cond = attempt(nice_relational, cond, default=cond)
    return cond


# =========================================================================== Feller's classification
FELLER_CLASSES = ("regular", "exit", "entrance", "natural")


def feller_cases(a: sp.Expr, d: sp.Expr, x: sp.Symbol, b: sp.Expr, lower: bool,
                 m_exponent) -> tuple[tuple[str, object], ...] | None:
    """Feller's classification of the boundary b of dx = A dt + √D dW, as cases ((class, condition), ...),
    None when undecided (W. Feller, "The parabolic differential equations and the associated semi-groups of
    transformations", Ann. Math. 55, 468 (1952); S. Karlin and H. M. Taylor, *A Second Course in Stochastic
    Processes* (1981), ch. 15 §6).

    Scale density s = exp(−∫2A/D), speed density m = 1/(D s) (∝ the zero-flux density p). With
    S = ∫_b s, M = ∫_b m, Σ = ∫_b S(b, y] m(y) dy and N = ∫_b M(b, y] s(y) dy (each over a neighbourhood of b):
    regular (Σ, N < ∞: reached and left — S, M < ∞), exit (Σ < ∞ = N: reached, never left, absorbing),
    entrance (N < ∞ = Σ: never reached from inside, the process may start there), natural (Σ = N = ∞).

    Decided from local exponents (:func:`boundary_exponent`): σ of s from (log s)′ = −2A/D, μ of m
    (``m_exponent``, the density's k). S < ∞ and M < ∞ by :func:`integrable_at`; Σ (needed when S < ∞ = M)
    and N (when M < ∞ = S) are integrals of S m resp. M s ~ |ℓ|^(σ+μ+1) when σ, μ are finite; when s (m)
    vanishes faster than any power, Laplace's S ≈ s/|(log s)′| (M ≈ m/|(log m)′|) makes the integrand
    1/|2A| (1/|2A − D′|), whose exponent is −:func:`power_exponent`; when the other density grows faster than
    any power, the integral diverges. Each condition that the parameters leave open splits the cases
    (decided under the conditions taken so far, :func:`decide`).
    """
    s_exponent = boundary_exponent(-2 * a / d, x, b, lower)
    S, M = integrable_at(s_exponent, b), integrable_at(m_exponent, b)

    def second(own, other, rate) -> Callable:
        """Finiteness of Σ (own = s, other = m, rate = 2A) or N (own = m, other = s, rate = 2A − D′)."""
        def cond():
            if own is None or other is None:
                return None
            if not (own.has(sp.oo, -sp.oo) or other.has(sp.oo, -sp.oo)):
                return integrable_at(light(own + other + 1), b)
            if own.has(sp.oo, -sp.oo):  # own integrable with an infinite exponent: it vanishes faster than any power
                r = power_exponent(rate, x, b, lower)
                return None if r is None else integrable_at(-r, b)
            return sp.false  # the other density, not integrable, grows faster than any power
        return cond

    sigma_finite = second(s_exponent, m_exponent, 2 * a)
    n_finite = second(m_exponent, s_exponent, 2 * a - sp.diff(d, x))
    leaves: list[tuple[str, list]] = []
    try:
        for s_ok, p1 in _branches(lambda: S, []):
            for m_ok, p2 in _branches(lambda: M, p1):
                if s_ok == m_ok:
                    leaves.append(("regular" if s_ok else "natural", p2))
                    continue
                test, name = (sigma_finite, "exit") if s_ok else (n_finite, "entrance")
                leaves.extend((name if ok else "natural", p3) for ok, p3 in _branches(test, p2))
    except _Undecided:
        return None
    cases = []
    for name in FELLER_CLASSES:
        conds = [sp.And(*p) for n, p in leaves if n == name]
        if conds:
            cases.append((name, sp.true if len({n for n, _ in leaves}) == 1 else tidy(sp.Or(*conds))))
    return tuple(cases)


class _Undecided(Exception):
    """A condition the classification needs could not be computed."""


def _branches(condition: Callable, premises: list) -> list[tuple[bool, list]]:
    """The values a condition can take under ``premises``: one when decided, both (each with its premise
    added) when not; raises _Undecided when the condition is unknown (None)."""
    cond = condition()
    if cond is None:
        raise _Undecided
    verdict = decide(cond, sp.And(*premises) if premises else sp.true, use_refine=False)
    if verdict is not None:
        return [(verdict, premises)]
    return [(True, premises + [cond]), (False, premises + [sp.Not(cond)])]


# =========================================================================== decisions
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
            bound = tidy(-rest / c)
            return sp.Gt(sym, bound) if strict else sp.Ge(sym, bound)
        if c.is_negative:
            bound = tidy(-rest / c)
            return sp.Lt(sym, bound) if strict else sp.Le(sym, bound)
    return sp.Gt(e, 0) if strict else sp.Ge(e, 0)


def _rel_implies(premise, conclusion) -> bool:
    """Sufficient (not necessary) test that the relational ``premise`` implies ``conclusion``:
    with both written ``e > 0`` / ``e ≥ 0``, e₂/e₁ is a positive constant or e₂ − e₁ ≥ 0."""
    a = _as_positive_form(premise)
    b = _as_positive_form(conclusion)
    if a is None or b is None:
        return False
    (e1, s1), (e2, s2) = a, b
    strict_ok = s1 or not s2
    for simplifier in (sp.cancel, tidy):
        ratio = attempt(simplifier, e2 / e1)
        if ratio is not None and not ratio.has(sp.zoo, sp.nan) and ratio.is_positive and strict_ok:
            return True
        diff = attempt(simplifier, e2 - e1)
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
        poly = attempt(sp.Poly, e, sym)
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


def decide(cond, assumption, use_refine: bool = True, _depth: int = 0) -> bool | None:
    """Is ``cond`` true (False: false) whenever ``assumption`` holds? None when undecided.

    Cheap tests first (sign information from the premises, implication between relationals),
    ``simplify`` and (``use_refine``) ``refine`` last and only on small conditions; And/Or are decided part by
    part. ``refine`` (sympy's assumption system) can take seconds on one relational."""
    if cond in (sp.true, True):
        return True
    if cond in (sp.false, False):
        return False
    premises = [] if assumption in (None, sp.true, True, sp.false, False) else (
        list(assumption.args) if isinstance(assumption, sp.And) else [assumption])
    if isinstance(cond, (sp.And, sp.Or)):  # three-valued: sympy's fuzzy logic (None = undecided)
        merge = fuzzy_and if isinstance(cond, sp.And) else fuzzy_or
        return merge(decide(c, assumption, use_refine, _depth) for c in cond.args)
    if isinstance(cond, sp.Not):
        return fuzzy_not(decide(cond.args[0], assumption, use_refine, _depth))
    signs = _sign_substitution(premises)
    if signs:
        val = attempt(lambda: cond.subs(signs))
        if val in (sp.true, True):
            return True
        if val in (sp.false, False):
            return False
    if any(_rel_implies(p, cond) for p in premises):
        return True
    negated = attempt(lambda: sp.Not(cond))
    if negated is not None and any(_rel_implies(p, negated) for p in premises):
        return False
    if _depth == 0:
        simp = tidy(cond)
        if simp != cond:
            return decide(simp, assumption, use_refine, _depth + 1)
    if use_refine and premises and small(cond, SIMPLIFY_OPS):
        refined = attempt(sp.refine, cond, assumption)
        if refined in (sp.true, True):
            return True
        if refined in (sp.false, False):
            return False
    return None
