"""Verification framework: a derivation's prediction against a Monte Carlo measurement, with mutants and a verdict.

The check definitions live in :mod:`numerics.checks` (one module per registry prefix); this module holds what
they are made of (:class:`Check`, :class:`Comparison`, :class:`CheckResult`) and their registry.

A :class:`Check` names the derivation it tests, its default parameters (``quick`` and ``full``), and a
function (params, seed) → :class:`CheckResult`. Every result carries rows (quantity, predicted, measured,
stderr, z), its *mutants* — plausible wrong predictions judged on the *same* data —, a verdict (CONFIRMED,
REFUTED, INCONCLUSIVE), its resolving power, and the tolerance and where it comes from.
"""

from __future__ import annotations

import importlib.util
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

import numpy as np

from derivations.conventions import Z_THRESHOLD
from derivations.registry import Registry

from numerics.errors import ParameterError
from numerics.stats import Estimate, KSResult, false_failure_probability, pvalue_z, z_scores

if TYPE_CHECKING:
    from pathlib import Path


VERDICTS = ("CONFIRMED", "REFUTED", "INCONCLUSIVE")  # ERROR (the check raised) is the runner's fourth
# rows reported and not judged, with what a table says of them (Row.status "undecided", or "beside")
UNJUDGED = {"approx": "approximate theory: reported, not judged", "unmet": "precondition not met: reported, not judged",
            "beside": "beside the claim, outside its scope: reported, not judged"}


@dataclass(frozen=True)
class Row:
    """One compared quantity, with z = (measured − predicted)/stderr.

    ``rule`` says what the row claims: ``"agree"`` — the measurement agrees with the prediction (|z| within the
    threshold; no floor); ``"below"``/``"above"`` — ``predicted`` is a bound and the measurement lies
    below/above it by more than the threshold (z < −threshold / z > threshold): a criterion established by the
    data, not merely not contradicted; ``"approx"`` — a prediction of an approximate theory whose leading
    correction is not computed: reported with its z, it can neither confirm nor refute (see :meth:`status`);
    ``"unmet"`` — a criterion whose precondition the data do not meet (e.g. γ of networks that did not fit their
    training set, where the claim is about trained networks): reported with its z against the bound, not judged;
    ``"beside"`` — the same criterion applied outside the claim's scope (e.g. a loss the paper does not name):
    reported with its z, and no part of the verdict."""

    quantity: str
    predicted: float
    measured: float
    stderr: float
    z: float
    rule: str = "agree"
    baseline: float = 0.0  # what the prediction adds to: resolving power scales predicted − baseline

    def status(self, threshold: float = Z_THRESHOLD) -> str:
        """``"holds"``, ``"rejected"`` (the data contradict the row's claim beyond the threshold) or
        ``"undecided"`` (a bound not yet established either way, or an ``approx`` or ``unmet`` row) or ``"beside"``
        (a ``beside`` row, which the verdict ignores)."""
        if self.rule == "beside":
            return "beside"
        if self.rule in UNJUDGED:
            return "undecided"
        if self.rule == "agree":
            return "holds" if abs(self.z) <= threshold else "rejected"
        sign = -1.0 if self.rule == "below" else 1.0
        if sign * self.z > threshold:
            return "holds"
        return "rejected" if -sign * self.z > threshold else "undecided"

    def holds(self, threshold: float = Z_THRESHOLD) -> bool:
        return self.status(threshold) == "holds"


@dataclass(frozen=True)
class Mutant:
    """A plausible wrong prediction, judged on the same data as the prediction: ``rejected`` when some row's
    |measured − mutant|/stderr exceeds the threshold; ``max_abs_z`` is the largest such |z|."""

    description: str
    rejected: bool
    max_abs_z: float

    def __post_init__(self):  # plain Python types, whatever the caller computed them with (JSON, equality)
        object.__setattr__(self, "rejected", bool(self.rejected))
        object.__setattr__(self, "max_abs_z", float(self.max_abs_z))

    def distance(self) -> str:
        """How far the data put the mutant, as text: "max |z| = 3.1", or that no data judge it (NaN)."""
        return "no data judge it" if math.isnan(self.max_abs_z) else f"max |z| = {self.max_abs_z:.1f}"

    @classmethod
    def judge(cls, description: str, z_scores, z: float = Z_THRESHOLD) -> "Mutant":
        """The mutant whose distances to the measurements, in standard errors, are ``z_scores``: rejected when
        some |z| exceeds ``z`` (a NaN z, from a NaN standard error, rejects nothing)."""
        distance = np.abs(np.atleast_1d(np.asarray(z_scores, dtype=float)))
        return cls(description, bool(np.any(distance > z)), float(np.max(distance)))


def resolving_power(rows: Iterable[Row], threshold: float = Z_THRESHOLD) -> float | None:
    """The smallest δ such that the data reject the predicted effect scaled by both 1 + δ and 1 − δ.

    A row's effect is e = predicted − baseline (the baseline is 0 unless the row predicts a change of a known
    value, e.g. E[Δ₁] from Δ₀). Over the ``agree`` rows with e ≠ 0, a scale 1 + δ survives row i iff
    |m_i − b_i − e_i(1 + δ)| ≤ threshold·s_i, an interval of δ; the survivors are the intersection [lo, hi] and
    the answer is max(hi, −lo). None when no row can be scaled or the prediction itself (δ = 0) is rejected."""
    lo, hi, any_row = -math.inf, math.inf, False
    for r in rows:
        effect = r.predicted - r.baseline
        if r.rule != "agree" or effect == 0 or not math.isfinite(r.stderr):
            continue
        any_row = True
        a, b = ((r.measured - r.predicted + s * threshold * r.stderr) / effect for s in (-1, 1))
        lo, hi = max(lo, min(a, b)), min(hi, max(a, b))
    if not any_row or not lo <= 0 <= hi:
        return None
    return max(hi, -lo)


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """The outcome of a check (immutable; built by :func:`comparison_result` only).

    ``verdict``: ``CONFIRMED`` — every row holds (|z| ≤ threshold on plain standard errors, no floor) and every
    mutant is rejected on the same data; ``REFUTED`` — some row is rejected; ``INCONCLUSIVE`` — no row is
    rejected but some mutant is not rejected either, a bound is not established, or a row is an approximate
    theory without its correction. ``resolving_power``: see :func:`resolving_power`."""

    check: str
    verdict: str
    params: dict
    seed: int
    rows: list[Row]
    mutants: list[Mutant]
    tolerance: str
    runtime_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    resolving_power: float | None = None

    @property
    def passed(self) -> bool:
        """CONFIRMED."""
        return self.verdict == "CONFIRMED"

    @property
    def agrees(self) -> bool:
        """No row contradicts the prediction (the verdict is not REFUTED)."""
        return self.verdict != "REFUTED"

    @property
    def max_abs_z(self) -> float:
        return max((abs(r.z) for r in self.rows if r.rule in ("agree", "approx")), default=0.0)

    def to_json(self) -> dict:
        """The JSON of ``sgdnoise check --json`` (ARCHITECTURE.md); :meth:`from_json` inverts it (non-finite
        floats are written as strings)."""
        out = asdict(self)
        out["mutants"] = [{k: _finite(v) if isinstance(v, float) else v for k, v in asdict(m).items()} for m in self.mutants]
        out["rows"] = [{k: _finite(v) if isinstance(v, float) else v for k, v in asdict(r).items()} for r in self.rows]
        return out

    @classmethod
    def from_json(cls, payload: dict, runtime_s: float | None = None) -> "CheckResult":
        """The result of ``to_json`` read back; ``runtime_s`` (e.g. from a result store) replaces the recorded one."""
        data = {f.name: payload[f.name] for f in fields(cls) if f.name in payload}
        data["rows"] = [_revive(Row, r) for r in payload["rows"]]
        data["mutants"] = [_revive(Mutant, m) for m in payload["mutants"]]
        data["runtime_s"] = float(payload.get("runtime_s", 0.0) if runtime_s is None else runtime_s)
        return cls(**data)

    def resolving(self) -> str:
        """The resolving power as text, e.g. "±1.5 %" ("—" when none: see :func:`resolving_power`)."""
        return "—" if self.resolving_power is None else f"±{100 * self.resolving_power:.2g} %"

    def table(self) -> str:
        """A readable table: quantity, predicted, measured, stderr, z; verdict, resolving power and mutants."""
        head = f"{'quantity':<28} {'predicted':>12} {'measured':>12} {'stderr':>10} {'z':>7}"
        lines = [f"check {self.check}: {self.verdict}  (seed {self.seed}, {self.runtime_s:.1f} s)", head, "-" * len(head)]
        marks = {"agree": "", "below": "  (below the bound)", "above": "  (above the bound)",
                 **{rule: f"  ({text})" for rule, text in UNJUDGED.items()}}
        lines += [f"{r.quantity:<28} {r.predicted:>12.5g} {r.measured:>12.5g} {r.stderr:>10.3g} {r.z:>7.2f}"
                  + marks[r.rule] for r in self.rows]
        lines.append(f"tolerance: {self.tolerance}")
        lines.append(f"resolving power: {self.resolving()}")
        lines += [f"mutant: {m.description} -> {'rejected' if m.rejected else 'NOT rejected'} ({m.distance()})"
                  for m in self.mutants]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _finite(x):
    return x if isinstance(x, (int, str, bool)) or x is None or math.isfinite(x) else str(x)


def _revive(cls, data: dict):
    """A dataclass from its JSON dict: fields typed ``float`` are read with ``float`` (to_json writes non-finite
    floats as "inf"/"nan"); keys the class does not know are ignored, missing ones take their defaults."""
    return cls(**{f.name: float(data[f.name]) if f.type == "float" else data[f.name] for f in fields(cls) if f.name in data})


def _z(measured, target, stderr) -> np.ndarray:
    """(measured − target)/stderr as an array (:func:`numerics.stats.z_scores`: a zero stderr compares exactly)."""
    return np.atleast_1d(z_scores(Estimate(measured, stderr), target))


@dataclass(frozen=True)
class Comparison:
    """Rows of a prediction vs a measurement at threshold ``z``, and the mutants judged on the same rows.

    Rows report the plain z = (measured − predicted)/stderr; there is no floor. A mutant is rejected when some
    row's |measured − mutant| exceeds ``z`` standard errors. A comparison without mutants only adds rows to a
    :meth:`combine`; :func:`comparison_result` refuses a whole check without any.
    """

    rows: list[Row]
    mutants: list[Mutant]
    z: float = Z_THRESHOLD

    @classmethod
    def make(cls, names, predicted, measured, stderr, mutants: Mapping[str, object] | None = None, *,
             z: float = Z_THRESHOLD, rule: str = "agree", baseline=0.0) -> "Comparison":
        """Rows of ``names`` against ``predicted``; ``mutants`` maps a description to a wrong prediction of the
        same shape, judged on the same data. ``rule="approx"`` marks a prediction of an approximate theory
        whose correction is not computed (see :class:`Row`); ``baseline`` (scalar or per row) is the known value
        the prediction changes, for the resolving power (:func:`resolving_power`)."""
        if rule not in ("agree", "approx"):
            raise ParameterError(f"rule must be 'agree' or 'approx', got {rule!r}")
        predicted, measured, stderr = (np.ravel(np.asarray(a, dtype=float)) for a in (predicted, measured, stderr))
        wrongs = {d: np.ravel(np.asarray(w, dtype=float)) for d, w in (mutants or {}).items()}
        if not (len(names) == predicted.size == measured.size == stderr.size) or any(w.size != predicted.size for w in wrongs.values()):
            raise ParameterError("names, predicted, measured, stderr and every mutant must have equal sizes")
        plain = _z(measured, predicted, stderr)
        base = np.broadcast_to(np.asarray(baseline, dtype=float), predicted.shape)
        rows = [Row(n, float(p), float(m), float(s), float(zz), rule, float(b))
                for n, p, m, s, zz, b in zip(names, predicted, measured, stderr, plain, base)]
        judged = [Mutant.judge(d, _z(measured, w, stderr), z) for d, w in wrongs.items()]
        return cls(rows, judged, z)

    @classmethod
    def ks(cls, quantity: str, result: KSResult, mutants: Mapping[str, KSResult], z: float = Z_THRESHOLD) -> "Comparison":
        """A goodness-of-fit row from a KS test (predicted D = 0, no standard error, z = :func:`pvalue_z` of its
        p-value), and mutant laws judged by their own KS p-values on the same samples."""
        row = Row(quantity, 0.0, float(result.statistic), math.nan, pvalue_z(result.pvalue))
        return cls([row], [Mutant.judge(d, pvalue_z(r.pvalue), z) for d, r in mutants.items()], z)

    def require(self, quantity: str, measured: float, stderr: float, bound: float, side: str, *,
                met: bool = True, scope: bool = True) -> "Comparison":
        """This comparison with one more criterion row: ``measured`` lies ``side`` ("below" or "above") the
        ``bound`` by more than ``z`` standard errors (see :class:`Row`). Reported and not judged: ``met=False``,
        the criterion's precondition does not hold on these data (rule ``"unmet"``: the verdict cannot be
        CONFIRMED); ``scope=False``, the row lies outside the claim (rule ``"beside"``: no part of the verdict)."""
        if side not in ("below", "above"):
            raise ParameterError(f"side must be 'below' or 'above', got {side!r}")
        z = float(_z(measured, bound, stderr)[0])
        rule = "beside" if not scope else side if met else "unmet"
        row = Row(quantity, float(bound), float(measured), float(stderr), z, rule)
        return Comparison(self.rows + [row], self.mutants, self.z)

    def within(self, quantity: str, estimate: Estimate, low: float, high: float, *, met: bool = True,
               scope: bool = True) -> "Comparison":
        """This comparison with the claim low ≤ x ≤ high as one criterion row against the nearer bound ("above"
        ``low`` or "below" ``high``): it holds when x lies inside by more than ``z`` standard errors (the farther
        bound is then farther still, on the same standard error) and is rejected when x lies outside by more than
        ``z``. ``met`` and ``scope`` as in :meth:`require`."""
        near_low = estimate.value - low <= high - estimate.value
        return self.require(quantity, estimate.value, estimate.stderr, low if near_low else high,
                            "above" if near_low else "below", met=met, scope=scope)

    @classmethod
    def combine(cls, parts: list["Comparison"], labels: list[str] | None = None) -> "Comparison":
        """One comparison from several: rows concatenated. Without ``labels`` a mutant is one wrong formula for
        the whole check: mutants of the same description are merged, rejected if any part's data reject it
        (max |z|). With ``labels`` each part's mutants stay separate, prefixed by the part's label, and each
        must be rejected by its own part."""
        merged: dict[str, Mutant] = {}
        for label, part in zip(labels or [None] * len(parts), parts):
            for m in part.mutants:
                key = f"{label}: {m.description}" if label else m.description
                old = merged.get(key)
                merged[key] = Mutant(key, m.rejected or (old is not None and old.rejected),
                                     max(m.max_abs_z, old.max_abs_z if old else 0.0))
        return cls([r for c in parts for r in c.rows], list(merged.values()), parts[0].z)

    def verdict(self) -> str:
        """CONFIRMED, REFUTED or INCONCLUSIVE (see :class:`CheckResult`)."""
        status = {r.status(self.z) for r in self.rows}
        if "rejected" in status:
            return "REFUTED"
        if "undecided" in status or not all(m.rejected for m in self.mutants):
            return "INCONCLUSIVE"
        return "CONFIRMED"


# the modules of each optional dependency group of pyproject.toml that a check's engine imports
EXTRA_MODULES = {"network": ("jax", "mnist1d")}


@dataclass(frozen=True)
class Check:
    """A registered check: ``run(params, seed)`` → CheckResult; ``quick``/``full`` are default parameters.

    ``exact=False`` marks a claim of a paper that is approximate or conjectural at the scale run (a scaling law,
    a regime statement): its REFUTED or INCONCLUSIVE is a result, reported, not a failure of the run.
    ``extra`` names the optional dependency group its engine needs (``EXTRA_MODULES``): without it installed the
    check cannot run, and ``sgdnoise`` skips it when running every check."""

    name: str
    derivation: str
    description: str
    run: Callable[[dict, int], CheckResult]
    quick: dict
    full: dict
    figures: Callable[[CheckResult, "Path"], Iterable["Path"]] | None = None  # the report's hook (numerics.run.report)
    exact: bool = True  # the theory is exact at the check's settings: a verdict other than CONFIRMED is a failure
    extra: str | None = None

    def missing(self) -> str | None:
        """Why the check cannot run here (its extra's modules not installed), or None."""
        absent = [m for m in EXTRA_MODULES.get(self.extra, ()) if importlib.util.find_spec(m) is None]
        return (f"{self.name} needs the '{self.extra}' extra ({', '.join(absent)} not installed: pip install -e "
                f"'.[{self.extra}]')") if absent else None

    def fails(self, result: CheckResult) -> bool:
        """Whether ``result`` fails a run (exit status 1): an exact-theory check that is not CONFIRMED."""
        return self.exact and result.verdict != "CONFIRMED"

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
    """The one place a CheckResult is built, with its verdict (:meth:`Comparison.verdict`) and resolving power.
    The first note states the false-failure probability of the threshold over the rows that claim agreement
    (Student-t with ``dof`` degrees of freedom when the standard errors come from few samples), or
    ``false_failure`` where the check's rule is another (e.g. KS tests)."""
    if not comparison.mutants:
        raise ParameterError(f"check {check!r}: a comparison without mutants cannot tell right from wrong")
    n = sum(r.rule == "agree" for r in comparison.rows)
    if false_failure is None and n == 0:
        false_failure = "no row claims agreement (criteria and approximate rows only)"
    if false_failure is None:
        false_failure = (f"false-failure probability of |z| <= {comparison.z:g} over {n} entries: "
                         f"{false_failure_probability(comparison.z, n, dof):.1e}"
                         + (f" (Student-t, {dof} dof)" if dof is not None else ""))
    return CheckResult(check=check, verdict=comparison.verdict(), params=dict(params), seed=seed,
                       rows=list(comparison.rows), mutants=list(comparison.mutants), tolerance=tolerance,
                       notes=[false_failure] + list(notes or []),
                       resolving_power=resolving_power(comparison.rows, comparison.z))


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
