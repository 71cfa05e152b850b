"""Assertion helpers for Monte Carlo tests, in the style of :mod:`numpy.testing`.

Each helper raises :class:`AssertionError` with a readable table when it
fails, and states the probability that it fails although the prediction is
right (the *false-failure probability*), so that a test suite can budget its
flakiness.  Usage errors (negative standard errors, mismatched shapes) raise
:class:`~derivations.errors.ParameterError` instead.

* :func:`assert_mc_agrees` — measured vs predicted within ``z`` standard errors.
* :func:`assert_mc_rejects` — the negative-control twin: a wrong prediction
  must be rejected by the same data at the same threshold.
* :func:`assert_follows_density` — Kolmogorov–Smirnov test against a CDF.
* :func:`assert_confirmed` — a check's result (e.g. of :func:`numerics.verify.user_model.verify`)
  is CONFIRMED: agreement without a floor and every mutant rejected.
* :func:`assert_exponent_in` / :func:`assert_exponent_close` — power-law
  exponent confidence interval vs a range / a value.

Example::

    from numerics.stats import time_and_replica_mean
    from numerics.testing import assert_mc_agrees, assert_mc_rejects

    est = time_and_replica_mean(samples)          # samples: (T, R, d)
    assert_mc_agrees(est, predicted, names=["var w1", "var w2"])
    assert_mc_rejects(est, 2 * predicted)         # negative control
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from derivations.errors import ParameterError

from numerics.stats import (
    DEFAULT_Z_THRESHOLD, Estimate, PowerLawFit, false_failure_probability, ks_test, power_law_fit,
    thin_to_independent,
)

__all__ = [
    "assert_confirmed",
    "assert_exponent_close",
    "assert_exponent_in",
    "assert_follows_density",
    "assert_mc_agrees",
    "assert_mc_rejects",
]

#: At most this many rows are printed in a failure table (failing rows first).
MAX_TABLE_ROWS = 25


# --------------------------------------------------------------------------- internals
def _unpack(measured: Any, stderr: Any, predicted: Any, pred_name: str):
    """Accept ``(Estimate, predicted)`` as well as ``(measured, stderr, predicted)``.

    With an :class:`Estimate` first, the prediction may be passed as the second
    positional argument (``assert_mc_agrees(est, predicted)``) or by keyword.
    """
    dof = None
    if isinstance(measured, Estimate):
        if predicted is None:
            if stderr is None:
                raise TypeError(f"missing the {pred_name}")
            predicted, stderr = stderr, None
        elif stderr is not None:
            raise TypeError(
                f"pass either an Estimate and the {pred_name}, or measured, stderr and {pred_name}; not both"
            )
        measured, stderr, dof = measured.value, measured.stderr, measured.dof
    elif stderr is None or predicted is None:
        raise TypeError(f"need measured, stderr and {pred_name} (or an Estimate and the {pred_name})")
    try:
        m = np.asarray(measured, dtype=float)
        s = np.asarray(stderr, dtype=float)
        p = np.asarray(predicted, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"measured, stderr and {pred_name} must be numeric") from exc
    try:
        m, s, p = np.broadcast_arrays(m, s, p)
    except ValueError as exc:
        raise ParameterError(
            f"shapes do not broadcast: measured {m.shape}, stderr {s.shape}, {pred_name} {p.shape}"
        ) from exc
    if np.any(s < 0):
        raise ParameterError("stderr must be >= 0")
    if m.size == 0:
        raise ParameterError("nothing to compare (empty arrays)")
    return m, s, p, dof


def _check_threshold(z: float, rel_floor: float) -> tuple[float, float]:
    z = float(z)
    rel_floor = float(rel_floor)
    if not (z > 0 and math.isfinite(z)):
        raise ParameterError(f"z must be a finite positive number, got {z}")
    if not (rel_floor >= 0 and math.isfinite(rel_floor)):
        raise ParameterError(f"rel_floor must be a finite number >= 0, got {rel_floor}")
    return z, rel_floor


def _row_names(shape: tuple[int, ...], names: Sequence[str] | None) -> list[str]:
    n = int(np.prod(shape, dtype=int))
    if names is not None:
        names = [str(k) for k in (np.ravel(np.asarray(names, dtype=object)))]
        if len(names) != n:
            raise ParameterError(f"names has {len(names)} entries but there are {n} quantities")
        return names
    if shape == ():
        return ["value"]
    return [f"[{', '.join(str(i) for i in idx)}]" for idx in np.ndindex(shape)]


def _fmt(v: float) -> str:
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.6g}"


def _table(names: list[str], m, s, p, zs, bad, header_pred: str = "predicted") -> str:
    """Aligned text table; failing rows are marked with ``*`` and listed first if truncated."""
    rows_idx = list(range(len(names)))
    truncated = 0
    if len(rows_idx) > MAX_TABLE_ROWS:
        flagged = [i for i in rows_idx if bad[i]]
        others = [i for i in rows_idx if not bad[i]]
        keep = (flagged + others)[:MAX_TABLE_ROWS]
        truncated = len(rows_idx) - len(keep)
        rows_idx = sorted(keep)
    header = ["quantity", header_pred, "measured", "stderr", "z"]
    body = [
        [names[i], _fmt(p[i]), _fmt(m[i]), _fmt(s[i]), _fmt(zs[i]) if not np.isnan(zs[i]) else "nan"]
        for i in rows_idx
    ]
    widths = [max(len(r[c]) for r in [header] + body) for c in range(len(header))]

    def line(cells, mark=" "):
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(w) for cell, w in zip(cells[1:], widths[1:])]
        return f"{mark} " + "  ".join([first] + rest)

    out = [line(header), "  " + "  ".join("-" * w for w in widths)]
    for r, i in zip(body, rows_idx):
        out.append(line(r, "*" if bad[i] else " "))
    if truncated:
        out.append(f"  ... {truncated} more rows not shown")
    return "\n".join(out)


def _zs(m, s, p):
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        diff = m - p
        z = diff / s
    guarded = np.where(diff == 0, 0.0, np.copysign(np.inf, diff))
    z = np.where(s == 0, np.where(np.isnan(diff), np.nan, guarded), z)
    return z


def _prefix(label: str) -> str:
    return f"{label}: " if label else ""


# --------------------------------------------------------------------------- MC vs prediction
def assert_mc_agrees(measured: Any, stderr: Any = None, predicted: Any = None,
                     z: float = DEFAULT_Z_THRESHOLD, rel_floor: float = 0.0,
                     names: Sequence[str] | None = None, label: str = "") -> None:
    """Assert that Monte Carlo measurements agree with predictions within error bars.

    Passes when, for every entry (after broadcasting),
    ``|measured - predicted| <= max(z * stderr, rel_floor * |predicted|)``
    and all three numbers are finite (a NaN or infinite entry always fails).
    ``rel_floor`` is a relative tolerance for known systematic errors (for
    instance the ``O(eta)`` error of a continuum approximation); it only ever
    widens the acceptance region.

    Call as ``assert_mc_agrees(measured, stderr, predicted)`` or, with an
    :class:`~numerics.stats.Estimate`, ``assert_mc_agrees(est, predicted)``.

    False-failure probability: if the prediction is right and each measured
    value is normal with standard deviation ``stderr``, one entry fails with
    probability ``p = 2 (1 - Phi(z))`` (``5.7e-7`` at ``z = 5``) and the whole
    assertion with ``1 - (1 - p)^n`` for ``n`` entries (Šidák; an upper bound
    for correlated normal entries; ``rel_floor > 0`` only lowers it).  When
    ``stderr`` is itself estimated from few degrees of freedom the tails are
    heavier (Student-t; ``2.1e-5`` per entry at ``z = 5`` with 31 dof); the
    failure message reports this too when the :class:`Estimate` carries
    ``dof``.  The probability is stated in the first line of the message.

    Raises
    ------
    AssertionError
        With a table ``quantity | predicted | measured | stderr | z``; rows
        that fail are marked ``*``.
    ParameterError
        For negative ``stderr``, non-broadcasting shapes, bad ``z``/``rel_floor``
        or a ``names`` list of the wrong length.
    """
    __tracebackhide__ = True
    m, s, p, dof = _unpack(measured, stderr, predicted, "predicted")
    z, rel_floor = _check_threshold(z, rel_floor)
    shape = m.shape
    labels = _row_names(shape, names)
    mf, sf, pf = m.ravel(), s.ravel(), p.ravel()
    finite = np.isfinite(mf) & np.isfinite(sf) & np.isfinite(pf)
    with np.errstate(invalid="ignore", over="ignore"):
        tol = np.maximum(z * sf, rel_floor * np.abs(pf))
        ok = finite & (np.abs(mf - pf) <= tol)
    if np.all(ok):
        return
    n = mf.size
    pff = false_failure_probability(z, n)
    extra = ""
    if dof is not None:
        extra = f"; {false_failure_probability(z, n, dof=dof):.2g} with Student-t tails, dof={dof}"
    floor = f" or {rel_floor:g}·|predicted|" if rel_floor > 0 else ""
    first = (
        f"{_prefix(label)}Monte Carlo disagrees with prediction: {int(np.sum(~ok))} of {n} entries "
        f"outside {z:g}·stderr{floor} (false-failure probability of this test "
        f"{pff:.2g} for {n} normal entries at |z| > {z:g}{extra})"
    )
    zs = _zs(mf, sf, pf)
    raise AssertionError(first + "\n" + _table(labels, mf, sf, pf, zs, ~ok))


def assert_mc_rejects(measured: Any, stderr: Any = None, wrong_prediction: Any = None,
                      z: float = DEFAULT_Z_THRESHOLD, rel_floor: float = 0.0,
                      names: Sequence[str] | None = None, label: str = "") -> None:
    """Negative control: assert that the data *reject* a plausible wrong prediction.

    Passes when at least one entry has
    ``|measured - wrong_prediction| > max(z * stderr, rel_floor * |wrong_prediction|)``
    with all numbers finite, i.e. when :func:`assert_mc_agrees` with the same
    arguments would fail.  Non-finite entries never count as a rejection
    (garbage data must not pass a negative control).  Use the same ``z`` and
    ``rel_floor`` as the positive test: the control shows that the test has
    the power to tell the right prediction from the wrong one.

    Call as ``assert_mc_rejects(measured, stderr, wrong)`` or
    ``assert_mc_rejects(est, wrong)``.

    The probability that this assertion fails depends on the distance between
    the wrong prediction and the truth in units of ``stderr`` (its power), not
    on ``z`` alone, so no false-failure probability is stated; a failure means
    the data are too noisy or the "wrong" prediction is not wrong enough.

    Raises
    ------
    AssertionError
        With the table ``quantity | wrong prediction | measured | stderr | z``
        when no entry is rejected.
    ParameterError
        As for :func:`assert_mc_agrees`.
    """
    __tracebackhide__ = True
    m, s, p, _ = _unpack(measured, stderr, wrong_prediction, "wrong_prediction")
    z, rel_floor = _check_threshold(z, rel_floor)
    labels = _row_names(m.shape, names)
    mf, sf, pf = m.ravel(), s.ravel(), p.ravel()
    finite = np.isfinite(mf) & np.isfinite(sf) & np.isfinite(pf)
    with np.errstate(invalid="ignore", over="ignore"):
        tol = np.maximum(z * sf, rel_floor * np.abs(pf))
        rejected = finite & (np.abs(mf - pf) > tol)
    if np.any(rejected):
        return
    n = mf.size
    floor = f" or {rel_floor:g}·|wrong prediction|" if rel_floor > 0 else ""
    first = (
        f"{_prefix(label)}negative control failed: none of the {n} entries rejects the wrong "
        f"prediction at {z:g}·stderr{floor} (the data cannot tell it from the right one)"
    )
    zs = _zs(mf, sf, pf)
    raise AssertionError(first + "\n" + _table(labels, mf, sf, pf, zs, ~rejected, "wrong prediction"))


# --------------------------------------------------------------------------- densities
def assert_follows_density(samples: Any, cdf: Callable[[np.ndarray], np.ndarray],
                           alpha: float = 1e-3, thin: bool = False, label: str = "") -> None:
    """Assert that ``samples`` follow the distribution with CDF ``cdf`` (Kolmogorov–Smirnov).

    Fails when the two-sided KS p-value (``scipy.stats.kstest``) is below
    ``alpha``.  For **independent** samples and a correct, fully specified
    continuous ``cdf``, the false-failure probability is exactly ``alpha``
    (default ``1e-3``).  Correlated samples (one SGD chain) make it much
    larger: pass ``thin=True`` to thin a 1-D chain with
    :func:`~numerics.stats.thin_to_independent` first, or use one sample per
    independent replica.

    Raises
    ------
    AssertionError
        Stating ``D``, the p-value, ``n`` and ``alpha``.
    ParameterError
        For ``alpha`` outside (0, 1), non-finite samples, a non-callable ``cdf``.
    """
    __tracebackhide__ = True
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ParameterError(f"alpha must lie in (0, 1), got {alpha}")
    x = np.asarray(samples, dtype=float)
    stride = 1
    if thin:
        if x.ndim != 1:
            raise ParameterError(f"thin=True needs a 1-D chain, got shape {x.shape}")
        x, stride = thin_to_independent(x, return_stride=True)
    res = ks_test(x, cdf)
    if res.pvalue >= alpha:
        return
    thinned = f" (chain thinned with stride {stride})" if thin else ""
    raise AssertionError(
        f"{_prefix(label)}samples do not follow the density: KS p-value {res.pvalue:.3g} < alpha = {alpha:g} "
        f"(alpha is the false-failure probability for independent samples)\n"
        f"  KS statistic D = {res.statistic:.6g}\n"
        f"  n              = {res.n}{thinned}\n"
        f"  p-value        = {res.pvalue:.3g}\n"
        f"  alpha          = {alpha:g}"
    )


# --------------------------------------------------------------------------- exponents
def _fit_message(fit: PowerLawFit, target_name: str, target: str) -> str:
    lo, hi = fit.exponent_interval
    rows = [
        ("fitted exponent", f"{fit.exponent:.6g} ± {fit.exponent_stderr:.3g} (stderr)"),
        (f"{fit.confidence:.3g} interval", f"[{lo:.6g}, {hi:.6g}]  ({fit.method}, {fit.n_points} points)"),
        (target_name, target),
        ("prefactor", f"{fit.prefactor:.6g}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)} = {v}" for k, v in rows)


def assert_exponent_in(x: Any, y: Any, low: float, high: float, confidence: float = 0.99,
                       y_stderr: Any = None, bootstrap: bool = False, rng: Any = None,
                       label: str = "") -> PowerLawFit:
    """Assert that the power-law exponent of ``y ~ x^alpha`` is compatible with ``[low, high]``.

    Semantics: fits with :func:`~numerics.stats.power_law_fit` and **passes
    when the fitted confidence interval intersects** ``[low, high]`` (the data
    do not exclude every exponent in the range).  It does *not* require the
    interval to lie inside the range: a noisy fit cannot fail this way, so
    pair it with a check on the width when that matters.

    False-failure probability: if the true exponent lies in ``[low, high]``,
    the interval can only miss the whole range by missing the true value, so
    the probability is at most ``1 - confidence`` (``0.01`` by default) —
    under the fit's assumptions (exact power law over the fitted ``x`` range,
    independent log-normal scatter).

    Returns the :class:`~numerics.stats.PowerLawFit` on success.
    """
    __tracebackhide__ = True
    low, high = float(low), float(high)
    if not low <= high:
        raise ParameterError(f"need low <= high, got [{low}, {high}]")
    fit = power_law_fit(x, y, y_stderr=y_stderr, confidence=confidence, bootstrap=bootstrap, rng=rng)
    lo, hi = fit.exponent_interval
    if lo <= high and hi >= low:
        return fit
    raise AssertionError(
        f"{_prefix(label)}power-law exponent outside the expected range: the {fit.confidence:.3g} "
        f"confidence interval [{lo:.6g}, {hi:.6g}] does not intersect [{low:g}, {high:g}] "
        f"(false-failure probability <= {1 - fit.confidence:.3g})\n"
        + _fit_message(fit, "expected range", f"[{low:g}, {high:g}]")
    )


def assert_exponent_close(x: Any, y: Any, expected: float, confidence: float = 0.99,
                          y_stderr: Any = None, bootstrap: bool = False, rng: Any = None,
                          label: str = "") -> PowerLawFit:
    """Assert that ``expected`` lies in the fitted exponent's confidence interval.

    Fits ``y = A x^alpha`` with :func:`~numerics.stats.power_law_fit` and
    passes when ``low <= expected <= high`` for the ``confidence`` interval.
    False-failure probability: ``1 - confidence`` (``0.01`` by default) under
    the fit's assumptions (exact power law over the fitted range, independent
    log-normal scatter); approximately so for the bootstrap interval.

    Returns the :class:`~numerics.stats.PowerLawFit` on success.
    """
    __tracebackhide__ = True
    expected = float(expected)
    fit = power_law_fit(x, y, y_stderr=y_stderr, confidence=confidence, bootstrap=bootstrap, rng=rng)
    if fit.contains(expected):
        return fit
    lo, hi = fit.exponent_interval
    zval = (fit.exponent - expected) / fit.exponent_stderr if fit.exponent_stderr > 0 else math.inf
    raise AssertionError(
        f"{_prefix(label)}power-law exponent differs from {expected:g}: the {fit.confidence:.3g} "
        f"confidence interval [{lo:.6g}, {hi:.6g}] excludes it (z = {zval:.3g}; "
        f"false-failure probability {1 - fit.confidence:.3g})\n"
        + _fit_message(fit, "expected exponent", f"{expected:g}")
    )


def assert_confirmed(result: Any) -> None:
    """Assert that a check's result (a :class:`numerics.verify.CheckResult`, e.g. from
    :func:`numerics.verify.user_model.verify` or ``get_check(name)()``) is CONFIRMED: every row agrees within its
    threshold, no floor, and every mutant is rejected on the same data. The failure message is the result's table
    (rows, verdict, resolving power, which mutants survived)."""
    if result.verdict != "CONFIRMED":
        raise AssertionError(f"{result.check} is {result.verdict}, not CONFIRMED\n{result.table()}")
