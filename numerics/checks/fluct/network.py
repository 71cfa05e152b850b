"""Feng & Tu's inverse variance–flatness relation in a trained ReLU MLP (``fluct.ivfr_network``) on the JAX engine.

The claim (Feng & Tu, PNAS 118, e2015617118 (2021), an MLP trained by SGD on MNIST): in a late window of SGD after
the loss has plateaued, the variance σ_i² of the weights along the window's PCA direction i falls with the
flatness F_i of the loss along it (the width of the loss profile at e·L₀), σ_i² ∝ F_i^(−ψ) with ψ > 0 — the
inverse of equilibrium, where a Boltzmann density at one temperature on a quadratic valley gives σ_i² ∝ F_i²,
ψ = −2 (the extra ``psi_equilibrium`` of the registered derivation ``fluct.ivfr``). The measurement is
:func:`numerics.models.network.variance_flatness`: per replica, PCA of all weights over its window, F_i of the top
``n_directions`` directions about the window's mean, ψ by a log–log least-squares fit.

The relation is about a stationary state, and a window that is not stationary fakes one: when the loss still
falls through the window, or a direction wanders without a restoring force, the top PC is that displacement and
its variance grows with the window, not with the fluctuations. Cross-entropy on data the network separates has
no stationary state at all (the weights grow for ever). So, by default: MSE (ℓ = ½‖f − t‖², t one-hot) on the
labels of a wider random ReLU teacher (:func:`numerics.data.teacher`, ``TEACHER``), which the student cannot fit
exactly at P = ``n_train``, so the loss has a positive plateau L₀; a burn-in of ``burn_in`` steps at the constant
step η, then a window of ``window`` steps recorded every ``record_every``. The stationarity gate, reported in
the notes: (a) the loss change from the window's first half to its second (per replica, full training loss at
every record) is consistent with 0, |z| ≤ 5 across the independent replicas; (b) the replicas' mean drift
fraction (:func:`~numerics.models.network.measure.drift_fraction`: the share of the top directions' variance
that the window's mean displacement explains; a straight drift gives 1, a random walk about 2/3, a stationary
window about 8τ/(3S) for S records decorrelating over τ) is at most ``max_drift_fraction``.

Verdict: on a stationary window, a criterion row ψ > 0 beyond 5 standard errors (σ² falls with F: Feng & Tu),
the standard error of ψ's mean across ``n_replicas`` independently trained networks (Student-t, R − 1 dof);
mutants ψ = −2 (equilibrium) and ψ = 0 (no relation) judged on the same ψ. ψ < 0 beyond 5 standard errors
refutes the claim. On a window that fails the gate the claim's precondition is not met: ψ is reported and not
judged (rule ``unmet``; INCONCLUSIVE).

Seeds: the data by ``seed`` (:mod:`numerics.data`); ``child_seed(seed, 1)``'s child r draws network r's
initialisation (He-normal, :func:`~numerics.models.network.relu_mlp_params`), ``child_seed(seed, 2)`` the burn-in's
minibatches and ``child_seed(seed, 3)`` the window's (replica r of
:func:`~numerics.models.network.run_replicas`), ``child_seed(seed, 4)`` the replica bootstrap of ψ.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import stats as sp_stats

from derivations.conventions import Z_THRESHOLD as Z
from numerics.checks import _figures
from numerics.engine.rng import child_seed
from numerics.errors import ParameterError, require_choice, require_independent_runs
from numerics.stats import replica_mean
from numerics.verify import Check, CheckResult, Comparison, Mutant, comparison_result, register_check
from numerics.verify.predict import evaluate

DATASETS = ("teacher", "digits", "mnist1d")
# the teacher's labels: Gaussian inputs in 20 dimensions, 4 classes, a hidden layer of 32 (wider than the student)
TEACHER = dict(n_features=20, hidden=(32,), n_classes=4)
N_TEST = 2000  # test samples of the teacher (digits and MNIST-1D: their loaders' defaults)


def _load(name: str, n_train: int, seed):
    from numerics import data

    if require_choice("dataset", name, DATASETS) == "teacher":
        return data.teacher(n_train, N_TEST, seed=seed, **TEACHER)
    return getattr(data, name)(n_train, seed=seed)


def train_windows(split, params: dict, seed):
    """``n_replicas`` independently initialised ReLU MLPs (widths (d, hidden, hidden, K), no biases) trained by
    SGD on ``split`` for ``burn_in`` steps, then a recorded window of ``window`` steps (module docstring).
    Returns (network, the window's run: trajectory (R, records, n_params) from the end of the burn-in)."""
    from numerics.models.network import Network, relu_mlp, relu_mlp_params, run_replicas, stack_replicas

    R = params["n_replicas"]
    widths = (split.n_features, params["hidden"], params["hidden"], split.n_classes)
    inits = [relu_mlp_params(widths, child_seed(child_seed(seed, 1), r)) for r in range(R)]
    net = Network(relu_mlp, inits[0], loss=params["loss"], piecewise_linear=True)
    sgd = dict(eta=params["eta"], batch_size=params["batch_size"], n_replicas=R, sampling="with_replacement")
    burn = run_replicas(net, split.X, split.y, n_steps=params["burn_in"], seed=child_seed(seed, 2),
                        initial=stack_replicas(inits), **sgd)
    window = run_replicas(net, split.X, split.y, n_steps=params["window"], seed=child_seed(seed, 3),
                          initial=burn.params, record_every=params["record_every"], **sgd)
    return net, window


def _accuracy(net, run, X, y) -> float:
    """Mean over the replicas of the final networks' accuracy on (X, y)."""
    samples = net.samples(X, y)
    return float(np.mean([net.accuracy(run.replica(r), samples) for r in range(run.trajectory.shape[0])]))


def _numbers(values) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"


def _run_ivfr_network(params: dict, seed: int) -> CheckResult:
    from numerics.models.network import variance_flatness

    R = require_independent_runs("n_replicas", params["n_replicas"])
    if not 0 < params["max_drift_fraction"] < 1:
        raise ParameterError(f"max_drift_fraction must lie in (0, 1), got {params['max_drift_fraction']!r}")
    psi_equilibrium = float(evaluate("fluct.ivfr", {}, "psi_equilibrium"))
    start = time.perf_counter()
    split = _load(params["dataset"], params["n_train"], seed)
    net, run = train_windows(split, params, seed)
    trained = time.perf_counter() - start
    vf = variance_flatness(net, run, split.X, split.y, burn_in=0, n_directions=params["n_directions"],
                           n_resamples=params["n_bootstrap"], seed=child_seed(seed, 4))
    psi, trend = replica_mean(vf.psi_replicas), vf.loss_trend
    trend_z, drift = float(trend.z(0.0)), float(vf.drift.mean())
    stationary = abs(trend_z) <= Z and drift <= params["max_drift_fraction"]
    # a window that fails the gate does not meet the claim's precondition: psi reported, not judged (rule unmet)
    cmp = Comparison([], [], Z).require("psi > 0 (sigma_i^2 falls with F_i)", psi.value, psi.stderr, 0.0, "above",
                                        met=stationary)
    mutants = [Mutant.judge(f"equilibrium (Boltzmann, one temperature): sigma_i^2 ~ F_i^2, psi = {psi_equilibrium:g}",
                            psi.z(psi_equilibrium)),
               Mutant.judge("no relation: psi = 0", psi.z(0.0))]
    t = sp_stats.t.ppf(0.975, R - 1) * psi.stderr
    log_var, log_flat = np.log(vf.variances).mean(axis=0), np.log(vf.flatness).mean(axis=0)
    notes = [
        f"psi = {psi.value:.3f} ± {psi.stderr:.3f}, 95% interval [{psi.value - t:.3f}, {psi.value + t:.3f}] (Student-t, "
        f"{R - 1} dof; replica bootstrap {vf.psi_interval[0]:.3f}..{vf.psi_interval[1]:.3f}); per network "
        f"{vf.psi_replicas.min():.2f}..{vf.psi_replicas.max():.2f}; {vf.relation}",
        f"stationarity gate {'passed' if stationary else 'FAILED: psi not judged'}: (a) loss change second - first "
        f"half-window {trend.value:.3g} ± {trend.stderr:.2g} (z = {trend_z:.2f}, needs |z| <= {Z:g}); (b) drift "
        f"fraction of the top {params['n_directions']} directions' variance {drift:.3f} (per network "
        f"{vf.drift.min():.3f}..{vf.drift.max():.3f}; needs <= {params['max_drift_fraction']:g}; a straight drift "
        "gives 1, a random walk about 2/3)",
        f"directions (geometric means over networks, PCA of all {net.n_params} weights): sigma^2 = "
        f"{_numbers(np.exp(log_var))}, F = {_numbers(np.exp(log_flat))}; per network, F spans a factor "
        f"{np.median(vf.flatness.max(axis=1) / vf.flatness.min(axis=1)):.3g} and sigma^2 a factor "
        f"{np.median(vf.variances[:, 0] / vf.variances[:, -1]):.3g} (medians): psi is a slope over that range of F",
        f"loss plateau: L0 at the windows' means {vf.loss0.mean():.4g} (per network {vf.loss0.min():.4g}.."
        f"{vf.loss0.max():.4g}); final train accuracy {_accuracy(net, run, split.X, split.y):.3f}, test accuracy "
        f"{_accuracy(net, run, split.X_test, split.y_test):.3f}",
        f"protocol: {split.description}; ReLU MLP {params['hidden']}-{params['hidden']} hidden, no biases, He-normal, "
        f"{R} independent networks; loss {params['loss']}; SGD eta = {params['eta']:g}, B = {params['batch_size']} "
        f"with replacement, constant step; burn-in {params['burn_in']} steps, window steps {vf.window[0]}.."
        f"{vf.window[1]} ({vf.n_samples} records per network); training {trained:.0f} s, analysis "
        f"{time.perf_counter() - start - trained:.0f} s",
    ]
    return comparison_result(
        "fluct.ivfr_network", params, seed, Comparison(cmp.rows, mutants, Z),
        f"criterion row psi > 0 beyond {Z:g} stderr, judged only on a stationary window (gate in the notes; otherwise "
        f"reported, not judged); stderr of the mean psi across {R} independently trained networks ({R - 1} dof); "
        f"mutants psi = {psi_equilibrium:g} (equilibrium) and psi = 0", notes, dof=R - 1)


register_check(Check(
    name="fluct.ivfr_network",
    derivation="fluct.ivfr",
    description="Feng & Tu's inverse variance-flatness relation in a trained ReLU MLP: sigma_i^2 ~ F_i^(-psi) over "
                "the PCA directions of a stationary late window, psi > 0 (their claim); mutants psi = -2 "
                "(equilibrium) and psi = 0; a stationarity gate (loss plateau, drift fraction) decides whether psi "
                "is judged",
    run=_run_ivfr_network,
    figures=_figures.ivfr_network,
    exact=False,
    extra="network",
    quick=dict(dataset="teacher", n_train=4000, hidden=8, loss="mse", eta=0.2, batch_size=10, n_replicas=16,
               burn_in=400_000, window=400_000, record_every=800, n_directions=20, max_drift_fraction=0.2,
               n_bootstrap=1000),
    full=dict(dataset="teacher", n_train=8000, hidden=8, loss="mse", eta=0.2, batch_size=10, n_replicas=32,
              burn_in=1_000_000, window=1_000_000, record_every=2000, n_directions=20, max_drift_fraction=0.2,
              n_bootstrap=2000),
))
