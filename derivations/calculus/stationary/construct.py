"""The construction behind :func:`.density.stationary_density`: the coefficients, the potential
Φ = log D − ∫ 2A/D (closed form term by term, else an ``Integral`` for quadrature), the boundary exponents and
Feller classes, and the normalisation, each step bounded by work (:mod:`.symbolic`). :func:`construct` returns
the fields of a :class:`~.density.StationaryDensity`, which :mod:`.density` builds from them."""

from __future__ import annotations

import sympy as sp

from derivations.errors import ParameterError
from derivations.calculus.sde import ItoSDE
from derivations.calculus.budget import stage
from derivations.calculus.stationary.conditions import boundary_exponent, decide, feller_cases, integrable_at
from derivations.calculus.stationary.symbolic import (NORMALISE_OPS, SIMPLIFY_OPS, attempt, clean_closed_form,
                                                      exp_of_minus, integrate_termwise, light, real_logs, small,
                                                      textbook_integral, tidy, work)


def coefficients(sde_or_coefficients) -> tuple[sp.Expr, sp.Expr, sp.Symbol]:
    """(A, D, x) of a 1-D Itô SDE or of a tuple (A, D, x); a Stratonovich SDE is refused."""
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


def _interior_zeros(d: sp.Expr, x: sp.Symbol, lo: sp.Expr, hi: sp.Expr) -> list:
    """Zeros of D that lie provably inside (lo, hi) (sympy's assumptions decide; an undecidable zero is not
    reported): the roots of a polynomial D; for another D, a finite ``solveset`` on the open interval, tried
    when D has at most SIMPLIFY_OPS operations."""
    if d.is_polynomial(x):
        candidates = list(sp.roots(sp.Poly(d, x)))
    elif small(d, SIMPLIFY_OPS):
        found = attempt(sp.solveset, d, x, sp.Interval.open(lo, hi))
        candidates = list(found) if isinstance(found, sp.FiniteSet) else []
    else:
        candidates = []
    inside = [r for r in candidates if r.is_real and sp.sympify(r > lo) == sp.true and sp.sympify(r < hi) == sp.true]
    return sorted(inside, key=sp.default_sort_key)


def construct(a: sp.Expr, d: sp.Expr, x_user: sp.Symbol, lo: sp.Expr, hi: sp.Expr) -> dict:
    """The fields of the :class:`~.density.StationaryDensity` of dx = A dt + √D dW on (lo, hi) (see there)."""
    notes: list[str] = []
    path: dict[str, str] = {}
    with stage("setup and interior zeros of D"):
        # work with a variable whose assumptions match the domain
        if lo.is_nonnegative:
            x = sp.Dummy(str(x_user), positive=True)
        elif hi.is_nonpositive:
            x = sp.Dummy(str(x_user), negative=True)
        else:
            x = sp.Dummy(str(x_user), real=True)
        back = {x: x_user}
        sub = lambda e: None if e is None else (e.subs(back) if isinstance(e, sp.Basic) else e)  # noqa: E731
        a, d = a.subs(x_user, x), d.subs(x_user, x)
        if d == 0:
            raise ParameterError("the diffusion D is identically zero: no stationary density")
        zeros = _interior_zeros(d, x, lo, hi)
    if zeros:
        zero = zeros[0]
        raise ParameterError(
            f"the diffusion D vanishes inside the domain, at {x_user} = {zero}: the process cannot cross that point "
            f"(it is a boundary of the diffusion), so no single density lives on ({lo}, {hi}); pass "
            f"domain=({lo}, {zero}) or domain=({zero}, {hi}), the side the process starts on")
    # D = G Gᵀ ≥ 0: a diffusion that is provably negative somewhere in the domain is no diffusion
    at = d.subs(x, _reference_point(lo, hi))
    if d.is_negative or at.is_negative:
        raise ParameterError(f"the diffusion D = {d.subs(back)} is negative on the domain ({lo}, {hi}) (at "
                             f"{x_user} = {_reference_point(lo, hi)} it is {at}): D = G² must be >= 0")
    params = tuple(sorted((a.free_symbols | d.free_symbols) - {x}, key=str))

    with stage("log-derivative 2A/D - D'/D"):
        f = light(sp.cancel(2 * a / d))
        log_derivative = tidy(sp.together(2 * a / d - sp.diff(d, x) / d))

    with stage("potential: integral of 2A/D"):  # Φ = log D − ∫ 2A/D
        closed_int, rest, reasons = integrate_termwise(f, x)
        closed_int = light(closed_int)
        x0 = _reference_point(lo, hi)
        closed_int = real_logs(closed_int, x, x0)
        t = sp.Dummy("t", real=True)
        rest_integral = sp.Integral(rest.subs(x, t), (t, x0, x)) if rest != 0 else sp.S.Zero
        potential = sp.log(d) - closed_int - rest_integral
        unnormalised = exp_of_minus(sp.log(d) - closed_int, x) * sp.exp(rest_integral)
        if rest == 0:
            unnormalised = tidy(unnormalised)
            path["potential"] = "closed form"
        else:
            why = "; ".join(f"term {_short(sub(term))}: {reason}" for term, reason in reasons)
            path["potential"] = f"quadrature ({why})"
            notes.append(f"∫ {_short(sub(rest))} d{x_user}: no closed form ({why}); kept as an Integral from {x0}, "
                         "evaluated by quadrature")

    with stage("boundary limits"):  # integrability of p from (log p)′ alone
        exponents, conditions = {}, {}
        for b, lower in ((lo, True), (hi, False)):
            exponents[b] = boundary_exponent(log_derivative, x, b, lower)
            conditions[b] = integrable_at(exponents[b], b)
            if conditions[b] is None:
                notes.append(f"could not decide integrability at {b} (limit {sub(exponents[b])})")
        conds = list(conditions.values())
        if any(c in (sp.false, False) for c in conds):
            normalisable = sp.false
        elif any(c is None for c in conds):
            normalisable = None
        else:
            normalisable = sp.And(*conds)
            if normalisable not in (sp.true, sp.false):
                normalisable = tidy(normalisable)
        undecided = [str(b) for b, c in conditions.items() if c is None]
        path["normalisability"] = f"undecided at {', '.join(undecided)}" if undecided else "decided"

    with stage("Feller boundary classification"):
        boundary_cases, boundaries = {}, {}
        for b, lower in ((lo, True), (hi, False)):
            cases = feller_cases(a, d, x, b, lower, exponents[b])
            boundary_cases[b] = None if cases is None else tuple((name, sub(c)) for name, c in cases)
            boundaries[b] = cases[0][0] if cases is not None and len(cases) == 1 else None
            notes.extend(_feller_notes(b, boundary_cases[b]))
        undecided = [str(b) for b, c in boundary_cases.items() if c is None]
        path["boundaries"] = f"undecided at {', '.join(undecided)}" if undecided else "decided"

    with stage("normalisation integral"):
        normalisation = None
        if normalisable in (sp.false, False):
            path["normalisation"] = "none (not normalisable)"
        elif rest != 0:
            path["normalisation"] = "quadrature (the potential has no closed form)"
        elif normalisable is None:
            path["normalisation"] = "quadrature (normalisability undecided)"
        else:
            normalisation, path["normalisation"], kept = _normalisation(unnormalised, x, lo, hi, normalisable)
            if normalisation is None:
                notes.append(f"normalisation integral: {path['normalisation']}")
            notes.extend(f"normalisation: {k}" for k in kept)

    with stage("normalised density"):
        normalised = None
        if normalisation is not None:
            normalised = sp.powsimp(sp.gammasimp(tidy(unnormalised / normalisation)))

    return dict(
        variable=x_user, domain=(lo, hi), drift=sub(a), diffusion=sub(d), parameters=params,
        log_derivative=sub(log_derivative), potential=sub(potential), unnormalised=sub(unnormalised),
        closed_form=rest == 0, reference_point=x0, normalisation=sub(normalisation),
        normalised=sub(normalised), boundary_exponents={b: sub(k) for b, k in exponents.items()},
        boundary_conditions={b: sub(c) for b, c in conditions.items()},
        normalisable=sub(normalisable), notes=notes, boundaries=boundaries, boundary_cases=boundary_cases,
        path=path, _potential_closed=sub(closed_int), _potential_rest=sub(rest))


def _short(expr) -> str:
    """An expression for a note: in full up to 80 characters, else its beginning and its size."""
    text = str(expr)
    return text if len(text) <= 80 else f"{text[:60]}… ({sp.count_ops(expr)} operations)"


def _feller_notes(b, cases) -> list[str]:
    """What an exit or a regular endpoint means for the zero-flux density; an undecided one is said so."""
    if cases is None:
        return [f"Feller's classification of the boundary {b} is undecided"]
    out = []
    for name, cond in cases:
        when = "" if cond in (sp.true, True) else f" when {cond}"
        if name == "exit":
            out.append(f"{b} is an exit boundary{when}: the process reaches it in finite time and is absorbed; "
                       "its long-time law is a point mass there, not the zero-flux density (never normalisable there)")
        elif name == "regular":
            out.append(f"{b} is a regular boundary{when}: the process reaches it in finite time; the zero-flux "
                       "density is its stationary law only if the boundary reflects (the SDE alone does not say)")
    return out


def _normalisation(unnormalised, x, lo, hi, normalisable) -> tuple[sp.Expr | None, str, list[str]]:
    """(Z, path, case splits kept): a textbook integral when the density is one, else sympy.integrate on an
    integrand of at most NORMALISE_OPS operations, else (None, why, []) for quadrature."""
    book = textbook_integral(unnormalised, x, lo, hi)
    if book is not None:
        return tidy(book[0]), f"closed form ({book[1]})", []
    ops = work(unnormalised)
    if ops > NORMALISE_OPS:
        return None, (f"quadrature (the integrand has {ops} operations, above the work bound of {NORMALISE_OPS} "
                      "for sympy.integrate)"), []
    return accept_normalisation(attempt(sp.integrate, unnormalised, (x, lo, hi)), normalisable)


def accept_normalisation(z, normalisable) -> tuple[sp.Expr | None, str, list[str]]:
    """(the closed-form normalisation sympy.integrate gave, path, case splits kept) with its artefacts rewritten
    where the normalisability condition allows (:func:`.symbolic.clean_closed_form`), or (None, why, []) when
    it is not honestly known."""
    if z is None:
        return None, "quadrature (sympy.integrate gave up)", []
    if isinstance(z, sp.Piecewise):
        chosen = None
        for expr, cond in z.args:
            verdict = decide(cond, normalisable)
            if verdict is False:
                continue
            if verdict is True:
                chosen = expr
            break
        if chosen is None:
            return (None, f"quadrature (sympy.integrate gave a Piecewise whose valid branch is not implied by "
                    f"{normalisable})", [])
        z = chosen
    if z.has(sp.Integral, sp.Piecewise):
        return None, "quadrature (sympy.integrate left an unevaluated integral)", []
    z, kept = clean_closed_form(z, lambda cond: decide(cond, normalisable))
    if z.has(sp.oo, -sp.oo, sp.zoo, sp.nan) or z.is_zero or z.is_positive is False:
        return None, "quadrature (sympy.integrate gave a value that is not a positive number)", []
    return tidy(z), "closed form (sympy.integrate" + (", with a case split kept)" if kept else ")"), kept
