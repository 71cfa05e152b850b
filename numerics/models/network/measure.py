"""The measurements of the seeds in a user's own network (:class:`~numerics.models.network.network.Network`), one
call each, returning a small result with estimates, confidence intervals and a ``table()``:

- :func:`noise_vs_curvature` (seed 001) at one set of parameters: the layer's C = C₁/B, H and E_p[h_p²]
  (:func:`~numerics.models.network.curvature.measure_layer`); γ of C_ii ∝ H_ii^γ and of S_i ∝ H_ii^γ in H's
  eigenbasis (C_ii = v_iᵀCv_i, S_i = v_iᵀE_p[h_p²]v_i, H_ii = λ_i) by the authors' protocol, the OLS slope of
  log C_ii on log H_ii over the top 60 % of H's directions with a BCa interval over directions
  (:func:`~numerics.models.noise_curvature.fit_gamma`, as the check ``curv.noise_curvature`` does); the relative
  errors ‖C − cM‖/‖C‖ at the best multiple c for M = E_p[h_p²] and M = H; the commutation ‖[C, H]‖/(‖C‖‖H‖)
  and ρ = ‖[C, H]‖/(2‖CH‖), beside ρ for C rotated by Haar-random orthogonal matrices (spectrum kept).
- :func:`variance_flatness` (Feng & Tu's inverse variance–flatness relation, seed 003) in the trained network:
  in each replica's late-time window of recorded weights, PCA (σ_i² descending) and the flatness F_i, the width
  of the loss profile along direction i at e·L₀ about the window's mean
  (:func:`~numerics.models.two_layer.window_variance_flatness`, the measurement of the check ``fluct.ivfr``);
  ψ of σ_i² ∝ F_i^(−ψ) by a log–log least-squares fit; ψ averaged over the replicas with a replica-bootstrap
  interval. ψ > 0: σ² falls with F (Feng & Tu's inverse relation); ψ < 0: σ² rises with F (equilibrium: a
  Boltzmann density at one temperature on a quadratic valley gives σ_i² ∝ F_i², ψ = −2). Whether the window is
  stationary, as the relation presumes: per replica the change of the training loss from the window's first half
  to its second, and the drift fraction (:func:`drift_fraction`).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np
from scipy import stats as sp_stats

from derivations.conventions import Z_THRESHOLD
from numerics.engine.rng import child_seed
from numerics.errors import ParameterError, require_int_in_range
from numerics.models.network.curvature import measure_layer
from numerics.models.network.network import Network
from numerics.models.noise_curvature import NoiseCurvature, fit_gamma, rotation_baseline, top_count
from numerics.models.two_layer import variance_flatness_fit, window_variance_flatness
from numerics.stats import Estimate, PowerLawFit, replica_bootstrap, replica_mean


def _with_interval(value: float, low: float, high: float) -> str:
    return f"{value:.3f}  [{low:.3f}, {high:.3f}]"


@dataclass(frozen=True)
class NoiseVsCurvature:
    """C vs H in one layer: the measurement, γ of C and of E_p[h_p²] (fitted over the top ``n_top`` directions of
    H), the relative errors of C against the best multiples of E_p[h_p²] and H (``relative_errors``, keys ``Eh2``
    and ``H``), the commutator ‖[C, H]‖/(‖C‖‖H‖), ρ and its Haar-rotation baseline (mean, standard deviation)."""

    layer: str
    measurement: NoiseCurvature
    gamma_C: PowerLawFit
    gamma_Eh2: PowerLawFit
    n_top: int
    relative_errors: dict
    commutator: float
    rho: float
    rho_haar: tuple[float, float]

    def table(self) -> str:
        conf = f"{100 * self.gamma_C.confidence:g} %"
        rows = [f"layer {self.layer}: {len(self.measurement.H)} parameters, B = {self.measurement.batch_size}; gamma "
                f"fitted over the top {self.n_top} directions of H ({conf} BCa interval over directions)"]
        rows += [f"  gamma of {name:<11} {_with_interval(fit.exponent, *fit.exponent_interval)}"
                 for name, fit in (("C", self.gamma_C), ("E_p[h_p^2]", self.gamma_Eh2))]
        rows.append(f"  ||C - c M||/||C|| at the best c: M = E_p[h_p^2] {self.relative_errors['Eh2']:.3f}, "
                    f"M = H {self.relative_errors['H']:.3f}")
        rows.append(f"  ||[C,H]||/(||C|| ||H||) = {self.commutator:.3g}; rho = ||[C,H]||/(2||CH||) = {self.rho:.3f} "
                    f"(Haar-rotated C: {self.rho_haar[0]:.3f} ± {self.rho_haar[1]:.3f})")
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.table()


def noise_vs_curvature(net: Network, params, X, y, layer: str, batch_size: int, *, top_fraction: float = 0.6,
                       confidence: float = 0.95, n_resamples: int = 2000, n_rotations: int = 10, seed=0,
                       hvp_batch: int | None = None, sample_batch: int = 64) -> NoiseVsCurvature:
    """C, H, E_p[h_p²] of layer ``layer`` at ``params`` over (X, y) and what seed 001 asks of them (module
    docstring); ``seed`` drives the bootstrap over directions and the Haar rotations."""
    nc = measure_layer(net, params, X, y, layer, batch_size, hvp_batch=hvp_batch, sample_batch=sample_batch)
    lam, C_ii, S_i = nc.diagonals()
    n_top = top_count(len(lam), top_fraction)
    fit_c, fit_s = (fit_gamma(lam, d, n_top, confidence=confidence, n_resamples=n_resamples, seed=child_seed(seed, k))
                    for k, d in enumerate((C_ii, S_i)))
    rho_haar = rotation_baseline(nc.C, nc.H, require_int_in_range("n_rotations", n_rotations, 2),
                                 child_seed(seed, 2))[:, 1]
    return NoiseVsCurvature(layer, nc, fit_c, fit_s, n_top, nc.relative_errors(), nc.commutator(),
                            nc.antisymmetric_fraction(), (float(rho_haar.mean()), float(rho_haar.std(ddof=1))))


def drift_fraction(samples, variances, directions) -> float:
    """The fraction of the top PCA variances Σ_i σ_i² of a window of samples (S, d) that its mean displacement
    explains: Σ_i (p_iᵀΔ)²/3 / Σ_i σ_i², Δ = (mean of the second half) − (mean of the first half), p_i the columns
    of ``directions``. A straight drift w(t) = w̄ + v(t − t̄) has variance |Δ|²/3 along v, so it gives 1; a random
    walk (an unconfined direction) about 2/3 (Brownian motion over a window of length T: E|Δ|²/3 = T/9 against
    the window's variance T/6); a stationary window whose records decorrelate over τ of its S records about
    8τ/(3S)."""
    x = np.asarray(samples, dtype=float)
    half = x.shape[0] // 2
    delta = x[half:].mean(axis=0) - x[:half].mean(axis=0)
    return float(np.sum((directions.T @ delta) ** 2) / 3 / np.sum(variances))


@dataclass(frozen=True)
class VarianceFlatness:
    """Feng & Tu's analysis of R replicas' windows: per replica (rows) the PCA variances σ_i² (descending) and the
    flatness F_i of the top directions, L₀ at the window's mean and ψ; ``psi`` their mean over replicas with a
    replica-bootstrap standard error and its normal ``confidence`` interval; ``window`` the first and last step of
    the window, ``n_samples`` the recorded weight vectors in it per replica. Stationarity, per replica:
    ``loss_change`` the mean training loss over the window's second half minus that over its first half,
    ``drift`` the :func:`drift_fraction` of the top directions."""

    variances: np.ndarray
    flatness: np.ndarray
    loss0: np.ndarray
    psi_replicas: np.ndarray
    psi: Estimate
    psi_interval: tuple[float, float]
    confidence: float
    window: tuple[int, int]
    n_samples: int
    loss_change: np.ndarray
    drift: np.ndarray

    @property
    def loss_trend(self) -> Estimate:
        """The change of the loss between the window's halves, mean over the independent replicas with its
        standard error (``replica_mean``, R − 1 dof): consistent with 0 where the loss has plateaued."""
        return replica_mean(self.loss_change)

    @property
    def relation(self) -> str:
        """How σ² goes with F, decided beyond the package's |z| threshold on ψ (ψ = 0 is neither)."""
        z = float(self.psi.z(0.0))
        if z > Z_THRESHOLD:
            return "inverse: sigma_i^2 falls with F_i (Feng & Tu)"
        if z < -Z_THRESHOLD:
            return "sigma_i^2 rises with F_i (the equilibrium sign; a Boltzmann density gives psi = -2)"
        return f"undecided: |psi|/stderr <= {Z_THRESHOLD:g}"

    def table(self) -> str:
        R, n = self.variances.shape
        head = f"{'direction':>9} {'sigma^2':>11} {'F':>11}"
        rows = [f"IVFR over steps {self.window[0]}..{self.window[1]} ({self.n_samples} samples per replica, {R} "
                f"replicas; means over replicas, L0 = {self.loss0.mean():.4g})", head]
        rows += [f"{i + 1:>9} {v:>11.4g} {F:>11.4g}"
                 for i, (v, F) in enumerate(zip(self.variances.mean(axis=0), self.flatness.mean(axis=0)))]
        rows.append(f"psi (sigma^2 ~ F^-psi) = {_with_interval(self.psi.value, *self.psi_interval)} "
                    f"({100 * self.confidence:g} %, replica bootstrap; stderr {self.psi.stderr:.3f})")
        rows.append(self.relation)
        trend = self.loss_trend
        rows.append(f"stationarity: loss change second - first half-window {trend.value:.3g} ± {trend.stderr:.2g} "
                    f"(z = {float(trend.z(0.0)):.2f}); drift fraction of the top {n} directions' variance "
                    f"{self.drift.mean():.3f} (per replica {self.drift.min():.3f}..{self.drift.max():.3f}; a straight "
                    "drift gives 1, a random walk about 2/3)")
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.table()


def variance_flatness(net: Network, run, X, y, *, burn_in: int | None = None, layer: str | None = None,
                      n_directions: int = 10, confidence: float = 0.95, n_resamples: int = 1000,
                      seed=0) -> VarianceFlatness:
    """The IVFR of the replicas of ``run`` (a :class:`~numerics.models.network.replicas.ReplicaRun` with a
    ``trajectory`` (R, n_records, n_params) and its ``steps``, from ``run_replicas(..., record_every=k)``) over
    the loss L on (X, y): the window is every record after step ``burn_in`` (default: the second half of the
    run); PCA of all parameters, or of layer ``layer`` (the others held at the window's mean), its top
    ``n_directions`` directions.

    Each replica is analysed on its own window, as Feng & Tu analyse their one trajectory: replicas leave w₀ in
    different directions and part ways along the flat ones, so a PCA of their pooled windows would count the
    spread between replicas as fluctuations."""
    if not 0 < confidence < 1:
        raise ParameterError(f"confidence must lie in (0, 1), got {confidence!r}")
    trajectory, steps = getattr(run, "trajectory", None), getattr(run, "steps", None)
    if trajectory is None:
        raise ParameterError("the run has no trajectory: train with run_replicas(..., record_every=k)")
    trajectory = np.asarray(trajectory, dtype=float)
    steps = np.asarray(steps)
    if trajectory.ndim != 3 or trajectory.shape[2] != net.n_params or trajectory.shape[1] != steps.size:
        raise ParameterError(f"trajectory must be (R, len(steps), {net.n_params}), got {trajectory.shape}")
    burn = steps[-1] // 2 if burn_in is None else require_int_in_range("burn_in", burn_in, 0, int(steps[-1]) - 1)
    keep = steps > burn
    R = require_int_in_range("replicas in the run", trajectory.shape[0], 2)
    n_dir = require_int_in_range("n_directions", n_directions, 3, int(keep.sum()) - 1)
    block = slice(None) if layer is None else net.layer_indices(layer)
    samples = net.samples(X, y)
    flat_loss = jax.jit(lambda w: net.loss(net.unflatten(w), samples))
    loss = lambda w: float(flat_loss(w))  # noqa: E731  (the root finders of flatness take floats)
    record_losses = jax.jit(lambda W: jax.lax.map(flat_loss, W))  # one record at a time: the memory of one loss
    var, flat, L0 = np.empty((R, n_dir)), np.empty((R, n_dir)), np.empty(R)
    change, drift = np.empty(R), np.empty(R)
    for r in range(R):
        window = trajectory[r, keep]
        center = window.mean(axis=0)
        var[r], flat[r], D = window_variance_flatness(loss, center, window[:, block], block, n_dir)
        L0[r] = loss(center)
        drift[r] = drift_fraction(window[:, block], var[r], D)
        losses = np.asarray(record_losses(window))
        change[r] = losses[losses.size // 2:].mean() - losses[:losses.size // 2].mean()
    psi_r = np.array([variance_flatness_fit(v, F).psi for v, F in zip(var, flat)])
    psi = replica_bootstrap(lambda idx: psi_r[idx].mean(), R, n_resamples, np.random.default_rng(child_seed(seed, 0)))
    half = float(sp_stats.norm.ppf(0.5 + confidence / 2)) * psi.stderr
    return VarianceFlatness(var, flat, L0, psi_r, psi, (psi.value - half, psi.value + half), confidence,
                            (int(steps[keep][0]), int(steps[-1])), int(keep.sum()), change, drift)
