"""Tests of numerics.stats: estimators with error bars, KS, power-law fits, z-score bookkeeping.

Every random test uses a fixed seed; statistical assertions are set at about
5 standard deviations of the quantity tested, so they are deterministic here
and would be rare failures under any other seed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sp_stats
from scipy.signal import lfilter

from derivations.errors import ParameterError, SgdNoiseError
from numerics.stats import (
    DEFAULT_Z_THRESHOLD, FALSE_FAILURE_PER_ENTRY_AT_5_SIGMA, Estimate, KSResult, PowerLawFit, batch_means,
    effective_sample_size, false_failure_probability, integrated_autocorrelation_time, ks_test, max_abs_z,
    power_law_fit, replica_bootstrap, replica_mean, standardised_moments, thin_to_independent, time_and_replica_mean,
    verdict, z_scores,
)


def rng_for(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([20240501, *key]))


def ar1(phi: float, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Stationary AR(1) chains x_k = phi x_{k-1} + e_k, e ~ N(0,1), along axis 0.

    Stationary variance 1/(1 - phi^2); tau_int = (1 + phi)/(1 - phi).
    """
    e = rng.standard_normal(shape)
    e[0] /= math.sqrt(1.0 - phi**2)  # start in the stationary distribution
    return lfilter([1.0], [1.0, -phi], e, axis=0)


def ar1_var_of_mean(phi: float, T: int) -> float:
    """Exact Var(mean of T consecutive stationary AR(1) values)."""
    t = np.arange(1, T)
    return (1.0 / (1.0 - phi**2)) / T * (1.0 + 2.0 * np.sum((1.0 - t / T) * phi**t))


# --------------------------------------------------------------------------- Estimate / z
class TestEstimate:
    def test_scalar_fields_are_numpy_scalars(self):
        e = Estimate(1, 0.5)
        assert isinstance(e.value, np.floating) and e.value == 1.0
        assert isinstance(e.stderr, np.floating) and e.stderr == 0.5
        assert e.dof is None
        assert "Estimate(value=" in repr(e)

    def test_frozen(self):
        e = Estimate(1.0, 0.5)
        with pytest.raises(AttributeError):
            e.value = 2.0  # type: ignore[misc]

    def test_z_values(self):
        e = Estimate([1.0, 2.0, 3.0], [0.5, 0.5, 2.0])
        np.testing.assert_allclose(e.z([0.0, 2.0, 4.0]), [2.0, 0.0, -0.5])

    def test_zero_stderr_guard(self):
        e = Estimate([1.0, 2.0, 3.0, np.nan], [0.0, 0.0, 0.0, 0.0])
        z = e.z([1.0, 1.0, 4.0, 0.0])
        assert z[0] == 0.0
        assert z[1] == np.inf
        assert z[2] == -np.inf
        assert np.isnan(z[3])

    def test_z_broadcasting(self):
        e = Estimate([1.0, 2.0], 0.5)
        np.testing.assert_allclose(e.z(0.0), [2.0, 4.0])
        assert e.z(np.zeros((3, 2))).shape == (3, 2)
        with pytest.raises(ParameterError, match="broadcast"):
            e.z([1.0, 2.0, 3.0])

    def test_negative_stderr_rejected(self):
        with pytest.raises(ParameterError, match="stderr"):
            Estimate(1.0, -0.1)

    def test_shape_mismatch_rejected(self):
        with pytest.raises(ParameterError, match="broadcast"):
            Estimate(np.zeros(3), np.ones(2))

    def test_bad_dof_rejected(self):
        with pytest.raises(ParameterError):
            Estimate(1.0, 1.0, dof=0)

    def test_errors_are_package_errors(self):
        with pytest.raises(SgdNoiseError):
            Estimate(1.0, -1.0)
        with pytest.raises(ValueError):
            Estimate(1.0, -1.0)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=100, deadline=None)
@given(value=finite, predicted=finite, stderr=st.floats(1e-3, 1e3),
       scale=st.floats(1e-3, 1e3), shift=finite)
def test_z_is_affine_invariant(value, predicted, stderr, scale, shift):
    """z is invariant under x -> a x + b (a > 0) applied to value and prediction, with stderr -> a stderr,
    and changes sign (only) when a < 0 or value and prediction are swapped."""
    z = Estimate(value, stderr).z(predicted)
    z_scaled = Estimate(scale * value + shift, scale * stderr).z(scale * predicted + shift)
    assert z_scaled == pytest.approx(z, rel=1e-6, abs=1e-6 * (1 + abs(shift) / (scale * stderr)))
    z_neg = Estimate(-value, stderr).z(-predicted)
    assert z_neg == pytest.approx(-z, rel=1e-12, abs=1e-12)
    assert Estimate(predicted, stderr).z(value) == pytest.approx(-z, rel=1e-12, abs=1e-12)
    assert np.sign(z) == np.sign(value - predicted)


def test_z_scores_and_max_abs_z():
    e = Estimate([1.0, -3.0], [1.0, 1.0])
    np.testing.assert_allclose(z_scores(e, 0.0), [1.0, -3.0])
    assert max_abs_z(e, 0.0) == 3.0
    assert max_abs_z(Estimate([1.0, np.nan], [1.0, 1.0]), 0.0) == np.inf


def test_verdict():
    assert verdict([0.0, -4.9, 5.0])
    assert not verdict([0.0, 5.01])
    assert not verdict([0.0, np.nan])
    assert verdict(2.0, threshold=3.0)
    assert not verdict(-3.5, threshold=3.0)
    with pytest.raises(ParameterError):
        verdict(1.0, threshold=0.0)


# --------------------------------------------------------------------------- false failures
class TestFalseFailureProbability:
    def test_single_entry_at_5_sigma(self):
        assert DEFAULT_Z_THRESHOLD == 5.0
        assert FALSE_FAILURE_PER_ENTRY_AT_5_SIGMA == pytest.approx(5.733031e-7, rel=1e-6)
        assert false_failure_probability(5.0, 1) == pytest.approx(5.733031e-7, rel=1e-6)

    def test_known_values(self):
        assert false_failure_probability(1.959963984540054, 1) == pytest.approx(0.05, rel=1e-9)
        assert false_failure_probability(3.0, 1) == pytest.approx(0.0026997960632601, rel=1e-9)
        assert false_failure_probability(2.0, 3) == pytest.approx(1 - (1 - 0.0455002638963584) ** 3, rel=1e-9)

    def test_many_entries_sidak_and_bonferroni(self):
        p = FALSE_FAILURE_PER_ENTRY_AT_5_SIGMA
        for n in (1, 10, 1000, 10**6):
            pff = false_failure_probability(5.0, n)
            assert pff == pytest.approx(-math.expm1(n * math.log1p(-p)), rel=1e-12)
            assert pff <= n * p * (1 + 1e-12)
        assert false_failure_probability(5.0, 10) == pytest.approx(5.733e-6, rel=1e-3)
        assert false_failure_probability(0.5, 10**4) == pytest.approx(1.0)

    def test_student_t_tails_are_heavier(self):
        assert false_failure_probability(5.0, 1, dof=31) == pytest.approx(2 * sp_stats.t.sf(5.0, 31), rel=1e-12)
        assert false_failure_probability(5.0, 1, dof=31) > 30 * false_failure_probability(5.0, 1)
        normal = false_failure_probability(5.0, 1)
        assert false_failure_probability(5.0, 1, dof=10**7) == pytest.approx(normal, rel=1e-4)

    def test_monotone(self):
        assert false_failure_probability(4.0, 5) > false_failure_probability(5.0, 5) > false_failure_probability(5.0, 1)

    @pytest.mark.parametrize("kwargs", [dict(threshold=0.0), dict(threshold=-1.0), dict(threshold=np.inf),
                                        dict(threshold=5.0, n_entries=0), dict(threshold=5.0, n_entries=2.5),
                                        dict(threshold=5.0, dof=0)])
    def test_bad_input(self, kwargs):
        with pytest.raises(ParameterError):
            false_failure_probability(**kwargs)


# --------------------------------------------------------------------------- autocorrelation
class TestAutocorrelation:
    def test_ar1_tau_int(self):
        phi, T, K = 0.8, 2**16, 16
        x = ar1(phi, (T, K), rng_for(1))
        tau = integrated_autocorrelation_time(x)
        assert tau.shape == (K,)
        true = (1 + phi) / (1 - phi)  # 9
        # per-chain sd ~ tau sqrt(2(2M+1)/T) ~ 0.5 with M ~ 5 tau; mean of 16 has sd ~ 0.12
        assert np.mean(tau) == pytest.approx(true, abs=0.6)
        assert np.all(np.abs(tau - true) < 2.5)

    def test_white_noise(self):
        x = rng_for(2).standard_normal((20000, 4))
        np.testing.assert_allclose(integrated_autocorrelation_time(x), 1.0, atol=0.1)

    def test_vectorised_and_axis(self):
        x = ar1(0.5, (4000, 3, 2), rng_for(3))
        tau = integrated_autocorrelation_time(x)
        assert tau.shape == (3, 2)
        assert tau[1, 0] == pytest.approx(integrated_autocorrelation_time(x[:, 1, 0]), rel=1e-12)
        tau_ax = integrated_autocorrelation_time(np.moveaxis(x, 0, 2), axis=2)
        np.testing.assert_allclose(tau_ax, tau, rtol=1e-12)
        assert np.isscalar(integrated_autocorrelation_time(x[:, 0, 0]))

    def test_effective_sample_size(self):
        x = ar1(0.6, (10000, 2), rng_for(4))
        np.testing.assert_allclose(effective_sample_size(x), 10000 / integrated_autocorrelation_time(x), rtol=1e-12)

    def test_constant_and_nonfinite(self):
        x = np.ones((100, 3))
        x[5, 2] = np.nan
        tau = integrated_autocorrelation_time(x)
        assert tau[0] == 1.0 and tau[1] == 1.0 and np.isnan(tau[2])

    def test_short_chain_warns(self):
        x = ar1(0.99, (30,), rng_for(5))
        with pytest.warns(RuntimeWarning, match="too short"):
            integrated_autocorrelation_time(x)

    def test_bad_input(self):
        with pytest.raises(ParameterError):
            integrated_autocorrelation_time([1.0])
        with pytest.raises(ParameterError):
            integrated_autocorrelation_time(3.0)
        with pytest.raises(ParameterError):
            integrated_autocorrelation_time(np.zeros((10, 2)), axis=3)
        with pytest.raises(ParameterError):
            integrated_autocorrelation_time(np.zeros(10), c=0)

    def test_thin_to_independent(self):
        phi = 0.9  # tau_int = 19
        x = ar1(phi, (50000,), rng_for(6))
        thinned, stride = thin_to_independent(x, return_stride=True)
        assert 30 <= stride <= 48  # ceil(2 * tau_int) with tau_int ~ 19
        np.testing.assert_array_equal(thinned, x[::stride])
        assert integrated_autocorrelation_time(thinned) == pytest.approx(1.0, abs=0.25)
        # the thinned chain passes a KS test against its stationary law
        sd = 1 / math.sqrt(1 - phi**2)
        assert ks_test(thinned, sp_stats.norm(scale=sd).cdf).pvalue > 1e-3

    def test_thin_multiaxis_uses_largest_tau(self):
        rng = rng_for(7)
        x = np.stack([ar1(0.2, (20000,), rng), ar1(0.9, (20000,), rng)], axis=1)
        thinned, stride = thin_to_independent(x, return_stride=True)
        assert stride == max(1, math.ceil(2 * np.max(integrated_autocorrelation_time(x))))
        assert thinned.shape == (x[::stride].shape[0], 2)
        thinned_t, _ = thin_to_independent(x.T, axis=1, return_stride=True)
        np.testing.assert_array_equal(thinned_t, thinned.T)


# --------------------------------------------------------------------------- batch means
class TestBatchMeans:
    def test_exact_small_example(self):
        # T = 10, 3 batches of 3: the leading sample is dropped, batches [1,2,3], [4,5,6], [7,8,9]
        e = batch_means(np.arange(10.0), n_batches=3)
        assert e.value == pytest.approx(5.0)
        assert e.stderr == pytest.approx(math.sqrt(3.0))  # std([2,5,8], ddof=1)/sqrt(3) = 3/sqrt(3)
        assert e.dof == 2

    def test_ar1_variance_of_mean(self):
        phi, T, K = 0.8, 2**14, 200
        x = ar1(phi, (T, K), rng_for(10))
        e = batch_means(x, n_batches=32)
        assert e.value.shape == (K,) and e.stderr.shape == (K,) and e.dof == 31
        true_var = ar1_var_of_mean(phi, T)
        # sanity: matches the asymptotic sigma^2 tau_int / T
        assert true_var == pytest.approx((1 / (1 - phi**2)) * 9 / T, rel=0.01)
        # mean of stderr^2 estimates the variance of the mean: chi2_31/31 has rel sd 0.25, /sqrt(200) -> 0.018
        assert np.mean(e.stderr**2) / true_var == pytest.approx(1.0, abs=0.1)
        # the spread of the chain means agrees with the same variance
        assert np.var(e.value, ddof=1) / true_var == pytest.approx(1.0, abs=0.5)
        # z = mean / stderr is Student-t with 31 dof (batches nearly independent)
        assert ks_test(e.value / e.stderr, sp_stats.t(31).cdf).pvalue > 1e-3

    def test_axis_and_vectorisation(self):
        x = ar1(0.5, (3200, 2, 3), rng_for(11))
        e = batch_means(x)
        e1 = batch_means(np.moveaxis(x, 0, -1), axis=-1)
        np.testing.assert_allclose(e.value, e1.value, rtol=1e-12)
        np.testing.assert_allclose(e.stderr, e1.stderr, rtol=1e-12)
        e00 = batch_means(x[:, 0, 0])
        assert e.stderr[0, 0] == pytest.approx(e00.stderr, rel=1e-12)

    def test_too_short(self):
        with pytest.raises(ParameterError, match="too short"):
            batch_means(np.zeros(31), n_batches=32)

    @pytest.mark.parametrize("n", [0, 1, 2.0, True])
    def test_bad_n_batches(self, n):
        with pytest.raises(ParameterError):
            batch_means(np.zeros(100), n_batches=n)

    def test_bad_axis_and_scalar(self):
        with pytest.raises(ParameterError):
            batch_means(np.zeros((100, 2)), axis=2)
        with pytest.raises(ParameterError):
            batch_means(1.0)


# --------------------------------------------------------------------------- replicas
class TestReplicaMean:
    def test_exact(self):
        e = replica_mean([1.0, 2.0, 3.0, 4.0])
        assert e.value == pytest.approx(2.5)
        assert e.stderr == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
        assert e.dof == 3

    def test_axis(self):
        v = rng_for(20).standard_normal((3, 50))
        e = replica_mean(v, axis=1)
        np.testing.assert_allclose(e.value, v.mean(axis=1))
        np.testing.assert_allclose(e.stderr, v.std(axis=1, ddof=1) / math.sqrt(50))

    def test_coverage(self):
        v = 3.0 + 2.0 * rng_for(21).standard_normal((20, 5000))  # 5000 experiments of R = 20
        z = replica_mean(v).z(3.0)
        # exactly Student-t with 19 dof for normal replicas
        assert ks_test(z, sp_stats.t(19).cdf).pvalue > 1e-3

    def test_too_few(self):
        with pytest.raises(ParameterError, match="at least 2"):
            replica_mean([1.0])
        with pytest.raises(ParameterError):
            replica_mean(np.zeros((1, 5)))


class TestTimeAndReplicaMean:
    def test_many_replicas_uses_replica_spread(self):
        x = ar1(0.7, (500, 16, 2), rng_for(30))
        e = time_and_replica_mean(x)
        ref = replica_mean(x.mean(axis=0))
        np.testing.assert_allclose(e.value, ref.value, rtol=1e-12)
        np.testing.assert_allclose(e.stderr, ref.stderr, rtol=1e-12)
        assert e.dof == 15

    def test_few_replicas_pools_batch_means(self):
        x = ar1(0.7, (3210, 4), rng_for(31))
        e = time_and_replica_mean(x, n_batches=32)
        b = 3210 // 32
        means = x[3210 - 32 * b:].reshape(32, b, 4).mean(axis=1).ravel()
        assert e.value == pytest.approx(means.mean(), rel=1e-12)
        assert e.stderr == pytest.approx(means.std(ddof=1) / math.sqrt(128), rel=1e-12)
        assert e.dof == 127

    def test_min_replicas_switch(self):
        x = ar1(0.7, (640, 8), rng_for(32))
        by_replicas = time_and_replica_mean(x, min_replicas=8)
        assert by_replicas.dof == 7
        assert time_and_replica_mean(x, min_replicas=9).dof == 32 * 8 - 1

    @pytest.mark.parametrize("R, T", [(4, 4096), (32, 512)])
    def test_calibrated_on_ar1(self, R, T):
        phi, K = 0.8, 200  # K independent experiments; batch length T/32 = 128 >> tau_int = 9 for R = 4
        x = ar1(phi, (T, R, K), rng_for(33, R))
        e = time_and_replica_mean(x)
        true_var = ar1_var_of_mean(phi, T) / R
        assert np.mean(e.stderr**2) / true_var == pytest.approx(1.0, abs=0.15)
        assert ks_test(e.value / e.stderr, sp_stats.t(e.dof).cdf).pvalue > 1e-3

    def test_bad_input(self):
        with pytest.raises(ParameterError, match=r"\(T, R"):
            time_and_replica_mean(np.zeros(10))
        with pytest.raises(ParameterError, match="too few"):
            time_and_replica_mean(np.zeros((10, 2)), n_batches=32)
        with pytest.raises(ParameterError):
            time_and_replica_mean(np.zeros((10, 2)), min_replicas=1)


# --------------------------------------------------------------------------- KS
class TestKS:
    def test_accepts_right_and_rejects_wrong(self):
        x = rng_for(40).standard_normal(2000)
        right = ks_test(x, sp_stats.norm.cdf)
        assert isinstance(right, KSResult) and right.n == 2000
        assert right.pvalue > 1e-3
        assert ks_test(x, sp_stats.norm(loc=0.3).cdf).pvalue < 1e-6
        assert ks_test(x, sp_stats.norm(scale=1.3).cdf).pvalue < 1e-4
        assert ks_test(x, sp_stats.laplace(scale=1 / math.sqrt(2)).cdf).pvalue < 1e-3

    def test_matches_scipy_and_flattens(self):
        x = rng_for(41).exponential(size=(10, 30))
        cdf = sp_stats.expon.cdf
        r = ks_test(x, cdf)
        ref = sp_stats.kstest(x.ravel(), cdf)
        assert (r.statistic, r.pvalue, r.n) == (pytest.approx(ref.statistic), pytest.approx(ref.pvalue), 300)

    def test_pvalue_calibration(self):
        rng = rng_for(42)
        p = np.array([ks_test(rng.uniform(size=100), lambda u: np.clip(u, 0, 1)).pvalue for _ in range(160)])
        # P(p < 0.2) = 0.2 under the null; binomial sd = 0.032
        assert np.mean(p < 0.2) == pytest.approx(0.2, abs=0.15)

    def test_bad_input(self):
        with pytest.raises(ParameterError, match="callable"):
            ks_test([1.0, 2.0], "norm")
        with pytest.raises(ParameterError, match="non-finite"):
            ks_test([1.0, np.nan], sp_stats.norm.cdf)
        with pytest.raises(ParameterError):
            ks_test([], sp_stats.norm.cdf)


# --------------------------------------------------------------------------- power laws
class TestPowerLawFit:
    def test_exact_data(self):
        x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
        fit = power_law_fit(x, 3.0 * x**-1.25)
        assert isinstance(fit, PowerLawFit)
        assert fit.exponent == pytest.approx(-1.25, abs=1e-12)
        assert fit.prefactor == pytest.approx(3.0, rel=1e-12)
        lo, hi = fit.exponent_interval
        assert hi - lo < 1e-10 and fit.contains(-1.25)
        assert fit.method == "t" and fit.n_points == 5 and fit.confidence == 0.95

    def test_matches_linregress(self):
        rng = rng_for(50)
        x = np.logspace(0, 3, 9)
        y = 2.0 * x**0.7 * np.exp(0.1 * rng.standard_normal(9))
        fit = power_law_fit(x, y, confidence=0.9)
        ref = sp_stats.linregress(np.log(x), np.log(y))
        assert fit.exponent == pytest.approx(ref.slope, rel=1e-12)
        assert fit.exponent_stderr == pytest.approx(ref.stderr, rel=1e-10)
        assert math.log(fit.prefactor) == pytest.approx(ref.intercept, rel=1e-10)
        q = sp_stats.t.ppf(0.95, 7)
        assert fit.exponent_interval == pytest.approx((ref.slope - q * ref.stderr, ref.slope + q * ref.stderr))

    def test_weighted_matches_polyfit(self):
        rng = rng_for(51)
        x = np.logspace(0, 2, 10)
        rel = np.linspace(0.01, 0.3, 10)
        y = x**-2.0 * np.exp(rel * rng.standard_normal(10))
        fit = power_law_fit(x, y, y_stderr=rel * y)
        slope, _ = np.polyfit(np.log(x), np.log(y), 1, w=1 / rel)
        assert fit.exponent == pytest.approx(slope, rel=1e-10)
        # a constant relative error gives the unweighted fit
        assert power_law_fit(x, y, y_stderr=0.1 * y).exponent == pytest.approx(power_law_fit(x, y).exponent)
        # scalar y_stderr is broadcast
        assert power_law_fit(x, y, y_stderr=0.01).n_points == 10

    @pytest.mark.parametrize("absolute_sigma", [False, True])
    def test_coverage(self, absolute_sigma):
        rng = rng_for(52, absolute_sigma)
        x = np.logspace(0, 2, 8)
        rel = np.linspace(0.02, 0.2, 8)
        alpha, n, hits = -0.5, 400, 0
        for _ in range(n):
            y = 1.7 * x**alpha * np.exp(rel * rng.standard_normal(8))
            fit = power_law_fit(x, y, y_stderr=rel * y, absolute_sigma=absolute_sigma, confidence=0.95)
            hits += fit.contains(alpha)
        # y_stderr = rel*y is the *sampled* y, so coverage is 0.95 only up to O(rel^2); binomial sd 0.011
        assert hits / n == pytest.approx(0.95, abs=0.055)

    def test_bootstrap(self):
        rng = rng_for(53)
        x = np.logspace(0, 2, 20)
        y = 0.5 * x**1.5 * np.exp(0.05 * rng.standard_normal(20))
        fit = power_law_fit(x, y, bootstrap=True, n_resamples=2000, rng=np.random.default_rng(0))
        ols = power_law_fit(x, y)
        assert fit.method == "bootstrap"
        assert fit.exponent == ols.exponent
        assert fit.contains(1.5)
        lo, hi = fit.exponent_interval
        assert lo < fit.exponent < hi
        assert fit.exponent_stderr == pytest.approx(ols.exponent_stderr, rel=0.5)
        again = power_law_fit(x, y, bootstrap=True, n_resamples=2000, rng=np.random.default_rng(0))
        assert again.exponent_interval == fit.exponent_interval

    def test_bootstrap_survives_degenerate_resamples(self):
        x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
        y = x**2 * np.exp([0.01, -0.02, 0.0, 0.02, -0.01])
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no NaN / degenerate warnings leak out
            fit = power_law_fit(x, y, bootstrap=True, n_resamples=500, rng=np.random.default_rng(1))
        assert all(np.isfinite(fit.exponent_interval))

    @pytest.mark.parametrize(
        "args, kwargs, match",
        [
            (([1, 2, 3], [1, 2]), {}, "same number"),
            (([1, 2, 3], [1, -2, 3]), {}, "y must be finite"),
            (([0, 2, 3], [1, 2, 3]), {}, "x must be finite"),
            (([1, 2], [1, 2]), {}, "at least 3"),
            (([2, 2, 2], [1, 2, 3]), {}, "distinct"),
            (([1, 2, 3], [1, 2, 3]), {"confidence": 1.0}, "confidence"),
            (([1, 2, 3], [1, 2, 3]), {"absolute_sigma": True}, "requires y_stderr"),
            (([1, 2, 3], [1, 2, 3]), {"y_stderr": [0.1, 0.0, 0.1]}, "y_stderr"),
            (([1, 2, 3], [1, 2, 3]), {"y_stderr": [0.1, 0.1]}, "y_stderr"),
            (([1, 2, 3, 4], [1, 2, 3, 4]), {"bootstrap": True}, "at least 5"),
        ],
    )
    def test_bad_input(self, args, kwargs, match):
        with pytest.raises(ParameterError, match=match):
            power_law_fit(*args, **kwargs)


@pytest.mark.parametrize("dist", [sp_stats.gamma(4.0), sp_stats.t(12), sp_stats.norm(2.0, 0.5)])
def test_standardised_moments_agree_with_exact_moments_within_their_jackknife_errors(dist):
    rng = np.random.default_rng(7)
    x = dist.rvs(size=(6, 40000), random_state=rng)
    mean, var, skew, kurt = dist.stats(moments="mvsk")
    est = standardised_moments(x)
    z = (est.value - np.array([mean, var, skew, kurt], dtype=float)) / est.stderr
    assert np.all(np.abs(z) < 5), z
    assert est.dof == 31


def test_standardised_moments_refuses_bad_shapes():
    with pytest.raises(ParameterError, match="shape"):
        standardised_moments(np.ones(10))
    with pytest.raises(ParameterError, match="n_blocks"):
        standardised_moments(np.ones((2, 8)))


def test_replica_bootstrap_gives_the_standard_error_of_a_mean():
    x = np.random.default_rng(0).standard_normal((400, 2)) * [1.0, 3.0]
    est = replica_bootstrap(lambda r: x[r].mean(axis=0), 400, 400, np.random.default_rng(1))
    np.testing.assert_allclose(est.value, x.mean(axis=0))
    np.testing.assert_allclose(est.stderr, x.std(axis=0, ddof=1) / 20, rtol=0.15)
