"""Tests of numerics.testing: the assertion helpers pass and fail as documented."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp_stats
from scipy.signal import lfilter

from derivations.errors import ParameterError
from numerics.stats import Estimate, PowerLawFit, false_failure_probability, time_and_replica_mean
from numerics.testing import (
    assert_exponent_close, assert_exponent_in, assert_follows_density, assert_mc_agrees, assert_mc_rejects,
)

HEADER = ("quantity", "predicted", "measured", "stderr", "z")


def rng_for(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([20240502, *key]))


def assert_table(message: str, header=HEADER) -> list[str]:
    """The message has a first line and a table whose header has the given columns in order."""
    lines = message.splitlines()
    assert len(lines) >= 3, message
    head = lines[1].split()
    words = " ".join(head)
    assert words == " ".join(header), message
    assert set(lines[2].strip()) == {"-", " "}, message
    return lines


# --------------------------------------------------------------------------- assert_mc_agrees
class TestMcAgrees:
    def test_passes_scalar_and_array(self):
        assert_mc_agrees(1.0, 0.1, 1.3)
        assert_mc_agrees([1.0, 2.0], [0.1, 0.2], [1.1, 2.9])
        assert_mc_agrees(np.zeros((2, 3)), 0.1, 0.0)  # broadcasting stderr and prediction

    def test_boundary_is_inclusive(self):
        assert_mc_agrees(1.5, 0.1, 1.0)  # |z| == 5 passes
        with pytest.raises(AssertionError):
            assert_mc_agrees(1.5 + 1e-9, 0.1, 1.0)

    def test_failure_message_table(self):
        with pytest.raises(AssertionError) as info:
            assert_mc_agrees([1.0, 2.0, 3.0], [0.1, 0.1, 0.1], [1.0, 2.0, 4.0], names=["a", "b", "var w"],
                             label="demo")
        msg = str(info.value)
        lines = assert_table(msg)
        assert lines[0].startswith("demo: ")
        assert "1 of 3 entries" in lines[0]
        pff = false_failure_probability(5.0, 3)
        assert "false-failure probability" in lines[0] and f"{pff:.2g}" in lines[0]  # 1.7e-06
        assert "1.7e-06" in lines[0]
        rows = lines[3:]
        assert len(rows) == 3
        bad = [r for r in rows if r.startswith("*")]
        assert len(bad) == 1 and "var w" in bad[0] and "-10" in bad[0]

    def test_scalar_message_states_single_entry_probability(self):
        with pytest.raises(AssertionError, match=r"5\.7e-07") as info:
            assert_mc_agrees(2.0, 0.1, 1.0)
        lines = assert_table(str(info.value))
        assert lines[3].startswith("* value")

    def test_default_row_names_are_indices(self):
        with pytest.raises(AssertionError) as info:
            assert_mc_agrees(np.array([[0.0, 0.0], [0.0, 9.0]]), 0.1, 0.0)
        assert "[1, 1]" in str(info.value) and "[0, 1]" in str(info.value)

    def test_rel_floor(self):
        assert_mc_agrees(1.05, 0.001, 1.0, rel_floor=0.1)
        with pytest.raises(AssertionError, match=r"0\.01·\|predicted\|"):
            assert_mc_agrees(1.05, 0.001, 1.0, rel_floor=0.01)

    def test_custom_z(self):
        assert_mc_agrees(1.25, 0.1, 1.0, z=3.0)
        with pytest.raises(AssertionError, match="outside 2·stderr") as info:
            assert_mc_agrees(1.25, 0.1, 1.0, z=2.0)
        assert f"{false_failure_probability(2.0, 1):.2g}" in str(info.value)

    def test_nonfinite_always_fails(self):
        for m, s, p in [(np.nan, 0.1, 1.0), (1.0, np.inf, 1.0), (1.0, np.nan, 1.0), (np.inf, 0.1, np.inf)]:
            with pytest.raises(AssertionError):
                assert_mc_agrees(m, s, p)

    def test_zero_stderr(self):
        assert_mc_agrees(1.0, 0.0, 1.0)
        with pytest.raises(AssertionError, match="inf"):
            assert_mc_agrees(1.0, 0.0, 1.0 + 1e-12)

    def test_accepts_estimate(self):
        est = Estimate([1.0, 2.0], [0.1, 0.1], dof=31)
        assert_mc_agrees(est, [1.0, 2.0])
        assert_mc_agrees(est, predicted=[1.0, 2.0])
        with pytest.raises(AssertionError, match="Student-t") as info:
            assert_mc_agrees(est, [1.0, 3.0])
        assert f"{false_failure_probability(5.0, 2, dof=31):.2g}" in str(info.value)
        with pytest.raises(TypeError):
            assert_mc_agrees(est, [0.1, 0.1], [1.0, 2.0])
        with pytest.raises(TypeError):
            assert_mc_agrees(est)
        with pytest.raises(TypeError):
            assert_mc_agrees(1.0, 0.1)

    def test_long_tables_are_truncated_keeping_failures(self):
        m = np.zeros(100)
        m[73] = 1.0
        with pytest.raises(AssertionError) as info:
            assert_mc_agrees(m, 0.01, 0.0)
        msg = str(info.value)
        assert "more rows not shown" in msg
        assert "* [73]" in msg

    @pytest.mark.parametrize(
        "args, kwargs",
        [
            ((1.0, -0.1, 1.0), {}),
            (([1.0, 2.0], 0.1, [1.0, 2.0, 3.0]), {}),
            (([1.0, 2.0], 0.1, 1.0), {"names": ["only one"]}),
            ((1.0, 0.1, 1.0), {"z": 0.0}),
            ((1.0, 0.1, 1.0), {"rel_floor": -1.0}),
            (([], [], []), {}),
            (("a", 0.1, 1.0), {}),
        ],
    )
    def test_bad_input_is_parameter_error(self, args, kwargs):
        with pytest.raises(ParameterError):
            assert_mc_agrees(*args, **kwargs)

    def test_stated_false_failure_probability_is_right(self):
        """With normal measurements around the truth, the failure rate at z = 2 matches
        false_failure_probability(2, n) (the statement the message makes)."""
        rng = rng_for(1)
        n_trials, n_entries, zthr = 3000, 3, 2.0
        truth = np.array([1.0, -2.0, 0.5])
        stderr = np.array([0.1, 0.3, 0.05])
        fails = 0
        for _ in range(n_trials):
            measured = truth + stderr * rng.standard_normal(n_entries)
            try:
                assert_mc_agrees(measured, stderr, truth, z=zthr)
            except AssertionError:
                fails += 1
        p = false_failure_probability(zthr, n_entries)  # 0.130
        sd = math.sqrt(p * (1 - p) / n_trials)
        assert abs(fails / n_trials - p) < 5 * sd


# --------------------------------------------------------------------------- assert_mc_rejects
class TestMcRejects:
    def test_passes_when_one_entry_rejected(self):
        assert_mc_rejects([1.0, 2.0], [0.1, 0.1], [1.0, 3.0])
        assert_mc_rejects(Estimate(1.0, 0.1), 2.0)

    def test_fails_when_nothing_rejected(self):
        with pytest.raises(AssertionError) as info:
            assert_mc_rejects([1.0, 2.0], [0.1, 0.1], [1.2, 2.3], names=["a", "b"], label="control")
        msg = str(info.value)
        lines = assert_table(msg, ("quantity", "wrong", "prediction", "measured", "stderr", "z"))
        assert lines[0].startswith("control: negative control failed")
        assert "a" in lines[3] and "b" in lines[4]

    def test_is_the_complement_of_agrees_on_finite_data(self):
        rng = rng_for(2)
        for _ in range(200):
            m = rng.standard_normal(3)
            s = rng.uniform(0.1, 1.0, 3)
            p = rng.standard_normal(3) * 3
            try:
                assert_mc_agrees(m, s, p, z=2.0)
                agrees = True
            except AssertionError:
                agrees = False
            try:
                assert_mc_rejects(m, s, p, z=2.0)
                rejects = True
            except AssertionError:
                rejects = False
            assert agrees != rejects

    def test_nonfinite_is_not_a_rejection(self):
        with pytest.raises(AssertionError):
            assert_mc_rejects([np.nan, 1.0], [0.1, 0.1], [5.0, 1.0])
        with pytest.raises(AssertionError):
            assert_mc_rejects([1.0], [np.inf], [5.0])

    def test_rel_floor_makes_rejection_harder(self):
        assert_mc_rejects(1.0, 0.01, 1.2)
        with pytest.raises(AssertionError):
            assert_mc_rejects(1.0, 0.01, 1.2, rel_floor=0.5)

    def test_bad_input(self):
        with pytest.raises(ParameterError):
            assert_mc_rejects(1.0, -1.0, 2.0)


# --------------------------------------------------------------------------- end to end
def test_end_to_end_with_estimators():
    """AR(1) replicas: the right stationary mean is accepted, a plausible wrong one rejected."""
    phi, T, R = 0.8, 2000, 32
    rng = rng_for(3)
    e = rng.standard_normal((T, R, 2))
    e[0] /= math.sqrt(1 - phi**2)
    mean = np.array([0.5, -1.0])
    x = mean + lfilter([1.0], [1.0, -phi], e, axis=0)
    est = time_and_replica_mean(x)
    assert_mc_agrees(est, mean, names=["<w1>", "<w2>"])
    assert_mc_rejects(est, mean + 0.2)  # wrong by 0.2 ~ 10 stderr


# --------------------------------------------------------------------------- densities
class TestFollowsDensity:
    def test_passes_right_density(self):
        assert_follows_density(rng_for(4).standard_normal(3000), sp_stats.norm.cdf)

    def test_fails_wrong_density_with_message(self):
        x = rng_for(5).standard_normal(3000)
        with pytest.raises(AssertionError) as info:
            assert_follows_density(x, sp_stats.norm(scale=1.2).cdf, alpha=1e-3, label="p(u)")
        msg = str(info.value)
        assert msg.startswith("p(u): ")
        assert "alpha = 0.001" in msg and "false-failure probability for independent samples" in msg
        assert "n              = 3000" in msg

    def test_thin_correlated_chain(self):
        phi = 0.9
        e = rng_for(6).standard_normal(60000)
        e[0] /= math.sqrt(1 - phi**2)
        chain = lfilter([1.0], [1.0, -phi], e)
        cdf = sp_stats.norm(scale=1 / math.sqrt(1 - phi**2)).cdf
        assert_follows_density(chain, cdf, thin=True)
        with pytest.raises(AssertionError, match="stride"):
            assert_follows_density(chain, sp_stats.norm.cdf, thin=True)

    def test_bad_input(self):
        with pytest.raises(ParameterError):
            assert_follows_density([0.1, 0.2], sp_stats.norm.cdf, alpha=0.0)
        with pytest.raises(ParameterError):
            assert_follows_density([0.1, np.nan], sp_stats.norm.cdf)
        with pytest.raises(ParameterError):
            assert_follows_density(np.zeros((10, 2)), sp_stats.norm.cdf, thin=True)


# --------------------------------------------------------------------------- exponents
def noisy_power_law(alpha: float, n: int = 10, noise: float = 0.05, seed: int = 7):
    x = np.logspace(0, 2, n)
    y = 2.0 * x**alpha * np.exp(noise * rng_for(seed).standard_normal(n))
    return x, y


class TestExponents:
    def test_in_range_passes_and_returns_fit(self):
        x, y = noisy_power_law(-1.5)
        fit = assert_exponent_in(x, y, -1.6, -1.4)
        assert isinstance(fit, PowerLawFit) and fit.confidence == 0.99

    def test_in_range_only_needs_overlap(self):
        x, y = noisy_power_law(-1.5)
        lo, hi = assert_exponent_in(x, y, -3, 0).exponent_interval
        assert_exponent_in(x, y, hi - 1e-6, hi + 1.0)  # barely overlapping on the right
        assert_exponent_in(x, y, lo - 1.0, lo + 1e-6)
        assert_exponent_in(x, y, -1.5, -1.5)  # a degenerate range is a point

    def test_out_of_range_fails(self):
        x, y = noisy_power_law(-1.5)
        with pytest.raises(AssertionError) as info:
            assert_exponent_in(x, y, -1.0, -0.5, label="T_c(P)")
        msg = str(info.value)
        assert msg.startswith("T_c(P): power-law exponent outside the expected range")
        assert "does not intersect [-1, -0.5]" in msg
        assert "false-failure probability <= 0.01" in msg
        assert "fitted exponent" in msg and "expected range" in msg

    def test_close(self):
        x, y = noisy_power_law(0.75)
        fit = assert_exponent_close(x, y, 0.75)
        assert fit.contains(0.75)
        with pytest.raises(AssertionError, match=r"differs from 1\b") as info:
            assert_exponent_close(x, y, 1.0, confidence=0.95)
        assert "false-failure probability 0.05" in str(info.value)

    def test_close_with_errors_and_bootstrap(self):
        x, y = noisy_power_law(0.75, n=20, noise=0.05, seed=8)
        assert_exponent_close(x, y, 0.75, y_stderr=0.05 * y)
        fit = assert_exponent_close(x, y, 0.75, bootstrap=True, rng=np.random.default_rng(0))
        assert fit.method == "bootstrap"

    def test_coverage_of_close(self):
        """assert_exponent_close fails a correct exponent with probability 1 - confidence."""
        x = np.logspace(0, 2, 8)
        rng = rng_for(9)
        fails, n = 0, 1000
        for _ in range(n):
            y = x**-0.5 * np.exp(0.1 * rng.standard_normal(8))
            try:
                assert_exponent_close(x, y, -0.5, confidence=0.9)
            except AssertionError:
                fails += 1
        assert abs(fails / n - 0.1) < 5 * math.sqrt(0.1 * 0.9 / n)

    def test_bad_input(self):
        x, y = noisy_power_law(1.0)
        with pytest.raises(ParameterError, match="low <= high"):
            assert_exponent_in(x, y, 2.0, 1.0)
        with pytest.raises(ParameterError):
            assert_exponent_close(x, -y, 1.0)
