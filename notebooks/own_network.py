# %% [markdown]
# # Your own network (JAX): C vs H with γ, and the inverse variance–flatness relation
#
# A JAX function `apply(params, x)` and data → SGD replicas (`run_replicas`), the layer-wise C, H, E_p[h_p²]
# with γ of C_ii ∝ H_ii^γ (`noise_vs_curvature`, seed 001's protocol: OLS of log C_ii on log H_ii in H's
# eigenbasis over the top 60 % of directions, BCa interval over directions) and Feng & Tu's variance–flatness
# analysis (`variance_flatness`: per replica, PCA of a late-time window, flatness F_i at e·L₀ along each
# direction, σ_i² ∝ F_i^(−ψ); ψ averaged over replicas with a replica-bootstrap interval).
# Conventions: L = mean over samples, C = [E_p g_pg_pᵀ − ḡḡᵀ]/B, H = E_p h_p. Runs top to bottom at fast
# settings; figures go to `$SGDNOISE_FIGURES`.

# %%
import os
import tempfile

import jax
import matplotlib.pyplot as plt
import numpy as np

from numerics.models.mlp import load_digits_data
from numerics.models.network import Network, noise_vs_curvature, run_replicas, variance_flatness
from numerics.models.two_layer import principal_components

FIGURES = os.environ.get("SGDNOISE_FIGURES") or tempfile.mkdtemp(prefix="sgdnoise_network_")
os.makedirs(FIGURES, exist_ok=True)

# %% [markdown]
# ## The network and its training
# A ReLU MLP 64 → 16 → 16 → 10 without biases on scikit-learn's digits (1797 samples, shipped), cross-entropy,
# SGD η = 0.1, B = 50 (the authors' settings), 8 replicas from the same w₀, weights recorded every 10 steps.
# `piecewise_linear=True` declares that the per-sample Hessians factor as h_p = J_pᵀG_pJ_p (true for ReLU
# networks without normalisation), which makes E_p[h_p²] cheap.

# %%
def mlp(params, x):
    for W in params[:-1]:
        x = jax.nn.relu(x @ W.T)
    return x @ params[-1].T


X, y = load_digits_data()
keys = jax.random.split(jax.random.PRNGKey(0), 3)
params = [jax.random.normal(k, (m, n)) * (2 / n) ** 0.5 for k, (m, n) in zip(keys, [(16, 64), (16, 16), (10, 16)])]
net = Network(mlp, params, loss="ce", piecewise_linear=True)
run = run_replicas(net, X, y, eta=0.1, batch_size=50, n_steps=2000, n_replicas=8, record_every=10)

samples = net.samples(X, y)
flat_loss = jax.jit(jax.vmap(lambda w: net.loss(net.unflatten(w), samples)))
losses = np.array([flat_loss(traj) for traj in run.trajectory])          # (replicas, records)
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.semilogy(run.steps, losses.T, lw=0.8)
ax.axvspan(run.steps[-1] // 2, run.steps[-1], color="0.9", label="IVFR window")
ax.set_xlabel("step"); ax.set_ylabel("training loss L"); ax.legend()
fig.tight_layout(); fig.savefig(os.path.join(FIGURES, "network_loss.png"), dpi=120)
print(f"loss at the end: {losses[:, -1].mean():.4f} (replica mean)")

# %% [markdown]
# ## C vs H in the hidden-to-hidden layer
# The interval of γ is over directions (the scatter about the power law at one set of weights); the spread
# across replicas shows the variability between training runs.

# %%
result = noise_vs_curvature(net, run.replica(0), X, y, "[1]", batch_size=50)
print(result)
per_replica = [noise_vs_curvature(net, run.replica(r), X, y, "[1]", 50, n_resamples=200, n_rotations=2).gamma_C.exponent
               for r in range(1, 4)]
print("gamma of C in replicas 1..3:", np.round(per_replica, 3))

lam, C_ii, S_i = result.measurement.diagonals()
top = slice(0, result.n_top)
fit = result.gamma_C
fig, ax = plt.subplots(figsize=(5, 4))
ax.loglog(lam[lam > 0], C_ii[lam > 0], ".", color="0.7", ms=3, label="all directions")
ax.loglog(lam[top], C_ii[top], ".", ms=4, label=f"top {result.n_top} (fitted)")
xs = np.array([lam[result.n_top - 1], lam[0]])
ax.loglog(xs, fit.prefactor * xs ** fit.exponent, "k-",
          label=f"γ = {fit.exponent:.2f} [{fit.exponent_interval[0]:.2f}, {fit.exponent_interval[1]:.2f}]")
ax.set_xlabel("H_ii"); ax.set_ylabel("C_ii"); ax.legend(fontsize=8)
fig.tight_layout(); fig.savefig(os.path.join(FIGURES, "network_gamma.png"), dpi=120)

# %% [markdown]
# ## Variance against flatness
# All 1440 weights, each replica's window the second half of its run (100 records), the top 10 principal
# directions. ψ > 0 would be Feng & Tu's inverse relation; a Boltzmann density at one temperature gives ψ = −2.

# %%
ivfr = variance_flatness(net, run, X, y, n_directions=10)
print(ivfr)
fig, ax = plt.subplots(figsize=(5, 4))
for v, F in zip(ivfr.variances, ivfr.flatness):
    ax.loglog(F, v, "o", ms=3, alpha=0.6)
ax.set_xlabel("flatness F_i"); ax.set_ylabel("variance σ_i²")
ax.set_title(f"ψ = {ivfr.psi.value:.2f} [{ivfr.psi_interval[0]:.2f}, {ivfr.psi_interval[1]:.2f}]")
fig.tight_layout(); fig.savefig(os.path.join(FIGURES, "network_ivfr.png"), dpi=120)

# %% [markdown]
# ## What the first direction is
# The loss still falls through the window (cross-entropy on separable data has no minimum at finite weights), so
# the window's first principal direction is the drift: compare it with each window's net displacement. The fit
# is then repeated without that direction, and in the hidden-to-hidden layer alone (at these settings the sign
# stays: σ² rises with F).

# %%
window = run.trajectory[:, run.steps > run.steps[-1] // 2]
for r in range(3):
    _, D = principal_components(window[r], 1)
    drift = window[r, -1] - window[r, 0]
    print(f"replica {r}: |cos(first direction, net displacement)| = {abs(D[:, 0] @ drift) / np.linalg.norm(drift):.3f}")
without_first = [np.polyfit(np.log(F[1:]), np.log(v[1:]), 1)[0] for v, F in zip(ivfr.variances, ivfr.flatness)]
print(f"psi without the first direction (per replica, mean): {-np.mean(without_first):.3f}")
print(variance_flatness(net, run, X, y, layer="[1]", n_directions=10))
print("figures in", FIGURES)
