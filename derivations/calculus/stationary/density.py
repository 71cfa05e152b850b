"""Stationary densities of 1-D Itô SDEs (zero flux).

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

The path taken depends on the input alone: each symbolic step is bounded by work (operation counts,
:mod:`.symbolic`), in a fixed order of strategies, and ``StationaryDensity.path`` records which one
produced each part. A term of ∫2A/D that sympy cannot integrate (it gives up, or the term exceeds the work
bound) stays an unevaluated ``Integral`` and the numbers come from mpmath quadrature; the normalisation is
a textbook integral (Gaussian, Student-t, Gamma, Beta) when it is one, else ``sympy.integrate`` on a small
integrand (its artefacts ``0**u``, ``hyper(…, 1)``, Bessel-I pairs rewritten where the normalisability
condition makes that valid, else kept and said in ``notes``: :func:`.symbolic.clean_closed_form`), else
quadrature. Wall time is only a hang guard over the whole call
(:func:`derivations.calculus.budget.hang_guard`): past ``time_budget`` the call raises ``SymbolicTimeout``
naming its stage, never a different answer. A value is never guessed: a ``Piecewise`` normalisation is kept
only in the branch whose condition is implied by the normalisability condition, else it is ``None``.

Boundaries
----------
Each endpoint is classified after Feller (:func:`.conditions.feller_cases`): regular, exit, entrance or
natural. The zero-flux density is the process's stationary law only when no endpoint is exit (absorbing)
and regular endpoints reflect; at an exit boundary p is not integrable (there M = ∫ m = ∞ and p ∝ m), so
it is never reported normalisable there.

n dimensions
------------
:func:`detailed_balance`: with ``D`` invertible, the stationary current ``J = a p − ½ ∇·(D p)``
vanishes iff ``∇ log p = D⁻¹(2a − ∇·D)`` (``(∇·D)_i = Σ_j ∂_j D_ij``), so detailed balance
holds iff that vector field is a gradient, i.e. its Jacobian is symmetric (curl-free); then
``p ∝ exp(−Φ)`` with ``−∇Φ = D⁻¹(2a − ∇·D)``.
"""


from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import mpmath
import sympy as sp

from derivations.errors import NotNormalisableError, ParameterError
from derivations.calculus.sde import ItoSDE
from derivations.calculus.budget import hang_guard, stage
from derivations.calculus.stationary.conditions import boundary_exponent, decide, feller_cases, integrable_at
from derivations.calculus.stationary.quadrature import NumericDensity, finite_number, format_values
from derivations.calculus.stationary.scipy_distribution import scipy_distribution
from derivations.calculus.stationary.symbolic import (NORMALISE_OPS, SIMPLIFY_OPS, attempt, clean_closed_form,
                                                      exp_of_minus, integrate_termwise, light, real_logs, small,
                                                      textbook_integral, tidy, work)

log = logging.getLogger(__name__)

HANG_GUARD_S = 10.0  # the default time_budget: several times the slowest density of this package (about 1 s)


class DensityFunction:
    """Numeric stationary density at fixed parameters: ``f(x)`` → float (0 outside the domain).

    ``log(x)`` is the log-density (mpmath); ``normalisation`` the constant ``Z`` dividing
    the unnormalised density (``method``: ``"closed form"`` or ``"quadrature"``; ``normalisation_error`` an
    estimate of its relative error from the quadrature's error estimates, 0 for a closed form); when the
    potential has no closed form the unnormalised density is only defined up to a constant
    factor, so only the normalised values are meaningful. Evaluation is scalar (mpmath); for
    vectorised evaluation use :meth:`StationaryDensity.to_scipy`.
    """

    def __init__(self, model: NumericDensity):
        self._model = model
        self.log_normalisation = model.log_z
        self.normalisation = mpmath.exp(model.log_z)
        self.domain = (model.lo, model.hi)
        self.method = model.method
        self.normalisation_error = model.normalisation_error

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
      stands for the part sympy could not integrate: it gave up, or the term exceeded the work bound);
    - ``unnormalised`` = exp(−Φ); ``closed_form``: whether Φ is free of ``Integral``;
    - ``normalisation`` = ∫ unnormalised over the domain in closed form, or ``None``;
      ``normalised`` = unnormalised / normalisation or ``None``;
    - ``boundary_exponents`` {boundary: k} and ``boundary_conditions`` {boundary: condition}
      (a sympy relational in the parameters, ``true``/``false``, or ``None`` if undecided);
    - ``normalisable``: the conjunction of the boundary conditions (``None`` if one is
      undecided and none is false);
    - ``boundaries`` {endpoint: "regular" | "exit" | "entrance" | "natural" | None}: Feller's class of each
      endpoint (None when it depends on the parameters or is undecided) and ``boundary_cases``
      {endpoint: ((class, condition), ...) or None}: the classes with the parameter conditions under which
      they hold. From the scale density s = exp(−∫2A/D) and the speed density m = 1/(D s) ∝ p near the
      endpoint: regular (∫s, ∫m < ∞: reached and left), exit (reached, never left: absorbing), entrance (never
      reached from inside, left), natural (neither); W. Feller, Ann. Math. 55, 468 (1952); Karlin & Taylor,
      *A Second Course in Stochastic Processes* (1981), ch. 15 §6 (:func:`.conditions.feller_cases`);
    - ``path`` {part: how it was obtained}: ``"potential"`` (closed form, or quadrature and why),
      ``"normalisability"`` and ``"boundaries"`` (decided or not), ``"normalisation"`` (which integral, or
      quadrature and why). A function of the input alone, never of the time the call took;
    - ``notes``: every part that fell back to numerics or stayed undecided, and why; exit and regular
      boundaries (when the zero-flux density is not, or not necessarily, the process's law).
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
    boundaries: dict = field(default_factory=dict)
    boundary_cases: dict = field(default_factory=dict)
    path: dict = field(default_factory=dict)
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
            if not v.is_number or not finite_number(v):
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
                    f"{self.boundary_exponents.get(b)}) fails for {format_values(values)}")
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
            model = NumericDensity(self, values, check_tails=decided is None)
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
                                           f"and {ev} + {k} >= -1 (at {format_values(values)})")
            if b == 0 and k < 0 and bool(ev + k <= -1):
                raise NotNormalisableError(f"the moment E[{x}^{k}] diverges at 0 (at {format_values(values)})")
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
        import numpy as np

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
        return scipy_distribution(model, log_z, closed_part, rest_part, lo, hi, cdf_nodes)

    # ------------------------------------------------------------------ display
    def __str__(self) -> str:
        lo, hi = self.domain
        return (f"StationaryDensity(p({self.variable}) ∝ {self.unnormalised} on ({lo}, {hi}); "
                f"normalisable: {self.normalisable})")


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


def stationary_density(sde_or_coefficients, domain: Sequence = (-sp.oo, sp.oo),
                       time_budget: float | None = HANG_GUARD_S) -> StationaryDensity:
    """Zero-flux stationary density of a 1-D Itô SDE on ``domain = (lo, hi)``.

    ``sde_or_coefficients``: a 1-D :class:`~derivations.calculus.sde.ItoSDE` or a tuple
    ``(A, D, x)`` of drift, diffusion ``D = G²`` and the variable.

    Itô convention. Zero flux ``J = A p − ½ (D p)′ = 0`` gives

        p(x) ∝ D(x)⁻¹ exp ∫ 2A/D dx = exp(−Φ),   Φ = log D − ∫ 2A/D dx.

    What is attempted is decided by work bounds, so the result (and ``.path``, which says what produced each
    part) is a function of the input alone. ``time_budget`` (seconds, ``None`` = no limit) is only a hang
    guard over the whole call: past it, :class:`~derivations.calculus.budget.SymbolicTimeout` names the stage
    the call was in; it must be > 0. The default, 10 s, is several times what the slowest density of this package takes.
    """
    if time_budget is not None and not time_budget > 0:
        raise ParameterError(f"time_budget must be > 0 seconds (None: no limit), got {time_budget!r}")
    a, d, x_user = _coefficients(sde_or_coefficients)
    try:
        lo, hi = (sp.sympify(v) for v in domain)
    except (TypeError, ValueError):
        raise ParameterError(f"domain must be a pair (lo, hi), got {domain!r}") from None
    if not (lo.is_extended_real and hi.is_extended_real) or bool(lo >= hi):
        raise ParameterError(f"domain must be an interval (lo, hi) with lo < hi (numbers or ±oo), got {domain!r}")
    with hang_guard(time_budget, "stationary_density"):
        return _construct(a, d, x_user, lo, hi)


def _construct(a: sp.Expr, d: sp.Expr, x_user: sp.Symbol, lo: sp.Expr, hi: sp.Expr) -> StationaryDensity:
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

    return StationaryDensity(
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
    return _accept_normalisation(attempt(sp.integrate, unnormalised, (x, lo, hi)), normalisable)


def _accept_normalisation(z, normalisable) -> tuple[sp.Expr | None, str, list[str]]:
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
