"""Stationary densities of Itô SDEs: the zero-flux density of a 1-D SDE with its normalisability, and a
detailed-balance test in n-D. One module per concern:

- :mod:`.density` — :func:`stationary_density`, :class:`StationaryDensity` (the result and its convention);
- :mod:`.construct` — the construction: potential, boundary exponents and classes, normalisation;
- :mod:`.symbolic` — the symbolic steps, bounded by work (operation counts), not time: termwise integration
  verified by differentiation, textbook normalisations, rewriting closed-form artefacts;
- :mod:`.conditions` — boundary exponents, Feller's boundary classification, three-valued decisions on conditions;
- :mod:`.quadrature` — numbers where no closed-form normalisation exists (:class:`~.quadrature.NumericDensity`),
  from :mod:`.chebyshev` (grid, Chebyshev pieces, cumulative integral) and :mod:`.endpoint` (a singular finite end);
- :mod:`.scipy_distribution` — the density as a ``scipy.stats`` distribution (``StationaryDensity.to_scipy``);
- :mod:`.detailed_balance` — :func:`detailed_balance`.
"""

from derivations.calculus.stationary.density import DensityFunction, StationaryDensity, stationary_density
from derivations.calculus.stationary.detailed_balance import detailed_balance

__all__ = ["StationaryDensity", "stationary_density", "detailed_balance", "DensityFunction"]
