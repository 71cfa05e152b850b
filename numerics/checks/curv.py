"""Checks of seed 001 (``curv.noise_curvature``): the rank-one family's γ(q), least squares with isotropic
dual-weight residuals, and the digits MLP (γ for cross-entropy and MSE, C vs E_p[h_p²] vs H, commutation).

Conventions as in numerics.models.noise_curvature: C = C₁/B with C₁ the per-sample-gradient covariance, diagonals in
H's eigenbasis, γ the log–log slope over the top directions of H.
"""

from __future__ import annotations

import numpy as np

import derivations
from derivations.curv import q as q_symbol
from derivations.conventions import Z_THRESHOLD as Z

from numerics.verify import Check, CheckResult, Comparison, Mutant, Row, comparison_result, register_check
from numerics.errors import ParameterError
from numerics.models.mlp import MLP, load_digits_data, train_sgd
from numerics.models.noise_curvature import (
    NoiseCurvature, antisymmetric_fraction, fit_gamma, least_squares_dual_weight, measure_layer, rank_one_family,
    rotation_baseline,
)
from numerics.engine.rng import child_seed



# --------------------------------------------------------------------------- rank-one family
def _run_rank_one(params: dict, seed: int) -> CheckResult:
    qs = [float(v) for v in params["q"]]
    if any(v <= 0 for v in qs):
        raise ParameterError("every q must be > 0 (q = 0 gives gamma = 1, which the control C ∝ H cannot reject)")
    d = derivations.get("curv.noise_curvature")
    gamma_of_q = d.lambdify((q_symbol,), d.extras["rank_one_gamma"])
    names, pred, meas, err = [], [], [], []
    for k, qk in enumerate(qs):
        C1, H, _ = rank_one_family(params["n_dirs"], qk, params["n_samples"], spread=params["spread"],
                                   seed=child_seed(seed, k))
        lam, C_ii, _ = NoiseCurvature(C1, H, H, 1).diagonals()
        fit = fit_gamma(lam, C_ii, params["n_dirs"], n_resamples=params["n_resamples"], seed=child_seed(seed, 100 + k))
        names.append(f"gamma(q={qk:g})")
        pred.append(float(gamma_of_q(qk)))
        meas.append(fit.exponent)
        err.append(fit.exponent_stderr)
    cmp = Comparison.make(names, pred, meas, err, {"C ∝ H (gamma = 1)": np.ones(len(qs)),
                                                   "C ∝ E[h^2] with gamma = 2 (the upper bound)": 2 * np.ones(len(qs))}, z=Z)
    return comparison_result("curv.rank_one_family", params, seed, cmp,
                             f"|z| <= {Z:g}; stderr of gamma from a BCa bootstrap over the {params['n_dirs']} directions",
                             ["C from dual-weight gradients g_p = h_p Δw_p with finite-sample direction counts; "
                              "predicted gamma = (1 + 2q)/(1 + q) (curv.noise_curvature)"])


register_check(Check(
    name="curv.rank_one_family",
    derivation="curv.noise_curvature",
    description="unit test of the gamma fit on synthetic data (no SGD): aligned rank-one per-sample Hessians, fitted "
                "C_ii ∝ H_ii^gamma recovers gamma = (1 + 2q)/(1 + q)",
    exact=False,
    run=_run_rank_one,
    quick=dict(q=(0.5, 2.0), n_dirs=30, n_samples=400_000, spread=1e3, n_resamples=2000),
    full=dict(q=(0.25, 0.5, 1.0, 2.0, 4.0), n_dirs=60, n_samples=4_000_000, spread=1e3, n_resamples=9999),
))


# --------------------------------------------------------------------------- least squares
def _run_least_squares(params: dict, seed: int) -> CheckResult:
    sw = params["sigma_w"]
    X, r = least_squares_dual_weight(params["n_features"], params["n_samples"], spread=params["spread"], sigma_w=sw,
                                     seed=seed)
    P = len(X)
    g = r[:, None] * X
    H = X.T @ X / P
    norms = np.sum(X * X, axis=1)
    Eh2 = (X * norms[:, None]).T @ X / P
    gbar = g.mean(axis=0)
    C1 = g.T @ g / P - np.outer(gbar, gbar)
    nc = NoiseCurvature(C1, H, Eh2, 1)
    lam, C_ii, S_i = nc.diagonals()
    proj = X @ nc.eigenvectors         # (P, n): v_i · x_p
    # D_p = (r_p² − σ_w²‖x_p‖²)(v_i·x_p)² has conditional mean 0 given X; the ḡḡᵀ term is O(1/P) ≪ stderr
    D = (r ** 2 - sw ** 2 * norms)[:, None] * proj ** 2
    stderr = D.std(axis=0, ddof=1) / np.sqrt(P)
    c_best = np.sum(C_ii * lam) / np.sum(lam * lam)
    names = [f"C_ii (i={i})" for i in range(len(lam))]
    cmp_c = Comparison.make(names, sw ** 2 * S_i, C_ii, stderr, {"C ∝ H (best multiple c·H_ii)": c_best * lam}, z=Z)
    fit_c = fit_gamma(lam, C_ii, len(lam), n_resamples=params["n_resamples"], seed=child_seed(seed, 1))
    fit_s = fit_gamma(lam, S_i, len(lam), n_resamples=params["n_resamples"], seed=child_seed(seed, 2))
    tr = np.trace(H)
    cmp_g = Comparison.make(["gamma"], [fit_s.exponent], [fit_c.exponent], [fit_c.exponent_stderr],
                            {"gamma = 2 (the upper bound)": [2.0]}, z=Z)
    notes = [f"predicted gamma = slope of log sigma_w^2 S_i on log H_ii = {fit_s.exponent:.4f} = 1 + O(lambda_max/tr H) "
             f"(lambda_max/tr H = {lam[0] / tr:.3f}; Gaussian population: S_i = lambda_i(tr Sigma + 2 lambda_i))",
             f"measured gamma of C: {fit_c.exponent:.4f}, 95% bootstrap interval "
             f"[{fit_c.exponent_interval[0]:.4f}, {fit_c.exponent_interval[1]:.4f}]"]
    return comparison_result(
        "curv.least_squares", params, seed, Comparison.combine([cmp_c, cmp_g], labels=["C ∝ H", "gamma"]),
        f"|z| <= {Z:g}; C_ii stderr from the per-sample spread of (r_p^2 - sigma_w^2|x_p|^2)(v_i.x_p)^2 "
        "(conditional on X); gamma stderr from a bootstrap over directions", notes)


register_check(Check(
    name="curv.least_squares",
    derivation="curv.noise_curvature",
    description="unit test of the C and gamma estimators (synthetic residuals, true by construction; no SGD): least "
                "squares with isotropic dual-weight residuals, C = sigma_w^2 E_p[h_p^2] exactly, gamma = 1 + O(lambda/tr H)",
    exact=False,
    run=_run_least_squares,
    quick=dict(n_features=12, n_samples=200_000, spread=100.0, sigma_w=0.5, n_resamples=2000),
    full=dict(n_features=40, n_samples=2_000_000, spread=100.0, sigma_w=0.5, n_resamples=9999),
))


# --------------------------------------------------------------------------- digits MLP
def digits_run(loss: str, params: dict, seed) -> dict:
    """Train one MLP (64 → hidden → hidden → n_classes, ReLU, no bias) on digits with plain SGD and measure the
    hidden-to-hidden layer: γ of C and of E_p[h_p²] (top ``top_fraction`` of H's directions), relative errors,
    commutators and their Haar-rotation baselines."""
    X, y = load_digits_data(params["n_classes"])
    h = params["hidden"]
    model = MLP((X.shape[1], h, h, params["n_classes"]), loss=loss)
    w = train_sgd(model, X, y, eta=params["eta"], batch_size=params["batch_size"], n_epochs=params["n_epochs"],
                  seed=child_seed(seed, 0))
    nc = measure_layer(model, w, X, y, 1, params["batch_size"])
    lam, C_ii, S_i = nc.diagonals()
    n_top = max(5, int(params["top_fraction"] * len(lam)))
    fit_c = fit_gamma(lam, C_ii, n_top, n_resamples=params["n_resamples"], seed=child_seed(seed, 1))
    fit_s = fit_gamma(lam, S_i, n_top, n_resamples=params["n_resamples"], seed=child_seed(seed, 2))
    base = rotation_baseline(nc.C, nc.H, params["n_rotations"], child_seed(seed, 3))
    errs = nc.relative_errors()
    return dict(loss=loss, train_loss=model.loss(w, X, y), accuracy=model.accuracy(w, X, y), fit_c=fit_c, fit_s=fit_s,
                err_Eh2=errs["Eh2"], err_H=errs["H"], comm=nc.commutator(), rho=nc.antisymmetric_fraction(),
                rho_Eh2=antisymmetric_fraction(nc.Eh2, nc.H), base_comm=base[:, 0], base_rho=base[:, 1],
                diagonals=(lam, C_ii, S_i), n_top=n_top)


def _mean_se(values) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))


def _interval_row(name: str, measured: float, stderr: float, low: float, high: float) -> Row:
    """A row for an interval prediction [low, high]: 'predicted' is the point of the interval nearest to the
    measurement, so z is the distance to the interval in standard errors (0 inside)."""
    nearest = float(np.clip(measured, low, high))
    return Row(name, nearest, measured, stderr, (measured - nearest) / stderr if stderr > 0 else 0.0)


def _run_digits(params: dict, seed: int) -> CheckResult:
    if params["n_seeds"] < 2:
        raise ParameterError("n_seeds must be >= 2 (errors are taken across independently trained networks)")
    runs = {loss: [digits_run(loss, params, child_seed(seed, 1000 * j + k)) for k in range(params["n_seeds"])]
            for j, loss in enumerate(params["losses"])}
    rows, controls, notes = [], [], []
    stats = {}
    for loss, rs in runs.items():
        gc, gc_se = _mean_se([r["fit_c"].exponent for r in rs])
        gs, gs_se = _mean_se([r["fit_s"].exponent for r in rs])
        d, d_se = _mean_se([r["err_H"] - r["err_Eh2"] for r in rs])
        rho, rho_se = _mean_se([r["rho"] for r in rs])
        base = np.concatenate([r["base_rho"] for r in rs])
        stats[loss] = (gc, gc_se)
        # the bound 1 <= gamma <= 2 is rigorous for E_p[h_p^2]; it carries over to C where C ∝ E_p[h_p^2] holds,
        # which the data support for CE (row below) but not for MSE (gamma_C(mse) is reported, not tested)
        rows.append(_interval_row(f"gamma_Eh2 {loss} in [1,2]", gs, gs_se, 1.0, 2.0))
        rho_spread = float(np.hypot(rho_se, base.std(ddof=1)))
        controls.append((f"{loss}: [C,H] as for a Haar-rotated C (rho = {base.mean():.3f})",
                         abs(rho - base.mean()) / rho_spread))
        boot = [r["fit_c"].exponent_interval for r in rs]
        notes.append(f"{loss}: gamma_C = {gc:.3f} ± {gc_se:.3f} (across {len(rs)} trainings; per-network 95% bootstrap "
                     f"intervals {', '.join(f'[{lo:.3f}, {hi:.3f}]' for lo, hi in boot)}), gamma_Eh2 = {gs:.3f} ± {gs_se:.3f}; "
                     f"relative error of C vs c E[h^2] {np.mean([r['err_Eh2'] for r in rs]):.3f}, vs c H "
                     f"{np.mean([r['err_H'] for r in rs]):.3f} (difference {d:.3f} ± {d_se:.3f}); "
                     f"||[C,H]||/(||C|| ||H||) = {np.mean([r['comm'] for r in rs]):.3f} vs Haar baseline "
                     f"{np.mean([r['base_comm'].mean() for r in rs]):.3f}; antisymmetric fraction rho = {rho:.3f} ± {rho_se:.3f} "
                     f"vs Haar {base.mean():.3f} ± {base.std(ddof=1):.3f} (rho of E[h^2] with H: "
                     f"{np.mean([r['rho_Eh2'] for r in rs]):.3f}); train loss {np.mean([r['train_loss'] for r in rs]):.2g}, "
                     f"accuracy {np.mean([r['accuracy'] for r in rs]):.3f}")
        if loss == "ce":
            rows.append(_interval_row("gamma_C ce in [1,2]", gc, gc_se, 1.0, 2.0))
            # one-sided and gated: C closer to E[h^2] than to H by more than Z standard errors
            rows.append(Row("ce: err(C,H) - err(C,E[h^2])", 0.0, d, d_se, d / d_se if d_se > 0 else np.sign(d) * np.inf,
                            "above"))
            controls.append(("ce: C ∝ H, i.e. gamma_C = 1", abs(gc - 1.0) / gc_se))
            notes.append(f"ce: C closer to E[h^2] than to H by {d:.3f} ± {d_se:.3f} (z = {d / d_se:.1f} against 'as close')")
    if {"ce", "mse"} <= set(stats):
        (a, sa), (b, sb) = stats["ce"], stats["mse"]
        notes.append(f"gamma_C(ce) - gamma_C(mse) = {a - b:.3f} ± {np.hypot(sa, sb):.3f} "
                     f"(z = {(a - b) / np.hypot(sa, sb):.1f}; the paper: CE above MSE)")
    mutants = [Mutant(c, zc > Z, zc) for c, zc in controls]
    return comparison_result(
        "curv.noise_curvature", params, seed, Comparison(rows, mutants, Z),
        f"interval predictions: |distance to the interval| <= {Z:g} stderr, stderr across "
        f"{params['n_seeds']} independently trained networks; every control rejected at |z| > {Z:g}",
        notes, dof=params["n_seeds"] - 1)


register_check(Check(
    name="curv.noise_curvature",
    derivation="curv.noise_curvature",
    description="digits MLP (hidden-to-hidden layer): 1 <= gamma <= 2 for E[h^2] (CE and MSE) and for C (CE); for CE, "
                "C closer to E[h^2] than to H and gamma_C > 1; C and H nearly commute",
    run=_run_digits,
    exact=False,
    quick=dict(losses=("ce", "mse"), n_classes=10, hidden=20, eta=0.1, batch_size=50, n_epochs=100, n_seeds=3,
               top_fraction=0.6, n_rotations=2, n_resamples=1000),
    full=dict(losses=("ce", "mse"), n_classes=10, hidden=30, eta=0.1, batch_size=50, n_epochs=100, n_seeds=8,
              top_fraction=0.6, n_rotations=10, n_resamples=9999),
))
