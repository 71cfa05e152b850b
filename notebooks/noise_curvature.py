# %% [markdown]
# # Seed 001 — SGD noise covariance vs curvature: C ∝ E_p[h_p²], commutation, C_ii ∝ H_ii^γ
#
# Zhang, Yang & Tu (arXiv 2602.05600). Derivations `curv.noise_curvature`, `curv.per_sample_hessians`; checks
# `curv.rank_one_family`, `curv.least_squares`, `curv.noise_curvature` (`sgdnoise check curv.noise_curvature`).
# Conventions: L = mean over samples, C = [E_p g_pg_pᵀ − ḡḡᵀ]/B (the paper's normalisation), H = E_p h_p,
# diagonals in H's eigenbasis. Runs top to bottom at fast settings; figures go to `$SGDNOISE_FIGURES`.

# %%
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import derivations
from numerics.checks.curv.mlp import digits_run
from numerics.models.noise_curvature import NoiseCurvature, fit_gamma, rank_one_family

FIGURES = os.environ.get("SGDNOISE_FIGURES") or tempfile.mkdtemp(prefix="sgdnoise_curv_")
os.makedirs(FIGURES, exist_ok=True)
d = derivations.get("curv.noise_curvature")
print(d.result)
print("rank-one family: gamma(q) =", d.extras["rank_one_gamma"])
print("least squares, Gaussian inputs: local gamma =", d.extras["least_squares_local_gamma"])

# %% [markdown]
# ## Synthetic: the rank-one family realises every γ in [1, 2)
# h_p = κ_j e_je_jᵀ on a fraction π_j of the samples, κ_j ∝ π_j^q, gradients g_p = h_pΔw_p (isotropic Δw):
# C_jj ∝ λ_j^γ with γ = (1 + 2q)/(1 + q).

# %%
fig, ax = plt.subplots(figsize=(5, 4))
for q in (0.0, 0.5, 2.0):
    C1, H, Eh2 = rank_one_family(30, q, 200_000, seed=1)
    lam, C_ii, _ = NoiseCurvature(C1, H, Eh2, 1).diagonals()
    fit = fit_gamma(lam, C_ii, 30, n_resamples=500, seed=0)
    ax.loglog(lam, C_ii, "o", ms=3, label=f"q = {q:g}: γ = {fit.exponent:.3f} (theory {(1 + 2 * q) / (1 + q):.3f})")
ax.set_xlabel("H_ii"); ax.set_ylabel("C_ii"); ax.legend(fontsize=8)
fig.tight_layout(); fig.savefig(os.path.join(FIGURES, "rank_one_family.png"), dpi=120)

# %% [markdown]
# ## Digits: cross-entropy vs MSE, hidden-to-hidden layer of 64 → h → h → 10 (ReLU, no bias), SGD η = 0.1, B = 50
# Fast settings here (h = 20, 60 epochs, one network per loss); `sgdnoise check curv.noise_curvature --full`
# runs h = 30, 100 epochs, 8 networks per loss.

# %%
params = dict(n_classes=10, hidden=20, eta=0.1, batch_size=50, n_epochs=60, top_fraction=0.6, n_rotations=3,
              n_resamples=1000)
runs = {loss: digits_run(loss, params, 0) for loss in ("ce", "mse")}
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, (loss, r) in zip(axes, runs.items()):
    lam, C_ii, S_i = r["diagonals"]
    top = slice(0, r["n_top"])
    keep = (lam > 1e-12 * lam[0]) & (C_ii > 0)  # drop numerically null directions (dead units)
    ax.loglog(lam[keep], C_ii[keep], ".", color="0.7", ms=3, label="all directions")
    ax.loglog(lam[top], C_ii[top], ".", ms=4, label=f"top {r['n_top']} (fitted)")
    fit = r["fit_c"]
    xs = np.array([lam[r["n_top"] - 1], lam[0]])
    ax.loglog(xs, fit.prefactor * xs ** fit.exponent, "k-",
              label=f"γ = {fit.exponent:.2f} [{fit.exponent_interval[0]:.2f}, {fit.exponent_interval[1]:.2f}]")
    ax.loglog(xs, C_ii[0] * (xs / xs[1]), "r--", lw=0.8, label="slope 1 (C ∝ H)")
    ax.set_title(f"{loss}: γ(E[h²]) = {r['fit_s'].exponent:.2f}")
    ax.set_xlabel("H_ii"); ax.set_ylabel("C_ii"); ax.legend(fontsize=7)
    print(f"{loss}: gamma_C = {fit.exponent:.3f} {fit.exponent_interval}, gamma_Eh2 = {r['fit_s'].exponent:.3f}, "
          f"err(C, cE[h^2]) = {r['err_Eh2']:.3f}, err(C, cH) = {r['err_H']:.3f}")
fig.tight_layout(); fig.savefig(os.path.join(FIGURES, "gamma_ce_mse.png"), dpi=120)

# %% [markdown]
# ## Commutation: C vs a spectrum-preserving random rotation of C
# Two measures: ‖[C, H]‖/(‖C‖‖H‖) (the issue's) and the antisymmetric fraction ρ = ‖[C, H]‖/(2‖CH‖).
# Under a Haar rotation of C's eigenbasis the first *shrinks* (in n dimensions unrelated eigenbases make CH itself
# small, ~ ‖C‖‖H‖/√n), so it is no useful null; ρ is ≈ 1/√2 for unrelated eigenbases and 0 for commuting ones.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
labels = list(runs)
for ax, key, base_key, title in ((axes[0], "comm", "base_comm", "‖[C,H]‖/(‖C‖‖H‖)"),
                                 (axes[1], "rho", "base_rho", "ρ = ‖[C,H]‖/(2‖CH‖)")):
    x = np.arange(len(labels))
    ax.bar(x - 0.2, [runs[k][key] for k in labels], 0.4, label="measured C")
    ax.bar(x + 0.2, [runs[k][base_key].mean() for k in labels], 0.4,
           yerr=[runs[k][base_key].std(ddof=1) for k in labels], label="Haar-rotated C")
    ax.set_xticks(x, labels); ax.set_title(title); ax.legend(fontsize=8)
    for k in labels:
        print(f"{k}: {title}: measured {runs[k][key]:.3f}, baseline {runs[k][base_key].mean():.3f}")
fig.tight_layout(); fig.savefig(os.path.join(FIGURES, "commutator_baseline.png"), dpi=120)
print("figures in", FIGURES)
