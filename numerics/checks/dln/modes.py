"""Checks of the deep-linear-network mode derivations (seed 000) against direct Monte Carlo SGD.

* ``dln.mode_sde`` — width-1 depth-L network (L = 1..4), online scalar Gaussian data with label noise: mean and
  variance of u = a^L over time, SGD vs an Euler–Maruyama ensemble of the per-mode SDE. Control: the SDE
  without its Itô drift term.
* ``dln.stationary_density`` — the zero-flux density of the width-1 network (L = 1, 2, label noise) as the
  stationary law of the per-mode SDE: its mean, variance, skewness and excess kurtosis against an SDE ensemble
  extrapolated to dt → 0; L = 1 SGD variance against the exact discrete value. Mutants: the small-T Gaussian,
  the moment-matched Gaussian, the density at 2T, Boltzmann at constant temperature and the density without the
  Itô term (L = 2), the continuum variance for discrete SGD (L = 1).
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

from derivations.conventions import Z_THRESHOLD as Z
from numerics.verify.predict import evaluate
from numerics.verify import Check, CheckResult, Comparison, comparison_result, register_check
from numerics.checks import _figures
from numerics.engine.data import GaussianTeacher
from numerics.models.deep_linear import (
    ModeDensity, ModeDiffusion, ScalarChain, binned_ratio, first_passage_times, gradient_flow_time, mode_sde_in_a,
    peak_position, peak_vertex, simulate_mode_diffusion,
)
from numerics.engine.rng import child_seed
from numerics.engine.sde import integrate
from numerics.engine.sgd import TrajectoryObserver, run_sgd
from numerics.stats import extrapolate_to_zero, ks_test, replica_mean, standardised_moments



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
    figures=_figures.mode_sde,
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


MOMENTS = ("mean", "variance", "skewness", "excess kurtosis")


def stationary_sde_samples(depth, s, sigma, T, spacing, burn_in, per_replica, substeps, n_paths, seed):
    """u at ``per_replica`` times spaced by ``spacing`` (time units) after ``burn_in`` spacings (start at u = s),
    from the per-mode SDE ensemble with ``substeps`` steps per spacing: shape (per_replica, n_paths)."""
    n_saves = burn_in + per_replica - 1
    _, u = scalar_sde_trajectories(depth, s, sigma, T, 1.0, s, spacing * n_saves, n_saves, substeps, n_paths, seed)
    return u[burn_in:]


def _stationary_mutants(depth, s, sigma, T, density) -> dict:
    """Plausible wrong stationary laws, as their (mean, variance, skewness, excess kurtosis)."""
    lam = depth * s ** (2 - 2 / depth)
    out = {"small-T Gaussian (Ornstein-Uhlenbeck: mean s, variance T L s^(2-2/L) sigma^2/2)":
           [s, T * lam * sigma ** 2 / 2, 0.0, 0.0],
           "a Gaussian with the density's own mean and variance (two moments only)":
           [density.mean, density.variance, 0.0, 0.0],
           "a factor 2 in the noise (the density at 2T)": ModeDensity(depth, s, sigma, 2 * T, 1.0).moments}
    if depth > 1:  # at L = 1 both coincide with the small-T Gaussian or the density itself
        out["Boltzmann density of the plain loss at constant temperature T sigma^2/2"] = [s, T * sigma ** 2 / 2, 0.0, 0.0]
        out["the density without the Ito term"] = ModeDensity(depth, s, sigma, T, 1.0, ito=False).moments
    return out


def _run_stationary(params: dict, seed: int) -> CheckResult:
    """The zero-flux density is the stationary law of the per-mode SDE: its first four moments against an SDE
    ensemble extrapolated to dt → 0 (Euler–Maruyama is weak order 1: dt, 2dt, 4dt, linear in dt). Discrete SGD
    (B = 1, η = T) follows it to leading order in T only (its departures are O(T), the order of the density's
    own non-Gaussian features): reported, and at L = 1 its variance gated against the exact discrete value."""
    s, sigma, R, K = params["s"], params["sigma"], params["n_replicas"], params["per_replica"]
    parts, labels, notes = [], [], []
    for i, (depth, T) in enumerate(zip((1, 2), params["temperatures"])):
        lam = depth * s ** (2 - 2 / depth)  # relaxation rate at u = s
        spacing = params["spacing_times"] / lam
        density = ModeDensity(depth, s, sigma, T, 1.0)
        substeps = [params["substeps"] // f for f in (1, 2, 4)]
        est = [standardised_moments(stationary_sde_samples(depth, s, sigma, T, spacing, params["burn_in_spacings"],
                                                           K, n, R, child_seed(seed, 10 * i + j)))
               for j, n in enumerate(substeps)]
        sde, chi2 = extrapolate_to_zero([spacing / n for n in substeps], est, degree=1)
        parts.append(Comparison.make([f"{m} of u, L={depth} (SDE, dt -> 0)" for m in MOMENTS], density.moments,
                                     sde.value, sde.stderr, _stationary_mutants(depth, s, sigma, T, density), z=Z))
        labels.append(f"L={depth}")
        steps = int(np.ceil(spacing / T))  # SGD: t = eta k with eta = T at B = 1
        sgd = stationary_samples(depth, s, sigma, T, 1, steps * params["burn_in_spacings"], steps, K, R,
                                 child_seed(seed, 10 * i + 5))
        m = standardised_moments(sgd)
        notes.append(f"L={depth}, T={T:g}: {K} x {R} samples spaced by {params['spacing_times']:g} relaxation times; "
                     "SDE at dt*lambda = " + ", ".join(f"{lam * spacing / n:.3g}" for n in substeps)
                     + " (chi^2 of the linear extrapolation per moment: " + ", ".join(f"{c:.2g}" for c in chi2)
                     + "); density (mean, var, skew, kurt) = " + ", ".join(f"{v:.4g}" for v in density.moments)
                     + "; discrete SGD (B = 1, eta = T): " + ", ".join(f"{v:.4g} +- {e:.2g}" for v, e in zip(m.value, m.stderr))
                     + f", KS p-value vs the density {ks_test(sgd, density.cdf).pvalue:.2g} (reported, not gated)")
        if depth == 1:
            # exact discrete variance of the L = 1 mode (online least squares, one whitened input): the registered
            # isotropic fixed point of linreg.discrete_stationary_covariance, eta sigma^2/(2B - eta B - 2 eta)
            exact = float(evaluate("linreg.discrete_stationary_covariance",
                                   {"N": 1, "kappa": 1.0, "eta": T, "sigma": sigma}, "online_isotropic"))
            parts.append(Comparison.make([f"Var u L=1, SGD eta={T:g} vs exact discrete"], [exact], [m.value[1]],
                                         [m.stderr[1]], {"the continuum (Student-t) variance": [density.variance]}, z=Z))
            labels.append("L=1 SGD")
    return comparison_result(
        "dln.stationary_density", params, seed, Comparison.combine(parts, labels),
        f"|z| <= {Z:g}, no floor: moments with delete-one-block jackknife standard errors (32 blocks of replicas), "
        "the SDE's extrapolated to dt -> 0 with propagated error; each depth's mutants rejected by its own rows",
        notes)


register_check(Check(
    name="dln.stationary_density",
    derivation="dln.stationary_density",
    description="zero-flux stationary density of the width-1 network (L = 1, 2, label noise): its first four moments "
                "vs the per-mode SDE (dt -> 0); L = 1 SGD variance vs the exact discrete value",
    run=_run_stationary,
    figures=_figures.stationary_density,
    quick=dict(s=1.0, sigma=1.0, temperatures=(0.05, 0.02), n_replicas=20000, per_replica=8, spacing_times=6.0,
               burn_in_spacings=2, substeps=240),
    full=dict(s=1.0, sigma=1.0, temperatures=(0.05, 0.02), n_replicas=100000, per_replica=16, spacing_times=6.0,
              burn_in_spacings=2, substeps=480),
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
        "off-diagonal noise (every mode is misaligned by 20-35% of u at its peak, notes): an approximation for "
        "full-matrix networks, whose effect is not computed; the slowest L = 2 mode peaks about 0.011 above 0.5 "
        "(3-4 stderr; beyond 5 under 2 of 20 seeds)", notes)


register_check(Check(
    name="dln.diffusion_peak",
    derivation="dln.diffusion_peak",
    description="end-to-end gradient variance along each mode peaks at the predicted u*/s, before 0.9 s (L = 2, 3; 3 modes)",
    run=_run_peak,
    figures=_figures.diffusion_peak,
    exact=False,  # the aligned per-mode theory neglects the misalignment that SGD noise keeps in full-matrix networks
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
    figures=_figures.diffusion_peak,
    exact=False,
    quick=dict(depths=(2, 3), singular_values=(3.0, 2.0, 1.0), init_scale=0.3, eta=0.01, stride=4, n_probe=16,
               n_replicas=256, t_factor=1.5, learned_fraction=0.5, max_chunks=4, bandwidth=0.08, bin_width=0.05,
               n_blocks=16),
    full=dict(depths=(2, 3, 4), singular_values=(3.0, 2.0, 1.0), init_scale=0.3, eta=0.005, stride=2, n_probe=32,
              n_replicas=1024, t_factor=1.5, learned_fraction=0.9, max_chunks=8, bandwidth=0.08, bin_width=0.05,
              n_blocks=32),
))
