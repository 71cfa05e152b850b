"""MNIST or Fashion-MNIST from files the user already has on disk; nothing is downloaded.

Formats: IDX (LeCun's: a big-endian magic number 0x00000803 for images, 0x00000801 for labels, the dimensions,
then unsigned bytes), plain or gzipped (recognised by content, not name); or ``.npz`` with the arrays
``x_train``, ``y_train`` and optionally ``x_test``, ``y_test`` (the layout of Keras's ``mnist.npz``). Inputs:
the images flattened row-major (28×28 → 784), pixels 0..255 scaled to [0, 1]. Labels: the class 0..9. Without a
test pool the test set is carved out of the training pool (:mod:`numerics.data.split`).
"""

from __future__ import annotations

import gzip
import pathlib

import numpy as np

from numerics.data.split import DataSplit, split
from numerics.errors import ParameterError

MAGIC = {"images": 0x803, "labels": 0x801}  # unsigned bytes (0x08) in 3 and 1 dimensions


def _existing(path) -> pathlib.Path:
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path} (sgdnoise downloads nothing: give a file you have)")
    return path


def read_idx(path, kind: str) -> np.ndarray:
    """The uint8 array of an IDX file of MNIST ``kind`` ("images" (n, rows, cols) or "labels" (n,))."""
    path = _existing(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    magic = int.from_bytes(raw[:4], "big")
    if magic != MAGIC[kind]:
        raise ParameterError(f"{path}: magic number 0x{magic:08x}, expected 0x{MAGIC[kind]:08x} for MNIST {kind}")
    ndim = magic & 0xFF
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=min(len(raw), 4 + 4 * ndim))
    if data.size != np.prod(dims):
        raise ParameterError(f"{path}: {data.size} bytes of data, the header announces {dims}")
    return data.reshape(dims)


def _pool(images: np.ndarray, labels: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(X (n, d) in [0, 1], y (n,)) from uint8 images (n, …) and their labels."""
    if images.dtype != np.uint8 or images.ndim < 2:
        raise ParameterError(f"{source}: images must be uint8 pixels (n, rows, cols), got {images.dtype} "
                             f"{images.shape}")
    if labels.shape != (len(images),):
        raise ParameterError(f"{source}: {len(images)} images but {labels.shape[0] if labels.ndim else 0} labels")
    return images.reshape(len(images), -1) / 255.0, labels.astype(np.int64)


def mnist_idx(images, labels, test_images=None, test_labels=None, *, n_train: int | None = None,
              n_test: int | None = None, seed=0) -> DataSplit:
    """MNIST or Fashion-MNIST from IDX files (e.g. ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``
    and optionally the ``t10k`` pair as the test pool)."""
    train = _pool(read_idx(images, "images"), read_idx(labels, "labels"), f"{images} / {labels}")
    test = None
    if (test_images is None) != (test_labels is None):
        raise ParameterError("give both test_images and test_labels, or neither")
    if test_images is not None:
        test = _pool(read_idx(test_images, "images"), read_idx(test_labels, "labels"),
                     f"{test_images} / {test_labels}")
    return split(*train, n_classes=10, n_train=n_train, n_test=n_test, seed=seed, test=test,
                 description=f"MNIST IDX {pathlib.Path(images).name} (pixels in [0, 1])")


def mnist_npz(path, *, n_train: int | None = None, n_test: int | None = None, seed=0) -> DataSplit:
    """MNIST or Fashion-MNIST from an ``.npz`` with ``x_train``, ``y_train`` (and ``x_test``, ``y_test``)."""
    path = _existing(path)
    with np.load(path) as arrays:
        found = set(arrays.files)
        if not {"x_train", "y_train"} <= found or len(found & {"x_test", "y_test"}) == 1:
            raise ParameterError(f"{path}: needs arrays x_train, y_train (and both or neither of x_test, y_test); "
                                 f"found {sorted(found)}")
        train = _pool(arrays["x_train"], arrays["y_train"], f"{path} (train)")
        test = _pool(arrays["x_test"], arrays["y_test"], f"{path} (test)") if "x_test" in found else None
    return split(*train, n_classes=10, n_train=n_train, n_test=n_test, seed=seed, test=test,
                 description=f"MNIST npz {path.name} (pixels in [0, 1])")
