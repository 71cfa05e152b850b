"""The random teacher: labels are its argmax, the draws nested in P, the classes not dominated by one."""

import numpy as np

from numerics.data import teacher
from numerics.engine.rng import child_seed
from numerics.models.mlp import MLP


def test_teacher_labels_are_the_argmax_of_its_centred_outputs_and_sets_are_nested():
    small, large = teacher(50, 40, n_features=5, hidden=(7,), n_classes=3, seed=1), \
        teacher(200, 40, n_features=5, hidden=(7,), n_classes=3, seed=1)
    np.testing.assert_array_equal(large.X[:50], small.X)
    np.testing.assert_array_equal(large.X_test, small.X_test)
    net = MLP((5, 7, 3))
    w = net.init(child_seed(1, 0))
    m = net.output(w, np.random.default_rng(9).standard_normal((20_000, 5))).mean(axis=0)  # m, independently
    assert np.mean(np.argmax(net.output(w, large.X) - m, axis=1) == large.y) > 0.95
    assert np.bincount(large.y, minlength=3).min() > 0.15 * 200
    assert not np.array_equal(teacher(50, 40, n_features=5, hidden=(7,), n_classes=3, seed=2).y, small.y)
