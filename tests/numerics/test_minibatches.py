"""The minibatch index sampler shared by the engines: the numpy engine's draw order, pinned; many steps at a time
the same as one at a time; the schemes' defining properties. (That the JAX engine draws the same indices as the
numpy engine: tests/numerics/test_network.py.)"""

import numpy as np
import pytest

from numerics.engine import minibatches
from numerics.engine.minibatches import INDEX_SCHEMES, MinibatchSampler
from numerics.errors import ParameterError

# drawn by the numpy engine's sampler before it moved here (P = 7, B = 3, R = 2, default_rng(11), 3 steps):
# seeded results of the engine, and of every check run on it, stay bitwise what they were
PINNED = {
    "with_replacement": [[[0, 0, 5], [3, 4, 4]], [[4, 0, 3], [1, 2, 6]], [[3, 0, 3], [0, 5, 6]]],
    "without_replacement": [[[3, 6, 0], [0, 6, 3]], [[0, 3, 5], [0, 5, 3]], [[4, 1, 3], [5, 0, 6]]],
    "epoch": [[[3, 6, 0], [0, 6, 3]], [[4, 1, 2], [4, 2, 5]], [[0, 3, 5], [0, 5, 3]]],
}


@pytest.mark.parametrize("sampling", INDEX_SCHEMES)
def test_the_draw_order_is_the_numpy_engines(sampling):
    sampler = MinibatchSampler(np.random.default_rng(11), sampling, 7, 3, n_replicas=2)
    np.testing.assert_array_equal(np.concatenate([sampler.draw() for _ in range(3)]), PINNED[sampling])


@pytest.mark.parametrize("sampling", INDEX_SCHEMES)
@pytest.mark.parametrize("P, B", [(13, 5), (13, 13), (9, 1)])
def test_many_steps_at_once_equal_one_step_at_a_time(sampling, P, B, monkeypatch):
    one = MinibatchSampler(np.random.default_rng(2), sampling, P, B, n_replicas=3)
    expected = np.concatenate([one.draw() for _ in range(10)])
    monkeypatch.setattr(minibatches, "_MAX_KEYS", 2 * 3 * P)  # keys drawn two steps at a time
    many = MinibatchSampler(np.random.default_rng(2), sampling, P, B, n_replicas=3)
    np.testing.assert_array_equal(np.concatenate([many.draw(4), many.draw(1), many.draw(5)]), expected)


def test_without_replacement_draws_distinct_indices_and_epoch_visits_each_sample_once():
    idx = MinibatchSampler(np.random.default_rng(0), "without_replacement", 10, 6, n_replicas=4).draw(50)
    assert all(len(set(row)) == 6 for row in idx.reshape(-1, 6))
    assert set(idx.ravel()) == set(range(10))
    epochs = MinibatchSampler(np.random.default_rng(0), "epoch", 10, 3, n_replicas=2).draw(6)  # 3 per epoch
    for replica in range(2):
        for e in range(2):
            assert len(set(epochs[3 * e:3 * e + 3, replica].ravel())) == 9     # the 10th sample is dropped


def test_bad_arguments_raise():
    rng = np.random.default_rng(0)
    with pytest.raises(ParameterError, match="sampling"):
        MinibatchSampler(rng, "online", 10, 2)
    with pytest.raises(ParameterError, match="batch_size"):
        MinibatchSampler(rng, "epoch", 10, 11)
    with pytest.raises(ParameterError, match="n_steps"):
        MinibatchSampler(rng, "epoch", 10, 2).draw(0)
