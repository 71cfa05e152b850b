"""Numbers for a stationary density without a closed-form normalisation: a walk outwards on a log-scale
grid with Chebyshev (else mpmath) pieces, a cumulative integral, power-law tails, and at a finite boundary
where p ~ |x − e|^k the substitution x − e = ±δ s^m (m(1+k) an integer) that integrates the power exactly.
The pieces are :mod:`.chebyshev`'s, the endpoint substitution :mod:`.endpoint`'s; this module holds
:class:`NumericDensity`, which walks, normalises and integrates moments with them."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Callable, Mapping

import mpmath
import sympy as sp

from derivations.errors import NotNormalisableError, QuadratureError
from derivations.calculus.stationary.chebyshev import Cumulative, Grid, fit_piece, float_function, mp_function
from derivations.calculus.stationary.endpoint import ROUNDING, EndPiece

if TYPE_CHECKING:  # the density this numerical model serves (and which builds it)
    from derivations.calculus.stationary.density import StationaryDensity

log = logging.getLogger(__name__)


def format_values(values: Mapping) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in values.items()) + "}"


_H = 0.125          # grid step in u
_U_MAX = 40.0       # the walk gives up beyond |u| = 40 (x ~ e^40 scale lengths away)
_TAIL_RTOL = 1e-17  # tail mass (power-law extrapolated) neglected below this fraction


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
        self._closed = mp_function((-(sp.log(sd.diffusion) - sd._potential_closed)).subs(values), x)
        self.dlog = mp_function(sd.log_derivative.subs(values), x)
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
        self.grid = Grid(self.lo, self.hi, self.centre, scale)
        closed_float, _ = float_function((-(sp.log(sd.diffusion) - sd._potential_closed)).subs(values), x)
        rest = sd._potential_rest.subs(values)
        self.closed_form = rest == 0
        self.rest_expr = rest
        self.cumulative = None
        self.segments: list = []  # (a, b, piece) of the normalising walk, left to right
        if not self.closed_form:
            self.cumulative = Cumulative(*float_function(rest, x), self.grid, _H)
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
        grid = Grid(self.lo, self.hi, self.x0)
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
        return log_z, "quadrature", float(error / z) + ROUNDING * (1 + abs(float(log_z)))

    def integrate(self, f: Callable, dlog_f: Callable, what: str, record: bool = False,
                  f_float: Callable | None = None):
        """∫ f over the domain (``dlog_f`` = (log f)′); see :meth:`_integral`."""
        return self._integral(f, dlog_f, what, record, f_float)[0]

    def end_pieces(self, log_z) -> tuple:
        """(lower, upper): :class:`EndPiece` of the normalised density over [lo, midpoint to the centre] and
        [midpoint, hi] where that end is finite and singular-integrable, else None (the cdf's exact ends)."""
        out = []
        for e in (self.lo, self.hi):
            far = None if mpmath.isinf(e) else (e + self.centre) / 2
            f_far = 0.0 if far is None else float(mpmath.exp(self.log_un(far) - log_z))
            out.append(None if far is None else self._end_piece(e, far, f_far, self.dlog, 16))
        return tuple(out)

    def _end_piece(self, e, far, f_far: float, dlog_f: Callable, k_max: float) -> EndPiece | None:
        """The :class:`EndPiece` on [e, far] when e is finite, f(far) ≠ 0 and the exponent k of f at e is in
        (−1, k_max]; else None. The stretch may not reach x = 0, where a moment's weight x^j vanishes."""
        if mpmath.isinf(e) or not 0 < abs(f_far) < math.inf or (e != 0 and e * far <= 0):
            return None
        try:
            k = EndPiece.exponent(dlog_f, e, far)
            if not -1 < k <= k_max:
                return None
            return EndPiece(f_far, dlog_f, e, far, k)
        except (ValueError, ZeroDivisionError, OverflowError, TypeError) as exc:
            raise QuadratureError(f"the endpoint substitution at {e} failed ({exc}) at {format_values(self.values)}"
                                  ) from exc

    def _integral(self, f: Callable, dlog_f: Callable, what: str, record: bool = False,
                  f_float: Callable | None = None) -> tuple:
        """(∫ f over the domain, an estimate of its error). With a closed-form potential: tanh-sinh split at the
        stationary points (and at 0, where a moment's weight may vanish), the stretch from a finite boundary
        where f ~ |x − e|^k, −1 < k ≤ 0, to half-way to the first split point being an :class:`EndPiece`;
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
        :class:`EndPiece` (a larger k read off near e means f vanishes faster than any power there, as
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
                piece = fit_piece(f_float, f_mp, a, b)
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
