"""Estimators with error bars for Monte Carlo output of SGD simulations.

The data this module is written for: ``R`` independent replicas of an SGD (or
SDE) run, each a *correlated* time series of ``T`` recorded values.  Every
estimator returns its value together with a standard error and states the
formula and the assumptions behind that error.

Conventions
-----------
* Integrated autocorrelation time (Sokal's convention)
  ``tau_int = 1 + 2 sum_{t>=1} rho(t)``, so that the variance of the mean of a
  stationary chain of length ``T`` is ``Var(x) * tau_int / T`` for ``T >> tau_int``
  and the effective sample size is ``T / tau_int``.  For an AR(1) chain
  ``x_{k+1} = phi x_k + noise`` this gives ``tau_int = (1 + phi) / (1 - phi)``.
* A z-score is ``z = (measured - predicted) / stderr``.  The default pass
  threshold ``|z| <= 5`` has, for a normally distributed estimator with a known
  standard error, a two-sided false-failure probability of
  ``2 (1 - Phi(5)) ~= 5.7e-7`` per entry (:data:`FALSE_FAILURE_PER_ENTRY_AT_5_SIGMA`).
  When the standard error is itself estimated from ``nu`` degrees of freedom
  (``nu = n_batches - 1`` for batch means, ``R - 1`` across replicas) ``z`` is
  closer to a Student-t variable and the tail is much heavier:
  ``2 P(t_31 > 5) ~= 2.1e-5``, ``2 P(t_15 > 5) ~= 1.6e-4``.  Pass ``dof`` to
  :func:`false_failure_probability` for the honest number; :class:`Estimate`
  carries ``dof`` for this purpose.

Everything scipy/numpy already provide is used from there: FFTs
(``scipy.fft``), Kolmogorov–Smirnov (``scipy.stats.kstest``), normal and t
quantiles, and the bootstrap (``scipy.stats.bootstrap``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import numpy as np
from scipy import fft as sp_fft
from scipy import stats as sp_stats

from derivations.conventions import Z_THRESHOLD
from derivations.errors import ParameterError

__all__ = [
    "DEFAULT_Z_THRESHOLD",
    "FALSE_FAILURE_PER_ENTRY_AT_5_SIGMA",
    "Estimate",
    "KSResult",
    "PowerLawFit",
    "batch_means",
    "effective_sample_size",
    "extrapolate_to_zero",
    "false_failure_probability",
    "integrated_autocorrelation_time",
    "ks_test",
    "max_abs_z",
    "power_law_fit",
    "pvalue_z",
    "replica_bootstrap",
    "replica_mean",
    "thin_to_independent",
    "time_and_replica_mean",
    "verdict",
    "z_scores",
]

#: Default pass threshold on ``|z|`` used throughout the package.
DEFAULT_Z_THRESHOLD = Z_THRESHOLD

#: Two-sided tail probability ``P(|Z| > 5) = 2 (1 - Phi(5)) ~= 5.733e-7`` of a
#: standard normal ``Z``: the probability that one entry of a *correct*
#: prediction fails the ``|z| <= 5`` test when the estimator is normal and its
#: standard error is exact.  For ``n`` independent entries the test as a whole
#: fails falsely with probability ``1 - (1 - p)^n`` (see
#: :func:`false_failure_probability`); by Šidák's inequality this is also an
#: upper bound for jointly normal entries with arbitrary correlations.
FALSE_FAILURE_PER_ENTRY_AT_5_SIGMA = float(2.0 * sp_stats.norm.sf(5.0))


#: integrated_autocorrelation_time warns when a chain is shorter than this many tau_int
_MIN_LENGTH_IN_TAU = 50.0


# --------------------------------------------------------------------------- helpers
def _float_array(x: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must be numeric array-like, got {type(x).__name__}") from exc
    return arr


def _scalarise(a: np.ndarray) -> Any:
    """0-d arrays become numpy scalars; other arrays are returned unchanged."""
    a = np.asarray(a)
    return a[()] if a.ndim == 0 else a


def _time_first(chain: Any, axis: int, name: str = "chain") -> np.ndarray:
    x = _float_array(chain, name)
    if x.ndim == 0:
        raise ParameterError(f"{name} must have at least one axis (time), got a scalar")
    try:
        return np.moveaxis(x, axis, 0)
    except np.exceptions.AxisError as exc:
        raise ParameterError(f"axis={axis} is out of range for {name} of shape {x.shape}") from exc


def _check_positive_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


# --------------------------------------------------------------------------- Estimate
@dataclass(frozen=True, eq=False)
class Estimate:
    """A Monte Carlo estimate with its standard error.

    Attributes
    ----------
    value, stderr:
        Scalars (numpy float scalars) or arrays of broadcast-compatible shape.
        ``stderr`` is the estimated standard deviation of ``value`` (not of
        the samples); it must be non-negative (NaN is allowed and propagates).
    dof:
        Optional number of degrees of freedom behind ``stderr`` (e.g.
        ``n_batches - 1`` for batch means, ``R - 1`` across replicas); ``None``
        when unknown.  Used only to report an honest false-failure probability
        (Student-t rather than normal tails).

    ``eq=False``: equality is identity, because element-wise comparison of
    array fields has no single truth value.
    """

    value: Any
    stderr: Any
    dof: int | None = None

    def __post_init__(self) -> None:
        value = _float_array(self.value, "value")
        stderr = _float_array(self.stderr, "stderr")
        try:
            np.broadcast_shapes(value.shape, stderr.shape)
        except ValueError as exc:
            raise ParameterError(
                f"value shape {value.shape} and stderr shape {stderr.shape} do not broadcast"
            ) from exc
        if np.any(stderr < 0):  # NaN compares False and is allowed
            raise ParameterError("stderr must be >= 0")
        if self.dof is not None:
            _check_positive_int(self.dof, "dof", 1)
        object.__setattr__(self, "value", _scalarise(value))
        object.__setattr__(self, "stderr", _scalarise(stderr))

    def z(self, predicted: Any) -> Any:
        """z-score ``(value - predicted) / stderr``, element-wise.

        Where ``stderr == 0`` the result is ``0`` if ``value == predicted`` and
        ``±inf`` (sign of ``value - predicted``) otherwise.  NaN inputs give NaN.
        """
        return z_scores(self, predicted)

    def __repr__(self) -> str:
        dof = "" if self.dof is None else f", dof={self.dof}"
        return f"Estimate(value={self.value!r}, stderr={self.stderr!r}{dof})"


def z_scores(estimate: Estimate, predicted: Any) -> Any:
    """Element-wise ``z = (estimate.value - predicted) / estimate.stderr``.

    ``stderr == 0`` is guarded: ``0`` where the value equals the prediction,
    ``±inf`` elsewhere.  NaN in value, stderr or prediction gives NaN.
    """
    value = np.asarray(estimate.value, dtype=float)
    stderr = np.asarray(estimate.stderr, dtype=float)
    pred = _float_array(predicted, "predicted")
    try:
        value, stderr, pred = np.broadcast_arrays(value, stderr, pred)
    except ValueError as exc:
        raise ParameterError(
            f"predicted shape {pred.shape} does not broadcast with the estimate's shape {value.shape}"
        ) from exc
    with np.errstate(invalid="ignore", over="ignore"):
        diff = value - pred
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = diff / stderr
    zero = stderr == 0
    guarded = np.where(diff == 0, 0.0, np.copysign(np.inf, diff))
    guarded = np.where(np.isnan(diff), np.nan, guarded)
    out = np.where(zero, guarded, out)
    return _scalarise(out)


def max_abs_z(estimate: Estimate, predicted: Any) -> float:
    """``max |z|`` over all entries; NaN entries count as ``inf`` (they never pass)."""
    z = np.abs(np.asarray(z_scores(estimate, predicted), dtype=float))
    if z.size == 0:
        raise ParameterError("max_abs_z of an empty estimate")
    z = np.where(np.isnan(z), np.inf, z)
    return float(np.max(z))


def false_failure_probability(threshold: float = DEFAULT_Z_THRESHOLD, n_entries: int = 1,
                              dof: int | None = None) -> float:
    """Probability that a correct prediction fails a ``|z| <= threshold`` test.

    ``p = 2 (1 - Phi(threshold))`` per entry (two-sided normal tail; with
    ``dof`` given, the Student-t tail ``2 P(t_dof > threshold)`` instead, which
    is the right model when the standard error is estimated from ``dof``
    degrees of freedom), and ``1 - (1 - p)^n`` for ``n_entries`` independent
    entries (Šidák; for jointly normal, arbitrarily correlated entries it is an
    upper bound, and it never exceeds the Bonferroni bound ``n p``).

    ``false_failure_probability(5.0, 1) ~= 5.73e-7``.
    """
    threshold = float(threshold)
    if not threshold > 0 or not math.isfinite(threshold):
        raise ParameterError(f"threshold must be a finite positive number, got {threshold}")
    n = _check_positive_int(n_entries, "n_entries", 1)
    if dof is None:
        p = 2.0 * sp_stats.norm.sf(threshold)
    else:
        p = 2.0 * sp_stats.t.sf(threshold, _check_positive_int(dof, "dof", 1))
    # 1 - (1 - p)^n without cancellation for tiny p
    return float(-math.expm1(n * math.log1p(-p)))


def verdict(z: Any, threshold: float = DEFAULT_Z_THRESHOLD) -> bool:
    """``True`` (pass) when every ``|z| <= threshold``; NaN never passes.

    For a correct prediction with normal errors the probability of a ``False``
    verdict is :func:`false_failure_probability(threshold, z.size)
    <false_failure_probability>` (``~5.7e-7`` per entry at the default 5).
    """
    threshold = float(threshold)
    if not threshold > 0:
        raise ParameterError(f"threshold must be positive, got {threshold}")
    za = np.abs(_float_array(z, "z"))
    if za.size == 0:
        raise ParameterError("verdict of an empty z array")
    return bool(np.all(za <= threshold))  # NaN <= t is False


# --------------------------------------------------------------------------- chains
def batch_means(chain: Any, n_batches: int = 32, axis: int = 0) -> Estimate:
    """Mean of a correlated chain with its standard error by non-overlapping batch means.

    The time axis (``axis``) of length ``T`` is cut into ``n_batches``
    consecutive batches of length ``b = T // n_batches``; the ``T mod
    n_batches`` *leading* samples are dropped (they are the ones nearest the
    transient).  With batch means ``m_j``::

        value  = (1/n) sum_j m_j
        stderr = sqrt( sum_j (m_j - value)^2 / (n (n - 1)) )

    Assumptions: the chain is stationary, and the batch length ``b`` is much
    longer than the integrated autocorrelation time, so that the batch means
    are nearly independent.  If ``b`` is comparable to ``tau_int`` the
    standard error is biased *low*.  With ``n`` batches the error itself has
    ``n - 1`` degrees of freedom (``dof`` of the result).  All other axes are
    vectorised over (each gets its own estimate).

    Raises :class:`ParameterError` when ``n_batches < 2`` or the chain is
    shorter than ``n_batches``.
    """
    n = _check_positive_int(n_batches, "n_batches", 2)
    x = _time_first(chain, axis)
    T = x.shape[0]
    if T < n:
        raise ParameterError(
            f"chain of length {T} along axis {axis} is too short for n_batches={n} "
            f"(need at least one sample per batch; use a longer chain or fewer batches)"
        )
    b = T // n
    used = x[T - n * b:]
    means = used.reshape((n, b) + x.shape[1:]).mean(axis=1)
    value = means.mean(axis=0)
    stderr = means.std(axis=0, ddof=1) / math.sqrt(n)
    return Estimate(value, stderr, dof=n - 1)


def _autocorrelation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised autocorrelation rho(t), t = 0..T-1, of a time-first array (FFT, biased 1/T)."""
    T = x.shape[0]
    centred = x - x.mean(axis=0)
    nfft = sp_fft.next_fast_len(2 * T, real=True)
    f = sp_fft.rfft(centred, n=nfft, axis=0)
    acov = sp_fft.irfft(f * np.conj(f), n=nfft, axis=0)[:T] / T
    var = acov[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = acov / var
    return rho, var


def integrated_autocorrelation_time(chain: Any, axis: int = 0, c: float = 5.0) -> Any:
    """Integrated autocorrelation time by Sokal's automatic windowing.

    The normalised autocorrelation ``rho(t)`` is computed by FFT (biased
    estimator ``C(t) = (1/T) sum_k (x_k - xbar)(x_{k+t} - xbar)``).  Then::

        tau(M)  = 1 + 2 sum_{t=1}^{M} rho(t)
        tau_int = tau(M*),  M* = smallest M with M >= c * tau(M)

    (A. D. Sokal, *Monte Carlo methods in statistical mechanics*, 1997).
    ``c = 5`` suits chains with a roughly exponential autocorrelation; use a
    larger ``c`` for slowly decaying ones.  The estimate is reliable when
    ``T`` is at least 50 ``tau_int``; a :class:`RuntimeWarning` is issued for
    any series shorter than that (the estimate is then usually too small: the
    biased autocorrelation of a centred series sums to ``tau(T-1) = 0``).

    Vectorised over all axes other than ``axis``.  A constant series gets
    ``tau_int = 1``; a series containing NaN/inf gets NaN.  For strongly
    anti-correlated chains ``tau_int < 1`` is possible (and meaningful).
    """
    c = float(c)
    if not c > 0:
        raise ParameterError(f"c must be positive, got {c}")
    x = _time_first(chain, axis)
    T = x.shape[0]
    if T < 2:
        raise ParameterError(f"chain must have at least 2 samples along axis {axis}, got {T}")
    finite = np.all(np.isfinite(x), axis=0)
    x = np.where(finite, x, 0.0)
    rho, var = _autocorrelation(x)
    tau = 1.0 + 2.0 * np.concatenate([np.zeros((1,) + rho.shape[1:]), np.cumsum(rho[1:], axis=0)])
    M = np.arange(T).reshape((T,) + (1,) * (x.ndim - 1))
    ok = M >= c * tau
    found = np.any(ok, axis=0)
    constant = var == 0
    idx = np.where(found, np.argmax(ok, axis=0), T - 1)
    out = np.take_along_axis(tau, idx[np.newaxis, ...], axis=0)[0]
    out = np.where(constant, 1.0, out)
    out = np.where(finite, out, np.nan)
    with np.errstate(invalid="ignore"):
        short = (T < _MIN_LENGTH_IN_TAU * out) | ~found
    if np.any(short & finite & ~constant):
        warnings.warn(
            f"integrated_autocorrelation_time: chain of length {T} is too short for a reliable "
            f"estimate (tau_int ~ {float(np.nanmax(np.where(short, out, np.nan))):.3g}; "
            f"need T >= {_MIN_LENGTH_IN_TAU:g} tau_int); tau_int is probably underestimated",
            RuntimeWarning,
            stacklevel=2,
        )
    return _scalarise(out)


def effective_sample_size(chain: Any, axis: int = 0, c: float = 5.0) -> Any:
    """Effective number of independent samples ``T / tau_int`` (vectorised like
    :func:`integrated_autocorrelation_time`).  ``inf`` where ``tau_int <= 0``."""
    x = _time_first(chain, axis)
    tau = np.asarray(integrated_autocorrelation_time(x, axis=0, c=c), dtype=float)
    with np.errstate(divide="ignore"):
        ess = np.where(tau > 0, x.shape[0] / np.where(tau > 0, tau, 1.0), np.inf)
    ess = np.where(np.isnan(tau), np.nan, ess)
    return _scalarise(ess)


def thin_to_independent(chain: Any, axis: int = 0, factor: float = 2.0, c: float = 5.0,
                        return_stride: bool = False) -> Any:
    """Keep every ``stride``-th sample so that the kept ones are nearly independent.

    ``stride = max(1, ceil(factor * tau_int))``, with ``tau_int`` from
    :func:`integrated_autocorrelation_time` (the largest over all series when
    the chain has extra axes, so one stride serves every series).  For an
    exponentially decaying autocorrelation ``tau_int ~= 2 tau_exp``, so a stride
    of ``factor * tau_int`` leaves a lag correlation ``~exp(-2 factor)``:
    ``0.018`` at the default ``factor = 2`` (``0.14`` at ``factor = 1``).

    Returns the thinned array (same axis order), or ``(thinned, stride)`` when
    ``return_stride``.
    """
    factor = float(factor)
    if not factor > 0:
        raise ParameterError(f"factor must be positive, got {factor}")
    x = _float_array(chain, "chain")
    xt = _time_first(x, axis)
    tau = np.asarray(integrated_autocorrelation_time(xt, axis=0, c=c), dtype=float)
    if np.any(np.isnan(tau)):
        raise ParameterError("chain contains non-finite values; cannot estimate its autocorrelation time")
    stride = max(1, int(math.ceil(factor * float(np.max(tau)))))
    thinned = np.moveaxis(xt[::stride], 0, axis)
    return (thinned, stride) if return_stride else thinned


# --------------------------------------------------------------------------- replicas
def extrapolate_to_zero(x: Any, estimates: list[Estimate], degree: int = 1) -> tuple[Estimate, np.ndarray]:
    """Richardson extrapolation of estimates measured at ``x`` (e.g. learning rates) to x → 0.

    Entry by entry, a weighted least-squares polynomial of ``degree`` in x (weights 1/stderr²) is fitted to the
    values; returns the intercept with its propagated standard error (the coefficient covariance (AᵀWA)⁻¹,
    standard errors taken as exact) and the fit's χ² per entry (len(x) − degree − 1 degrees of freedom), which
    tells whether the polynomial describes the data. Needs more points than ``degree``.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or len(estimates) != x.size or x.size <= degree:
        raise ParameterError(f"extrapolate_to_zero needs one estimate per x and more than {degree} points")
    values = np.stack([np.ravel(np.asarray(e.value, dtype=float)) for e in estimates])  # (K, n)
    errors = np.stack([np.ravel(np.broadcast_to(np.asarray(e.stderr, dtype=float), np.shape(e.value))) for e in estimates])
    if np.any(errors <= 0):
        raise ParameterError("extrapolate_to_zero needs positive standard errors")
    A = np.vander(x, degree + 1, increasing=True)  # columns 1, x, x², ...
    intercept, stderr, chi2 = (np.empty(values.shape[1]) for _ in range(3))
    for j in range(values.shape[1]):
        w = 1.0 / errors[:, j] ** 2
        cov = np.linalg.inv(A.T @ (w[:, None] * A))
        coef = cov @ (A.T @ (w * values[:, j]))
        intercept[j], stderr[j] = coef[0], math.sqrt(cov[0, 0])
        chi2[j] = float(np.sum(w * (values[:, j] - A @ coef) ** 2))
    shape = np.shape(estimates[0].value)
    return Estimate(intercept.reshape(shape), stderr.reshape(shape)), chi2.reshape(shape)


def _standardised(power_sums: np.ndarray) -> np.ndarray:
    """(mean, variance, skewness, excess kurtosis) from the sums (n, Σx, Σx², Σx³, Σx⁴) on the last axis."""
    n, m1, m2, m3, m4 = (power_sums[..., k] / (power_sums[..., 0] if k else 1.0) for k in range(5))
    var = m2 - m1 ** 2
    c3 = m3 - 3 * m1 * m2 + 2 * m1 ** 3
    c4 = m4 - 4 * m1 * m3 + 6 * m1 ** 2 * m2 - 3 * m1 ** 4
    return np.stack([m1, var * n / (n - 1), c3 / var ** 1.5, c4 / var ** 2 - 3.0], axis=-1)


def standardised_moments(samples: Any, n_blocks: int = 32) -> Estimate:
    """Mean, variance, skewness γ₁ = κ₃/κ₂^{3/2} and excess kurtosis γ₂ = κ₄/κ₂² − 3 of ``samples`` (K, R): K
    samples of each of R independent replicas (samples of one replica may be correlated).

    Standard errors (and the O(1/n) bias correction of the ratios): delete-one-block jackknife over
    ``n_blocks`` blocks of replicas, the estimator recomputed from the power sums without each block;
    ``dof = n_blocks − 1``."""
    x = np.asarray(samples, dtype=float)
    if x.ndim != 2:
        raise ParameterError(f"samples must have shape (K, R), got {x.shape}")
    n_blocks = _check_positive_int(n_blocks, "n_blocks", 2)
    if x.shape[1] < n_blocks:
        raise ParameterError(f"need at least n_blocks = {n_blocks} replicas, got {x.shape[1]}")
    blocks = np.stack([np.stack([np.sum(b ** k) if k else b.size for k in range(5)])
                       for b in np.array_split(x, n_blocks, axis=1)])  # (n_blocks, 5)
    return block_jackknife(blocks, _standardised, bias_corrected=True, vectorized=True)


def block_jackknife(blocks: Any, statistic: Callable[[np.ndarray], Any], bias_corrected: bool = False,
                    vectorized: bool = False) -> Estimate:
    """Delete-one-block jackknife of ``statistic`` of the sum of additive block summaries ``blocks`` (K, ...)
    (e.g. power sums or binned moments of K blocks of independent replicas)::

        value  = f(Σ_k b_k)                       (bias_corrected: K f(Σ b) − (K − 1) mean_k f(Σ b − b_k))
        stderr = sqrt((K − 1)/K Σ_k (f(Σ b − b_k) − mean_k f(Σ b − b_k))²),   dof = K − 1.

    ``vectorized``: ``statistic`` maps a stack (K, ...) of sums to the stack of its values in one call.
    """
    blocks = np.asarray(blocks, dtype=float)
    n = blocks.shape[0]
    total = blocks.sum(axis=0)
    full = np.asarray(statistic(total), dtype=float)
    leave_out = (np.asarray(statistic(total - blocks), dtype=float) if vectorized
                 else np.array([statistic(total - block) for block in blocks], dtype=float))
    mean = leave_out.mean(axis=0)
    stderr = np.sqrt((n - 1) / n * np.sum((leave_out - mean) ** 2, axis=0))
    return Estimate(n * full - (n - 1) * mean if bias_corrected else full, stderr, dof=n - 1)


def replica_mean(values: Any, axis: int = 0) -> Estimate:
    """Mean over independent replicas with standard error ``std / sqrt(R)`` (``ddof=1``)::

        value  = (1/R) sum_r v_r
        stderr = sqrt( sum_r (v_r - value)^2 / (R (R - 1)) )

    Assumption: the ``R`` entries along ``axis`` are independent and
    identically distributed (e.g. replicas started from independent seeds).
    No normality is assumed for the standard error itself; ``dof = R - 1``.
    Raises :class:`ParameterError` when ``R < 2``.
    """
    x = _time_first(values, axis, name="values")
    R = x.shape[0]
    if R < 2:
        raise ParameterError(f"replica_mean needs at least 2 replicas along axis {axis}, got {R}")
    return Estimate(x.mean(axis=0), x.std(axis=0, ddof=1) / math.sqrt(R), dof=R - 1)


def replica_bootstrap(statistic: Callable[[np.ndarray], Any], n_replicas: int, n_resamples: int,
                      rng: Any = None) -> Estimate:
    """``statistic`` of all replicas, with the standard deviation of its values over ``n_resamples`` resamples
    of the independent replicas (with replacement) as standard error. ``statistic`` maps an index array into the
    replicas (with repeats) to a value or array; it may be any function of the chosen replicas (a PCA, a fit),
    which a delete-one jackknife of additive summaries (:func:`block_jackknife`) cannot handle."""
    _check_positive_int(n_replicas, "n_replicas", 2)
    _check_positive_int(n_resamples, "n_resamples", 2)
    rng = np.random.default_rng(rng)  # a Generator passes through unchanged
    boots = np.array([statistic(rng.integers(0, n_replicas, n_replicas)) for _ in range(n_resamples)])
    return Estimate(statistic(np.arange(n_replicas)), boots.std(axis=0, ddof=1))


def time_and_replica_mean(samples: Any, n_batches: int = 32, min_replicas: int = 16) -> Estimate:
    """Mean over time and replicas of ``samples`` of shape ``(T, R, ...)``.

    Two estimators, chosen by the number of replicas ``R``:

    * ``R >= min_replicas`` (default 16): each replica is first averaged over
      time, ``v_r = (1/T) sum_t x_{t,r}``, then :func:`replica_mean` is applied
      to the ``v_r``.  Replicas are independent, so ``std(v_r)/sqrt(R)`` is an
      exact (unbiased-variance) standard error of the grand mean *whatever the
      autocorrelation in time*: no batch length or ``tau_int`` enters.
      ``dof = R - 1``; with 16 or more replicas the error of the error is
      small enough (``~1/sqrt(2(R-1))`` relative, <= 18 %).
    * ``R < min_replicas``: too few replicas for their spread to give a
      reliable error, so the time correlation must be used: each replica is
      cut into ``n_batches`` batches (see :func:`batch_means`) and the
      ``n_batches * R`` batch means are pooled as independent samples::

          value  = mean of all batch means
          stderr = std(batch means, ddof=1) / sqrt(n_batches * R)

      This assumes the batch length ``T // n_batches`` is much longer than
      ``tau_int`` (otherwise the error is biased low).  ``dof = n_batches R - 1``.

    Extra trailing axes are vectorised over.  Raises :class:`ParameterError`
    for ``samples.ndim < 2``, ``R < 1``, or a chain too short for ``n_batches``.
    """
    x = _float_array(samples, "samples")
    if x.ndim < 2:
        raise ParameterError(f"samples must have shape (T, R, ...), got shape {x.shape}")
    T, R = x.shape[:2]
    min_replicas = _check_positive_int(min_replicas, "min_replicas", 2)
    if R < 1 or T < 1:
        raise ParameterError(f"samples must have T >= 1 and R >= 1, got shape {x.shape}")
    if R >= min_replicas:
        return replica_mean(x.mean(axis=0), axis=0)
    n = _check_positive_int(n_batches, "n_batches", 1)
    if T < n:
        raise ParameterError(
            f"with R={R} < min_replicas={min_replicas} replicas, batch means are used and "
            f"T={T} time steps are too few for n_batches={n}"
        )
    if n * R < 2:
        raise ParameterError("need n_batches * R >= 2 batch means for a standard error")
    b = T // n
    used = x[T - n * b:]
    means = used.reshape((n, b) + x.shape[1:]).mean(axis=1)  # (n, R, ...)
    pooled = means.reshape((n * R,) + x.shape[2:])
    return Estimate(pooled.mean(axis=0), pooled.std(axis=0, ddof=1) / math.sqrt(n * R), dof=n * R - 1)


# --------------------------------------------------------------------------- distributions
def pvalue_z(pvalue: float) -> float:
    """The |z| of a standard normal with the same two-sided tail probability: |z| <= 5 ⇔ p >= 5.7e-7, so a test
    with a p-value (e.g. KS) is judged at the package's z threshold. p below 1e-300 counts as 1e-300."""
    return float(sp_stats.norm.isf(max(pvalue, 1e-300) / 2))


class KSResult(NamedTuple):
    """Result of :func:`ks_test`: KS statistic ``D``, p-value, number of samples."""

    statistic: float
    pvalue: float
    n: int


def ks_test(samples: Any, cdf: Callable[[np.ndarray], np.ndarray]) -> KSResult:
    """One-sample two-sided Kolmogorov–Smirnov test of ``samples`` against ``cdf``.

    ``D = sup_x |F_n(x) - F(x)|`` with ``F_n`` the empirical CDF; the p-value
    is ``scipy.stats.kstest``'s (exact for small ``n``, asymptotic otherwise).
    ``cdf`` is a vectorised callable (e.g. a lambdified stationary CDF).

    Assumptions: the samples are **independent** and identically distributed
    and ``cdf`` is continuous and fully specified (no parameters fitted to the
    same data).  Correlated samples — consecutive values of one SGD chain —
    make the p-value far too small: thin the chain first with
    :func:`thin_to_independent`, or use one value per independent replica.
    ``samples`` is flattened.
    """
    if not callable(cdf):
        raise ParameterError(f"cdf must be a callable, got {type(cdf).__name__}")
    x = _float_array(samples, "samples").ravel()
    if x.size < 1:
        raise ParameterError("ks_test needs at least one sample")
    if not np.all(np.isfinite(x)):
        raise ParameterError(f"samples contain {np.sum(~np.isfinite(x))} non-finite values")
    res = sp_stats.kstest(x, cdf)
    return KSResult(float(res.statistic), float(res.pvalue), int(x.size))


# --------------------------------------------------------------------------- power laws
@dataclass(frozen=True)
class PowerLawFit:
    """Fit of ``y = prefactor * x**exponent``.

    ``exponent_interval`` is the two-sided ``confidence`` interval (a
    ``(low, high)`` tuple); ``method`` is ``"t"``, ``"normal"`` (known errors)
    or ``"bootstrap"``; ``n_points`` the number of points fitted.
    """

    exponent: float
    exponent_interval: tuple[float, float]
    prefactor: float
    exponent_stderr: float
    confidence: float = 0.95
    method: str = "t"
    n_points: int = 0

    def contains(self, value: float) -> bool:
        """``True`` when ``value`` lies in the closed confidence interval."""
        low, high = self.exponent_interval
        return bool(low <= value <= high)


def _wls_line(lx: np.ndarray, ly: np.ndarray, w: np.ndarray, axis: int = -1):
    """Weighted least-squares slope/intercept/Sxx/chi2 along ``axis`` (vectorised)."""
    W = np.sum(w, axis=axis, keepdims=True)
    xm = np.sum(w * lx, axis=axis, keepdims=True) / W
    ym = np.sum(w * ly, axis=axis, keepdims=True) / W
    dx = lx - xm
    sxx = np.sum(w * dx * dx, axis=axis)
    sxy = np.sum(w * dx * (ly - ym), axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = sxy / sxx
    intercept = np.squeeze(ym, axis=axis) - slope * np.squeeze(xm, axis=axis)
    return slope, intercept, sxx


def power_law_fit(x: Any, y: Any, y_stderr: Any = None, confidence: float = 0.95, *,
                  bootstrap: bool = False, absolute_sigma: bool = False,
                  n_resamples: int = 9999, rng: Any = None) -> PowerLawFit:
    """Fit ``y = A x^alpha`` by least squares of ``log y`` on ``log x``.

    Model: ``log y_i = log A + alpha log x_i + e_i``.  Without ``y_stderr`` the
    fit is ordinary least squares; with it, weighted least squares with
    weights ``w_i = 1 / s_i^2`` where ``s_i = y_stderr_i / y_i`` is the
    *relative* error of ``y_i`` (the first-order standard error of ``log
    y_i``; requires ``y_stderr << y``).  With ``dx_i = log x_i - xbar_w``::

        alpha = sum w dx (log y - ybar_w) / Sxx,      Sxx = sum w dx^2
        s^2   = sum w r_i^2 / (n - 2)                 (r_i the log residuals)
        stderr(alpha) = sqrt(s^2 / Sxx)
        interval = alpha ± t_{(1+confidence)/2, n-2} * stderr(alpha)

    Assumptions: the power law holds exactly over the fitted range (no
    corrections to scaling), ``x`` is error-free, and the log residuals are
    independent and normal with variance proportional to ``1/w_i``; the
    overall scale is estimated from the residuals (``n - 2`` degrees of
    freedom, hence the t quantile).  With ``absolute_sigma=True`` (only with
    ``y_stderr``) the relative errors are taken as exact: ``stderr(alpha) =
    1/sqrt(Sxx)`` and the normal quantile is used.

    ``bootstrap=True`` replaces the interval and standard error by those of
    ``scipy.stats.bootstrap`` (BCa, ``n_resamples``, ``rng``) resampling the
    ``(x, y[, weight])`` points with replacement; the point estimate stays the
    least-squares one.  Resamples with a single distinct ``x`` (no slope) are
    assigned the full-data slope.  The bootstrap makes no normality
    assumption but needs a reasonable number of points (>= ~10; it is refused
    below 5 and under-covers with few points).

    Raises :class:`ParameterError` for non-positive or non-finite ``x``, ``y``,
    mismatched shapes, fewer than 3 points (2 with ``absolute_sigma``),
    fewer than 2 distinct ``x`` values, or ``confidence`` outside (0, 1).
    """
    xr = _float_array(x, "x").ravel()
    yr = _float_array(y, "y").ravel()
    if xr.shape != yr.shape:
        raise ParameterError(f"x and y must have the same number of points, got {xr.size} and {yr.size}")
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ParameterError(f"confidence must lie in (0, 1), got {confidence}")
    for name, arr in (("x", xr), ("y", yr)):
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ParameterError(f"{name} must be finite and > 0 for a power-law (log-log) fit")
    n = xr.size
    if absolute_sigma and y_stderr is None:
        raise ParameterError("absolute_sigma=True requires y_stderr")
    min_points = 2 if absolute_sigma else 3
    if n < min_points:
        raise ParameterError(f"power_law_fit needs at least {min_points} points, got {n}")
    if np.unique(xr).size < 2:
        raise ParameterError("power_law_fit needs at least 2 distinct x values")
    lx, ly = np.log(xr), np.log(yr)
    if y_stderr is None:
        w = np.ones(n)
    else:
        ys = _float_array(y_stderr, "y_stderr")
        ys = np.full(yr.shape, float(ys)) if ys.ndim == 0 else ys.ravel()
        if ys.shape != yr.shape:
            raise ParameterError(f"y_stderr must have one entry per point ({n}), got {ys.size}")
        if not np.all(np.isfinite(ys)) or np.any(ys <= 0):
            raise ParameterError("y_stderr must be finite and > 0")
        w = (yr / ys) ** 2  # 1 / (relative error of y)^2

    slope, intercept, sxx = _wls_line(lx, ly, w)
    slope, intercept, sxx = float(slope), float(intercept), float(sxx)
    resid = ly - intercept - slope * lx
    if absolute_sigma:
        stderr = 1.0 / math.sqrt(sxx)
        q = float(sp_stats.norm.ppf(0.5 + confidence / 2))
        method = "normal"
    else:
        s2 = float(np.sum(w * resid**2)) / (n - 2)
        stderr = math.sqrt(s2 / sxx)
        q = float(sp_stats.t.ppf(0.5 + confidence / 2, n - 2))
        method = "t"
    interval = (slope - q * stderr, slope + q * stderr)

    if bootstrap:
        if n < 5:
            raise ParameterError(f"bootstrap needs at least 5 points (>= 10 recommended), got {n}")
        n_resamples = _check_positive_int(n_resamples, "n_resamples", 100)
        full = slope

        def _slope(bx, by, bw, axis=-1):
            s, _, bsxx = _wls_line(bx, by, bw, axis=axis)
            return np.where(bsxx > 1e-12 * sxx, s, full)

        with warnings.catch_warnings():
            # BCa warns on degenerate jackknife distributions; the result is still returned
            warnings.simplefilter("ignore", category=sp_stats.DegenerateDataWarning)
            res = sp_stats.bootstrap(
                (lx, ly, w), _slope, paired=True, vectorized=True,
                confidence_level=confidence, n_resamples=n_resamples, method="BCa", rng=rng,
            )
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ParameterError("bootstrap interval is not finite (too few or degenerate points)")
        interval = (low, high)
        stderr = float(res.standard_error)
        method = "bootstrap"

    return PowerLawFit(
        exponent=slope,
        exponent_interval=(float(interval[0]), float(interval[1])),
        prefactor=math.exp(intercept),
        exponent_stderr=float(stderr),
        confidence=confidence,
        method=method,
        n_points=n,
    )
