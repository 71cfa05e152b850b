"""Simulate a user's :class:`derivations.model.SGDModel` with the replica engine, and verify its formulas.

- :class:`UserModel` — the per-sample gradient g(w; x, y) lambdified once (``cse=True``) and evaluated on
  arrays (R, B) at once: no Python loop over replicas or samples. Implements the engine's model interface
  (``n_params``, ``minibatch_gradient``, ``per_sample_gradients``).
- :class:`UserData` — the model's data law, x ~ N(μ, Σ_x), y = f*(x) + ε, ε ~ N(0, σ²) (or Bernoulli labels
  y = ±1 with P(y = +1 | x) = ρ(f*(x))): fresh samples for
  ``sampling="online"`` or a fixed sample set via ``.dataset(P, seed)``.
- :func:`verify` — a symbolic prediction (stationary mean, time-dependent mean E f(w(t)) with t = ηk, or a
  1-D stationary density) against direct minibatch SGD, with a negative control, as a ``CheckResult``.

Conventions: ℓ = the user's per-sample loss, L = mean over samples, w_{k+1} = w_k − η ĝ_k (ĝ_k the
minibatch mean of g), t = ηk.
"""

from __future__ import annotations

import time as time_module
from dataclasses import dataclass, replace
from typing import Callable, Mapping

import numpy as np
import sympy as sp

from derivations.calculus.gaussian_integral import NumericValue, evaluate
from derivations.model import SGDModel
from derivations.calculus.stationary import StationaryDensity

from numerics.verify import CheckResult, Comparison, comparison_result
from numerics.engine.data import GaussianTeacher
from numerics.errors import ParameterError, require_int_in_range, require_positive
from numerics.engine.rng import child_seed
from numerics.engine.sgd import MomentObserver, TrajectoryObserver, run_sgd
from numerics.stats import Estimate, extrapolate_to_zero, ks_test, replica_mean

__all__ = ["UserModel", "UserData", "compile_model", "verify"]


def _values(model: SGDModel, parameters: Mapping | None) -> dict:
    """{symbol: float} for every parameter of the model (keys: symbols or their names), each validated by
    :meth:`SGDModel.numeric_values` (a finite real number within its symbol's declared assumptions)."""
    parameters = dict(parameters or {})
    by_name = {str(p): p for p in model.parameters}
    unknown = [k for k in parameters if k not in model.parameters and str(k) not in by_name]
    if unknown:  # numeric_values also knows the weights and η, B: here only the model's constants belong
        raise ParameterError(f"unknown parameter {unknown[0]!r}; the model's parameters are {sorted(by_name)}")
    values = {sym: float(v) for sym, v in model.numeric_values(parameters).items()}
    missing = sorted(str(p) for p in model.parameters if p not in values)
    if missing:
        raise ParameterError(f"missing numeric values for the model's parameters {missing}")
    return values


def _numeric(expr: sp.Expr, values: dict, what: str) -> float:
    out = sp.sympify(expr).subs(values)
    if out.free_symbols:
        raise ParameterError(f"{what} still depends on {sorted(map(str, out.free_symbols))} after substitution")
    return float(out)


class UserModel:
    """Engine model of an :class:`SGDModel` at numeric ``parameters`` ({symbol or name: value}).

    g(w; x, y) = ∂ℓ/∂w is lambdified once with common-subexpression elimination; arrays broadcast, so
    ``minibatch_gradient`` evaluates all R×B per-sample gradients in one call.
    """

    def __init__(self, model: SGDModel, parameters: Mapping | None = None):
        self.model = model
        self.values = _values(model, parameters)
        self.n_params, self.n_features = model.weights.shape[0], len(model.inputs)
        target = [model.target] if model.target is not None else [sp.Dummy("y")]
        args = list(model.weights) + list(model.inputs) + target
        grad = model.per_sample_gradient.subs(self.values)
        self._gradient = sp.lambdify(args, list(grad), modules="numpy", cse=True)
        self._loss = sp.lambdify(args, model.loss.subs(self.values), modules="numpy", cse=True)

    def _per_sample(self, w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """g for weights w (..., n) broadcast against X (..., N), y (...): → (..., n)."""
        shape = np.broadcast_shapes(w.shape[:-1], X.shape[:-1], y.shape)
        parts = self._gradient(*np.moveaxis(w, -1, 0), *np.moveaxis(X, -1, 0), y)
        return np.stack([np.broadcast_to(p, shape) for p in parts], axis=-1)

    def minibatch_gradient(self, w, X, y):
        """Mean of g over each replica's minibatch: w (R, n), X (R, B, N), y (R, B) → (R, n)."""
        return self._per_sample(w[:, None, :], X, y).mean(axis=1)

    def per_sample_gradients(self, w, X, y):
        """g at one weight vector: w (n,), X (P, N), y (P,) → (P, n)."""
        return self._per_sample(np.asarray(w, dtype=float)[None, :], X, y)

    def loss(self, w, X, y):
        """L(w) = mean over samples of ℓ, for w of shape (n,) or (R, n)."""
        w = np.atleast_2d(w)
        vals = self._loss(*np.moveaxis(w[:, None, :], -1, 0), *np.moveaxis(X[None], -1, 0), y[None])
        return np.broadcast_to(vals, (w.shape[0], X.shape[0])).mean(axis=1).squeeze()


@dataclass(frozen=True)
class UserData(GaussianTeacher):
    """The data law of an SGDModel: x ~ N(``input_mean``, ``input_cov``), y = ``label``(x) + ε, ε ~ N(0, σ²), or
    with ``probability`` given, Bernoulli labels y = +1 with probability ``probability``(x), else −1.

    A :class:`~numerics.engine.data.GaussianTeacher` (the replica engine's online data model) whose labels come from
    the user's teacher expression: the inherited linear ``teacher`` vector is zero and unused.
    """

    label: Callable[..., np.ndarray] | None = None
    input_mean: np.ndarray | None = None
    probability: Callable[..., np.ndarray] | None = None

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]):
        """Fresh inputs (*shape, N) and labels ``shape``."""
        X = rng.standard_normal((*shape, self.n_features))
        if self.input_cov is not None:
            X = X @ self._chol.T
        if self.input_mean is not None:
            X = X + self.input_mean
        if self.probability is not None:
            p = np.broadcast_to(self.probability(*np.moveaxis(X, -1, 0)), shape)
            return X, np.where(rng.random(shape) < p, 1.0, -1.0)
        y = np.broadcast_to(self.label(*np.moveaxis(X, -1, 0)), shape).astype(float)
        if self.noise_std > 0:
            y = y + self.noise_std * rng.standard_normal(shape)
        return X, y


def compile_model(model: SGDModel, parameters: Mapping | None = None) -> tuple[UserModel, UserData]:
    """(engine model, data model) of ``model`` at numeric ``parameters``."""
    engine = UserModel(model, parameters)
    values = engine.values
    n = len(model.inputs)
    mean = np.array([_numeric(m, values, "input_mean") for m in model.input_mean], dtype=float)
    cov = np.array([[_numeric(c, values, "input_cov") for c in row] for row in model.input_cov.tolist()], dtype=float)
    teacher = model.teacher.subs(values) if model.teacher is not None else sp.Integer(0)
    label = sp.lambdify(list(model.inputs), teacher, modules="numpy")
    sigma = _numeric(model.noise_std, values, "noise_std")
    probability = (None if model.label_probability is None else
                   sp.lambdify(list(model.inputs), model.label_probability.subs(values), modules="numpy"))
    data = UserData(np.zeros(n), sigma, None if np.array_equal(cov, np.eye(n)) else cov, label=label,
                    input_mean=None if not mean.any() else mean, probability=probability)
    return engine, data


# =========================================================================== verify
@dataclass
class _Prediction:
    kind: str                      # "stationary", "trajectory" or "density"
    value: Callable | np.ndarray | None
    cdf: Callable | None = None
    size: int = 1                  # entries of the predicted mean (one per entry of the observable)


def _by_name(expr, values: dict, time: sp.Symbol):
    """``expr`` with every free symbol replaced by the value of the parameter of the same name (a user's plain
    ``Symbol("eta")`` is the package's η) and any symbol named like ``time`` by ``time``."""
    names = {str(k): v for k, v in values.items()}
    return expr.xreplace({sym: (time if sym.name == time.name else sp.sympify(names[sym.name])) for sym in expr.free_symbols
                          if sym.name in names or sym.name == time.name})


def _prediction(model: SGDModel, expected, values: dict, time: sp.Symbol, what: str) -> _Prediction:
    if isinstance(expected, StationaryDensity):
        dist = expected.to_scipy({p: values[p] for p in expected.parameters})
        return _Prediction("density", None, dist.cdf)
    if hasattr(expected, "cdf") and callable(expected.cdf):
        return _Prediction("density", None, expected.cdf)
    if isinstance(expected, str):
        raise ParameterError(f"{what} must be a sympy expression, a number or a density, not a string")
    if isinstance(expected, NumericValue):  # a quadrature result (its error is far below any Monte Carlo one)
        expected = np.asarray(expected.value, dtype=float)
    expr = sp.sympify(expected) if isinstance(expected, (int, float)) else expected
    if isinstance(expr, (list, tuple)) or (isinstance(expr, np.ndarray) and expr.dtype != object):
        expr = sp.Matrix(expr)
    if not isinstance(expr, (sp.Expr, sp.MatrixBase)):
        raise ParameterError(f"{what} must be a sympy expression or matrix, a number or a density; got "
                             f"{type(expected).__name__}")
    expr = _by_name(sp.ImmutableMatrix(expr) if isinstance(expr, sp.MatrixBase) else expr, values, time)
    stray = expr.free_symbols - {time}
    if stray:
        raise ParameterError(f"{what} depends on {sorted(map(str, stray))}, which are not among the parameters "
                             f"{sorted(str(k) for k in values)} (matched by name; give them in parameters=)")
    flat = list(expr) if isinstance(expr, sp.MatrixBase) else [expr]
    if expr.has(time):
        f = sp.lambdify(time, flat, modules="numpy")
        return _Prediction("trajectory", lambda t: np.stack([np.broadcast_to(v, np.shape(t)) for v in f(t)], axis=-1),
                           size=len(flat))
    if expr.has(sp.Integral):  # Gaussian expectations of a quadrature model, to rtol 1e-10 (QuadratureError if not)
        return _Prediction("stationary", np.ravel(evaluate(sp.Matrix(flat)).value), size=len(flat))
    return _Prediction("stationary", np.array([float(v) for v in flat]), size=len(flat))


def verify(model: SGDModel, expected, *, wrong, observable=None, parameters: Mapping | None = None,
           eta: float, batch_size: int, w0, n_steps: int, n_replicas: int = 1024, burn_in: int = 0,
           times=None, sampling: str = "online", n_samples: int | None = None, z: float = 5.0,
           seed: int = 0, wrong_description: str = "mutant", name: str = "user.verify",
           extrapolate=None) -> CheckResult:
    """Compare a symbolic prediction of ``model`` with direct minibatch SGD; returns a ``CheckResult``.

    ``expected`` (and the mutant ``wrong``, of the same kind; or a dict description → wrong prediction for
    several mutants) is one of
      - a number or an expression free of time: the stationary mean E f(w) of ``observable`` f (a sympy
        expression of the weights), measured as per-replica time averages after ``burn_in`` steps, mean ±
        standard error over independent replicas;
      - an expression of the continuum time t (``derivations.sgd`` convention t = ηk): E f(w(t)) at the
        steps ``times`` (a list of step numbers k), measured across replicas at each step;
      - a :class:`~derivations.calculus.stationary.StationaryDensity` (or an object with ``.cdf``): the law of f(w) at the
        end of the run, one sample per replica, Kolmogorov–Smirnov test; reported as the row
        "KS statistic D" with z the normal quantile of the KS p-value (|z| ≤ 5 ⇔ p ≥ 5.7e-7).
    Parameters of the predictions (η, B, κ and the model's constants) are substituted from ``parameters``
    (η → ``eta``, B → ``batch_size``), matched by name: a plain ``Symbol("eta")`` is η, any symbol named ``t``
    the time. ``observable`` may be a matrix (or list) of expressions with ``expected`` of the same shape: one
    run, one row per entry (e.g. a covariance). A step at which every replica has the same value (k = 0) is
    compared exactly, not with a round-off standard error; ``runtime_s`` is the wall time of the call.
    ``extrapolate=(1, 2, 3)`` (factors of ``eta``) compares a continuum stationary prediction with discrete SGD
    without a floor: measured/predicted at each η·m, Richardson-extrapolated to η → 0, against 1. CONFIRMED when |z| ≤ ``z`` for every row (no floor) *and* the same
    data reject every mutant; REFUTED when a row is rejected; INCONCLUSIVE otherwise.
    """
    from derivations.sgd import B as B_SYMBOL
    from derivations.sgd import eta as ETA_SYMBOL
    from derivations.sgd import kappa as KAPPA_SYMBOL
    from derivations.conventions import minibatch_noise_scale

    start = time_module.perf_counter()
    eta = require_positive("eta", eta)
    require_int_in_range("n_replicas", n_replicas, 2)
    engine, data_model = compile_model(model, parameters)
    values = dict(engine.values)
    values.update({ETA_SYMBOL: eta, B_SYMBOL: batch_size})
    if sampling != "epoch":  # reshuffling has no i.i.d. minibatch scale κ
        values[KAPPA_SYMBOL] = float(minibatch_noise_scale(batch_size, sampling, n_samples))
    time = sp.Symbol("t", nonnegative=True)
    pred = _prediction(model, expected, values, time, "expected")
    wrongs, wrong_items = {}, list(wrong.items() if isinstance(wrong, Mapping) else [(wrong_description, wrong)])
    for description, w in wrong_items:
        neg = _prediction(model, w, values, time, "wrong")
        if pred.kind == "trajectory" and neg.kind == "stationary":  # a constant is a time-independent mean
            neg = _Prediction("trajectory", lambda t, c=neg.value: np.broadcast_to(c, (*np.shape(t), c.size)), size=neg.size)
        if pred.kind != neg.kind:
            raise ParameterError(f"expected is a {pred.kind} prediction but wrong is a {neg.kind} one")
        wrongs[str(description)] = neg
    f = model.weights[0] if observable is None else observable
    if isinstance(f, (list, tuple)):
        f = sp.Matrix(f)
    if not isinstance(f, (sp.Expr, sp.MatrixBase)):
        raise ParameterError("observable must be a sympy expression (or matrix of expressions) of the weights")
    f = _by_name(sp.ImmutableMatrix(f) if isinstance(f, sp.MatrixBase) else f, values, time)
    if f.free_symbols - set(model.weights):
        raise ParameterError(f"observable depends on {sorted(map(str, f.free_symbols - set(model.weights)))}")
    entries = list(f) if isinstance(f, sp.MatrixBase) else [f]
    labels = [f"E[{e}]" for e in entries]
    if len(set(labels)) < len(labels):  # e.g. a symmetric matrix: name entries by position
        labels = [f"E[f[{i},{j}]]" for i in range(f.shape[0]) for j in range(f.shape[1])]
    if pred.kind == "density" and len(entries) != 1:
        raise ParameterError("a density is the law of one scalar observable")
    if pred.size != len(entries):
        raise ParameterError(f"expected has {pred.size} entries but the observable has {len(entries)}")
    feat = sp.lambdify(list(model.weights), entries, modules="numpy")

    def features(w):
        return np.stack([np.broadcast_to(v, (w.shape[0],)) for v in feat(*w.T)], axis=1)

    data = data_model if sampling == "online" else data_model.dataset(n_samples, seed=seed + 1)
    if extrapolate is not None:
        return replace(_verify_extrapolated(
            model, expected, wrong_items, values, time, labels, extrapolate, engine, data, features, name, seed, z,
            burn_in, dict(eta=eta, batch_size=batch_size, n_steps=n_steps, n_replicas=n_replicas, sampling=sampling,
                          w0=w0)), runtime_s=time_module.perf_counter() - start)
    run = dict(eta=eta, batch_size=batch_size, n_steps=n_steps, n_replicas=n_replicas, sampling=sampling, w0=w0,
               seed=seed)
    if pred.kind == "stationary":
        est = _stationary_mean(engine, data, features, burn_in, run)
    else:
        obs = TrajectoryObserver(features, stride=1 if pred.kind == "trajectory" else n_steps)
        run_sgd(engine, data, observers=[obs], **run)
    params = {"eta": eta, "batch_size": batch_size, "sampling": sampling, "n_steps": n_steps, "n_replicas": n_replicas,
              **{str(k): v for k, v in engine.values.items()}}
    notes = list(model.notes)
    if pred.kind == "stationary":
        cmp = Comparison.make(labels, pred.value, est.value, est.stderr, {d: w.value for d, w in wrongs.items()}, z=z)
        tol = "stderr over independent replicas of per-replica time averages"
    elif pred.kind == "trajectory":
        steps = np.asarray(times if times is not None else np.linspace(0, n_steps, 6)[1:], dtype=int)
        if steps.min() < 0 or steps.max() > n_steps:
            raise ParameterError(f"times must be steps in [0, {n_steps}], got {steps}")
        values_k = obs.values[steps]  # (T, R, m)
        # a step at which every replica has the same value (e.g. k = 0) carries no sampling error: it is compared
        # exactly (to round-off) — dropped with a note when equal, kept when not (its zero stderr rejects it)
        predicted = pred.value(eta * steps)  # (T, m)
        scale = np.abs(values_k).max(axis=(1, 2)) + 1e-300
        deterministic = np.ptp(values_k, axis=1).max(axis=1) <= 1e-12 * scale
        equal = np.array([np.allclose(v[0], p, rtol=1e-9, atol=1e-12 * c) for v, p, c in zip(values_k, predicted, scale)])
        for k in steps[deterministic & equal]:
            notes.append(f"k={k}: every replica has the same value (no sampling error): compared exactly, equal to "
                         "the prediction (no row)")
        keep = ~(deterministic & equal)
        if not keep.any():
            raise ParameterError("every requested step is deterministic (the same value in every replica): give "
                                 "times at which the noise has acted, e.g. k >= 1")
        est = replica_mean(values_k[keep], axis=1)  # (T', m)
        names = [f"{lab} at k={k}" for k in steps[keep] for lab in labels]
        cmp = Comparison.make(names, predicted[keep].ravel(), est.value.ravel(), est.stderr.ravel(),
                              {d: w.value(eta * steps[keep]).ravel() for d, w in wrongs.items()}, z=z)
        tol = "stderr over independent replicas at each step"
    else:
        sample = obs.values[-1, :, 0]
        ks = ks_test(sample, pred.cdf)
        judged = {d: ks_test(sample, w.cdf) for d, w in wrongs.items()}
        cmp = Comparison.ks("KS statistic D", ks, judged, z)
        tol = (f"KS p-values {ks.pvalue:.3g} (prediction), "
               + ", ".join(f"{r.pvalue:.3g} ({d})" for d, r in judged.items()) + f", n = {ks.n}")
    return replace(comparison_result(name, params, seed, cmp, f"|z| <= {z:g}; {tol}", notes),
                   runtime_s=time_module.perf_counter() - start)


def _stationary_mean(engine, data, features, burn_in: int, run: dict) -> Estimate:
    """Per-replica time averages of ``features`` after ``burn_in`` steps of ``run_sgd(**run)``: mean ± standard
    error over the independent replicas."""
    obs = MomentObserver(features, burn_in=burn_in, n_batches=16)
    run_sgd(engine, data, observers=[obs], **run)
    return replica_mean(obs.replica_means)


def _verify_extrapolated(model, expected, wrong_items, values, time, labels, factors, engine, data, features, name,
                         seed, z, burn_in: int, run: dict) -> CheckResult:
    """A continuum (η → 0) stationary prediction P(η) against discrete SGD without a floor: at η·m for each
    factor m (the same continuum time: n_steps/m steps, burn_in/m burn-in), the ratio of the measured mean to
    P(η·m), Richardson-extrapolated to η → 0 (weighted polynomial of degree max(1, len(factors) − 2)) and
    compared with 1; a mutant P′ predicts the extrapolated P′/P instead."""
    from derivations.sgd import eta as ETA_SYMBOL

    factors = np.asarray(factors, dtype=float)
    if factors.ndim != 1 or factors.size < 2 or np.any(factors <= 0) or np.unique(factors).size != factors.size:
        raise ParameterError(f"extrapolate must be >= 2 distinct positive factors of eta, got {factors!r}")
    if isinstance(expected, StationaryDensity) or hasattr(expected, "cdf"):
        raise ParameterError("extrapolate= applies to stationary means, not to densities")
    etas = run["eta"] * factors
    ratios, wrong_ratios = [], {str(d): [] for d, _ in wrong_items}
    for i, (e, m) in enumerate(zip(etas, factors)):
        at = {**values, ETA_SYMBOL: e}
        pred = _prediction(model, expected, at, time, "expected")
        if pred.kind != "stationary":
            raise ParameterError("extrapolate= applies to stationary predictions (free of the time t)")
        if np.any(pred.value == 0):
            raise ParameterError("extrapolate= compares measured/predicted: the prediction must be non-zero")
        est = _stationary_mean(engine, data, features, int(round(burn_in / m)),
                               {**run, "eta": e, "n_steps": max(1, int(round(run["n_steps"] / m))),
                                "seed": child_seed(seed, i)})
        ratios.append(Estimate(est.value / pred.value, est.stderr / np.abs(pred.value)))
        for d, w in wrong_items:
            wrong_ratios[str(d)].append(Estimate(_prediction(model, w, at, time, "wrong").value / pred.value, 1.0))
    degree = max(1, factors.size - 2)
    limit, chi2 = extrapolate_to_zero(etas, ratios, degree)
    mutants = {d: extrapolate_to_zero(etas, r, degree)[0].value for d, r in wrong_ratios.items()}
    cmp = Comparison.make([f"{lab} / prediction, eta -> 0" for lab in labels], np.ones(len(labels)), limit.value,
                          limit.stderr, mutants, z=z)
    notes = list(model.notes) + [
        f"continuum prediction vs discrete SGD: measured/predicted at eta = {', '.join(f'{e:g}' for e in etas)}, "
        f"extrapolated to eta -> 0 (degree {degree}; chi2 of the fit {', '.join(f'{c:.2g}' for c in np.ravel(chi2))})"]
    params = {**{k: v for k, v in run.items() if k != "w0"}, "burn_in": burn_in, "extrapolate": factors.tolist(),
              **{str(k): v for k, v in engine.values.items()}}
    return comparison_result(name, params, seed, cmp,
                             f"|z| <= {z:g}, no floor: ratio to the prediction extrapolated to eta -> 0 with propagated "
                             "stderr over independent replicas", notes)

