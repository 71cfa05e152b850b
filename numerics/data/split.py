"""The one shape of every data set here: a training and a test set drawn from pools by a seed.

Conventions: inputs X float64 (n, d), scaled as the loader documents; labels y int (n,), classes 0..K−1
(K = ``n_classes``). Draws: ``SeedSequence(seed)``'s child 0 permutes the training pool and child 1 the test pool;
a source with one pool has it permuted by child 0, the test set its first ``n_test``, the training set the next
``n_train``. So the training set of size P is the first P samples of any larger one with the same seed (nested,
as a sweep over P wants), and the test set does not depend on P.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numerics.engine.rng import child_seed
from numerics.errors import ParameterError, require_int_in_range


@dataclass(frozen=True)
class DataSplit:
    """Training set (X, y) and test set (X_test, y_test) of a K-class problem; ``description`` names the source,
    the scaling of the inputs and the seed."""

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    description: str = ""

    def __post_init__(self):
        K = require_int_in_range("n_classes", self.n_classes, 2)
        for inputs, labels in (("X", "y"), ("X_test", "y_test")):
            X, y = np.asarray(getattr(self, inputs), dtype=np.float64), np.asarray(getattr(self, labels))
            if X.ndim != 2 or y.shape != (len(X),):
                raise ParameterError(f"{inputs} must be (n, d) and {labels} (n,), got {X.shape} and {y.shape}")
            if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= K):
                raise ParameterError(f"{labels} must be integer classes 0..{K - 1}")
            object.__setattr__(self, inputs, X)
            object.__setattr__(self, labels, y.astype(np.int64))
        if self.X.shape[1] != self.X_test.shape[1]:
            raise ParameterError(f"X has {self.X.shape[1]} features, X_test {self.X_test.shape[1]}")

    @property
    def n_samples(self) -> int:
        """P, the size of the training set."""
        return len(self.X)

    @property
    def n_features(self) -> int:
        return self.X.shape[1]


def split(X, y, *, n_classes: int, n_train: int | None = None, n_test: int | None = None, seed=0,
          test: tuple | None = None, description: str = "") -> DataSplit:
    """``n_train`` samples of the pool (X, y) (None: all that the test set leaves) and ``n_test`` of the test pool
    ``test`` = (X_test, y_test) (None: all of it); without ``test``, the test set is carved out of (X, y) first
    (``n_test`` None: a fifth of it). Drawn as the module says."""
    rng = np.random.default_rng(child_seed(seed, 0))
    order = rng.permutation(len(y))
    if test is None:
        n_test = len(y) // 5 if n_test is None else require_int_in_range("n_test", n_test, 1, len(y) - 1)
        test_idx, order = order[:n_test], order[n_test:]
        X_test, y_test = X[test_idx], y[test_idx]
    else:
        X_pool, y_pool = test
        keep = len(y_pool) if n_test is None else require_int_in_range("n_test", n_test, 1, len(y_pool))
        test_idx = np.random.default_rng(child_seed(seed, 1)).permutation(len(y_pool))[:keep]
        X_test, y_test = X_pool[test_idx], y_pool[test_idx]
    if n_train is not None:
        order = order[:require_int_in_range("n_train", n_train, 1, len(order))]
    return DataSplit(X[order], y[order], X_test, y_test, n_classes, f"{description}; P = {len(order)}, seed {seed}")
