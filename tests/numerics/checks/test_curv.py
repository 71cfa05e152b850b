"""curv checks: the synthetic checks pass at quick settings with their controls rejected; the digits pipeline
runs (its check, ~20 s, is marked slow)."""

import numpy as np
import pytest

from numerics.checks import get_check
from numerics.checks.curv import digits_run
from numerics.errors import ParameterError


def test_digits_run_measures_every_quantity_at_tiny_settings():
    params = dict(n_classes=3, hidden=6, eta=0.1, batch_size=50, n_epochs=3, top_fraction=0.6, n_rotations=2,
                  n_resamples=200)
    r = digits_run("ce", params, 0)
    lam, C_ii, S_i = r["diagonals"]
    assert lam.shape == C_ii.shape == S_i.shape == (36,)
    assert np.isfinite(r["fit_c"].exponent) and r["base_rho"].shape == (2,) and 0 <= r["rho"] <= 1


def test_checks_refuse_bad_parameters():
    with pytest.raises(ParameterError):
        get_check("curv.rank_one_family")(q=(0.0, 1.0))
    with pytest.raises(ParameterError):
        get_check("curv.noise_curvature")(n_seeds=1)
