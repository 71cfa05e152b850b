"""Check ``dln.law_of_balance``: the drift of Δ = w₁² − w₂² under direct minibatch SGD, across η and B.

The model f = w₁w₂x (teacher y = s x + ε) is simulated through :mod:`numerics.verify.user_model` from the same
:class:`derivations.model.SGDModel` that the derivation uses (online sampling, κ = 1/B). Per (η, B):

- exact, a priori: E[Δ₁] after one step from w₀ = the derivation's E[Δ_{k+1} | w_k] at w₀;
- exact, along the whole run: the mean increment E[Δ_{k+1} − Δ_k] against the mean of the exact conditional
  increment −η²Δ_k[(u_k − s)² + κV(u_k)] on the visited states (a paired, martingale-difference test);
- continuum: after ``burn_in`` steps (u relaxed to s), the same increments against η × the Itô drift
  −ηκV(u)Δ; it omits the order-η gradient-descent term −η(u − s)²Δ (relative size ≈ ηλ/2 near u = s,
  λ = w₁² + w₂²), hence a relative floor ``floor_factor`` × η × λ₀ (per (η, B), relative to that row's prediction).

Negative control: "Δ conserved" (gradient-flow intuition): zero increments and E[Δ₁] = Δ₀, which the
same data must reject at the same |z| ≤ 5. Standard errors: independent replicas (per-replica means of
the paired differences), no autocorrelation assumption.
"""

from __future__ import annotations

import numpy as np

import derivations
from derivations.dln.balance import balance_model, s, sigma, w1, w2
from derivations.conventions import Z_THRESHOLD as Z

from numerics.verify import Check, Comparison, comparison_result, register_check
from numerics.errors import ParameterError
from numerics.engine.sgd import TrajectoryObserver, run_sgd
from numerics.stats import replica_mean
from numerics.verify.user_model import compile_model

NAME = "dln.law_of_balance"


def _floats(name: str, text: str) -> list[float]:
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ParameterError(f"{name} must be a comma-separated list of numbers, got {text!r}") from None
    if not values:
        raise ParameterError(f"{name} is empty")
    return values


def _predictions():
    """Lambdified (E[Δ_{k+1} | w], E[Δ_{k+1} − Δ_k | w], Itô drift per unit time) of w₁, w₂, η, κ, s, σ."""
    d = derivations.get(NAME)
    args = (w1, w2, *d.parameters[2:])
    return tuple(d.lambdify(args, d.extras[k]) for k in ("discrete_update", "discrete_increment", "ito_drift"))


def measure(eta: float, batch_size: int, *, w0, s_value: float, sigma_value: float, n_replicas: int, n_steps: int,
            seed: int) -> np.ndarray:
    """Weights of ``n_replicas`` online-SGD chains at every step 0..n_steps: array (n_steps + 1, R, 2)."""
    engine, data = compile_model(balance_model(), {s: s_value, sigma: sigma_value})
    obs = TrajectoryObserver(stride=1)
    run_sgd(engine, data, eta=eta, batch_size=batch_size, n_steps=n_steps, n_replicas=n_replicas, sampling="online",
            w0=w0, seed=seed, observers=[obs])
    return obs.values


def _run(params: dict, seed: int):
    update, increment, drift = _predictions()
    etas, batches = _floats("etas", params["etas"]), [int(b) for b in _floats("batch_sizes", params["batch_sizes"])]
    w0 = np.array([params["w1_0"], params["w2_0"]])
    sv, sg, burn = params["s"], params["sigma"], params["burn_in"]
    lam0 = float(w0 @ w0)
    exact_rows, cont_rows, floors = ([], [], [], [], []), ([], [], [], [], []), []
    config = 0
    for eta in etas:
        for B in batches:
            kappa = 1.0 / B
            w = measure(eta, B, w0=w0, s_value=sv, sigma_value=sg, n_replicas=params["n_replicas"],
                        n_steps=params["n_steps"], seed=seed + 100 * config)
            config += 1
            a, b = w[..., 0], w[..., 1]
            delta = a ** 2 - b ** 2
            step = np.diff(delta, axis=0)                                   # (K, R)
            exact = increment(a[:-1], b[:-1], eta, kappa, sv, sg)
            ito = eta * drift(a[:-1], b[:-1], eta, kappa, sv, sg)          # per step: Δt = η
            tag = f"eta={eta:g} B={B}"
            # a priori one step from w0
            first = replica_mean(delta[1])
            _add(exact_rows, f"E[D_1] {tag}", update(*w0, eta, kappa, sv, sg), first.value, first.stderr, delta[0, 0])
            # paired increments over the whole run (exact) and after burn-in (continuum)
            for rows, pred, k0, label in ((exact_rows, exact, 0, "dD exact"), (cont_rows, ito, burn, "dD Ito")):
                diff = replica_mean((step[k0:] - pred[k0:]).mean(axis=0))
                measured = float(step[k0:].mean())
                _add(rows, f"{label} {tag}", measured - float(diff.value), measured, float(diff.stderr), 0.0)
            floors.append(params["floor_factor"] * eta * lam0)
    conserved = "Delta conserved (gradient flow): zero increments, E[D_1] = D_0"
    cmp_exact = Comparison.make(*exact_rows, conserved, z=Z)
    # one continuum comparison per (eta, B): its floor is relative to that row's own prediction
    # the continuum rows carry no control of their own: 'Delta conserved' is judged on the exact rows
    cmp_cont = [Comparison.make(*([c[i]] for c in cont_rows[:4]), None, z=Z, rel_floor=f) for i, f in enumerate(floors)]
    return comparison_result(
        NAME, params, seed, Comparison.combine([cmp_exact] + cmp_cont, control="any"),
        f"exact rows: |z| <= {Z:g}, no floor; continuum (Ito) rows: |z| <= {Z:g} or within a relative floor "
        f"{params['floor_factor']:g} * eta * lambda_0 of the prediction (the Ito drift omits the O(eta * lambda) "
        "gradient-descent term); stderr over independent replicas of paired differences",
        [f"D = w1^2 - w2^2, u = w1 w2; w0 = ({w0[0]:.4g}, {w0[1]:.4g}), lambda_0 = w1^2 + w2^2 = {lam0:.3g}; "
         "online sampling, kappa = 1/B",
         "the negative control is rejected when any exact row rejects 'Delta conserved' at |z| > 5",
         "Ito rows without the floor: max |z| = " + f"{max(abs(c.rows[0].z) for c in cmp_cont):.1f}"
         " (the discrete gradient-descent term is resolved by the data)"])


def _add(rows, name, predicted, measured, stderr, wrong):
    for column, value in zip(rows, (name, predicted, measured, stderr, wrong)):
        column.append(float(value) if not isinstance(value, str) else value)


register_check(Check(
    name=NAME,
    derivation=NAME,
    description="law of balance: exact discrete and continuum (Ito) drift of w1^2 - w2^2 vs minibatch SGD across eta and B",
    run=_run,
    quick=dict(etas="0.05,0.1", batch_sizes="1,4", w1_0=1.5, w2_0=2 / 3, s=1.0, sigma=1.0, n_replicas=2000,
               n_steps=300, burn_in=100, floor_factor=1.0),
    full=dict(etas="0.02,0.05,0.1", batch_sizes="1,2,8", w1_0=1.5, w2_0=2 / 3, s=1.0, sigma=1.0, n_replicas=8000,
              n_steps=2000, burn_in=500, floor_factor=1.0),
))
