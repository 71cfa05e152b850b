"""The check ``fluct.ivfr``: Feng–Tu's inverse variance–flatness relation of the second layer of a two-layer
linear network against the closed forms of the registered derivation, with the single layer as a control.

Conventions as in ARCHITECTURE.md (Itô, t = ηk, L = mean over samples, ℓ = ½‖f − y‖²).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from derivations.conventions import Z_THRESHOLD as Z
from numerics.verify import Check, CheckResult, Comparison, register_check
from numerics.checks import _figures
from numerics.engine.data import gaussian_teacher
from numerics.models.linreg import discrete_stationary_covariance, hessian, least_squares_solution, minibatch_scale
from numerics.verify.predict import evaluate
from numerics.models import LeastSquares
from numerics.errors import ParameterError
from numerics.engine.rng import as_generator, child_seed
from numerics.engine.replicas import SecondMomentObserver
from numerics.engine.sgd import TrajectoryObserver, run_sgd
from numerics.stats import Estimate, extrapolate_to_zero, replica_bootstrap, replica_mean
from numerics.models.two_layer import (
    MultiOutputDataset, TwoLayerLinear, block_flatness, covariance_principal_components, linearised_covariance,
    noise_balanced_state, product_noise_covariance, variance_flatness_fit, window_variance_flatness,
)
from numerics.checks.fluct.layers import burn_in_steps, combine_labelled


# --------------------------------------------------------------------------- check (3): IVFR
def factorial_teacher_data(n: int, singular_values, noise_std: float, seed) -> MultiOutputDataset:
    """Data on which the closed forms of ``fluct.ivfr`` hold exactly (no large-P limit): every input of {±1}ⁿ
    (H = XᵀX/P = I) paired with every residual ε ∈ {±σ√n e_k} (E εεᵀ = σ²I, ‖ε‖² = nσ², Σ_p ε_p x_pᵀ = 0),
    P = 2ⁿ·2n, y = W*x + ε with W* = U diag(λ) Vᵀ (U, V random orthogonal). Then Ŵ = W*, the residuals at Ŵ
    are the ε, C_W = σ²(I_K ⊗ H) and A = B = nσ²I (an isotropic noise-balanced state: α_k = s_k² = λ_k)."""
    signs = np.array(list(itertools.product((-1.0, 1.0), repeat=n)))
    eps = noise_std * np.sqrt(n) * np.concatenate([np.eye(n), -np.eye(n)])
    X, E = np.repeat(signs, len(eps), axis=0), np.tile(eps, (len(signs), 1))
    rng = as_generator(seed)
    U, V = (np.linalg.qr(rng.standard_normal((n, n)))[0] for _ in range(2))
    return MultiOutputDataset(X, X @ (V * np.asarray(singular_values, dtype=float)) @ U.T + E)


def _late_samples(model, ds, theta, eta, B, block: slice, burn: int, n_steps: int, n_replicas: int, stride: int,
                  seed) -> np.ndarray:
    """Strided samples of ``block`` after the burn-in, shape (T, R, d): replicas kept apart for standard errors."""
    traj = TrajectoryObserver(lambda w: w[:, block], stride=stride)
    run_sgd(model, ds, eta=eta, batch_size=B, n_steps=burn + n_steps, n_replicas=n_replicas, w0=theta, seed=seed,
            observers=[traj])
    return traj.values[traj.steps > burn]


def direction_variances(samples, directions) -> Estimate:
    """Variance of (T, R, d) samples along each column of ``directions`` about the pooled mean: per-replica
    time averages of the squared projection, then the mean over independent replicas with its standard error
    (``replica_mean``), which holds however strongly each replica's samples are correlated in time."""
    samples = np.asarray(samples, dtype=float)
    centred = samples - samples.reshape(-1, samples.shape[-1]).mean(axis=0)
    return replica_mean(((centred @ directions) ** 2).mean(axis=0))


def _single_layer_variances(params: dict, seed: int) -> tuple[Comparison, str]:
    """The single-layer control of ``fluct.ivfr``: PCA variances of least-squares SGD against the exact discrete
    stationary Σ (Σ_ii along the measured directions), and against an IVFR σ_i² = c F_i^(−ψ), ψ = 2 (the
    derived flat-direction limit of the two-layer relation), c fitted."""
    N1, P1 = params["single_features"], int(round(params["single_ratio"] * params["single_features"]))
    ds1 = gaussian_teacher(N1, params["noise_std"], seed=seed).dataset(P1, seed=seed + 1)
    w_hat = least_squares_solution(ds1.X, ds1.y)
    lsq, eta1 = LeastSquares(N1), params["single_eta"]
    S1 = discrete_stationary_covariance(ds1.X, ds1.y, eta1, 1)
    burn1 = int(np.ceil(params["relaxations"] / (eta1 * np.linalg.eigvalsh(hessian(ds1.X))[0])))
    samples1 = _late_samples(lsq, ds1, w_hat, eta1, 1, slice(0, N1), burn1, params["single_steps"],
                             params["single_replicas"], params["stride"], seed + 20)
    # directions (PCA) from the even replicas, variances measured on the odd ones: a sample eigenvalue measured on
    # the data that chose its direction leans high at the top of the spectrum and low at the bottom
    _, F1, D1 = window_variance_flatness(lambda w: lsq.loss(w, ds1.X, ds1.y), w_hat, samples1[:, ::2].reshape(-1, N1))
    est = direction_variances(samples1[:, 1::2], D1)
    exact = np.einsum("ik,ij,jk->k", D1, S1, D1)
    # the wrong law's best case: c by weighted least squares of ln σ_i² + ψ ln F_i (weights 1/se(ln σ_i²)²)
    weights = (est.value / est.stderr) ** 2
    ln_c = np.sum(weights * (np.log(est.value) + 2 * np.log(F1))) / weights.sum()
    fit1 = variance_flatness_fit(est.value, F1)
    cmp = Comparison.make([f"single layer: var along PCA direction {i + 1}" for i in range(N1)], exact, est.value,
                          est.stderr, {"single layer obeys an IVFR sigma_i^2 = c F_i^(-2) (c fitted)": np.exp(ln_c) * F1 ** -2.0},
                          z=Z)
    note = (f"single layer (N = {N1}, P = {P1}, eta = {eta1:g}, B = 1; {burn1} burn-in steps; PCA directions from half "
            f"the replicas, variances from the other half): variances vs the exact discrete Sigma along the same "
            f"directions, max |z| = {max(abs(r.z) for r in cmp.rows):.2f}; an IVFR with psi = 2 misses them "
            f"by up to {cmp.mutants[0].max_abs_z:.1f} standard errors (log-log fit of all directions: "
            f"psi = {fit1.psi:.2f} +- {fit1.psi_stderr:.2f})")
    return cmp, note


@dataclass(frozen=True)
class _Spectrum:
    """The predicted second-layer spectrum of ``fluct.ivfr``, descending in σ², of the directions e_k u_mᵀ (k by
    α_k, m by s_m, both ascending): ``labels`` (k, m), σ²/η, F, ψ_loc, α_k, s_m; ``half`` = κc/2 (the saturated
    σ²/η); ``singles`` the positions of directions whose σ² is apart from every other by a relative gap of at
    least ``min_gap`` (their PCA direction is well defined), ``clusters`` the groups of the others, ``pairs``
    the positions of single directions of one output mode k that are adjacent in s (sharper first)."""

    labels: list
    var: np.ndarray
    flat: np.ndarray
    psi_loc: np.ndarray
    alpha: np.ndarray
    s: np.ndarray
    half: float
    singles: list
    clusters: list
    pairs: list

    def name(self, i: int) -> str:
        return "(k={},m={})".format(*(j + 1 for j in self.labels[i]))


def _predicted_spectrum(model, ds, theta, kappa: float, min_gap: float) -> _Spectrum:
    """σ²/η = (κc/2) s_m²/(α_k + s_m²), F = 2√(2(e−1)L₀/(s_m² h_m)) and ψ_loc = 2α_k/(α_k + s_m²), lambdified from
    ``fluct.ivfr`` at the state θ* (α_k: eigenvalues of W₂W₂ᵀ; s_m, v_m: singular values and right vectors of W₁;
    h_m = v_mᵀHv_m; L₀ = L(θ*)), with c from C_W = c(I_K ⊗ H) and H = I, which the data must satisfy."""
    H = ds.X.T @ ds.X / ds.n_samples
    C_W = product_noise_covariance(model, ds.X, ds.y, theta)
    c = np.trace(C_W) / (model.K * np.trace(H))
    if not (np.allclose(C_W, c * np.kron(np.eye(model.K), H), rtol=0, atol=1e-10 * c) and np.allclose(H, np.eye(model.N))):
        raise ParameterError("the closed forms of fluct.ivfr need C_W = c (I_K x H) and H = I (factorial_teacher_data)")
    W1, W2 = model.unpack(theta)
    _, s, Vt = np.linalg.svd(W1)
    s, Vt = s[::-1], Vt[::-1]
    a, sm = np.meshgrid(np.linalg.eigvalsh(W2 @ W2.T), s, indexing="ij")
    h = np.broadcast_to(np.einsum("mi,ij,mj->m", Vt, H, Vt), a.shape)
    var = evaluate("fluct.ivfr", {"T": kappa, "c": c, "alpha": a, "s": sm}, "variance").ravel()
    flat = evaluate("fluct.ivfr", {"L_0": model.loss(theta, ds.X, ds.y), "s": sm, "h": h}, "flatness").ravel()
    psi = evaluate("fluct.ivfr", {"alpha": a, "s": sm}).ravel()
    order = np.argsort(-var, kind="stable")
    v, labels, s_sorted = var[order], [divmod(int(i), model.M) for i in order], sm.ravel()[order]
    groups = np.split(np.arange(v.size), np.flatnonzero(v[:-1] - v[1:] > min_gap * v[:-1]) + 1)
    singles = [int(g[0]) for g in groups if g.size == 1]
    by_k: dict[int, list[int]] = {}
    for i in sorted(singles, key=lambda i: -s_sorted[i]):
        by_k.setdefault(labels[i][0], []).append(i)
    pairs = [(row[j], row[j + 1]) for row in by_k.values() for j in range(len(row) - 1)]
    if len(singles) < 3 or not pairs:
        raise ParameterError(f"{len(singles)} well-separated directions, {len(pairs)} pairs sharing an output mode: "
                             "the check needs >= 3 and >= 1 (choose other singular_values or a smaller min_gap)")
    return _Spectrum(labels, v, flat[order], psi[order], a.ravel()[order], s_sorted, kappa * c / 2, singles,
                     [list(g) for g in groups if g.size > 1], pairs)


def _ivfr_statistics(model, ds, spec: _Spectrum, theta, deltas, seconds, eta: float) -> Callable[[np.ndarray], np.ndarray]:
    """The measured quantities as a function of a set of replicas (indices into the per-replica time averages
    ``deltas`` of δ = θ − θ* and ``seconds`` of δδᵀ): PCA of the pooled second-layer covariance (variances
    descending, matched to the predicted spectrum by rank); σ²/η of the single directions and the mean σ²/η of
    each cluster; F of the single directions about the pooled mean; the chord exponents −Δln σ²/Δln F of
    ``spec.pairs``; the pooled Feng–Tu ψ (log–log least squares over the single directions)."""
    block = slice(model.n_first, model.n_params)
    position = {i: j for j, i in enumerate(spec.singles)}

    def statistic(replicas: np.ndarray) -> np.ndarray:
        d = deltas[replicas].mean(axis=0)
        cov = seconds[replicas].mean(axis=0) - np.outer(d, d)
        var, D = covariance_principal_components(cov[block, block])
        F = block_flatness(lambda w: model.loss(w, ds.X, ds.y), theta + d, D, block)
        v, Fs = var[spec.singles] / eta, F[spec.singles]
        chords = [-np.log(v[position[i]] / v[position[j]]) / np.log(Fs[position[i]] / Fs[position[j]])
                  for i, j in spec.pairs]
        return np.concatenate([v, [var[g].mean() / eta for g in spec.clusters], Fs, chords,
                               [variance_flatness_fit(v, Fs).psi]])
    return statistic


def _run_ivfr(params: dict, seed: int) -> CheckResult:
    """Feng–Tu's variance–flatness analysis of the second layer against the closed forms of ``fluct.ivfr``, on
    data that make them exact (``factorial_teacher_data``), at the noise-balanced state θ*: per well-separated
    PCA direction σ²/η and F, the chord exponents between directions of one output mode, the pooled ψ. Each is
    measured at η·(1, …, n_etas) (standard errors: bootstrap over replicas) and extrapolated to η → 0
    (Richardson), which removes the O(η) discrete-time and nonlinear corrections to the linearised continuum
    theory. Predictions: the extras ``variance``, ``flatness`` and ``psi_chord`` of ``fluct.ivfr`` (the pooled ψ:
    the same log–log least squares through the closed-form points); its result ψ_loc gives two mutants. The
    single-layer control of ``_single_layer_variances`` is a second, labelled part."""
    n, B = params["width"], params["batch_size"]
    ds = factorial_teacher_data(n, params["singular_values"], params["noise_std"], seed)
    model = TwoLayerLinear(n, n, n)
    theta = noise_balanced_state(model, ds.X, ds.y)
    kappa = minibatch_scale(B, "with_replacement", ds.n_samples)
    spec = _predicted_spectrum(model, ds, theta, kappa, params["min_gap"])
    etas = params["eta"] * np.arange(1, params["n_etas"] + 1)
    lin = linearised_covariance(model, ds.X, ds.y, theta, etas[0], B)
    rng = as_generator(child_seed(seed, 0))
    est = []
    for k, eta in enumerate(etas):
        burn = burn_in_steps(lin, eta, params["relaxations"])
        obs = SecondMomentObserver(theta, burn_in=burn, every=params["every"], n_batches=8)
        run_sgd(model, ds, eta=eta, batch_size=B, n_steps=burn + burn_in_steps(lin, eta, params["window_relaxations"]),
                n_replicas=params["n_replicas"], w0=theta, seed=child_seed(seed, k + 1), observers=[obs])
        statistic = _ivfr_statistics(model, ds, spec, theta, obs.means(), obs.second_moments(), eta)
        est.append(replica_bootstrap(statistic, params["n_replicas"], params["n_bootstrap"], rng))
    limit, chi2 = extrapolate_to_zero(etas, est, params["degree"])
    S, pairs = spec.singles, spec.pairs
    sections = np.cumsum([len(S) + len(spec.clusters), len(S), len(pairs)])
    (mv, mF, mc, mp), (sv, sF, sc, sp) = (np.split(a, sections) for a in (limit.value, limit.stderr))
    var_pred = np.concatenate([spec.var[S], [spec.var[g].mean() for g in spec.clusters]])
    names = [f"sigma^2/eta {spec.name(i)}" for i in S] + [
        "sigma^2/eta mean " + "".join(spec.name(i) for i in sorted(g, key=spec.labels.__getitem__)) for g in spec.clusters]
    cmp_var = Comparison.make(names, var_pred, mv, sv, {
        "noise without the 1/2: sigma^2 = Tc s^2/(alpha + s^2)": 2 * var_pred,
        "no inter-layer coupling (W2 alone, W1 frozen): sigma^2 = Tc/2": np.full(var_pred.size, spec.half),
        "the first layer's variance (Tc/2) alpha/(alpha + s^2)": spec.half - var_pred}, z=Z)
    cmp_F = Comparison.make([f"F {spec.name(i)}" for i in S], spec.flat[S], mF, sF, {
        "squared flatness F^2": spec.flat[S] ** 2, "flatness at 2 L0 (factor 2, not e)": spec.flat[S] / np.sqrt(np.e - 1)}, z=Z)
    i, j = (np.array(p, dtype=int) for p in zip(*pairs))
    chord = evaluate("fluct.ivfr", {"alpha": spec.alpha[i], "s_1": spec.s[i], "s_2": spec.s[j]}, "psi_chord")
    constant = {"psi = 1 (sigma^2 ~ 1/F)": 1.0, "psi = 2 (the flat-direction limit everywhere)": 2.0,
                "psi = 4 (Feng-Tu's MNIST value)": 4.0, "equilibrium (Boltzmann, isotropic temperature): psi = -2": -2.0}
    cmp_chord = Comparison.make([f"psi chord k={spec.labels[a][0] + 1}: m={spec.labels[a][1] + 1},{spec.labels[b][1] + 1}"
                                 for a, b in pairs], chord, mc, sc,
                                {**{d: np.full(len(pairs), v) for d, v in constant.items()},
                                 "psi_loc of the flatter direction of each pair": spec.psi_loc[j],
                                 "psi_loc of the sharper direction of each pair": spec.psi_loc[i]}, z=Z)
    pooled = variance_flatness_fit(spec.var[S], spec.flat[S]).psi
    cmp_pooled = Comparison.make([f"psi pooled fit ({len(S)} dirs)"], [pooled], mp, sp,
                                 {d: [v] for d, v in constant.items()}, z=Z)
    two = Comparison.combine([cmp_var, cmp_F, cmp_chord, cmp_pooled])
    single, single_note = _single_layer_variances(params, seed)
    lam = np.linalg.eigvalsh(lin.hessian)
    lyapunov = np.sort(np.linalg.eigvalsh(lin.second))[::-1] / etas[0]
    first = (est[0].value[:len(var_pred)] - var_pred) / est[0].stderr[:len(var_pred)]
    notes = [f"two-layer (width {n}, P = {ds.n_samples} factorial data, noise-balanced state): alpha_k = "
             f"{np.round(np.unique(spec.alpha), 4)}, s_m^2 = {np.round(np.unique(spec.s) ** 2, 4)}; {len(S)} of "
             f"{spec.var.size} PCA directions apart by >= {100 * params['min_gap']:g} %, clusters of "
             f"{[len(g) for g in spec.clusters]}; psi_loc at the pairs' ends: "
             + ", ".join(f"{spec.psi_loc[a]:.3f}..{spec.psi_loc[b]:.3f}" for a, b in pairs),
             f"closed-form sigma^2/eta vs the numerical linearised Lyapunov solution: max relative difference "
             f"{np.max(np.abs(lyapunov - spec.var) / spec.var):.1e}",
             f"eta = {', '.join(f'{e:g}' for e in etas)} (eta * lambda_max(H_theta) = {etas[0] * lam[-1]:.3f} at the "
             f"smallest), {params['n_replicas']} replicas each; at the smallest eta without extrapolation the variances "
             f"are off by up to {np.max(np.abs(first)):.1f} stderr; chi2 of the extrapolation (dof "
             f"{len(etas) - params['degree'] - 1}): max {np.max(chi2):.2g}", single_note]
    return combine_labelled("fluct.ivfr", params, seed, [(two, "two-layer"), (single, "single layer")],
                            f"|z| <= {Z:g}, no floor: two-layer sigma^2/eta, F, chord and pooled psi each extrapolated to eta -> 0 "
                            f"(Richardson, degree {params['degree']} through {len(etas)} learning rates) with standard errors from "
                            f"a bootstrap over independent replicas ({params['n_bootstrap']} resamples); single layer: exact "
                            "discrete Sigma, standard errors over replicas", notes)


register_check(Check(
    name="fluct.ivfr",
    derivation="fluct.ivfr",
    description="IVFR of the second layer: per-direction variance and flatness, chord and pooled psi vs the closed forms",
    run=_run_ivfr,
    figures=_figures.ivfr,
    quick=dict(width=3, singular_values=(0.4, 0.8, 2.4), noise_std=0.1, min_gap=0.05, eta=0.01, n_etas=4, degree=2,
               batch_size=1, n_replicas=1024, relaxations=5.0, window_relaxations=40.0, every=2, n_bootstrap=200,
               single_features=24, single_ratio=1.25, single_eta=0.03, single_replicas=256, single_steps=2000, stride=10),
    full=dict(width=3, singular_values=(0.4, 0.8, 2.4), noise_std=0.1, min_gap=0.05, eta=0.005, n_etas=4, degree=2,
              batch_size=1, n_replicas=4096, relaxations=6.0, window_relaxations=60.0, every=2, n_bootstrap=400,
              single_features=24, single_ratio=1.25, single_eta=0.03, single_replicas=1024, single_steps=10000, stride=10),
))
