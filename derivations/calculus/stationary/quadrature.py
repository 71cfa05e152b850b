"""Numbers for a stationary density without a closed-form normalisation: a walk outwards on a log-scale
grid with Chebyshev (else mpmath) pieces, a cumulative integral, power-law tails, and at a finite boundary
where p ~ |x − e|^k the substitution x − e = ±δ s^m (m(1+k) an integer) that integrates the power exactly."""

from __future__ import annotations

import logging
import math
import warnings
from typing import TYPE_CHECKING, Any, Callable, Mapping

import mpmath
import numpy as np
import sympy as sp

from derivations.errors import NotNormalisableError, QuadratureError

if TYPE_CHECKING:  # the density this numerical model serves (and which builds it)
    from derivations.calculus.stationary.density import StationaryDensity

log = logging.getLogger(__name__)


def format_values(values: Mapping) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in values.items()) + "}"


def finite_number(value) -> bool:
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


def _piece(f_float: Callable, f_mp: Callable, a, b, max_depth: int = 10):
    try:
        return _ChebPiece(f_float, a, b, max_depth=max_depth)
    except _ChebFailure as exc:
        log.debug("Chebyshev fit failed (%s); mpmath quadrature on this segment", exc)
        return _QuadPiece(f_mp, a, b)


def _mp_function(expr: sp.Expr, x: sp.Symbol) -> Callable:
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


def _float_function(expr: sp.Expr, x: sp.Symbol) -> tuple[Callable, Callable]:
    """(float function, mpmath function) of x: math-module lambdify, mpmath (real part) as fallback."""
    f_mp = _mp_function(expr, x)
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
_ROUNDING = 2.0 ** -50  # relative rounding of Z from log Z (times 1 + |log Z|), added to its error estimate


def _local_exponent(dlog_f: Callable, e, d, u):
    """k(x) = (x − e)(log f)′(x) at x = e + d·u (d = far − e: signed width of the stretch, u ∈ [0, 1])."""
    return d * u * dlog_f(e + d * u)


class _EndPiece:
    """∫ f over the stretch between a finite boundary e and a point ``far`` (width δ = |far − e|), where
    f ~ |x − e|^k with k > −1, by the substitution x − e = ±δ s^m, m = n/(1+k), n = ⌈4(1+k)⌉ (the least
    m ≥ 4 making m(1+k) an integer; m = 1/(1+k) when k ≤ −3/4):

        ∫ f dx = ∫_0^1 h(s) ds,   h = m δ s^(m−1) f(x(s)) = s^(n−1) H(s),   H bounded and nonzero at s = 0,

    so the power is integrated exactly and the Chebyshev fit sees a smooth h. f is never evaluated near e
    (no float resolves 1 − 10⁻⁴⁰⁰): H(1) = m δ f(far), and log |H| has the derivative ψ(s) = m (k(x) − k)/s,
    k(x) = (x − e)(log f)′ the local exponent, which is regular (k(x) − k = O(x − e)); it is evaluated at 256
    bits (k is k(x) at x − e = 10⁻³⁰ δ) and held at its value at x − e = 10⁻¹⁵ δ closer in, which moves Ψ by
    O(10⁻¹⁵). So H = H(1) exp(Ψ(s) − Ψ(1)), Ψ the Chebyshev antiderivative of ψ. ``integral(x)`` is ∫ f from
    the stretch's left end to x, as for the walk's pieces; ``error`` estimates the error of ``total`` (the two
    Chebyshev fits' estimates, and the rounding of k)."""

    _PREC = 256  # bits: resolves x − e = 10⁻³⁰ δ next to e and k(x) − k at x − e ≥ 10⁻¹⁵ δ
    _DEPTH = 24  # bisections towards s = 0, where H − H(0) ~ s^m is only ⌊m⌋ times differentiable for non-integer m

    @classmethod
    def exponent(cls, dlog_f: Callable, e, far):
        """k = lim (x − e)(log f)′ at e, read off at x − e = 10⁻³⁰ (far − e)."""
        with mpmath.workprec(cls._precision(e, far)):
            return _local_exponent(dlog_f, mpmath.mpf(e), mpmath.mpf(far) - e, mpmath.mpf(10) ** -30)

    @classmethod
    def _precision(cls, e, far) -> int:
        return cls._PREC + int(max(0, mpmath.mag(e) - mpmath.mag(far - e)))

    def __init__(self, f_far: float, dlog_f: Callable, e, far, k):
        prec = self._precision(e, far)
        with mpmath.workprec(prec):
            e_mp, d = mpmath.mpf(e), mpmath.mpf(far) - e
        self.e, self.width, self.lower = float(e), float(abs(d)), d > 0
        n = math.ceil(4 * float(1 + k))
        self.m = m = n / float(1 + k)  # 1 + k before rounding: m(1 + k) = n to 2⁻⁵² even for k near −1
        flat = 1e-15 ** (1 / m)  # s at x − e = 10⁻¹⁵ δ

        def psi(s):
            s = max(float(s), flat)
            with mpmath.workprec(prec):
                return float(m * (_local_exponent(dlog_f, e_mp, d, mpmath.mpf(s) ** m) - k) / s)
        psi_piece = _piece(psi, lambda s: mpmath.mpf(psi(s)), 0.0, 1.0, self._DEPTH)
        sign, log_h1 = math.copysign(1.0, f_far), math.log(m * self.width * abs(f_far)) - psi_piece.total

        def h(s):
            return sign * s ** (n - 1) * math.exp(log_h1 + psi_piece.integral(s))
        self.piece = _piece(h, lambda s: mpmath.mpf(h(float(s))), 0.0, 1.0, self._DEPTH)
        self.total = self.piece.total
        # + a rounding of k (float parameters: sympy rounds α − 1 to 53 bits) moves the total by δk/(1 + k)
        self.error = self.piece.error + (2 * psi_piece.error + _ROUNDING / float(1 + k)) * abs(self.total)

    def integral(self, x) -> float:
        inner = self.piece.integral(min(1.0, (abs(float(x) - self.e) / self.width) ** (1 / self.m)))
        return inner if self.lower else self.total - inner


class NumericDensity:
    """Numerical model of the density at fixed parameter values (built once per parameter set).

    ``log_z`` is log Z, ``method`` ``"closed form"`` or ``"quadrature"``, and ``normalisation_error`` an
    estimate of the relative error of Z (= of the absolute error of log Z; 0 for a closed form) from the
    Chebyshev pieces' and mpmath's error estimates: an estimate, not a rigorous bound."""

    def __init__(self, sd: "StationaryDensity", values: dict, check_tails: bool = False):
        self.values = values
        x = sd.variable
        self.lo, self.hi = sd._float_domain()
        self.x0 = mpmath.mpf(sp.N(sd.reference_point, 30))
        self._closed = _mp_function((-(sp.log(sd.diffusion) - sd._potential_closed)).subs(values), x)
        self.dlog = _mp_function(sd.log_derivative.subs(values), x)
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
        self.shift = self.log_un(self.centre)
        self.log_z, self.method, self.normalisation_error = self._normalise(sd)

    def log_un(self, t):
        """log of the unnormalised density (up to an additive constant when not closed-form), mpf."""
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
            if any(mpmath.isnan(k) for k in tail):  # no evidence either way: a failed evaluation, not a divergence
                raise QuadratureError(
                    f"the boundary condition at x = {boundary} was undecided symbolically and the log-derivative "
                    f"(log p)' could not be evaluated at the outermost probes for {format_values(self.values)} "
                    f"(k = {', '.join(mpmath.nstr(k, 4) for k in tail)}): normalisability cannot be decided")
            ok = all(k < -1 for k in tail) if mpmath.isinf(boundary) else all(k > -1 for k in tail)
            if not ok:
                raise NotNormalisableError(
                    f"the stationary density does not look normalisable at x = {boundary} for {format_values(self.values)}: "
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
                return mpmath.log(mpmath.mpf(sp.N(sp.re(z), 30))), "closed form", 0.0
            log.info("closed-form normalisation %s evaluates to %s at %s; using quadrature",
                     sd.normalisation, zc, format_values(self.values))
        log.info("normalising the stationary density by quadrature at %s", format_values(self.values))
        shift = float(self.shift)
        def f_float(t: float) -> float:
            try:
                return math.exp(self.log_un_float(t) - shift)
            except OverflowError:
                return math.inf  # the Chebyshev fit refuses it; mpmath takes over on that segment

        z, error = self._integral(lambda t: mpmath.exp(self.log_un(t) - self.shift), self.dlog,
                                  "the unnormalised density", record=True,
                                  f_float=None if self.closed_form else f_float)
        if not z > 0:
            raise QuadratureError(f"the unnormalised density integrates to {z} at {format_values(self.values)}")
        log_z = mpmath.log(z) + self.shift
        return log_z, "quadrature", float(error / z) + _ROUNDING * (1 + abs(float(log_z)))

    def integrate(self, f: Callable, dlog_f: Callable, what: str, record: bool = False,
                  f_float: Callable | None = None):
        """∫ f over the domain (``dlog_f`` = (log f)′); see :meth:`_integral`."""
        return self._integral(f, dlog_f, what, record, f_float)[0]

    def end_pieces(self, log_z) -> tuple:
        """(lower, upper): :class:`_EndPiece` of the normalised density over [lo, midpoint to the centre] and
        [midpoint, hi] where that end is finite and singular-integrable, else None (the cdf's exact ends)."""
        out = []
        for e in (self.lo, self.hi):
            far = None if mpmath.isinf(e) else (e + self.centre) / 2
            f_far = 0.0 if far is None else float(mpmath.exp(self.log_un(far) - log_z))
            out.append(None if far is None else self._end_piece(e, far, f_far, self.dlog, 16))
        return tuple(out)

    def _end_piece(self, e, far, f_far: float, dlog_f: Callable, k_max: float) -> _EndPiece | None:
        """The :class:`_EndPiece` on [e, far] when e is finite, f(far) ≠ 0 and the exponent k of f at e is in
        (−1, k_max]; else None. The stretch may not reach x = 0, where a moment's weight x^j vanishes."""
        if mpmath.isinf(e) or not 0 < abs(f_far) < math.inf or (e != 0 and e * far <= 0):
            return None
        try:
            k = _EndPiece.exponent(dlog_f, e, far)
            if not -1 < k <= k_max:
                return None
            return _EndPiece(f_far, dlog_f, e, far, k)
        except (ValueError, ZeroDivisionError, OverflowError, TypeError) as exc:
            raise QuadratureError(f"the endpoint substitution at {e} failed ({exc}) at {format_values(self.values)}"
                                  ) from exc

    def _integral(self, f: Callable, dlog_f: Callable, what: str, record: bool = False,
                  f_float: Callable | None = None) -> tuple:
        """(∫ f over the domain, an estimate of its error). With a closed-form potential: tanh-sinh split at the
        stationary points (and at 0, where a moment's weight may vanish), the stretch from a finite boundary
        where f ~ |x − e|^k, −1 < k ≤ 0, to half-way to the first split point being an :class:`_EndPiece`;
        else a walk outwards over grid segments (:meth:`_walk`)."""
        if not self.closed_form:
            return self._walk(f, dlog_f, what, record, f_float)
        points = sorted({self.x0, *self.maxima, *self.minima, *([mpmath.mpf(0)] if self.lo < 0 < self.hi else [])})
        edges = [self.lo, *points, self.hi]
        ends = []
        with mpmath.workdps(20):
            for i, inner in ((0, 1), (-1, -2)):
                if mpmath.isinf(edges[i]):
                    continue
                far = (edges[i] + edges[inner]) / 2
                end = self._end_piece(edges[i], far, float(mpmath.re(f(far))), dlog_f, 0)
                if end is not None:
                    edges[i] = far
                    ends.append(end)
            try:
                val, err = mpmath.quad(f, edges, error=True, maxdegree=8)
            except (ZeroDivisionError, OverflowError, ValueError) as exc:
                raise QuadratureError(f"quadrature of {what} failed ({exc}) at {format_values(self.values)}") from exc
            size = abs(mpmath.re(val)) + sum(abs(end.total) for end in ends)  # the scale of cancelling parts
            val = mpmath.re(val) + sum(end.total for end in ends)
            err += sum(end.error for end in ends)
        if not mpmath.isfinite(val) or not mpmath.isfinite(err) or err > max(1e-6 * size, 1e-14):
            # the boundary conditions were checked before (density.py): this is the numerics failing
            raise QuadratureError(
                f"quadrature of {what} did not reach its accuracy (value {mpmath.nstr(val, 8)}, error estimate "
                f"{mpmath.nstr(err, 3)}) at {format_values(self.values)}")
        return val, err

    def _walk(self, f, dlog_f, what, record, f_float=None):
        """(∫ f, error estimate) by adaptive Chebyshev pieces on grid segments, walking outwards from the centre
        past every maximum of p. Towards a finite boundary where f ~ |x − e|^k, −1 < k ≤ 16, the rest is one
        :class:`_EndPiece` (a larger k read off near e means f vanishes faster than any power there, as
        e^(−1/x) does, and the tail rule below ends the walk within a few nodes); otherwise the walk goes on
        until the power-law extrapolated tail beyond the last
        node, |f(b)|·|b − boundary| / |k_loc ± 1| with k_loc the local log-slope exponent, is below 1e-17 of
        the integral so far (it counts in the error). The error also holds the cumulative potential's error
        (a relative error of f)."""
        grid, h = self.grid, _H
        if f_float is None:
            def f_float(t):
                return float(mpmath.re(f(mpmath.mpf(t))))
        f_mp = lambda t: mpmath.re(f(t))  # noqa: E731
        total, error, abs_total = 0.0, 0.0, 0.0
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
                    raise QuadratureError(f"quadrature of {what}: the walk towards {boundary} reached the "
                                          f"end of floating-point resolution with a non-negligible tail")
                piece = _piece(f_float, f_mp, a, b)
                total += piece.total
                error += piece.error
                abs_total += abs(piece.total)
                (right if side > 0 else left).append((float(a), float(b), piece))
                j += side
                if (outer - beyond) * side <= 0:
                    continue
                f_outer = f_float(float(outer))
                end = self._end_piece(boundary, outer, f_outer, dlog_f, 16)
                if end is not None:
                    total += end.total
                    error += end.error
                    abs_total += abs(end.total)
                    (right if side > 0 else left).append(
                        (float(min(outer, boundary)), float(max(outer, boundary)), end))
                    break
                kl = float((outer if mpmath.isinf(boundary) else (outer - boundary)) * dlog_f(outer))
                mag = abs(f_outer)
                if mpmath.isinf(boundary):
                    tail = mag * abs(float(outer)) / (-kl - 1) if kl < -1 else math.inf
                else:
                    tail = mag * abs(float(boundary - outer)) / (kl + 1) if kl > -1 else math.inf
                if tail <= _TAIL_RTOL * abs_total:
                    error += tail
                    break
                if abs(j) * h > _U_MAX:
                    raise QuadratureError(
                        f"quadrature of {what} does not converge at {format_values(self.values)}: the tail towards "
                        f"{boundary} is still not negligible at {mpmath.nstr(outer, 5)} (local exponent "
                        f"{kl:.4g})")
        if not math.isfinite(total):
            raise QuadratureError(f"quadrature of {what} gives {total} at {format_values(self.values)}")
        if self.cumulative is not None:
            error += abs_total * sum(piece.error for piece in self.cumulative.pieces.values())
        if record:
            self.segments = list(reversed(left)) + right
        return mpmath.mpf(total), mpmath.mpf(error)
