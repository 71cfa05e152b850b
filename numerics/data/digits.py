"""scikit-learn's digits: 8×8 images of 1 797 handwritten digits, shipped with scikit-learn (no download).

Inputs as :func:`numerics.models.mlp.load_digits_data` gives them: pixels scaled to [0, 1] and, with
``standardise``, centred per pixel and scaled to unit overall standard deviation (statistics of all the images of
the kept classes, test set included). Labels: the digit, 0..n_classes−1. One pool, split as
:mod:`numerics.data.split` says.
"""

from __future__ import annotations

from numerics.data.split import DataSplit, split
from numerics.models.mlp import load_digits_data


def digits(n_train: int | None = None, n_test: int | None = None, *, seed=0, n_classes: int = 10,
           standardise: bool = True) -> DataSplit:
    """Digits 0..n_classes−1: ``n_test`` test images (None: a fifth) and ``n_train`` training images (None: the
    rest), X (n, 64)."""
    X, y = load_digits_data(n_classes, standardise)
    scaling = "centred per pixel, unit overall std" if standardise else "pixels in [0, 1]"
    return split(X, y, n_classes=n_classes, n_train=n_train, n_test=n_test, seed=seed,
                 description=f"scikit-learn digits 0..{n_classes - 1} ({scaling})")
