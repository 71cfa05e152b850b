"""Seed 002: the hinge perceptron under SGD noise (Sclocchi, Geiger & Wyart 2023; Sclocchi & Wyart 2024).

Data (formula sheet 002, :class:`PerceptronData`): x ∈ ℝ^d, x₁ = s·√(2G), G ~ Gamma((χ+1)/2, 1), s = ±1 with
probability ½, so ρ(x₁) = |x₁|^χ e^{−x₁²/2} / (2^{(χ+1)/2} Γ((χ+1)/2)); x₂..x_d ~ N(0, 1); y = sign(x₁).

Model (:class:`HingePerceptron`): f(w, x) = w·x/√d, output centred at initialisation o = f(w, x) − f(w₀, x),
per-sample loss ℓ = max(0, 1 − α y o)/α, L = (1/P) Σ_p ℓ_p. Per-sample gradient g = −y x/√d on violating points
(margin h = y (w − w₀)·x/√d < κ = 1/α), else 0. Weights are stored as w − w₀ (start at 0): the centred model
does not depend on w₀ otherwise.

SGD through ``numerics.sgd.run_sgd`` (w_{k+1} = w_k − η ĝ_k, with replacement, T = η/B, t = ηk), each replica
on its own training set (the model holds R training sets; the engine's data are the indices 0..P−1, see
:func:`index_data`), frozen when every training margin is satisfied (``stop_when=model.fitted``);
t* = η·(steps to zero training loss). Gradient descent, the T → 0 reference, is batch_size = P without
replacement (every index every step: the exact full gradient).

:func:`train` is a sweep task, a pure function of (params, seed) for ``numerics.sweeps``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import Dataset
from .errors import ParameterError, require_int_in_range, require_positive
from .rng import as_generator, child_seed
from .sgd import run_sgd
from .stats import PowerLawFit, power_law_fit


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


TRAIN_DEFAULTS = dict(d=16, chi=0.0, n_samples=128, alpha=1e4, eta=0.1, batch_size=1, n_replicas=32,
                      max_steps=200_000, stop_every=10)


def train(params: dict, seed: int) -> dict:
    """Sweep task: train ``n_replicas`` perceptrons (each on its own training set of ``n_samples`` points) by
    SGD until every margin is satisfied; gradient descent when batch_size == n_samples.

    Parameters (defaults ``TRAIN_DEFAULTS``): d, chi, n_samples (P), alpha, eta, batch_size, n_replicas,
    max_steps, stop_every. Returns per-replica lists: ``w1``, ``wperp`` (‖w_⊥‖), ``norm``, ``t_star``
    (η × steps; NaN when not fitted within max_steps), ``test_error``; and ``temperature`` = η/B.
    """
    p = {**TRAIN_DEFAULTS, **params}
    unknown = set(params) - set(TRAIN_DEFAULTS)
    if unknown:
        raise ParameterError(f"unknown train parameters {sorted(unknown)}; known: {sorted(TRAIN_DEFAULTS)}")
    P, R, B = (require_int_in_range(k, p[k], 1) for k in ("n_samples", "n_replicas", "batch_size"))
    data = PerceptronData(int(p["d"]), float(p["chi"]))
    X, y = data.sample(np.random.default_rng(child_seed(seed, 0)), (R, P))
    model = HingePerceptron(X, y, p["alpha"])
    gd = B == P
    run = run_sgd(model, index_data(P), eta=p["eta"], batch_size=B, n_steps=int(p["max_steps"]), n_replicas=R,
                  sampling="without_replacement" if gd else "with_replacement", seed=child_seed(seed, 1),
                  block_size=R, stop_when=model.fitted, stop_every=int(p["stop_every"]), check_every=1000)
    w, steps = run.final, run.info["stopped_at"]
    return {"w1": w[:, 0].tolist(), "wperp": np.linalg.norm(w[:, 1:], axis=1).tolist(),
            "norm": np.linalg.norm(w, axis=1).tolist(),
            "t_star": np.where(steps >= 0, p["eta"] * steps, np.nan).tolist(),
            "test_error": generalisation_error(w, data.chi).tolist(), "temperature": p["eta"] / B}


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
