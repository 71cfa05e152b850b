"""kappa (the minibatch noise scale) and the sampling schemes of derivations.conventions."""

import itertools

import numpy as np
import pytest
import sympy as sp

from derivations.conventions import minibatch_noise_scale
from derivations.errors import ParameterError


def is_zero(expr) -> bool:
    return sp.simplify(expr) == 0


def test_minibatch_noise_scale_values():
    B, P = sp.symbols("B P", positive=True, integer=True)
    assert minibatch_noise_scale(4, "with_replacement") == sp.Rational(1, 4)
    assert minibatch_noise_scale(4, "online") == sp.Rational(1, 4)
    assert minibatch_noise_scale(4, "without_replacement", 10) == sp.Rational(6, 4 * 9)
    assert minibatch_noise_scale(10, "without_replacement", 10) == 0  # full batch: no noise
    assert minibatch_noise_scale(1, "without_replacement", 1) == 0
    assert minibatch_noise_scale(1, "without_replacement", 10) == 1  # B = 1: same as with replacement
    assert is_zero(minibatch_noise_scale(B, "with_replacement") - 1 / B)
    assert is_zero(minibatch_noise_scale(B, "without_replacement", P) - (P - B) / (B * (P - 1)))
    assert isinstance(minibatch_noise_scale(2, "online"), sp.Basic)
    assert minibatch_noise_scale(np.int64(8), "with_replacement") == sp.Rational(1, 8)
    assert minibatch_noise_scale(8.0, "without_replacement", 16.0) == sp.Rational(8, 8 * 15)


def test_minibatch_noise_scale_matches_sampling_exactly():
    # exact variance of the mean of a B-subset of P numbers vs the formula
    values = np.array([0.3, -1.2, 2.0, 0.7, -0.4])
    P, B = len(values), 2
    c = values.var()  # (1/P) Σ (v − mean)²
    means = [values[list(s)].mean() for s in itertools.combinations(range(P), B)]
    assert np.var(means) == pytest.approx(float(minibatch_noise_scale(B, "without_replacement", P)) * c, rel=1e-12)
    means_r = [values[list(s)].mean() for s in itertools.product(range(P), repeat=B)]
    assert np.var(means_r) == pytest.approx(float(minibatch_noise_scale(B, "with_replacement")) * c, rel=1e-12)


def test_minibatch_noise_scale_errors():
    with pytest.raises(ParameterError, match="correlated"):
        minibatch_noise_scale(4, "epoch", 100)
    with pytest.raises(ParameterError, match="unknown sampling"):
        minibatch_noise_scale(4, "reshuffle")
    with pytest.raises(ParameterError, match="n_samples"):
        minibatch_noise_scale(4, "without_replacement")
    with pytest.raises(ParameterError, match="exceed"):
        minibatch_noise_scale(11, "without_replacement", 10)
    with pytest.raises(ParameterError):
        minibatch_noise_scale(0, "with_replacement")
    with pytest.raises(ParameterError):
        minibatch_noise_scale(2.5, "with_replacement")
    with pytest.raises(ParameterError):
        minibatch_noise_scale(sp.Symbol("b", negative=True), "online")
