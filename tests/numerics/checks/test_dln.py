"""The registered seed-000 checks pass at quick settings with their negative controls rejected."""

import pytest

from numerics.checks import check_names, get_check


def test_checks_are_registered():
    assert {"dln.mode_sde", "dln.stationary_density", "dln.diffusion_peak", "dln.ablation"} <= set(check_names())


def test_stationary_density_check_passes_quick():
    result = get_check("dln.stationary_density")(seed=0)
    assert result.passed and result.negative_control.rejected, result.table()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dln.mode_sde", "dln.diffusion_peak", "dln.ablation"])
def test_slow_checks_pass_quick(name):
    result = get_check(name)(seed=0)
    assert result.passed and result.negative_control.rejected, result.table()
