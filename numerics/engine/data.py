"""Synthetic data: Gaussian inputs and a linear teacher with Gaussian label noise (seeded).

A :class:`Dataset` is a fixed sample (finite-data SGD); a :class:`GaussianTeacher` is a data model
that draws fresh samples (``online`` sampling) and can also draw a fixed ``Dataset``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numerics.errors import ParameterError, require_int_in_range
from numerics.engine.rng import as_generator


@dataclass(frozen=True)
class Dataset:
    """P fixed samples: inputs ``X`` (P, N) and targets ``y`` (P,)."""

    X: np.ndarray
    y: np.ndarray

    def __post_init__(self):
        X, y = np.asarray(self.X, dtype=float), np.asarray(self.y, dtype=float)
        if X.ndim != 2:
            raise ParameterError(f"X must be a 2-D array (P, N), got shape {X.shape}")
        if y.shape != (X.shape[0],):
            raise ParameterError(f"y must have shape ({X.shape[0]},) to match X {X.shape}, got {y.shape}")
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise ParameterError("X and y must be finite (found NaN or inf)")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]


@dataclass(frozen=True)
class GaussianTeacher:
    """x ~ N(0, I_N) (or N(0, Σ_x) with ``input_cov``), y = w*ᵀx + ε, ε ~ N(0, σ²)."""

    teacher: np.ndarray
    noise_std: float = 0.0
    input_cov: np.ndarray | None = None

    def __post_init__(self):
        w = np.atleast_1d(np.asarray(self.teacher, dtype=float))
        object.__setattr__(self, "teacher", w)
        if self.noise_std < 0 or not np.isfinite(self.noise_std):
            raise ParameterError(f"noise_std (σ) must be finite and >= 0, got {self.noise_std!r}")
        if self.input_cov is not None:
            cov = np.asarray(self.input_cov, dtype=float)
            if cov.shape != (w.size, w.size):
                raise ParameterError(f"input_cov must be {w.size}x{w.size}, got {cov.shape}")
            object.__setattr__(self, "input_cov", cov)
            object.__setattr__(self, "_chol", np.linalg.cholesky(cov))

    @property
    def n_features(self) -> int:
        return self.teacher.size

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Fresh inputs of shape (*shape, N) and targets of shape ``shape``."""
        X = rng.standard_normal((*shape, self.n_features))
        if self.input_cov is not None:
            X = X @ self._chol.T
        y = X @ self.teacher
        if self.noise_std > 0:
            y = y + self.noise_std * rng.standard_normal(shape)
        return X, y

    def dataset(self, n_samples: int, seed=None) -> Dataset:
        """A fixed sample of ``n_samples`` pairs."""
        require_int_in_range("n_samples", n_samples, 1)
        X, y = self.sample(as_generator(seed), (n_samples,))
        return Dataset(X, y)


def gaussian_teacher(n_features: int, noise_std: float = 0.0, seed=None) -> GaussianTeacher:
    """A teacher with w* ~ N(0, I_N / N) (so that E (w*ᵀx)² = 1) and label noise σ = ``noise_std``."""
    require_int_in_range("n_features", n_features, 1)
    w = as_generator(seed).standard_normal(n_features) / np.sqrt(n_features)
    return GaussianTeacher(w, noise_std)
