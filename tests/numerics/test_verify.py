"""Registered checks pass, and their negative controls are rejected by the same data."""

import pytest

from numerics.verify import Comparison, check_names, get_check
from numerics.errors import ParameterError


@pytest.mark.parametrize("name", ["linreg.discrete_stationary_covariance", "linreg.stationary_covariance"])
def test_check_passes_and_rejects_its_negative_control(name):
    result = get_check(name)(seed=0)
    assert result.passed, result.table()
    assert result.negative_control.rejected, result.table()
    assert all(r.stderr > 0 for r in result.rows)


def test_comparison_floor_and_control_semantics():
    cmp = Comparison.make(["a", "b"], [1.0, 2.0], [1.05, 2.0], [0.001, 0.001], [1.5, 2.0], "wrong", z=5, rel_floor=0.05)
    assert cmp.passed  # 0.05 off, inside the floor 0.05 * max|predicted| = 0.1
    assert cmp.negative_control.rejected  # 0.45 off the wrong value, outside 0.075
    tight = Comparison.make(["a"], [1.0], [1.05], [0.001], [1.05], "wrong", z=5)
    assert not tight.passed and not tight.negative_control.rejected


def test_unknown_parameter_override_is_refused():
    with pytest.raises(ParameterError, match="no parameter"):
        get_check("linreg.discrete_stationary_covariance")(seed=0, etaa=0.1)
    assert "linreg.stationary_covariance" in check_names()
