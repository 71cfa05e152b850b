"""Check ``dln.law_of_balance``: the drift of Δ = w₁² − w₂² under direct minibatch SGD, across η and B.

The model f = w₁w₂x (teacher y = s x + ε) is simulated through :mod:`numerics.verify.user_model` from the same
:class:`derivations.model.SGDModel` that the derivation uses (online sampling, κ = 1/B). Per (η, B):

- exact, a priori: E[Δ₁] after one step from w₀ = the derivation's E[Δ_{k+1} | w_k] at w₀;
- exact, along the whole run: the mean increment E[Δ_{k+1} − Δ_k] against the mean of the exact conditional
  increment −η²Δ_k[(u_k − s)² + κV(u_k)] on the visited states (a paired, martingale-difference test);
- continuum: after ``burn_in`` steps (u relaxed to s), the ratio of the mean increment to the mean of η × the
  Itô drift −ηκV(u)Δ on the visited states. The Itô drift omits the gradient-descent term −η(u − s)²Δ, of
  relative size O(η) near u = s, so the ratio is extrapolated to η → 0 over the learning rates (a polynomial
  of degree ``degree``, Richardson) and compared with 1, per B: no floor.

Mutants: "Δ conserved" (gradient-flow intuition: zero increments, E[Δ₁] = Δ₀); the Itô increment in place
of the exact discrete one (on the exact rows); a factor 2 in the noise (κ = 2/B) and the Stratonovich-looking
drift with no noise-induced term (ratio 0) on the continuum rows. Standard errors: independent replicas
(per-replica means of the paired differences; ratios by the delta method), no autocorrelation assumption.
"""

from __future__ import annotations

import numpy as np

import derivations
from derivations.dln.balance import balance_model, s, sigma, w1, w2
from derivations.conventions import Z_THRESHOLD as Z

from numerics.verify import Check, Comparison, comparison_result, register_check
from numerics.checks import _figures
from numerics.errors import ParameterError
from numerics.engine.sgd import TrajectoryObserver, run_sgd
from numerics.stats import Estimate, extrapolate_to_zero, replica_mean
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


def _ratio(num: np.ndarray, den: np.ndarray) -> Estimate:
    """mean(num)/mean(den) over replicas (per-replica means), with its delta-method standard error."""
    r = num.mean() / den.mean()
    return Estimate(r, np.std(num - r * den, ddof=1) / np.sqrt(num.size) / abs(den.mean()))


def _run(params: dict, seed: int):
    update, increment, drift = _predictions()
    etas, batches = _floats("etas", params["etas"]), [int(b) for b in _floats("batch_sizes", params["batch_sizes"])]
    if len(etas) <= params["degree"]:
        raise ParameterError(f"the continuum rows extrapolate over eta: need more than degree = {params['degree']} etas")
    w0 = np.array([params["w1_0"], params["w2_0"]])
    sv, sg, burn = params["s"], params["sigma"], params["burn_in"]
    lam0 = float(w0 @ w0)
    exact_rows, ratios = ([], [], [], [], [], []), {B: [] for B in batches}
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
            ito_first = delta[0, 0] + eta * drift(*w0, eta, kappa, sv, sg)
            _add(exact_rows, f"E[D_1] {tag}", update(*w0, eta, kappa, sv, sg), first.value, first.stderr, delta[0, 0],
                 ito_first)
            # paired increments over the whole run (exact), against the exact and the Itô conditional increments
            diff = replica_mean((step - exact).mean(axis=0))
            measured = float(step.mean())
            _add(exact_rows, f"dD exact {tag}", measured - float(diff.value), measured, float(diff.stderr), 0.0,
                 measured - float(replica_mean((step - ito).mean(axis=0)).value))
            # continuum: after burn-in, measured increment / Itô increment on the same states
            ratios[B].append(_ratio(step[burn:].mean(axis=0), ito[burn:].mean(axis=0)))
    names, limits, errs = [], [], []
    for B in batches:
        limit, _ = extrapolate_to_zero(etas, ratios[B], params["degree"])
        names.append(f"Ito ratio eta->0 B={B}"); limits.append(float(limit.value)); errs.append(float(limit.stderr))
    n_exact = len(exact_rows[0])
    cmp_exact = Comparison.make(*exact_rows[:4], {
        "Delta conserved (gradient flow): zero increments, E[D_1] = D_0": exact_rows[4],
        "the Ito increment -eta^2 kappa V Delta in place of the exact discrete one": exact_rows[5]}, z=Z,
        baseline=exact_rows[4])  # the claim is the change of D: E[D_1] - D_0 and the increments
    cmp_cont = Comparison.make(names, np.ones(len(batches)), limits, errs, {
        "Delta conserved (gradient flow): zero increments, E[D_1] = D_0": np.zeros(len(batches)),
        "a factor 2 in the noise (kappa = 2/B)": 2 * np.ones(len(batches))}, z=Z)
    per_eta = "; ".join(f"B={B}: " + ", ".join(f"{e:g}: {float(r.value):.4f} ± {float(r.stderr):.4f}"
                                             for e, r in zip(etas, ratios[B])) for B in batches)
    return comparison_result(
        NAME, params, seed, Comparison.combine([cmp_exact, cmp_cont]),
        f"|z| <= {Z:g}, no floor; exact rows ({n_exact}) against the exact discrete law; continuum rows: the ratio "
        "of measured to Ito increments after burn-in, extrapolated to eta -> 0 by a polynomial of degree "
        f"{params['degree']} over the etas, against 1; stderr over independent replicas of paired differences",
        [f"D = w1^2 - w2^2, u = w1 w2; w0 = ({w0[0]:.4g}, {w0[1]:.4g}), lambda_0 = w1^2 + w2^2 = {lam0:.3g}; "
         "online sampling, kappa = 1/B",
         f"measured / Ito increment at each eta (the O(eta) gradient-descent term the extrapolation removes): {per_eta}"])


def _add(rows, name, predicted, measured, stderr, *mutants):
    for column, value in zip(rows, (name, predicted, measured, stderr, *mutants)):
        column.append(float(value) if not isinstance(value, str) else value)


register_check(Check(
    name=NAME,
    derivation=NAME,
    description="law of balance: exact discrete and continuum (Ito) drift of w1^2 - w2^2 vs minibatch SGD across eta and B",
    run=_run,
    figures=_figures.law_of_balance,
    quick=dict(etas="0.025,0.05,0.1", batch_sizes="1,4", w1_0=1.5, w2_0=2 / 3, s=1.0, sigma=1.0, n_replicas=2000,
               n_steps=300, burn_in=100, degree=2),
    full=dict(etas="0.0125,0.025,0.05", batch_sizes="1,2,8", w1_0=1.5, w2_0=2 / 3, s=1.0, sigma=1.0, n_replicas=8000,
              n_steps=2000, burn_in=500, degree=2),
))
