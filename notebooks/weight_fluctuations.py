# %% [markdown]
# # Seed 003 — weight fluctuations, broken detailed balance and the inverse variance–flatness relation
#
# Gross, Raulf & Räth (PRR 6, 033103, 2024); IVFR: Feng & Tu (PNAS 2021). Derivations `fluct.single_layer`,
# `fluct.two_layer`, `fluct.ivfr`; checks with the same names (`sgdnoise check fluct.ivfr`).
# Conventions: ℓ = ½‖f − y‖², L = mean over samples, Itô, t = ηk, T = ηκ.
# Runs top to bottom at fast settings; figures go to `$SGDNOISE_FIGURES` (default: a temporary directory).

# %%
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import derivations
from numerics.checks.fluct.layers import leverage_noise_covariance
from numerics.models.noise_curvature import commutator_measure
from numerics.models.linreg import hessian, least_squares_solution, noise_covariance
from numerics.models import LeastSquares
from numerics.engine.data import gaussian_teacher
from numerics.engine.sgd import TrajectoryObserver, run_sgd
from numerics.models.two_layer import variance_flatness_fit, window_variance_flatness
from numerics.verify import get_check

FIGURES = os.environ.get("SGDNOISE_FIGURES") or tempfile.mkdtemp(prefix="sgdnoise_fluct_")
os.makedirs(FIGURES, exist_ok=True)
for name in ("fluct.single_layer", "fluct.two_layer", "fluct.ivfr"):
    d = derivations.get(name)
    print(f"{name}: {d.result}")

# %% [markdown]
# ## Single layer: the noise covariance is not proportional to the Hessian when P is close to N
# Label-noise average E C = σ²[H − (1/P) Σ h_p x_p x_pᵀ]; for equal leverages h_p = N/P it would be σ²(1 − N/P) H.
# Left: eigenvalues of E C/σ² (dots) and of the realised C(ŵ)/σ² of one label-noise draw (circles) against those
# of (1 − N/P) H. Right: the normalised commutator ‖[H, C]‖ vs P/N (zero ⇔ detailed balance), for both.

# %%
rng = np.random.default_rng(0)
N, sigma = 40, 1.0
ratios = [1.1, 1.5, 3.0, 10.0]
fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4))
for ratio in ratios:
    X = rng.standard_normal((int(ratio * N), N))
    H, EC = hessian(X), leverage_noise_covariance(X, sigma)
    line, = ax.plot(np.linalg.eigvalsh((1 - N / X.shape[0]) * H), np.linalg.eigvalsh(EC), ".", label=f"P/N = {ratio:g}")
    realised = noise_covariance(X, X @ rng.standard_normal(N) / np.sqrt(N) + sigma * rng.standard_normal(X.shape[0]))
    ax.plot(np.linalg.eigvalsh((1 - N / X.shape[0]) * H), np.linalg.eigvalsh(realised) / sigma ** 2, "o", mfc="none",
            ms=4, color=line.get_color())
lim = ax.get_xlim()
ax.plot(lim, lim, "k--", lw=0.8, label="C = σ²(1 − N/P) H")
ax.set_xlabel("eigenvalues of (1 − N/P) H"); ax.set_ylabel("eigenvalues of E C / σ²"); ax.legend(fontsize=8)
sweep = np.geomspace(1.05, 20, 12)
data = [[rng.standard_normal((int(r * N), N)) for _ in range(3)] for r in sweep]
comm = [np.mean([commutator_measure(hessian(X), leverage_noise_covariance(X, sigma)) for X in Xs]) for Xs in data]
comm_real = [np.mean([commutator_measure(hessian(X), noise_covariance(X, sigma * rng.standard_normal(X.shape[0])))
                      for X in Xs]) for Xs in data]
bx.loglog(sweep, comm, "o-", label="label-noise average E C")
bx.loglog(sweep, comm_real, "s-", mfc="none", label="realised C (one draw)")
bx.legend(fontsize=8)
bx.set_xlabel("P/N"); bx.set_ylabel("‖[H, C]‖ / (‖H‖ ‖C‖)")
fig.tight_layout(); fig.savefig(os.path.join(FIGURES, "fluct_spectra.png"), dpi=120)

# %% [markdown]
# ## Two layers: variance against flatness along the second layer's principal directions
# The check `fluct.ivfr` at reduced settings (256 replicas): factorial data on which the linearised theory is exact
# (H = I, C_W = σ²(I ⊗ H)), replicas started at the noise-balanced state, Feng & Tu's pipeline (PCA → flatness F_i
# by root finding of the full-data loss at e·L₀) at four learning rates, extrapolated to η → 0. Its rows hold the
# measured and closed-form σ_i²/η and F_i per well-separated direction (k, m), the chord exponents between the two
# directions of one output mode (the measurable local exponent ψ_loc = 2α_k/(α_k + s_m²) ∈ (0, 2)) and the pooled ψ.

# %%
res = get_check("fluct.ivfr")(seed=0, n_replicas=256, n_bootstrap=50, single_replicas=64, single_steps=500)
print(res.verdict, "|", res.resolving())
rows = {r.quantity: r for r in res.rows}
labels = [q[len("sigma^2/eta "):] for q in rows if q.startswith("sigma^2/eta (")]
var_m = np.array([rows[f"sigma^2/eta {k}"].measured for k in labels])
var_e = np.array([rows[f"sigma^2/eta {k}"].stderr for k in labels])
var_p = np.array([rows[f"sigma^2/eta {k}"].predicted for k in labels])
F_m = np.array([rows[f"F {k}"].measured for k in labels])
F_p = np.array([rows[f"F {k}"].predicted for k in labels])
for q, r in rows.items():
    if q.startswith("psi"):
        print(f"{q}: measured {r.measured:.3f} ± {r.stderr:.3f}, closed form {r.predicted:.3f}")

# single layer, weakly underparameterized
N1 = 12
ds1 = gaussian_teacher(N1, 0.3, seed=0).dataset(15, seed=1)
w_hat = least_squares_solution(ds1.X, ds1.y)
eta1 = 0.05
burn1 = int(5 / (eta1 * np.linalg.eigvalsh(hessian(ds1.X))[0]))
traj1 = TrajectoryObserver(stride=10)
run_sgd(LeastSquares(N1), ds1, eta=eta1, batch_size=1, n_steps=burn1 + 2000, n_replicas=256, w0=w_hat, seed=2,
        observers=[traj1])
var1, F1, _ = window_variance_flatness(lambda w: LeastSquares(N1).loss(w, ds1.X, ds1.y), w_hat,
                                       traj1.values[traj1.steps > burn1].reshape(-1, N1))
print(f"single layer: ln(F_max/F_min) = {np.log(F1.max() / F1.min()):.3f}, ln(var_max/var_min) = {np.log(var1.max() / var1.min()):.3f}")

fig, ax = plt.subplots(figsize=(5.5, 4.5))
ax.errorbar(F_m, var_m, yerr=var_e, fmt="o", label="two-layer W₂: SGD, η → 0")
ax.loglog(F_p, var_p, "x", color="k", ms=8, label="closed forms σ²/η, F")
pooled = variance_flatness_fit(var_p, F_p)  # the Feng–Tu log–log fit through the closed-form points
grid = np.geomspace(F_p.min(), F_p.max(), 50)
ax.loglog(grid, pooled.fit.prefactor * grid ** pooled.fit.exponent, "--", label=f"pooled closed-form ψ = {pooled.psi:.2f}")
ax.loglog(grid, var_p.max() * (grid / F_p[np.argmax(var_p)]) ** -2.0, ":", color="gray", label="ψ = 2 (flat-direction limit)")
ax.loglog(F1, var1 * var_m.max() / var1.max(), "s", mfc="none", label="single layer (rescaled)")
ax.set_xscale("log"); ax.set_yscale("log")
ax.set_xlabel("flatness F_i"); ax.set_ylabel("variance σ_i² (two-layer: /η)"); ax.legend(fontsize=7)
fig.tight_layout(); fig.savefig(os.path.join(FIGURES, "fluct_ivfr.png"), dpi=120)
print("figures in", FIGURES)
