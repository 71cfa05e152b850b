"""The user's MNIST files, on small files written here: IDX (plain and gzipped) and npz, and their errors."""

import gzip

import numpy as np
import pytest

from numerics.data import mnist_idx, mnist_npz, read_idx
from numerics.errors import ParameterError


def _idx(path, array, magic, zipped=False):
    raw = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(raw) if zipped else raw)
    return path


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 4, 3), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


@pytest.mark.parametrize("zipped", [False, True])
def test_idx_files_load_scaled_flattened_and_split(tmp_path, zipped):
    images, labels = _images(30)
    ti, tl = _images(12, seed=1)
    files = [_idx(tmp_path / f"{name}.idx", a, m, zipped) for name, a, m in
             [("im", images, 0x803), ("lb", labels, 0x801), ("tim", ti, 0x803), ("tlb", tl, 0x801)]]
    np.testing.assert_array_equal(read_idx(files[0], "images"), images)
    d = mnist_idx(*files, n_train=20, n_test=5, seed=3)
    assert d.X.shape == (20, 12) and d.X_test.shape == (5, 12) and d.n_classes == 10
    rows = {tuple(r) for r in images.reshape(30, -1) / 255.0}
    assert all(tuple(r) in rows for r in d.X)
    test_rows = {tuple(r) for r in ti.reshape(12, -1) / 255.0}
    assert all(tuple(r) in test_rows for r in d.X_test)
    carved = mnist_idx(files[0], files[1], seed=3)
    assert carved.n_samples == 24 and len(carved.X_test) == 6


def test_npz_with_and_without_a_test_pool(tmp_path):
    images, labels = _images(25)
    np.savez(tmp_path / "m.npz", x_train=images, y_train=labels, x_test=images[:5], y_test=labels[:5])
    d = mnist_npz(tmp_path / "m.npz", n_train=10, seed=0)
    assert d.X.shape == (10, 12) and len(d.X_test) == 5 and 0 <= d.X.min() and d.X.max() <= 1
    np.savez(tmp_path / "train_only.npz", x_train=images, y_train=labels)
    assert len(mnist_npz(tmp_path / "train_only.npz").X_test) == 5


def test_errors_are_one_line_and_name_the_problem(tmp_path):
    images, labels = _images(10)
    with pytest.raises(FileNotFoundError, match="downloads nothing"):
        mnist_idx(tmp_path / "absent", tmp_path / "absent")
    good = _idx(tmp_path / "im", images, 0x803)
    with pytest.raises(ParameterError, match="magic number 0x00000803, expected 0x00000801"):
        mnist_idx(good, good)
    with pytest.raises(ParameterError, match="10 images but 9 labels"):
        mnist_idx(good, _idx(tmp_path / "lb", labels[:9], 0x801))
    (tmp_path / "short").write_bytes(good.read_bytes()[:-1])
    with pytest.raises(ParameterError, match="bytes of data"):
        read_idx(tmp_path / "short", "images")
    np.savez(tmp_path / "bad.npz", images=images)
    with pytest.raises(ParameterError, match=r"found \['images'\]"):
        mnist_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "float.npz", x_train=images / 255.0, y_train=labels)
    with pytest.raises(ParameterError, match="uint8"):
        mnist_npz(tmp_path / "float.npz")
    for error in (FileNotFoundError, ParameterError):
        try:
            mnist_idx(tmp_path / "absent" if error is FileNotFoundError else good, good)
        except error as e:
            assert "\n" not in str(e)
