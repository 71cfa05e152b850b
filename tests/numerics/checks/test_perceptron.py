"""perceptron.temperature_scaling check: passes at reduced settings, and its χ-independent control is rejected."""

import pytest

from numerics.checks import get_check
from numerics.verify import VERDICTS


def test_check_reaches_a_verdict_without_a_floor_and_judges_its_mutants():
    check = get_check("perceptron.temperature_scaling")
    result = check(seed=1, chis=[1.0, 2.0], sizes=[24, 48, 96], n_replicas=24, t_batch_sizes=[1, 2, 4], t_size=48)
    assert result.verdict in VERDICTS and not check.exact, result.table()
    assert all(r.rule == "agree" and r.holds() == (abs(r.z) <= 5) for r in result.rows)  # plain z, no floor
    assert any(m.description.startswith("chi-independent") and m.rejected for m in result.mutants), result.table()


@pytest.mark.slow
def test_quick_settings_pass_on_two_seeds():
    check = get_check("perceptron.temperature_scaling")
    for seed in (0, 2):
        result = check(seed=seed)
        assert result.verdict in VERDICTS, result.table()


@pytest.mark.parametrize("name", ["perceptron.crossover_temperature", "perceptron.crossover_batch_size"])
def test_crossover_checks_pass_and_reject_chi_independent_exponent(name):
    extra = {"digits_sizes": []} if name.endswith("temperature") else {}
    result = get_check(name)(seed=1, chis=[1.0, 2.0], sizes=[128, 256, 512, 1024], n_replicas=16, **extra)
    assert result.verdict in VERDICTS and len(result.mutants) == 4, result.table()
    assert any(m.description.startswith("chi-independent") and m.rejected for m in result.mutants), result.table()
