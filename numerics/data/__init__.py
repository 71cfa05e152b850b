"""Classification data sets, nothing fetched at run time: scikit-learn's digits (shipped), MNIST-1D (generated
locally by the ``mnist1d`` package), a random teacher network's labels, and MNIST/Fashion-MNIST from IDX or
``.npz`` files the user already has.

Every loader returns a :class:`DataSplit`: X float64 (P, d) scaled as its module says, y int (P,) classes
0..K−1, and a test set; the training set of size P and the test set are drawn by a seed
(:mod:`numerics.data.split`: nested in P, the test set independent of P).
"""

from numerics.data.digits import digits
from numerics.data.files import mnist_idx, mnist_npz, read_idx
from numerics.data.mnist_1d import mnist1d
from numerics.data.split import DataSplit, split
from numerics.data.teacher import teacher

__all__ = ["DataSplit", "split", "digits", "mnist1d", "teacher", "mnist_idx", "mnist_npz", "read_idx"]
