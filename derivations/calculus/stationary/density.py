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

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import mpmath
import sympy as sp

from derivations.errors import NotNormalisableError, ParameterError
from derivations.calculus.budget import hang_guard
from derivations.calculus.stationary.construct import coefficients, construct
from derivations.calculus.numbers import checked_number
from derivations.calculus.stationary.quadrature import NumericDensity, format_values
from derivations.calculus.stationary.scipy_distribution import scipy_distribution

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
        """Map names/symbols to sympy numbers (``checked_number``); every parameter needed, none unknown."""
        parameters = dict(parameters or {})
        by_name = {str(p): p for p in self.parameters}
        values = {}
        for key, val in parameters.items():
            sym = key if isinstance(key, sp.Symbol) and key in self.parameters else by_name.get(str(key))
            if sym is None:
                raise ParameterError(f"unknown parameter {key!r}; this density has parameters "
                                     f"{[str(p) for p in self.parameters]}")
            values[sym] = checked_number(sym, val)
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
    a, d, x_user = coefficients(sde_or_coefficients)
    try:
        lo, hi = (sp.sympify(v) for v in domain)
    except (TypeError, ValueError):
        raise ParameterError(f"domain must be a pair (lo, hi), got {domain!r}") from None
    if not (lo.is_extended_real and hi.is_extended_real) or bool(lo >= hi):
        raise ParameterError(f"domain must be an interval (lo, hi) with lo < hi (numbers or ±oo), got {domain!r}")
    with hang_guard(time_budget, "stationary_density"):
        return StationaryDensity(**construct(a, d, x_user, lo, hi))
