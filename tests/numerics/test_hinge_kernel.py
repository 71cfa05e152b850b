"""numerics.engine.hinge_kernel: the compiled perceptron trainer against its numpy twin and the generic engine."""

import numpy as np
import pytest
from scipy.stats import ks_2samp

from numerics.errors import ParameterError
from numerics.engine.fast import HAVE_NUMBA
from numerics.engine.hinge_kernel import train_to_zero_loss
from numerics.models.perceptron import HingePerceptron, PerceptronData, index_data
from numerics.engine.sgd import run_sgd


def _sets(R, P, d, chi, seed):
    X, y = PerceptronData(d, chi).sample(np.random.default_rng(seed), (R, P))
    return X, y, y[..., None] * X / np.sqrt(d)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("B,full", [(1, False), (3, False), (0, True)])
def test_kernel_equals_numpy_twin_on_the_same_minibatches(B, full):
    _, _, Z = _sets(12, 40, 6, 1.0, 0)
    a = train_to_zero_loss(Z, 0.05, 0.2, B, 200_000, seed=4, full_batch=full)
    b = train_to_zero_loss(Z, 0.05, 0.2, B, 200_000, seed=4, full_batch=full, use_numba=False)
    assert np.allclose(a[0], b[0], rtol=1e-12, atol=1e-14) and np.array_equal(a[1], b[1])
    assert np.all(a[1] > 0)


def test_stopping_time_and_weights_do_not_depend_on_how_often_the_stop_is_tested():
    _, _, Z = _sets(8, 30, 5, 0.0, 1)
    runs = [train_to_zero_loss(Z, 1e-3, 0.1, 2, 100_000, seed=2, check_every=c) for c in (1, 7, 500)]
    for w, steps in runs[1:]:
        assert np.array_equal(w, runs[0][0]) and np.array_equal(steps, runs[0][1])
    w, steps = runs[0]
    assert np.all(np.einsum("rpd,rd->rp", Z, w) >= 1e-3)  # every margin satisfied


def test_agrees_in_law_with_the_generic_engine():
    """Different random streams, same dynamics: final norms and stopping times have the same distribution
    (two-sample KS at the 1e-3 level; the control — the generic engine at twice the learning rate — is rejected)."""
    R, P, d = 400, 24, 4
    X, y, Z = _sets(R, P, d, 1.0, 3)
    model = HingePerceptron(X, y, alpha=10.0)

    def generic(eta):
        run = run_sgd(model, index_data(P), eta=eta, batch_size=1, n_steps=100_000, n_replicas=R, block_size=R,
                      stop_when=model.fitted, seed=5)
        return np.linalg.norm(run.final, axis=1)

    w, steps = train_to_zero_loss(Z, 0.1, 0.05, 1, 100_000, seed=6)
    assert np.all(steps > 0)
    norms = np.linalg.norm(w, axis=1)
    assert ks_2samp(norms, generic(0.05)).pvalue > 1e-3
    assert ks_2samp(norms, generic(0.1)).pvalue < 1e-3


def test_unfitted_replicas_are_flagged_and_bad_input_refused():
    _, _, Z = _sets(3, 50, 4, 0.0, 7)
    w, steps = train_to_zero_loss(Z, 1.0, 1e-4, 1, 5, seed=0)
    assert np.all(steps == -1)
    with pytest.raises(ParameterError):
        train_to_zero_loss(Z, 1.0, 0.1, 51, 10)
    with pytest.raises(ParameterError):
        train_to_zero_loss(Z[0], 1.0, 0.1, 1, 10)
