"""Fast engine (numerics.engine.fast): statistically identical to the reference engine, reproducible, independent
of threads, blocks and segmentation; the numba kernel and the numpy fallback draw the same minibatches."""

import numpy as np
import pytest

from numerics.engine import fast
from numerics.engine.data import Dataset
from numerics.errors import DivergenceError, ParameterError
from numerics.models.linreg import (
    discrete_stationary_covariance, least_squares_solution, minibatch_scale, noise_covariance,
)
from numerics.models import LeastSquares
from numerics.engine.sgd import MomentObserver, TrajectoryObserver, run_sgd
from numerics.stats import Estimate, replica_mean
from numerics.testing import assert_mc_agrees, assert_mc_rejects

needs_numba = pytest.mark.skipif(not fast.HAVE_NUMBA, reason="numba not installed")
SCHEMES = ["with_replacement", "without_replacement"]
OTHER = {"with_replacement": "without_replacement", "without_replacement": "with_replacement"}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 2))
    y = X @ np.array([1.0, -0.5]) + 0.3 * rng.standard_normal(6)
    return Dataset(X, y)


def fast_run(data, sampling="with_replacement", *, use_numba=None, **kw):
    args = dict(eta=0.1, batch_size=3, n_steps=60, n_replicas=9, sampling=sampling, w0=None, seed=5,
                observers=[], check_every=50, divergence_bound=1e6, progress=False)
    args.update(kw)
    return fast.run_fast(LeastSquares(data.n_features), data, use_numba=use_numba, **args)


@pytest.mark.parametrize("sampling", SCHEMES)
def test_one_step_gradient_moments(data, sampling):
    """E ĝ = ∇L and Cov ĝ = κ C(w) with the scheme's κ; the other scheme's κ is rejected (negative control).
    False-failure probability < 1e-5."""
    X, y, B, eta = data.X, data.y, 3, 0.1
    w0 = np.array([0.2, 0.4])
    run = run_sgd(LeastSquares(2), data, eta=eta, batch_size=B, n_steps=1, n_replicas=40_000,
                  sampling=sampling, w0=w0, seed=1, backend="fast")
    g = (w0 - run.final) / eta
    grad = X.T @ (X @ w0 - y) / len(y)
    assert_mc_agrees(replica_mean(g), grad, names=["g1", "g2"])
    iu = np.triu_indices(2)
    c = g - grad
    outer = (c[:, :, None] * c[:, None, :])[:, iu[0], iu[1]]
    C = noise_covariance(X, y, w0)[iu]
    assert_mc_agrees(replica_mean(outer), minibatch_scale(B, sampling, 6) * C, names=["C11", "C12", "C22"])
    assert_mc_rejects(replica_mean(outer), minibatch_scale(B, OTHER[sampling], 6) * C, names=["C11", "C12", "C22"])


@pytest.mark.parametrize("sampling", SCHEMES)
def test_stationary_moments_match_exact_theory_and_reference_engine(data, sampling):
    """Time averages of δ = w − ŵ and δδᵀ (SecondMomentObserver, accumulated in the kernel) agree with the
    exact discrete stationary covariance and, replica mean against replica mean, with the reference
    (numpy) engine; the other scheme's exact covariance is rejected. Replicas are independent, so
    replica_mean's standard error is exact up to its dof (1999)."""
    X, y, eta, B = data.X, data.y, 0.1, 3
    w_hat = least_squares_solution(X, y)
    kw = dict(eta=eta, batch_size=B, n_steps=1500, n_replicas=2000, sampling=sampling, w0=w_hat, seed=3)
    runs = {}
    for backend in ("fast", "numpy"):
        obs = fast.SecondMomentObserver(w_hat, burn_in=300, every=2, n_batches=4)
        run_sgd(LeastSquares(2), data, observers=[obs], backend=backend, **kw)
        runs[backend] = replica_mean(obs.replica_means)
    iu = np.triu_indices(2)
    exact = discrete_stationary_covariance(X, y, eta, B, sampling)[iu]
    wrong = discrete_stationary_covariance(X, y, eta, B, OTHER[sampling])[iu]
    names = ["d1", "d2", "S11", "S12", "S22"]
    f, n = runs["fast"], runs["numpy"]
    assert_mc_agrees(f, np.concatenate([[0, 0], exact]), names=names, label="fast vs exact")
    assert_mc_rejects(Estimate(f.value[2:], f.stderr[2:]), wrong, names=names[2:], label="fast vs wrong scheme")
    diff = Estimate(f.value - n.value, np.hypot(f.stderr, n.stderr))
    assert_mc_agrees(diff, np.zeros(5), names=names, label="fast − numpy engine")


@needs_numba
@pytest.mark.parametrize("kernel", fast.KERNELS)
@pytest.mark.parametrize("sampling", SCHEMES)
def test_kernel_and_numpy_fallback_agree(data, sampling, kernel):
    """Same minibatches, so the same weights up to summation order; observers filled alike (both kernels)."""
    runs = []
    for use_numba in (True, False):
        obs = [MomentObserver(burn_in=10, n_batches=4), TrajectoryObserver(stride=7),
               fast.SecondMomentObserver(np.zeros(2), burn_in=5, every=3, n_batches=2),
               MomentObserver(lambda w: w**2, burn_in=20, every=5, n_batches=2)]
        runs.append(fast_run(data, sampling, use_numba=use_numba, observers=obs,
                             kernel=kernel if use_numba else None))
    a, b = runs
    assert a.info["kernel"] == kernel and b.info["kernel"] == "numpy"
    np.testing.assert_allclose(a.final, b.final, rtol=1e-12, atol=1e-14)
    for oa, ob in zip(a.observers, b.observers):
        va, vb = (oa.values, ob.values) if hasattr(oa, "values") else (oa.batch_means, ob.batch_means)
        np.testing.assert_allclose(va, vb, rtol=1e-12, atol=1e-14)


@needs_numba
@pytest.mark.parametrize("shape,sampling", [("full rank, P > N", "with_replacement"),
                                            ("full rank, P > N", "without_replacement"),
                                            ("rank 1 < N, P > N", "with_replacement"),
                                            ("P < N", "with_replacement")])
def test_dual_kernel_equals_primal_kernel_to_rounding(data, shape, sampling):
    """The residual-space (dual) kernel runs the same minibatches as the primal one: over 3000 steps (many
    resynchronisations, a launch boundary every 700 steps for a host observer) the trajectories, the
    kernel-side moments and the final weights agree to 1e-10 relative, also when X is rank-deficient
    (the weights move only within w0 + row space of X, which the dual kernel keeps exactly). Negative
    control: another seed's trajectory differs at that tolerance."""
    rng = np.random.default_rng(7)
    X = {"full rank, P > N": lambda: data.X,
         "rank 1 < N, P > N": lambda: np.repeat(data.X[:, :1], 2, axis=1),
         "P < N": lambda: rng.standard_normal((3, 4))}[shape]()
    y = X @ rng.standard_normal(X.shape[1]) + 0.3 * rng.standard_normal(X.shape[0])
    eta = 0.5 * X.shape[0] / np.linalg.eigvalsh(X.T @ X)[-1]
    w0 = rng.standard_normal((6, X.shape[1]))

    def run(kernel, seed=3):
        obs = [fast.SecondMomentObserver(np.zeros(X.shape[1]), burn_in=500, every=7, n_batches=2),
               TrajectoryObserver(stride=50), MomentObserver(lambda w: np.abs(w), every=700, n_batches=1)]
        return fast_run(Dataset(X, y), sampling, eta=eta, n_steps=3000, n_replicas=6, w0=w0, seed=seed,
                        observers=obs, kernel=kernel)

    p, d = run("primal"), run("dual")
    assert (p.info["kernel"], d.info["kernel"]) == ("primal", "dual")
    for a, b in [(p.final, d.final), (p.observers[1].values, d.observers[1].values),
                 (p.observers[0].batch_means, d.observers[0].batch_means)]:
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-10 * np.abs(a).max())
    other = run("dual", seed=4).observers[1].values
    assert np.abs(other - p.observers[1].values).max() > 1e-6 * np.abs(p.observers[1].values).max()


def test_cost_model_picks_the_dual_kernel_for_few_samples_and_rare_observations():
    """Dual when the B row updates of ⌈P/4⌉ vectors beat the primal's 2BN flops and the weights are needed
    rarely: the small benchmark workload and N = 16, P = 32; primal for the medium one (N = 64 vectorises over
    features), for many samples per feature, and when a kernel-side observer needs the weights every step."""
    assert fast.choose_kernel(5, 12, 3, n_steps=2000, n_observed=40) == "dual"
    assert fast.choose_kernel(16, 32, 4, n_steps=1000, n_observed=20) == "dual"
    assert fast.choose_kernel(64, 256, 16, n_steps=500, n_observed=10) == "primal"
    assert fast.choose_kernel(5, 64, 3, n_steps=2000, n_observed=40) == "primal"
    assert fast.choose_kernel(5, 12, 3, n_steps=2000, n_observed=2000) == "primal"
    with pytest.raises(ParameterError, match="kernel"):
        fast_run(Dataset(np.eye(3), np.ones(3)), kernel="gpu")


@needs_numba
def test_reproducible_and_independent_of_threads_blocks_and_segments(data):
    """Bitwise: same seed → same run; 1 thread vs 2; any block_size; the kernel cut at every host
    observation step (a custom-feature observer every 3 steps) vs one launch, for both kernels; a new
    seed differs."""
    import numba

    kw = dict(eta=0.1, batch_size=3, n_steps=60, n_replicas=9, seed=5, backend="fast")
    base = run_sgd(LeastSquares(2), data, **kw).final
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = run_sgd(LeastSquares(2), data, **kw).final
    finally:
        numba.set_num_threads(previous)
    blocked = run_sgd(LeastSquares(2), data, block_size=2, **kw).final
    segmented = run_sgd(LeastSquares(2), data, observers=[MomentObserver(lambda w: w + 1, every=3, n_batches=2)],
                        **kw).final
    assert np.array_equal(base, single) and np.array_equal(base, blocked) and np.array_equal(base, segmented)
    assert np.array_equal(base, run_sgd(LeastSquares(2), data, **kw).final)
    assert not np.array_equal(base, run_sgd(LeastSquares(2), data, **{**kw, "seed": 6}).final)
    # a replica's stream does not depend on how many replicas run beside it
    assert np.array_equal(base[:4], run_sgd(LeastSquares(2), data, **{**kw, "n_replicas": 4}).final)
    assert run_sgd(LeastSquares(2), data, **kw).info["kernel"] == "dual"  # the cost model's; the primal too:
    every_3 = [MomentObserver(lambda w: w + 1, every=3, n_batches=2)]
    primal = fast_run(data, kernel="primal").final
    assert np.array_equal(primal, fast_run(data, kernel="primal", observers=every_3).final)


@pytest.mark.parametrize("use_numba,kernel", [pytest.param(True, k, marks=needs_numba) for k in fast.KERNELS]
                         + [(False, None)])
def test_divergence_is_reported_with_its_step(data, use_numba, kernel):
    with pytest.raises(DivergenceError) as err:
        fast_run(data, use_numba=use_numba, eta=3.0, n_steps=400, check_every=10, kernel=kernel)
    assert err.value.step % 10 == 0 and "eta=3" in str(err.value)


def test_unsupported_problems_are_refused_or_fall_back(data):
    from numerics.engine.data import GaussianTeacher

    with pytest.raises(ParameterError, match="stop_when"):
        run_sgd(LeastSquares(2), data, eta=0.1, batch_size=3, n_steps=5, backend="fast", stop_when=lambda w: w[:, 0] > 9)
    with pytest.raises(ParameterError, match="sampling"):
        run_sgd(LeastSquares(2), data, eta=0.1, batch_size=3, n_steps=5, sampling="epoch", backend="fast")
    with pytest.raises(ParameterError, match="backend"):
        run_sgd(LeastSquares(2), data, eta=0.1, batch_size=3, n_steps=5, backend="cuda")
    online = run_sgd(LeastSquares(2), GaussianTeacher(np.ones(2)), eta=0.1, batch_size=3, n_steps=5,
                     sampling="online", backend="auto", seed=2)
    reference = run_sgd(LeastSquares(2), GaussianTeacher(np.ones(2)), eta=0.1, batch_size=3, n_steps=5,
                        sampling="online", seed=2)
    assert np.array_equal(online.final, reference.final)  # "auto" fell back to the numpy engine
    with pytest.raises(ParameterError, match="center"):
        run_sgd(LeastSquares(2), data, eta=0.1, batch_size=3, n_steps=50, backend="fast",
                observers=[fast.SecondMomentObserver(np.zeros(3))])
