"""The common shape of the data sets and its seeded draws: nested training sets, a test set independent of P."""

import numpy as np
import pytest

from numerics.data import DataSplit, split
from numerics.errors import ParameterError


def _pool(n=50, d=3):
    return np.arange(n * d, dtype=float).reshape(n, d), np.arange(n) % 4


def test_one_pool_gives_disjoint_nested_sets_and_a_test_set_independent_of_p():
    X, y = _pool()
    small, large = split(X, y, n_classes=4, n_train=10, seed=3), split(X, y, n_classes=4, n_train=30, seed=3)
    np.testing.assert_array_equal(large.X[:10], small.X)
    np.testing.assert_array_equal(large.X_test, small.X_test)
    assert len(small.X_test) == 10 and not set(small.X[:, 0]) & set(small.X_test[:, 0])
    assert split(X, y, n_classes=4, seed=3).n_samples == 40         # None: everything the test set leaves
    assert not np.array_equal(split(X, y, n_classes=4, n_train=10, seed=4).X, small.X)
    assert small.X.dtype == np.float64 and small.y.dtype == np.int64 and "P = 10, seed 3" in small.description


def test_a_test_pool_is_drawn_from_independently():
    X, y = _pool()
    Xt, yt = _pool(20)
    a = split(X, y, n_classes=4, n_train=5, n_test=7, seed=1, test=(Xt + 0.5, yt))
    assert a.X_test.shape == (7, 3) and set(a.X_test[:, 0] % 1) == {0.5}
    np.testing.assert_array_equal(split(X, y, n_classes=4, n_train=9, n_test=7, seed=1, test=(Xt + 0.5, yt)).X_test,
                                  a.X_test)
    assert len(split(X, y, n_classes=4, seed=1, test=(Xt, yt)).X_test) == 20


def test_bad_sizes_and_labels_raise():
    X, y = _pool()
    with pytest.raises(ParameterError, match="n_train"):
        split(X, y, n_classes=4, n_train=41)
    with pytest.raises(ParameterError, match="n_test"):
        split(X, y, n_classes=4, n_test=50)
    with pytest.raises(ParameterError, match="integer classes 0..2"):
        split(X, y, n_classes=3)
    with pytest.raises(ParameterError, match="features"):
        DataSplit(X, y, X[:, :2], y, 4)
