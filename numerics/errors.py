"""Errors raised by the numerics (the base classes live in ``derivations.errors``)."""

from __future__ import annotations

import math
import numbers

from derivations.errors import NotNormalisableError, ParameterError, SgdNoiseError, UnknownNameError

__all__ = ["SgdNoiseError", "ParameterError", "UnknownNameError", "NotNormalisableError", "DivergenceError",
           "UnstableLearningRateError", "require_positive", "require_int_in_range", "require_choice",
           "require_known", "require_independent_runs"]


class DivergenceError(SgdNoiseError, FloatingPointError):
    """SGD (or an SDE integration) left every bound: non-finite or exploding weights.

    ``step`` is the first step at which divergence was seen (None inside a single step, before the caller
    adds it), ``eta`` the learning rate, and ``partial`` whatever had been gathered before (observers, last
    finite state), so nothing is lost.
    """

    def __init__(self, message: str, *, step: int | None = None, eta: float | None = None, partial=None):
        super().__init__(message)
        self.step, self.eta, self.partial = step, eta, partial


class UnstableLearningRateError(ParameterError):
    """η is at or beyond the stability bound of the dynamics (the message gives the bound)."""


def require_positive(name: str, value, *, finite: bool = True) -> float:
    """``value`` as a float, or ParameterError naming ``name`` if it is not a real number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name} must be a real number > 0, got {value!r}")
    v = float(value)
    if not (v > 0) or (finite and not math.isfinite(v)):
        raise ParameterError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def require_int_in_range(name: str, value, low: int, high: int | None = None) -> int:
    """``value`` as an int in [low, high] (high=None: unbounded), else ParameterError naming the range."""
    unbounded = f"{name} must be an integer >= {low}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(unbounded if high is None else f"{name} must be an integer, got {value!r}")
    v = int(value)
    if v < low or (high is not None and v > high):
        if high is None:
            raise ParameterError(unbounded)
        raise ParameterError(f"{name} = {v} is out of range; allowed: {low} <= {name} <= {high}")
    return v


def require_choice(name: str, value: str, choices) -> str:
    if value not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def require_known(what: str, params, known) -> None:
    """ParameterError naming the keys of ``params`` that are not in ``known`` (a task's or a model's parameters)."""
    unknown = set(params) - set(known)
    if unknown:
        raise ParameterError(f"unknown {what} parameters {sorted(unknown)}; known: {sorted(known)}")


MIN_INDEPENDENT_RUNS = 8  # a criterion of 5 standard errors on a Student-t standard error needs >= 7 dof


def require_independent_runs(name: str, n) -> int:
    """``n`` independently trained networks (or runs) across which a check takes its standard errors, at least
    ``MIN_INDEPENDENT_RUNS``."""
    if n < MIN_INDEPENDENT_RUNS:
        raise ParameterError(f"{name} must be >= {MIN_INDEPENDENT_RUNS}, got {n}: standard errors are taken across "
                             "independently trained networks, and a 5-standard-error criterion needs >= "
                             f"{MIN_INDEPENDENT_RUNS - 1} degrees of freedom (Student-t)")
    return int(n)
