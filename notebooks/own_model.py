# %% [markdown]
# # Your own model: from a sympy loss to a verified formula
#
# The package's machinery (Isserlis moments, the Itô SDE of SGD, Itô's lemma, stationary densities,
# the replica SGD engine, checks with negative controls) works on any per-sample loss you write in sympy.
# Worked example: the **law of balance**. For the two-layer scalar network f = w₁w₂x with
# ℓ = ½(w₁w₂x − y)², y = s x + ε, gradient flow conserves Δ = w₁² − w₂²; SGD does not.
# This is what justifies the *balanced* assumption of the deep-linear per-mode SDEs (`dln.mode_sde`).
#
# Conventions: L = mean of ℓ over samples, w ← w − η ĝ with ĝ the minibatch-mean gradient, t = ηk,
# Itô SDE dw = −∇L dt + √(η/B) C^{1/2} dW.

# %%
import os
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np
import sympy as sp

import derivations
from derivations.model import SGDModel
from numerics.checks import get_check
from numerics.engine.sgd import TrajectoryObserver, run_sgd
from numerics.verify.user_model import compile_model

FIGURES = os.environ.get("SGDNOISE_FIGURES") or tempfile.mkdtemp(prefix="sgdnoise-own-model-")
os.makedirs(FIGURES, exist_ok=True)

# %% [markdown]
# ## Five lines: loss → model → derivation

# %%
start = time.perf_counter()
w1, w2, x, y = sp.symbols("w1 w2 x y", real=True)
s, sigma = sp.symbols("s sigma", positive=True)
model = SGDModel(sp.Rational(1, 2) * (w1 * w2 * x - y) ** 2, [w1, w2], [x], target=y, teacher=s * x, noise_std=sigma)
derivation = model.derivation()
print(derivation.latex()[:1500], "...")
print(f"derived in {time.perf_counter() - start:.2f} s; method: {model.method}")

# %% [markdown]
# The noise covariance is exact (Isserlis) and rank one, along (w₂, w₁):

# %%
print(model.mean_gradient.T)
print(model.noise_covariance.applyfunc(sp.factor))

# %% [markdown]
# ## Itô's lemma for Δ = w₁² − w₂²
# The martingale part ∇Δᵀ G vanishes identically, and only the second-order Itô term survives in the drift:
# dΔ = −(η/B) V(u) Δ dt with u = w₁w₂, V = 2(u − s)² + σ².

# %%
sde_delta = model.ito(w1 ** 2 - w2 ** 2, sp.Symbol("Delta"))
print("martingale part:", sde_delta.noise)
print("drift:", sp.factor(sde_delta.drift[0]))

# %% [markdown]
# ## The registered derivation (continuum *and* exact discrete time)
# One SGD step multiplies Δ by (1 − η² m̂²) exactly (m̂ the minibatch mean of φ = (ux − y)x), so
# E[Δ_{k+1} | w_k] = Δ_k (1 − η²[(u − s)² + κ V(u)]). The part the Itô drift misses, −η(u − s)²Δ per unit
# time, is the second-order modified-equation term of gradient descent.

# %%
lob = derivations.get("dln.law_of_balance")
for step in lob.steps[-6:]:
    print("-", step.justification, "\n   ", step.equation)
with open(os.path.join(FIGURES, "law_of_balance.tex"), "w") as fh:
    fh.write(lob.latex())

# %% [markdown]
# ## Verified against direct minibatch SGD
# The registered check runs the lambdified model in the replica engine (online data drawn from the same
# data model), across η and B, with mutants such as "Δ conserved" that the same data must reject.

# %%
result = get_check("dln.law_of_balance")(seed=0, n_replicas=1000, n_steps=200, burn_in=80)
print(result.table())
assert result.verdict == "CONFIRMED", result.table()

# %% [markdown]
# ## Picture: Δ decays under SGD, and faster with more noise (larger η/B)

# %%
update = lob.lambdify((w1, w2, *lob.parameters[2:]), lob.extras["discrete_update"])
engine, data = compile_model(model, {s: 1.0, sigma: 1.0})
w0, n_steps = np.array([1.5, 2 / 3]), 300
fig, ax = plt.subplots(figsize=(6, 4))
for eta, B in ((0.05, 1), (0.1, 1), (0.1, 4)):
    obs = TrajectoryObserver(stride=1)
    run_sgd(engine, data, eta=eta, batch_size=B, n_steps=n_steps, n_replicas=500, sampling="online", w0=w0, seed=1,
            observers=[obs])
    a, b = obs.values[..., 0], obs.values[..., 1]
    delta = (a ** 2 - b ** 2).mean(axis=1)
    one_step = update(a[:-1], b[:-1], eta, 1 / B, 1.0, 1.0).mean(axis=1)  # E[Δ_{k+1} | w_k], averaged
    line, = ax.plot(delta, label=f"SGD  eta={eta}, B={B}")
    ax.plot(np.arange(1, n_steps + 1), one_step, "--", color=line.get_color(), lw=1)
ax.plot([], [], "k--", lw=1, label="exact one-step mean E[D_k+1 | w_k] (dashed)")
ax.axhline(w0 @ (w0 * [1, -1]), color="k", lw=1, ls=":", label="gradient flow (conserved)")
ax.set_xlabel("step k")
ax.set_ylabel("E[w1^2 - w2^2]")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "own_model_law_of_balance.png"), dpi=120)
print("figures in", FIGURES)
