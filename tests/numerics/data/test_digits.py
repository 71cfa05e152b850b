"""Digits through the common data shape: the same images and scaling as numerics.models.mlp.load_digits_data."""

import numpy as np

from numerics.data import digits
from numerics.models.mlp import load_digits_data


def test_digits_are_load_digits_data_split_by_the_seed():
    X, _ = load_digits_data(3)
    d = digits(100, 50, seed=2, n_classes=3)
    assert d.X.shape == (100, 64) and d.X_test.shape == (50, 64) and d.n_classes == 3
    assert set(d.y) == {0, 1, 2}
    rows = {tuple(r) for r in X}
    assert all(tuple(r) in rows for r in np.concatenate([d.X, d.X_test]))
    raw = digits(10, seed=2, standardise=False)
    assert raw.X.min() >= 0 and raw.X.max() <= 1 and len(raw.X_test) == 1797 // 5
