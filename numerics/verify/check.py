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
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np

from derivations.conventions import Z_THRESHOLD
from derivations.registry import Registry

from numerics.errors import ParameterError
from numerics.stats import false_failure_probability

if TYPE_CHECKING:
    from pathlib import Path


RULES = ("agree", "below", "above")


@dataclass(frozen=True)
class Row:
    """One compared quantity, with z = (measured − predicted)/stderr.

    ``rule`` says what the row claims: ``"agree"`` — the measurement agrees with the prediction (|z| within the
    comparison's threshold, or its stated floor); ``"below"``/``"above"`` — ``predicted`` is a bound and the
    measurement lies below/above it by more than the threshold (z < −threshold / z > threshold): an extra
    criterion of a check, established by the data rather than merely not contradicted."""

    quantity: str
    predicted: float
    measured: float
    stderr: float
    z: float
    rule: str = "agree"

    def holds(self, threshold: float = Z_THRESHOLD) -> bool:
        """Whether the row's claim holds by its plain z (an ``agree`` row may also pass through a stated floor)."""
        if self.rule == "below":
            return self.z < -threshold
        if self.rule == "above":
            return self.z > threshold
        return abs(self.z) <= threshold


@dataclass(frozen=True)
class NegativeControl:
    description: str
    rejected: bool
    max_abs_z: float


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """The outcome of a check (immutable; built by :func:`comparison_result` only): ``agrees`` — the prediction
    holds on every row; ``passed`` — it agrees *and* the negative control is rejected."""

    check: str
    passed: bool
    params: dict
    seed: int
    rows: list[Row]
    negative_control: NegativeControl
    tolerance: str
    runtime_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    agrees: bool

    @property
    def max_abs_z(self) -> float:
        return max((abs(r.z) for r in self.rows if r.rule == "agree"), default=0.0)

    def to_json(self) -> dict:
        """The JSON of ``sgdnoise check --json`` (ARCHITECTURE.md), plus tolerance, runtime and notes;
        :meth:`from_json` inverts it (non-finite floats are written as strings)."""
        out = asdict(self)
        out["negative_control"] = {"description": self.negative_control.description,
                                   "rejected": self.negative_control.rejected,
                                   "max_abs_z": _finite(self.negative_control.max_abs_z)}
        out["rows"] = [{k: _finite(v) if isinstance(v, float) else v for k, v in asdict(r).items()} for r in self.rows]
        return out

    @classmethod
    def from_json(cls, payload: dict, runtime_s: float | None = None) -> "CheckResult":
        """The result of ``to_json`` read back; ``runtime_s`` (e.g. from a result store) replaces the recorded one."""
        data = {f.name: payload[f.name] for f in fields(cls) if f.name in payload}
        data["rows"] = [_revive(Row, r) for r in payload["rows"]]
        data["negative_control"] = _revive(NegativeControl, payload["negative_control"])
        data["runtime_s"] = float(payload.get("runtime_s", 0.0) if runtime_s is None else runtime_s)
        agrees = payload.get("agrees")  # None in results stored before every check set it: fall back on passed
        data["agrees"] = bool(payload["passed"] if agrees is None else agrees)
        return cls(**data)

    def table(self) -> str:
        """A readable table: quantity, predicted, measured, stderr, z; verdict and negative control below."""
        head = f"{'quantity':<28} {'predicted':>12} {'measured':>12} {'stderr':>10} {'z':>7}"
        lines = [f"check {self.check}: {'PASSED' if self.passed else 'FAILED'}  (seed {self.seed}, {self.runtime_s:.1f} s)",
                 head, "-" * len(head)]
        lines += [f"{r.quantity:<28} {r.predicted:>12.5g} {r.measured:>12.5g} {r.stderr:>10.3g} {r.z:>7.2f}"
                  + ("" if r.rule == "agree" else f"  ({r.rule} the bound)") for r in self.rows]
        nc = self.negative_control
        lines.append(f"tolerance: {self.tolerance}")
        lines.append(f"negative control: {nc.description} -> {'rejected' if nc.rejected else 'NOT rejected'} "
                     f"(max |z| = {nc.max_abs_z:.1f})")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _finite(x):
    return x if isinstance(x, (int, str, bool)) or math.isfinite(x) else str(x)


def _revive(cls, data: dict):
    """A dataclass from its JSON dict: fields typed ``float`` are read with ``float`` (to_json writes non-finite
    floats as "inf"/"nan"); keys the class does not know are ignored, missing ones take their defaults."""
    return cls(**{f.name: float(data[f.name]) if f.type == "float" else data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True)
class Comparison:
    """Rows, verdict and negative control of a prediction vs a measurement at threshold ``z``.

    An entry agrees when |measured − predicted| ≤ max(z·stderr, rel_floor·scale), where ``scale`` is the
    largest |predicted| of the set (a floor relative to the quantity's size, for approximate theories).
    The negative control is *rejected* when some entry disagrees under the very same rule. Rows report the
    plain z = (measured − predicted)/stderr; the control's ``max_abs_z`` is in units of the tolerance.
    A comparison without a control (``negative_control`` None) only adds rows to a :meth:`combine`.
    """

    rows: list[Row]
    passed: bool
    negative_control: NegativeControl | None
    z: float

    @classmethod
    def make(cls, names, predicted, measured, stderr, wrong, wrong_description: str = "", z: float = Z_THRESHOLD,
             rel_floor: float = 0.0) -> "Comparison":
        """Rows of ``names`` against ``predicted``; the control ``wrong`` (described by ``wrong_description``)
        is judged on the same data; ``wrong`` None: no control (rows to :meth:`combine` with a controlled part)."""
        predicted, measured, stderr = (np.ravel(np.asarray(a, dtype=float)) for a in (predicted, measured, stderr))
        wrong = None if wrong is None else np.ravel(np.asarray(wrong, dtype=float))
        if not (len(names) == predicted.size == measured.size == stderr.size == (predicted.size if wrong is None else wrong.size)):
            raise ParameterError("names, predicted, measured, stderr and the negative control must have equal sizes")

        def z_of(target, spread):
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(spread > 0, (measured - target) / spread, np.where(measured == target, 0.0, np.inf))

        def effective_z(target):  # |effective z| <= z  ⇔  |m − p| <= max(z·stderr, rel_floor·scale)
            return z_of(target, np.maximum(stderr, rel_floor * np.abs(target).max() / z))

        plain, zs = z_of(predicted, stderr), effective_z(predicted)
        rows = [Row(n, float(p), float(m), float(s), float(zz)) for n, p, m, s, zz in zip(names, predicted, measured, stderr, plain)]
        control = None
        if wrong is not None:
            zw = effective_z(wrong)
            control = NegativeControl(wrong_description, bool(np.any(np.abs(zw) > z)), float(np.max(np.abs(zw))))
        return cls(rows, bool(np.all(np.abs(zs) <= z)), control, z)

    def require(self, quantity: str, measured: float, stderr: float, bound: float, side: str) -> "Comparison":
        """This comparison with one more criterion row: ``measured`` lies ``side`` ("below" or "above") the
        ``bound`` by more than ``z`` standard errors (see :class:`Row`)."""
        if side not in ("below", "above"):
            raise ParameterError(f"side must be 'below' or 'above', got {side!r}")
        z = (measured - bound) / stderr if stderr > 0 else (np.sign(measured - bound) * np.inf)
        row = Row(quantity, float(bound), float(measured), float(stderr), float(z), side)
        return Comparison(self.rows + [row], self.passed and row.holds(self.z), self.negative_control, self.z)

    @classmethod
    def combine(cls, parts: list["Comparison"], control: str, labels: list[str] | None = None,
                description: str | None = None) -> "Comparison":
        """One comparison from several: rows concatenated, agrees iff every part agrees; the negative control is
        rejected iff ``control="any"`` part's or ``"all"`` parts' controls are rejected (parts without a control
        are not counted), reporting the max (any) or min (all) of their |z|. The control's description is
        ``description``, or the parts' descriptions (prefixed by ``labels``; one, if they are all the same)."""
        if control not in ("any", "all"):
            raise ParameterError(f"control must be 'any' or 'all', got {control!r}")
        controlled = [(label, c.negative_control) for label, c in zip(labels or [None] * len(parts), parts)
                      if c.negative_control is not None]
        if not controlled:
            raise ParameterError("combine needs at least one part with a negative control")
        merge, extreme = (any, max) if control == "any" else (all, min)
        if description is None:
            texts = [f"{label}: {nc.description}" if label else nc.description for label, nc in controlled]
            description = "; ".join(dict.fromkeys(texts))
        negative = NegativeControl(description, merge(nc.rejected for _, nc in controlled),
                                   extreme(nc.max_abs_z for _, nc in controlled))
        return cls([r for c in parts for r in c.rows], all(c.passed for c in parts), negative, parts[0].z)


@dataclass(frozen=True)
class Check:
    """A registered check: ``run(params, seed)`` → CheckResult; ``quick``/``full`` are default parameters."""

    name: str
    derivation: str
    description: str
    run: Callable[[dict, int], CheckResult]
    quick: dict
    full: dict
    figures: Callable[[CheckResult, "Path"], Iterable["Path"]] | None = None  # the report's hook (numerics.run.report)

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
        return replace(result, runtime_s=time.perf_counter() - start)


def comparison_result(check: str, params: dict, seed: int, comparison: Comparison, tolerance: str,
                      notes: list[str] | None = None, *, dof: int | None = None,
                      false_failure: str | None = None) -> CheckResult:
    """The one place a CheckResult is built: it passes only if the prediction agrees (every row holds its
    rule) *and* the negative control is rejected. The first note states the false-failure probability of the
    threshold over the rows that claim agreement (Student-t with ``dof`` degrees of freedom when the standard
    errors come from few samples), or ``false_failure`` where the check's rule is another (e.g. KS tests)."""
    if comparison.negative_control is None:
        raise ParameterError(f"check {check!r}: a comparison without a negative control cannot make a verdict")
    n = sum(r.rule == "agree" for r in comparison.rows)
    if false_failure is None:
        false_failure = (f"false-failure probability of |z| <= {comparison.z:g} over {n} entries: "
                         f"{false_failure_probability(comparison.z, n, dof):.1e}"
                         + (f" (Student-t, {dof} dof)" if dof is not None else ""))
    return CheckResult(check=check, passed=comparison.passed and comparison.negative_control.rejected,
                       params=dict(params), seed=seed, rows=list(comparison.rows),
                       negative_control=comparison.negative_control, tolerance=tolerance,
                       notes=[false_failure] + list(notes or []), agrees=comparison.passed)


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
