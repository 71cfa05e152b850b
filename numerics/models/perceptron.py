"""Seed 002: the hinge perceptron under SGD noise (Sclocchi, Geiger & Wyart 2023; Sclocchi & Wyart 2024).

Data (formula sheet 002, :class:`PerceptronData`): x ∈ ℝ^d, x₁ = s·√(2G), G ~ Gamma((χ+1)/2, 1), s = ±1 with
probability ½, so ρ(x₁) = |x₁|^χ e^{−x₁²/2} / (2^{(χ+1)/2} Γ((χ+1)/2)); x₂..x_d ~ N(0, 1); y = sign(x₁).

Model (:class:`HingePerceptron`): f(w, x) = w·x/√d, output centred at initialisation o = f(w, x) − f(w₀, x),
per-sample loss ℓ = max(0, 1 − α y o)/α, L = (1/P) Σ_p ℓ_p. Per-sample gradient g = −y x/√d on violating points
(margin h = y (w − w₀)·x/√d < κ = 1/α), else 0. Weights are stored as w − w₀ (start at 0): the centred model
does not depend on w₀ otherwise.

SGD (w_{k+1} = w_k − η ĝ_k, with replacement, T = η/B, t = ηk), each replica on its own training set, until
every training margin is satisfied; t* = η·(steps to zero training loss). Gradient descent, the T → 0
reference, is batch_size = P (the exact full gradient every step). Two engines run these dynamics: the generic
``numerics.engine.sgd.run_sgd`` with :class:`HingePerceptron` (the engine's data are the indices 0..P−1, see
:func:`index_data`; ``stop_when=model.fitted``), and the compiled :mod:`numerics.engine.hinge_kernel` that
:func:`train` uses (exact stopping time with sparse stopping tests; tested against the generic engine).
Because the output is centred, only α(w − w₀) enters the dynamics: a run at (α, η) is the α = 1 run at
learning rate αη, scaled by 1/α — everything depends on (αη, B) up to that scale.

:func:`train` is a sweep task, a pure function of (params, seed) for ``numerics.run.sweeps``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from numerics.engine.data import Dataset
from numerics.errors import ParameterError, require_choice, require_int_in_range, require_known, require_positive
from numerics.engine.hinge_kernel import train_to_zero_loss
from numerics.engine.rng import as_generator, child_seed
from numerics.stats import PowerLawFit, power_law_fit


@dataclass(frozen=True)
class PerceptronData:
    """The data model of formula sheet 002 in dimension ``d`` with boundary exponent ``chi`` ≥ 0."""

    d: int
    chi: float = 0.0

    def __post_init__(self):
        require_int_in_range("d", self.d, 2)
        if not (np.isfinite(self.chi) and self.chi >= 0):
            raise ParameterError(f"chi must be a finite number >= 0, got {self.chi!r}")

    @property
    def n_features(self) -> int:
        return self.d

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Inputs (*shape, d) and labels (*shape,): x₁ = s√(2G), G ~ Gamma((χ+1)/2, 1); x_⊥ ~ N(0, I); y = sign(x₁)."""
        shape = tuple(shape)
        X = rng.standard_normal((*shape, self.d))
        sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
        X[..., 0] = sign * np.sqrt(2.0 * rng.gamma((self.chi + 1.0) / 2.0, 1.0, size=shape))
        return X, sign

    def dataset(self, n_samples: int, seed=None) -> Dataset:
        require_int_in_range("n_samples", n_samples, 1)
        return Dataset(*self.sample(as_generator(seed), (n_samples,)))


def index_data(n_samples: int) -> Dataset:
    """Engine data for per-replica training sets: X = the indices 0..P−1 (column), y = 0 (unused)."""
    return Dataset(np.arange(n_samples, dtype=float)[:, None], np.zeros(n_samples))


class HingePerceptron:
    """Centred hinge perceptron with one training set per replica.

    ``X`` (R, P, d) and ``y`` (R, P) (or (P, d), (P,) shared by all replicas); ``alpha`` > 0 the scale
    (margin κ = 1/α). ``minibatch_gradient`` receives index minibatches from :func:`index_data` and gathers
    replica r's samples from its own set; it needs ``run_sgd(..., block_size >= R)`` so that the rows of ``w``
    are the replicas 0..R−1 (checked).
    """

    def __init__(self, X, y, alpha: float):
        X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        if X.ndim == 2:
            X, y = X[None], y[None]
        if X.ndim != 3 or y.shape != X.shape[:2]:
            raise ParameterError(f"X must be (R, P, d) with y (R, P) (or (P, d) and (P,)); got {X.shape}, {y.shape}")
        if not np.all(np.abs(y) == 1):
            raise ParameterError("labels y must be ±1")
        self.alpha = require_positive("alpha", alpha)
        self.kappa = 1.0 / self.alpha
        self.n_sets, self.n_samples, self.n_params = X.shape
        self.Z = y[..., None] * X / np.sqrt(self.n_params)  # margins h = Z·w
        self._rows = np.arange(self.n_sets)[:, None]

    def _sets(self, R: int) -> np.ndarray:
        if self.n_sets == 1:
            return np.zeros((R, 1), dtype=int)
        if R != self.n_sets:
            raise ParameterError(f"the model holds {self.n_sets} training sets but got {R} replicas; "
                                 "use n_replicas = number of sets and block_size >= n_replicas")
        return self._rows

    def minibatch_gradient(self, w, X, y):
        """Mean over the minibatch of −Z Θ(κ − Z·w); ``X`` (R, B, 1) holds sample indices."""
        Zb = self.Z[self._sets(len(w)), X[..., 0].astype(np.intp)]
        violated = np.einsum("rbd,rd->rb", Zb, w) < self.kappa
        return -np.einsum("rb,rbd->rd", violated, Zb) / X.shape[1]

    def per_sample_gradients(self, w, X, y):
        """Per-sample gradients at one weight vector: −y x/√d on violating points, 0 elsewhere (P, d)."""
        Z = np.asarray(y, dtype=float)[:, None] * np.asarray(X, dtype=float) / np.sqrt(self.n_params)
        return -Z * ((Z @ w) < self.kappa)[:, None]

    def margins(self, w) -> np.ndarray:
        """h (R, P) of every replica on its own training set."""
        return np.einsum("rpd,rd->rp", self.Z[self._sets(len(w))[:, 0]], w)

    def fitted(self, w) -> np.ndarray:
        """Stopping criterion (R,): every training margin satisfied (training loss exactly 0)."""
        return (self.margins(w) >= self.kappa).all(axis=1)


def generalisation_error(w: np.ndarray, chi: float) -> np.ndarray:
    """Exact test error on fresh data, per replica: Pr(sign(w·x) ≠ y) = E_{|x₁|}[Φ(−w₁|x₁|/‖w_⊥‖)].

    y w·x = w₁|x₁| + ‖w_⊥‖ g with g ~ N(0, 1) independent of x₁ (x_⊥ Gaussian), so only the |x₁| integral is
    numerical (trapezoid on 0 ≤ |x₁| ≤ 12 with 4001 nodes, density |x₁|^χ e^{−x₁²/2} normalised on the grid).
    """
    from scipy.special import ndtr

    w = np.atleast_2d(np.asarray(w, dtype=float))
    grid = np.linspace(0.0, 12.0, 4001)
    dens = grid ** chi * np.exp(-grid ** 2 / 2)
    weights = np.trapezoid(np.eye(grid.size), grid, axis=1) * dens
    weights /= weights.sum()
    r = np.linalg.norm(w[:, 1:], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        arg = -np.outer(w[:, 0], grid) / r[:, None]
    arg = np.where(r[:, None] > 0, arg, -np.sign(w[:, :1]) * np.inf)
    return ndtr(arg) @ weights


@functools.lru_cache(maxsize=1)
def digits_parity() -> Dataset:
    """scikit-learn's digits (1 797 images, 8×8) with parity labels y = +1 (even digit) / −1 (odd), pixels
    standardised one by one (mean 0, variance 1; the 3 constant pixels dropped: d = 61). Loaded once per
    process (every digits training task of a sweep uses it); the arrays are read-only."""
    from numerics.models.mlp import load_digits_data

    X, digit = load_digits_data(10, standardise=False)
    X = X[:, X.std(axis=0) > 0]
    data = Dataset((X - X.mean(axis=0)) / X.std(axis=0), np.where(digit % 2 == 0, 1.0, -1.0))
    data.X.setflags(write=False)
    data.y.setflags(write=False)
    return data


DATA_KINDS = ("synthetic", "digits")
DIGITS_TEST = 497  # held-out digits (the first ones of a seeded permutation); the other 1 300 are the pool
TRAIN_DEFAULTS = dict(data="synthetic", d=16, chi=0.0, n_samples=128, alpha=1e4, eta=0.1, batch_size=1,
                      n_replicas=32, max_steps=10_000_000)


def _training_sets(p: dict, rng: np.random.Generator):
    """(X (R, P, d), y (R, P), test error of weights (R, d)) for the sweep task :func:`train`."""
    R, P = int(p["n_replicas"]), int(p["n_samples"])
    if p["data"] == "synthetic":
        data = PerceptronData(int(p["d"]), float(p["chi"]))
        X, y = data.sample(rng, (R, P))
        return X, y, lambda w: generalisation_error(w, data.chi)
    full = digits_parity()
    order = rng.permutation(full.n_samples)
    test, pool = order[:DIGITS_TEST], order[DIGITS_TEST:]
    require_int_in_range("n_samples", P, 1, pool.size)
    idx = np.stack([rng.choice(pool, P, replace=False) for _ in range(R)])
    Xt, yt = full.X[test], full.y[test]
    return full.X[idx], full.y[idx], lambda w: (np.sign(Xt @ w.T) != yt[:, None]).mean(axis=0)


def train(params: dict, seed: int) -> dict:
    """Sweep task: train ``n_replicas`` centred hinge perceptrons, each on its own training set of ``n_samples``
    points, by SGD with replacement (T = η/B) until every training margin is satisfied; gradient descent (the
    full gradient every step) when batch_size == n_samples. Compiled kernel: :mod:`numerics.engine.hinge_kernel`.

    Parameters (defaults ``TRAIN_DEFAULTS``): data ("synthetic": :class:`PerceptronData` (d, chi); "digits":
    :func:`digits_parity`, each replica's set drawn without replacement from a pool of 1 300 images, test error on
    the 497 others), n_samples (P), alpha (margin κ = 1/α), eta, batch_size, n_replicas, max_steps.
    Returns per-replica lists ``norm`` (‖w − w₀‖), ``relative_change`` (‖w − w₀‖/√d, the initialisation
    scale E‖w₀‖² = d), ``t_star`` (η × steps to zero training loss; NaN when not fitted within max_steps),
    ``test_error``; for synthetic data also ``w1`` and ``wperp`` (‖w_⊥‖); and ``temperature`` = η/B.
    """
    p = {**TRAIN_DEFAULTS, **params}
    require_known("train", params, TRAIN_DEFAULTS)
    require_choice("data", p["data"], DATA_KINDS)
    P, R = (require_int_in_range(k, p[k], 1) for k in ("n_samples", "n_replicas"))
    B = require_int_in_range("batch_size", p["batch_size"], 1, P)
    eta, alpha = require_positive("eta", p["eta"]), require_positive("alpha", p["alpha"])
    X, y, test_error = _training_sets(p, np.random.default_rng(child_seed(seed, 0)))
    d = X.shape[-1]
    w, steps = train_to_zero_loss(y[..., None] * X / np.sqrt(d), 1.0 / alpha, eta, B, int(p["max_steps"]),
                                  seed=child_seed(seed, 1), full_batch=B == P)
    norm = np.linalg.norm(w, axis=1)
    out = {"norm": norm.tolist(), "relative_change": (norm / np.sqrt(d)).tolist(),
           "t_star": np.where(steps >= 0, eta * steps, np.nan).tolist(), "test_error": test_error(w).tolist(),
           "temperature": eta / B}
    if p["data"] == "synthetic":
        out.update(w1=w[:, 0].tolist(), wperp=np.linalg.norm(w[:, 1:], axis=1).tolist())
    return out


def replica_mean_of(results: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over replicas of ``key`` (or of "snr" = w1/wperp) for each sweep result."""
    means, errs = [], []
    for res in results:
        a = np.asarray(res["w1"]) / np.asarray(res["wperp"]) if key == "snr" else np.asarray(res[key], dtype=float)
        if not np.all(np.isfinite(a)):
            raise ParameterError(f"{key}: some replicas did not fit their training set; raise max_steps")
        means.append(a.mean())
        errs.append(a.std(ddof=1) / np.sqrt(a.size))
    return np.array(means), np.array(errs)


def fit_exponent(x, results: list[dict], key: str, confidence: float = 0.95) -> PowerLawFit:
    """Power-law exponent of the replica mean of ``key`` against ``x`` (weighted by the replica standard errors)."""
    mean, err = replica_mean_of(results, key)
    return power_law_fit(np.asarray(x, dtype=float), mean, y_stderr=err, confidence=confidence)


@dataclass(frozen=True)
class Crossover:
    """A crossover located on measured replica means: ``value`` with the standard error of its logarithm,
    and the evaluations it used as (abscissa, mean, standard error) triples."""

    value: float
    log_stderr: float
    evaluations: tuple[tuple[float, float, float], ...]


def crossover_temperature(run_at, target: float = 1.0, T0: float = 0.1, key: str = "relative_change",
                          max_evals: int = 8) -> Crossover:
    """T_c where the replica mean m(T) of ``key`` crosses ``target`` (default: ‖w − w₀‖ = √d = the
    initialisation scale, the T_c criterion of ``perceptron.temperature_scaling``).

    ``run_at(T) -> train result``. Secant steps on (log T, log m) from T0 until two evaluations bracket the
    target — a step of a factor 1.25 towards it where the nearest evaluation lies within two of its standard errors
    of the target, where the secant's slope is noise —, then one evaluation at the interpolated crossing (unless one is within 5% already). T_c: where
    the weighted straight line log m = c + s (log T − x̄) through the evaluations within a factor 4 of the
    crossing (at least two temperatures) meets log target (weights: the replica standard errors of log m, taken as exact), with the
    delta-method standard error var(log T_c) = [var c + (log target − c)² var s / s²] / s².
    """
    evals = []

    def measure(T):
        mean, err = replica_mean_of([run_at(T)], key)
        evals.append((float(T), float(mean[0]), float(err[0])))

    def interpolated():
        """Crossing of the closest bracketing pair, or None when nothing brackets the target yet."""
        pairs = [(b, a) for b in evals if b[1] < target for a in evals if a[1] >= target]
        if not pairs:
            return None
        (t1, m1, _), (t2, m2, _) = min(pairs, key=lambda pair: abs(np.log(pair[1][0] / pair[0][0])))
        return t1 * np.exp(np.log(target / m1) * np.log(t2 / t1) / np.log(m2 / m1))

    measure(T0)
    measure(T0 * 2.0 if evals[0][1] < target else T0 / 2.0)
    while (T_guess := interpolated()) is None:
        if len(evals) >= max_evals:
            raise ParameterError(f"T_c not bracketed after {max_evals} evaluations {evals}; adjust T0")
        (t1, m1, e1), (t2, m2, _) = sorted(evals, key=lambda e: abs(np.log(e[1] / target)))[:2]
        gap = np.log(target / m1)
        if abs(gap) < 2 * e1 / m1:  # within the noise a secant crawls (even back to a temperature already run)
            measure(t1 * np.exp(np.sign(gap) * np.log(1.25)))
            continue
        slope = max(np.log(m2 / m1) / np.log(t2 / t1) if m1 != m2 else 1.0, 0.2)  # no wild jump when flat
        measure(t1 * np.exp(np.clip(1.1 * gap / slope, -np.log(8), np.log(8))))  # lands across
    if min(abs(np.log(e[1] / target)) for e in evals) > 0.05:
        measure(T_guess)
    by_distance = sorted(evals, key=lambda e: abs(np.log(e[0] / T_guess)))
    near = np.array([e for e in by_distance if abs(np.log(e[0] / T_guess)) <= np.log(4)] or by_distance[:2])
    if np.unique(near[:, 0]).size < 2:  # a line needs two temperatures: take the nearest other one
        near = np.array([by_distance[0], next(e for e in by_distance if e[0] != by_distance[0][0])])
    x, y, wt = np.log(near[:, 0]), np.log(near[:, 1]), (near[:, 1] / near[:, 2]) ** 2
    xbar = np.sum(wt * x) / wt.sum()
    sxx = np.sum(wt * (x - xbar) ** 2)
    s = np.sum(wt * (x - xbar) * y) / sxx
    c = np.sum(wt * y) / wt.sum()
    gap = np.log(target) - c
    log_tc = xbar + gap / s
    return Crossover(float(np.exp(log_tc)), float(np.sqrt((1 / wt.sum() + gap ** 2 / (s ** 2 * sxx)) / s ** 2)),
                     tuple(evals))


def crossover_batch_size(noisy: dict, gradient_descent: dict) -> Crossover:
    """B* = ‖w‖(B = 1)/‖w‖(gradient descent) at the same η: where the noise-dominated norm η P^γ/B (∝ T) meets the
    large-step norm (assumption A4 of ``perceptron.temperature_scaling``: ‖w‖ at B ≥ B* ≈ the first step, P-free).
    Standard error of log B* from the replica standard errors of both means (first order)."""
    (m1,), (e1,) = replica_mean_of([noisy], "norm")
    (m2,), (e2,) = replica_mean_of([gradient_descent], "norm")
    return Crossover(float(m1 / m2), float(np.hypot(e1 / m1, e2 / m2)),
                     ((1.0, float(m1), float(e1)), (float(len(gradient_descent["norm"])), float(m2), float(e2))))


def fit_crossovers(sizes, crossovers: list[Crossover], confidence: float = 0.95) -> PowerLawFit:
    """Power law of the crossover values against P, weighted by their standard errors."""
    values = np.array([c.value for c in crossovers])
    return power_law_fit(np.asarray(sizes, dtype=float), values,
                         y_stderr=values * np.array([c.log_stderr for c in crossovers]), confidence=confidence)


def crossover_task(params: dict, seed: int) -> dict:
    """Sweep task: T_c at one (data, d, chi, P, alpha) by :func:`crossover_temperature` (B = 1, η = T), seed
    ``seed`` for every evaluation (common random numbers: the same training sets at every T). Returns T_c,
    its log standard error, the evaluations, and for synthetic data ‖w_⊥‖/T and w₁/‖w_⊥‖ at the evaluation
    closest to T_c."""
    base = {k: v for k, v in params.items() if k != "T0"}
    last = {}

    def run_at(T):
        last[T] = train(dict(base, eta=T, batch_size=1), seed)
        return last[T]

    c = crossover_temperature(run_at, T0=params.get("T0", 0.1))
    out = {"T_c": c.value, "log_stderr": c.log_stderr, "evaluations": [list(e) for e in c.evaluations]}
    near = min(last, key=lambda T: abs(np.log(T / c.value)))
    if "wperp" in last[near]:
        out["wperp_per_T"] = float(np.mean(last[near]["wperp"]) / near)
        out["snr"] = float(np.mean(np.asarray(last[near]["w1"]) / np.asarray(last[near]["wperp"])))
    return out


def crossover_batch_task(params: dict, seed: int) -> dict:
    """Sweep task: B* at one (d, chi, P, alpha, eta) by :func:`crossover_batch_size` (B = 1 vs gradient descent,
    the same training sets)."""
    noisy = train(dict(params, batch_size=1), seed)
    gd = train(dict(params, batch_size=int(params["n_samples"])), seed)
    c = crossover_batch_size(noisy, gd)
    return {"B_star": c.value, "log_stderr": c.log_stderr, "gd_norm": float(np.mean(gd["norm"])),
            "noisy_norm": float(np.mean(noisy["norm"]))}


def crossovers_of(results: list[dict], key: str) -> list[Crossover]:
    """:class:`Crossover` objects from the JSON results of :func:`crossover_task` (key "T_c") or
    :func:`crossover_batch_task` (key "B_star")."""
    return [Crossover(r[key], r["log_stderr"], tuple(map(tuple, r.get("evaluations", ())))) for r in results]
