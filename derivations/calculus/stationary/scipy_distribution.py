"""A stationary density as a ``scipy.stats.rv_continuous`` (:meth:`StationaryDensity.to_scipy`).

The distribution class is built around closures over the numerical model rather than attributes, because scipy
re-creates a distribution from its constructor parameters when it freezes one (``dist(...)``).
"""

from __future__ import annotations

import bisect
import logging
import math

import mpmath
import numpy as np

log = logging.getLogger(__name__)


def scipy_distribution(model, log_z: float, closed_part, rest_part, lo: float, hi: float, cdf_nodes):
    """The distribution with log-density ``closed_part + rest_part − log_z`` on (lo, hi) (scipy imported lazily).

    ``model``: the numerical density (:class:`~derivations.calculus.stationary.quadrature.NumericDensity`: its
    centre, grid, maxima and scalar log-density); ``cdf_nodes`` (edges, cumulative masses, pieces, total) when
    the potential has no closed form, else None (then the cdf integrates from the nearer end of the support).
    """
    from scipy import integrate, stats

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

    # the cdf without cdf_nodes integrates from the nearer end (the default ∫_a^x misses the bulk for far-out x);
    # next to a finite end where p ~ |x − e|^k, k < 0, the model's end piece integrates the power exactly
    lower, upper = model.end_pieces(log_z) if cdf_nodes is None else (None, None)

    def _mass_below(s):
        if lower is None:
            return integrate.quad(pdf_scalar, lo, s, limit=200)[0]
        if s <= lower.e + lower.width:
            return lower.integral(s)
        return lower.total + integrate.quad(pdf_scalar, lower.e + lower.width, s, limit=200)[0]

    def _mass_above(s):
        if upper is None:
            return integrate.quad(pdf_scalar, s, hi, limit=200)[0]
        start = upper.e - upper.width
        if s >= start:
            return upper.total - upper.integral(s)
        return upper.total + integrate.quad(pdf_scalar, s, start, limit=200)[0]

    def near_end(s):
        return ((lower is not None and s < lower.e + lower.width)
                or (upper is not None and s > upper.e - upper.width))

    class StationaryDistribution(stats.rv_continuous):
        """Stationary density of a 1-D Itô SDE (see ``derivations.calculus.stationary``)."""

        _inversion = None
        _inversion_failed = False

        def _logpdf(self, t):
            return logpdf(t)

        def _pdf(self, t):
            return np.exp(logpdf(t))

        if cdf_nodes is None:
            def _cdf_one(self, s):
                return _mass_below(s) if s <= center else 1.0 - _mass_above(s)

            def _sf_one(self, s):
                return _mass_above(s) if s > center else 1.0 - _mass_below(s)

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
                    if b_ - a_ <= 10 * width and not any(a_ < m <= b_ for m in maxima) and not near_end(a_):
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
