"""Checks of the deep-linear-network mode derivations (seed 000) against direct Monte Carlo SGD.

* ``dln.mode_sde`` — width-1 depth-L network (L = 1..4), online scalar Gaussian data with label noise: mean and
  variance of u = a^L over time, SGD vs an Euler–Maruyama ensemble of the per-mode SDE. Control: the SDE
  without its Itô drift term.
* ``dln.stationary_density`` — stationary samples of the scalar network (L = 1, 2, label noise), one per
  replica and several per replica spaced by ≥ 10 relaxation times, KS test against the density; L = 1 variance
  against the exact discrete value. Control: Boltzmann density of the plain loss at constant temperature.
* ``dln.diffusion_peak`` — full-matrix networks (L = 2, 3; singular values 3, 2, 1; aligned-balanced
  initialisation; online SGD, B = 1): the end-to-end per-sample gradient variance along each mode (D_u/(η/B)),
  measured on fresh probe samples along many replicas in lockstep, peaks at the predicted u*/s (local quadratic
  regression, jackknife over replica blocks) and before the mode reaches 0.9 s. Control: a peak at u = s. The
  per-layer D_a, the whole D_u curve in bins of u/s and the lead time before 0.9 s are reported in notes.
* ``dln.ablation`` — the same observables from small random (non-aligned, unbalanced) initialisation; the
  aligned prediction is held to a stated absolute tolerance (claim 4 is qualitative), and u = s is rejected.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sp_stats

from derivations.conventions import Z_THRESHOLD as Z
from numerics.verify.predict import evaluate
from numerics.verify import Check, CheckResult, Comparison, comparison_result, register_check
from numerics.engine.data import GaussianTeacher
from numerics.models.deep_linear import (
    ModeDensity, ModeDiffusion, ScalarChain, binned_ratio, first_passage_times, gradient_flow_time, mode_sde_in_a,
    peak_position, peak_vertex, simulate_mode_diffusion,
)
from numerics.engine.rng import child_seed
from numerics.engine.sde import integrate
from numerics.engine.sgd import TrajectoryObserver, run_sgd
from numerics.stats import ks_test, replica_mean



def _mean_var(samples: np.ndarray):
    """Mean and variance over replicas (axis 1 of (T, R)) with standard errors (delta method for the variance)."""
    R = samples.shape[1]
    mean = samples.mean(axis=1)
    centred = samples - mean[:, None]
    var = np.mean(centred ** 2, axis=1) * R / (R - 1)
    m4 = np.mean(centred ** 4, axis=1)
    return mean, samples.std(axis=1, ddof=1) / np.sqrt(R), var, np.sqrt(np.maximum(m4 - var ** 2, 0) / R)


# =========================================================================== dln.mode_sde
def scalar_sgd_trajectories(depth, s, sigma, eta, batch_size, u0, n_steps, stride, n_replicas, seed):
    """u = ∏ a_l of online SGD on the width-1 network (balanced start a_l = u0^{1/L}): (times, (T, R))."""
    obs = TrajectoryObserver(lambda w: np.prod(w, axis=1, keepdims=True), stride=stride)
    run_sgd(ScalarChain(depth), GaussianTeacher([s], sigma), eta=eta, batch_size=batch_size, n_steps=n_steps,
            n_replicas=n_replicas, sampling="online", w0=np.full(depth, u0 ** (1 / depth)), seed=seed,
            observers=[obs])
    return obs.steps * eta, obs.values[:, :, 0]


def scalar_sde_trajectories(depth, s, sigma, eta, batch_size, u0, t1, n_saves, substeps, n_paths, seed, ito=True):
    """u = a^L from an Euler–Maruyama ensemble of the per-layer SDE (``ito=False``: without the Itô term).

    The noise grows like a^{2L−1}: far above s a is nearly a martingale with enormous noise, and rare paths make
    excursions (a to ~30 within 10⁻⁹ time units) on which fixed-step Euler–Maruyama explodes (1 path of 3000
    under 2 of 20 seeds, L = 4). The adaptive scheme refines exactly those steps (Brownian bridge) and is plain
    Euler–Maruyama everywhere else; the excursions are too brief to move the moments at the saved times."""
    sol = integrate(mode_sde_in_a(depth, ito), u0 ** (1 / depth), t1, n_saves * substeps, n_paths,
                    parameters={"s": s, "sigma": sigma, "eta": eta, "B": batch_size}, seed=seed, save_every=substeps,
                    scheme="adaptive_euler_maruyama")
    return sol.times, sol.values[:, :, 0] ** depth


def _run_mode_sde(params: dict, seed: int) -> CheckResult:
    eta, B, s, sigma = params["eta"], params["batch_size"], params["s"], params["sigma"]
    R, n_times, sub = params["n_replicas"], params["n_times"], params["substeps"]
    means, variances, notes = [], [], []
    for i, depth in enumerate(params["depths"]):
        u0 = params["u0"] if depth > 1 else 0.0
        t_end = params["t_factor"] * gradient_flow_time(depth, s, max(u0, 1e-3 * s), 0.9 * s)
        stride = max(1, int(round(t_end / eta / n_times)))
        n_steps = stride * n_times
        t_sgd, u_sgd = scalar_sgd_trajectories(depth, s, sigma, eta, B, u0, n_steps, stride, R, child_seed(seed, 3 * i))
        sde = [scalar_sde_trajectories(depth, s, sigma, eta, B, u0, n_steps * eta, n_times, stride * sub, R,
                                       child_seed(seed, 3 * i + 1 + k), ito=ito) for k, ito in enumerate((True, False))]
        ms, es, vs, evs = _mean_var(u_sgd[1:])
        (mp, ep, vp, evp), (mw, ew, vw, evw) = (_mean_var(x[1:]) for _, x in sde)
        names = [f"L={depth} t={t:.2f}" for t in t_sgd[1:]]
        no_ito = "SDE without the Ito drift term 1/2 L(L-1)(eta/B) u^(3-4/L) Q(u)"
        means.append(Comparison.make([f"E u {n}" for n in names], mp, ms, np.hypot(es, ep), {no_ito: mw}, z=Z))
        variances.append(Comparison.make([f"Var u {n}" for n in names], vp, vs, np.hypot(evs, evp),
                                         {no_ito: vw, "a factor 2 in the noise (SDE variance x 2)": 2 * vp}, z=Z))
        gap = np.max(np.abs(ms - mp)) / np.max(np.abs(mp))
        notes.append(f"L={depth}: max |E u_SGD - E u_SDE| / max E u = {gap:.3g} (eta = {eta:g}); "
                     f"without the Ito term: {np.max(np.abs(ms - mw)) / np.max(np.abs(mw)):.3g}")
    # the no-Itô SDE is the full SDE at L = 1: that mutant is judged on all depths together
    cmp = Comparison.combine(means + variances)
    tol = (f"|z| <= {Z:g}, no floor (stderr of SGD and SDE ensembles combined); the continuum SDE is a weak O(eta) "
           "approximation of SGD, below the standard errors at these settings")
    return comparison_result("dln.mode_sde", params, seed, cmp, tol, notes)


register_check(Check(
    name="dln.mode_sde",
    derivation="dln.mode_sde",
    description="mode mean and variance vs time: width-1 depth-L SGD (L = 1..4) vs the per-mode SDE ensemble",
    run=_run_mode_sde,
    quick=dict(depths=(1, 2, 3, 4), s=1.0, sigma=1.0, eta=0.02, batch_size=1, u0=0.05, t_factor=1.3, n_times=6,
               substeps=6, n_replicas=3000),
    full=dict(depths=(1, 2, 3, 4), s=1.0, sigma=1.0, eta=0.01, batch_size=1, u0=0.05, t_factor=1.3, n_times=10,
              substeps=8, n_replicas=40000),
))


# =========================================================================== dln.stationary_density
def stationary_samples(depth, s, sigma, eta, batch_size, burn_in, spacing, per_replica, n_replicas, seed):
    """u at ``per_replica`` times spaced by ``spacing`` steps after ``burn_in`` (start at u = s), flattened."""
    obs = TrajectoryObserver(lambda w: np.prod(w, axis=1, keepdims=True), stride=spacing)
    n_steps = burn_in + spacing * (per_replica - 1)
    if burn_in % spacing:
        raise ValueError("burn_in must be a multiple of spacing")
    run_sgd(ScalarChain(depth), GaussianTeacher([s], sigma), eta=eta, batch_size=batch_size, n_steps=n_steps,
            n_replicas=n_replicas, sampling="online", w0=np.full(depth, s ** (1 / depth)), seed=seed, observers=[obs])
    return obs.values[burn_in // spacing:, :, 0]


def _run_stationary(params: dict, seed: int) -> CheckResult:
    eta, B, s, sigma = params["eta"], params["batch_size"], params["s"], params["sigma"]
    parts, notes = [], []
    for i, depth in enumerate((1, 2)):
        lam = depth * s ** (2 - 2 / depth)  # relaxation rate at u = s (steps: 1/(eta lam))
        spacing = int(np.ceil(params["spacing_times"] / (eta * lam)))
        samples = stationary_samples(depth, s, sigma, eta, B, spacing * params["burn_in_spacings"], spacing,
                                     params["per_replica"], params["n_replicas"], child_seed(seed, i))
        density = ModeDensity(depth, s, sigma, eta, B)
        ks = ks_test(samples, density.cdf)
        boltz_std = np.sqrt(eta / B * sigma ** 2 / 2)  # p ∝ exp(−ℓ/T'), ℓ = ½(u − s)², T' = (η/B)σ²/2
        boltz = ks_test(samples, lambda x: sp_stats.norm.cdf(x, s, boltz_std))
        gauss = ks_test(samples, lambda x: sp_stats.norm.cdf(x, density.mean, np.sqrt(density.variance)))
        mutants = {"Boltzmann density of the plain loss at constant temperature (eta/B) sigma^2/2": boltz,
                   "a Gaussian with the density's own mean and variance (two moments only)": gauss}
        extra = ""
        if depth > 1:
            no_ito = ks_test(samples, ModeDensity(depth, s, sigma, eta, B, ito=False).cdf)
            mutants["the density without the Ito term (L = 2)"] = no_ito
            extra = f"; vs the density without the Ito term {no_ito.pvalue:.2g}"
        parts.append(Comparison.ks(f"KS D vs p(u), L={depth}", ks, mutants, Z))  # a mutant: rejected at either depth
        notes.append(f"L={depth}: n = {ks.n} samples ({params['per_replica']} per replica, spaced by "
                     f"{params['spacing_times']:g}/(eta*lambda) = {spacing} steps); KS p-value vs the density "
                     f"{ks.pvalue:.3g}; vs constant-temperature Boltzmann {boltz.pvalue:.2g}; vs the moment-matched "
                     f"Gaussian {gauss.pvalue:.2g}" + extra)
        if depth == 1:
            var = replica_mean(((samples - samples.mean()) ** 2).T.mean(axis=1))
            # exact discrete variance of the L = 1 mode (online least squares, one whitened input): the registered
            # isotropic fixed point of linreg.discrete_stationary_covariance, eta sigma^2/(2B - eta B - 2 eta)
            exact = float(evaluate("linreg.discrete_stationary_covariance",
                                   {"N": 1, "kappa": 1 / B, "eta": eta, "sigma": sigma}, "online_isotropic"))
            continuum = density.variance
            parts.append(Comparison.make(["Var u L=1 vs exact discrete"], [exact], [var.value], [var.stderr], z=Z))
            notes.append(f"L=1 variance: measured {var.value:.5g} +- {var.stderr:.2g}; exact discrete SGD "
                         f"eta sigma^2/(2B - eta B - 2 eta) = {exact:.5g}; continuum Student-t eta sigma^2/(2(B - eta)) "
                         f"= {continuum:.5g}; Boltzmann (small T) {boltz_std ** 2:.5g}. The O(eta) discrete correction "
                         "is half the Student-t's departure from the Boltzmann value at B = 1. Excess kurtosis: "
                         f"measured {sp_stats.kurtosis(samples.ravel()):.3g} +- {np.sqrt(24 / samples.size):.2g}, "
                         f"Student-t 6/(nu - 4) = {6 / (B / eta - 3):.3g}: the continuum's heavy tails are an O(eta) "
                         "effect of the same order as the discretisation corrections.")
    return comparison_result(
        "dln.stationary_density", params, seed, Comparison.combine(parts),
        f"KS rows: z = normal quantile of the two-sided p-value, |z| <= {Z:g} (p >= {2 * sp_stats.norm.sf(Z):.1e}); "
        f"L=1 variance vs the exact discrete value |z| <= {Z:g}; a mutant density is rejected at the same threshold",
        notes)


register_check(Check(
    name="dln.stationary_density",
    derivation="dln.stationary_density",
    description="stationary histogram of the width-1 network (L = 1, 2, label noise) vs the zero-flux density (KS)",
    run=_run_stationary,
    exact=False,  # the zero-flux density is the continuum (Fokker-Planck) theory: O(eta) off discrete SGD
    quick=dict(s=1.0, sigma=1.0, eta=0.01, batch_size=1, n_replicas=4000, per_replica=4, spacing_times=6.0,
               burn_in_spacings=2),
    full=dict(s=1.0, sigma=1.0, eta=0.005, batch_size=1, n_replicas=20000, per_replica=8, spacing_times=6.0,
              burn_in_spacings=2),
))


# =========================================================================== dln.diffusion_peak
def _peak_rows(md: ModeDiffusion, kind: str, params: dict):
    """Per mode: predicted u*/s, measured peak (Estimate) and the estimator's bias on the predicted curve."""
    predicted, curve, measured = md.peak_ratio(kind), md.predicted(kind), md.measured(kind)
    window = dict(bandwidth=params["bandwidth"], bin_width=params["bin_width"])
    out = []
    for k in range(md.s.size):
        x = md.x[:, :, k]
        est = peak_position(x, measured[:, :, k], n_blocks=params["n_blocks"], **window)
        bias = peak_vertex(x, curve[:, :, k], **window) - predicted[k]
        out.append((predicted[k], est, bias))
    return out


_SIMULATION_KEYS = ("eta", "n_replicas", "stride", "n_probe", "u0_fraction", "init_scale", "t_factor",
                    "learned_fraction", "max_chunks")


def _diffusion_peak_comparison(params: dict, seed: int, init: str):
    """Simulate every depth; rows = measured D_u peak u*/s per mode vs ``dln.diffusion_peak``; notes for D_a,
    the whole D_u curve in bins, and the lead time before u = 0.9 s."""
    names, pred, meas, err, notes, per_layer = [], [], [], [], [], []
    edges = np.linspace(0.1, 0.9, 9)
    for i, depth in enumerate(params["depths"]):
        md = simulate_mode_diffusion(depth, params["singular_values"], init=init, seed=child_seed(seed, i),
                                     **{key: params[key] for key in _SIMULATION_KEYS if key in params})
        other = md.peak_ratio("layer")
        for k, (p, est, bias) in enumerate(_peak_rows(md, "u", params)):
            s_k = md.s[k]
            se = float(np.hypot(est.stderr, bias))
            names.append(f"L={depth} s={s_k:g} D_u u*/s")
            pred.append(p)
            per_layer.append(other[k])
            meas.append(est.value)
            err.append(se)
            ratio = binned_ratio(md.x[:, :, k], md.var_u[:, :, k], md.predicted("u")[:, :, k], edges)
            zr = (ratio.value - 1) / ratio.stderr
            t_peak = first_passage_times(md.times, md.x[:, :, k], p)
            t_09 = first_passage_times(md.times, md.x[:, :, k], 0.9)
            lead = replica_mean((t_09 - t_peak)[np.isfinite(t_09 - t_peak)])
            near = np.abs(md.x[:, :, k] - p) < 0.05
            misaligned = np.sqrt(np.mean((md.off_diagonal[:, :, k][near] / md.x[:, :, k][near]) ** 2))
            notes.append(f"L={depth} s={s_k:g} D_u: peak u*/s = {est.value:.4f} +- {est.stderr:.4f} (jackknife) vs "
                         f"{p:.4f} (estimator bias on the predicted curve {bias:+.4f}); z vs the per-layer position "
                         f"{other[k]:.4f}: {(est.value - other[k]) / se:+.1f}. Measured/predicted D_u in bins of u/s "
                         f"{edges[0]:g}..{edges[-1]:g}: " + " ".join(f"{r:.3f}" for r in ratio.value)
                         + f" (stderr <= {np.nanmax(ratio.stderr):.3f}, max |z| {np.nanmax(np.abs(zr)):.1f}). "
                         f"Lead time t(0.9 s) - t(u*) = {lead.value:.3f} +- {lead.stderr:.3f} vs gradient flow "
                         f"{gradient_flow_time(depth, s_k, p * s_k, 0.9 * s_k):.3f}. Misalignment near u*: RMS "
                         f"off-diagonal/u = {misaligned:.3f}")
        for k, (p, est, bias) in enumerate(_peak_rows(md, "layer", params)):
            se = float(np.hypot(est.stderr, bias))
            notes.append(f"L={depth} s={md.s[k]:g} per-layer D_a (reported, not tested): peak u*/s = {est.value:.4f} "
                         f"+- {se:.4f} vs {p:.4f}, z = {(est.value - p) / se:+.1f}")
    return names, pred, meas, err, notes, per_layer


def _peak_mutants(pred, per_layer) -> dict:
    return {"diffusion peak at u = s (when the mode is learned)": np.ones(len(pred)),
            "the per-layer D_a peak position in place of the end-to-end D_u one": per_layer}


def _with_peaks_before_learning(cmp: Comparison, names, meas, err) -> Comparison:
    """Add the criterion rows 'every D_u peak lies more than z standard errors below u = 0.9 s'."""
    for name, value, se in zip(names, meas, err):
        cmp = cmp.require(f"{name} < 0.9", value, se, 0.9, "below")
    return cmp


def _run_peak(params: dict, seed: int) -> CheckResult:
    names, pred, meas, err, notes, per_layer = _diffusion_peak_comparison(params, seed, "aligned")
    cmp = Comparison.make(names, pred, meas, err, _peak_mutants(pred, per_layer), z=Z)
    cmp = _with_peaks_before_learning(cmp, names, meas, err)
    notes.append("The per-layer D_a of a late mode is not tested: at small u its unit direction in weight space "
                 "picks up misalignment leakage from already-learned modes (visible with widely spread singular "
                 "values, e.g. s = 3, 2, 1), while the end-to-end D_u is robust.")
    return comparison_result(
        "dln.diffusion_peak", params, seed, cmp,
        f"|z| <= {Z:g}, no floor; stderr = jackknife over {params['n_blocks']} replica blocks (+) the estimator's "
        "bias on the exact curve; and every peak more than 5 stderr below u = 0.9 s. The aligned theory drops the "
        "off-diagonal noise (every mode is misaligned by 20-35% of u at its peak, notes); its effect on the peak "
        "is below the standard errors here", notes)


register_check(Check(
    name="dln.diffusion_peak",
    derivation="dln.diffusion_peak",
    description="end-to-end gradient variance along each mode peaks at the predicted u*/s, before 0.9 s (L = 2, 3; 3 modes)",
    run=_run_peak,
    quick=dict(depths=(2, 3), singular_values=(3.0, 2.0, 1.0), u0_fraction=0.01, eta=0.01, stride=2, n_probe=16,
               n_replicas=384, t_factor=1.15, bandwidth=0.08, bin_width=0.05, n_blocks=16),
    full=dict(depths=(2, 3, 4), singular_values=(3.0, 2.0, 1.0), u0_fraction=0.01, eta=0.005, stride=2, n_probe=32,
              n_replicas=1024, t_factor=1.15, bandwidth=0.08, bin_width=0.05, n_blocks=32),
))


# =========================================================================== dln.ablation
def _run_ablation(params: dict, seed: int) -> CheckResult:
    names, pred, meas, err, notes, per_layer = _diffusion_peak_comparison(params, seed, "random")
    # the aligned-balanced u*/s is not a prediction for a random initialisation: its rows are reported, not judged
    cmp = Comparison.make(names, pred, meas, err, _peak_mutants(pred, per_layer), z=Z, rule="approx")
    cmp = _with_peaks_before_learning(cmp, names, meas, err)
    return comparison_result(
        "dln.ablation", params, seed, cmp,
        "claim 4 is qualitative: without alignment and balance the aligned-balanced u*/s is an approximation "
        f"(rows reported with their z, not judged); the judged claim is that every peak comes more than {Z:g} "
        "stderr before u = 0.9 s; mutants judged on the u*/s rows", notes)


register_check(Check(
    name="dln.ablation",
    derivation="dln.diffusion_peak",
    description="ablation: small random (non-aligned, unbalanced) initialisation; D_u peak vs the aligned prediction",
    run=_run_ablation,
    exact=False,
    quick=dict(depths=(2, 3), singular_values=(3.0, 2.0, 1.0), init_scale=0.3, eta=0.01, stride=4, n_probe=16,
               n_replicas=256, t_factor=1.5, learned_fraction=0.5, max_chunks=4, bandwidth=0.08, bin_width=0.05,
               n_blocks=16),
    full=dict(depths=(2, 3, 4), singular_values=(3.0, 2.0, 1.0), init_scale=0.3, eta=0.005, stride=2, n_probe=32,
              n_replicas=1024, t_factor=1.5, learned_fraction=0.9, max_chunks=8, bandwidth=0.08, bin_width=0.05,
              n_blocks=32),
))
