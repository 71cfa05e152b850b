# %% [markdown]
# # Seed 002 — the perceptron under SGD noise: temperature T = η/B, exponents as functions of χ, phase diagrams
#
# Sclocchi, Geiger & Wyart (ICML 2023); Sclocchi & Wyart (PNAS 2024). Derivation and check
# `perceptron.temperature_scaling`. Centred hinge perceptron f = w·x/√d, ℓ = max(0, 1 − α y f)/α (margin κ = 1/α),
# data ρ(x₁) ∝ |x₁|^χ e^{−x₁²/2}; SGD with replacement until every training margin is satisfied; T = η/B, t = ηk.
# Runs top to bottom at fast settings (`SGDNOISE_FAST=0` for larger grids); figures go to `$SGDNOISE_FIGURES`.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import derivations
from derivations.perceptron import P as P_sym, chi as chi_sym, d as d_sym
from numerics.models.perceptron import fit_exponent, replica_mean_of, train
from numerics.models.perceptron_phases import phase_grid, plot_phase
from numerics.run.sweeps import sweep

FAST = os.environ.get("SGDNOISE_FAST", "1") != "0"
FIGURES = os.environ.get("SGDNOISE_FIGURES") or tempfile.mkdtemp(prefix="sgdnoise_perceptron_")
os.makedirs(FIGURES, exist_ok=True)
D = derivations.get("perceptron.temperature_scaling")
for key in ("gamma_snr", "gamma_norm", "delta_norm", "b_star", "a"):
    print(f"{key}: {D.extras['exponent_' + key]}")

# %% [markdown]
# ## Signal-to-noise ratio at the end of training vs P, for χ = 0, 1, 2
# Derived: w₁/‖w_⊥‖ ∝ P^{1/(1+χ)} (the hardest point, x_min ∝ P^{−1/(1+χ)}, must be fitted against the noise in w_⊥).

# %%
d, R = 16, (8 if FAST else 64)
sizes = [24, 48, 96] if FAST else [32, 64, 128, 256, 512]
fig, ax = plt.subplots(figsize=(5, 4))
for chi in (0.0, 1.0, 2.0):
    res = sweep("nb.snr", train, [dict(d=d, chi=chi, n_samples=p, alpha=1e8, eta=0.1, n_replicas=R) for p in sizes], seed=1)
    mean, err = replica_mean_of(res, "snr")
    fit = fit_exponent(sizes, res, "snr")
    ax.errorbar(sizes, mean, err, fmt="o", label=f"χ={chi:g}: {fit.exponent:.2f} [{fit.exponent_interval[0]:.2f}, "
                f"{fit.exponent_interval[1]:.2f}] (theory {1 / (1 + chi):.2f})")
    ax.plot(sizes, fit.prefactor * np.asarray(sizes, float) ** fit.exponent, "-", lw=0.8)
ax.set(xscale="log", yscale="log", xlabel="P", ylabel=r"$w_1/\|w_\perp\|$ at stopping")
ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "perceptron_snr_vs_P.png"), dpi=120)

# %% [markdown]
# ## Phase diagram in the (α, T) plane: test error (B = 1, η = T)
# Noise matters once T exceeds the margin κ = 1/α (margins at stopping: GD ∝ κ, SGD ∝ T), i.e. along αT ≈ 1.

# %%
alphas = [0.5, 4.0, 32.0] if FAST else [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64]
temps = [0.01, 0.1, 0.3] if FAST else [0.003, 0.01, 0.03, 0.1, 0.3, 1.0]
P0, chi0 = 64, 1.0
base = dict(d=d, chi=chi0, n_samples=P0, n_replicas=R, max_steps=400_000)
err = phase_grid(base, "alpha", alphas, "eta", temps, seed=2)
plot_phase(err, alphas, temps, "α", "T = η/B (B = 1)", f"test error, perceptron χ={chi0:g}, P={P0}, d={d}",
           Path(FIGURES) / "perceptron_phase_alpha_T.png", lines=[(np.array(temps), 1 / np.array(temps), "αT = 1")])

# %% [markdown]
# ## Phase diagram in the (B, η) plane with B* marked
# Noise-dominated SGD for B < B* (‖w‖ ∝ η/B), large-first-step SGD above, gradient descent at small η (η ≪ κ).
# B* = derived crossover (noise-dominated norm = first-step norm), ∝ P^{1/(1+χ)}.

# %%
alpha0 = 4.0
batches = [1, 4, 16, P0] if FAST else [1, 2, 4, 8, 16, 32, P0]
etas = [0.03, 0.3, 3.0] if FAST else [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]
err = phase_grid(dict(base, alpha=alpha0), "eta", etas, "batch_size", batches, seed=3)
B_star = float(D.extras["B_star"].subs({P_sym: P0, d_sym: d, chi_sym: chi0}))
plot_phase(err, etas, batches, "η", "B", f"test error, χ={chi0:g}, P={P0}, α={alpha0:g}",
           Path(FIGURES) / "perceptron_phase_B_eta.png", vlines=[(B_star, f"derived B* = {B_star:.1f}")])
print("figures in", FIGURES)
