"""A synthetic teacher: Gaussian inputs x ~ N(0, I_d) labelled by a random ReLU network, y = argmax_k (f_k(x) − m_k).

The teacher is :class:`numerics.models.mlp.MLP` with widths (d, *hidden, K), no biases, He-normal weights
(:meth:`~numerics.models.mlp.MLP.init`); m is its mean output over ``REFERENCE`` inputs of its own. Without m one
class would take most inputs: the ReLUs' outputs have a positive mean, which the last layer turns into a common
offset per class. Streams: ``SeedSequence(seed)``'s child 0 draws the teacher, child 1 the test inputs, child 2
the training inputs, row by row, child 3 the reference inputs; so the training set of size P is the first P rows
of any larger one (the convention of :mod:`numerics.data.split`) and the test set does not depend on P.
"""

from __future__ import annotations

import numpy as np

from numerics.data.split import DataSplit
from numerics.engine.rng import child_seed
from numerics.errors import require_int_in_range
from numerics.models.mlp import MLP

REFERENCE = 10_000  # inputs that fix the teacher's mean output m (its error ~ 1 % of the outputs' spread)


def teacher(n_train: int = 1000, n_test: int = 1000, *, n_features: int = 20, hidden=(64,), n_classes: int = 2,
            seed=0) -> DataSplit:
    """``n_train`` training and ``n_test`` test samples of one random teacher, X (n, n_features)."""
    net = MLP((n_features, *hidden, n_classes))
    w = net.init(child_seed(seed, 0))

    def inputs(n, stream):
        return np.random.default_rng(child_seed(seed, stream)).standard_normal((n, n_features))

    offset = net.output(w, inputs(REFERENCE, 3)).mean(axis=0)

    def samples(n, stream):
        X = inputs(n, stream)
        return X, np.argmax(net.output(w, X) - offset, axis=1)

    X_test, y_test = samples(require_int_in_range("n_test", n_test, 1), 1)
    X, y = samples(require_int_in_range("n_train", n_train, 1), 2)
    return DataSplit(X, y, X_test, y_test, n_classes,
                     f"ReLU teacher {net.widths} on x ~ N(0, I); P = {n_train}, seed {seed}")
