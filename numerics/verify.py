"""Verification framework: a derivation's prediction against a Monte Carlo measurement, with a negative control.

The check definitions live in :mod:`numerics.checks` (one module per registry prefix); this module holds what
they are made of (:class:`Check`, :class:`Comparison`, :class:`CheckResult`) and their registry.

A :class:`Check` names the derivation it tests, its default parameters (``quick`` and ``full``), and a
function (params, seed) → :class:`CheckResult`. Every result carries rows (quantity, predicted, measured,
stderr, z), a verdict, the tolerance and where it comes from, and a negative control: a plausible wrong
prediction that the *same* data must reject.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from derivations.registry import Registry

from .errors import ParameterError
from .stats import false_failure_probability


@dataclass
class Row:
    quantity: str
    predicted: float
    measured: float
    stderr: float
    z: float


@dataclass
class NegativeControl:
    description: str
    rejected: bool
    max_abs_z: float


@dataclass
class CheckResult:
    check: str
    passed: bool
    params: dict
    seed: int
    rows: list[Row]
    negative_control: NegativeControl
    tolerance: str
    runtime_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    agrees: bool | None = None  # the prediction alone (``passed`` also needs the control rejected)

    @property
    def max_abs_z(self) -> float:
        return max((abs(r.z) for r in self.rows), default=0.0)

    def to_json(self) -> dict:
        """The JSON of ``sgdnoise check --json`` (ARCHITECTURE.md), plus tolerance, runtime and notes."""
        out = asdict(self)
        out["negative_control"] = {"description": self.negative_control.description,
                                   "rejected": self.negative_control.rejected,
                                   "max_abs_z": _finite(self.negative_control.max_abs_z)}
        out["rows"] = [{k: _finite(v) if isinstance(v, float) else v for k, v in asdict(r).items()} for r in self.rows]
        return out

    def table(self) -> str:
        """A readable table: quantity, predicted, measured, stderr, z; verdict and negative control below."""
        head = f"{'quantity':<28} {'predicted':>12} {'measured':>12} {'stderr':>10} {'z':>7}"
        lines = [f"check {self.check}: {'PASSED' if self.passed else 'FAILED'}  (seed {self.seed}, {self.runtime_s:.1f} s)",
                 head, "-" * len(head)]
        lines += [f"{r.quantity:<28} {r.predicted:>12.5g} {r.measured:>12.5g} {r.stderr:>10.3g} {r.z:>7.2f}" for r in self.rows]
        nc = self.negative_control
        lines.append(f"tolerance: {self.tolerance}")
        lines.append(f"negative control: {nc.description} -> {'rejected' if nc.rejected else 'NOT rejected'} "
                     f"(max |z| = {nc.max_abs_z:.1f})")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _finite(x):
    return x if isinstance(x, (int, str, bool)) or math.isfinite(x) else str(x)


@dataclass(frozen=True)
class Comparison:
    """Rows, verdict and negative control of a prediction vs a measurement at threshold ``z``.

    An entry agrees when |measured − predicted| ≤ max(z·stderr, rel_floor·scale), where ``scale`` is the
    largest |predicted| of the set (a floor relative to the quantity's size, for approximate theories).
    The negative control is *rejected* when some entry disagrees under the very same rule. Rows report the
    plain z = (measured − predicted)/stderr; the control's ``max_abs_z`` is in units of the tolerance.
    """

    rows: list[Row]
    passed: bool
    negative_control: NegativeControl
    z: float

    @classmethod
    def make(cls, names, predicted, measured, stderr, wrong, wrong_description: str, z: float = 5.0,
             rel_floor: float = 0.0) -> "Comparison":
        predicted, measured, stderr, wrong = (np.ravel(np.asarray(a, dtype=float)) for a in (predicted, measured, stderr, wrong))
        if not (len(names) == predicted.size == measured.size == stderr.size == wrong.size):
            raise ParameterError("names, predicted, measured, stderr and the negative control must have equal sizes")

        def z_of(target, spread):
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(spread > 0, (measured - target) / spread, np.where(measured == target, 0.0, np.inf))

        def effective_z(target):  # |effective z| <= z  ⇔  |m − p| <= max(z·stderr, rel_floor·scale)
            return z_of(target, np.maximum(stderr, rel_floor * np.abs(target).max() / z))

        plain, zs, zw = z_of(predicted, stderr), effective_z(predicted), effective_z(wrong)
        rows = [Row(n, float(p), float(m), float(s), float(zz)) for n, p, m, s, zz in zip(names, predicted, measured, stderr, plain)]
        control = NegativeControl(wrong_description, bool(np.any(np.abs(zw) > z)), float(np.max(np.abs(zw))))
        return cls(rows, bool(np.all(np.abs(zs) <= z)), control, z)


@dataclass(frozen=True)
class Check:
    """A registered check: ``run(params, seed)`` → CheckResult; ``quick``/``full`` are default parameters."""

    name: str
    derivation: str
    description: str
    run: Callable[[dict, int], CheckResult]
    quick: dict
    full: dict

    def params(self, scale: str = "quick", overrides: dict | None = None) -> dict:
        base = dict(self.quick if scale == "quick" else self.full)
        for key, value in (overrides or {}).items():
            if key not in base:
                raise ParameterError(f"check {self.name!r} has no parameter {key!r}; its parameters: {', '.join(sorted(base))}")
            base[key] = value
        return base

    def __call__(self, seed: int = 0, scale: str = "quick", **overrides) -> CheckResult:
        params = self.params(scale, overrides)
        start = time.perf_counter()
        result = self.run(params, seed)
        result.runtime_s = time.perf_counter() - start
        return result


def comparison_result(check: str, params: dict, seed: int, comparison: Comparison, tolerance: str,
                      notes: list[str] | None = None) -> CheckResult:
    """Assemble a CheckResult; the check passes only if the prediction agrees *and* the control is rejected."""
    n = len(comparison.rows)
    note = f"false-failure probability of |z| <= {comparison.z:g} over {n} entries: {false_failure_probability(comparison.z, n):.1e}"
    return CheckResult(check, comparison.passed and comparison.negative_control.rejected, dict(params), seed,
                       comparison.rows, comparison.negative_control, tolerance, notes=[note] + list(notes or []),
                       agrees=comparison.passed)


# --------------------------------------------------------------------------- registry
_REGISTRY: Registry[Check] = Registry("check", "numerics.checks")


def register_check(check: Check) -> Check:
    """Register ``check``; a check named "prefix.rest" lives in the module ``numerics.checks.prefix``."""
    return _REGISTRY.add(check.name, check)


def check_names() -> list[str]:
    return _REGISTRY.names()


def get_check(name: str) -> Check:
    """The registered check ``name`` (imports only the module of its prefix)."""
    return _REGISTRY.get(name)


def dumps(result: CheckResult) -> str:
    return json.dumps(result.to_json(), sort_keys=False)
