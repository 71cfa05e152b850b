"""Seed 002 on a ReLU network (``perceptron.network_phases``): the (α, T) phase diagram of test error and of the
relative weight change, and the crossover temperature T_c(P), on the JAX engine (imported only when run).

Training, as the authors' public code (Sclocchi, Geiger & Wyart 2023) trains: the α-trick F = α(f(w, x) −
f(w₀, x)) with the hinge loss ℓ = max(0, 1 − F y)/α (:mod:`numerics.models.network.losses`), SGD on minibatches
of B drawn without replacement at temperature T = η/B, each network trained until its training loss is exactly
zero — every margin α(f − f₀)y ≥ 1 — or ``max_steps`` (``run_replicas(until_fitted=True)``). Where it differs
from their code: a standard-parametrisation network with He-normal weights in float64 (theirs: mean-field, N(0, 1)
weights divided by √fan-in and the output by the width h, float32) and T = η/B (theirs, ``temp = dt/(bs·h)``,
also divides by the width), so α and T here are not on the paper's scales. A network that reached the cap is not
trained: its point is left out and counted. Network: a ReLU MLP of ``depth`` hidden layers of ``hidden`` units, one output, no biases, He-normal
initialisation (:func:`~numerics.models.network.relu_mlp_params`). Data: scikit-learn digits, parity labels
y = +1 (even digit) / −1 (odd), pixels standardised (:func:`numerics.data.digits`), nested training sets of P
images drawn by the check's seed and one test set of ``n_test`` images.

Measured per network: the relative weight change ‖w − w₀‖/‖w₀‖ over all parameters at the end of training (the
authors store ‖w − w₀‖² and ‖w‖² per layer; we take the whole vector), the test error Pr(sign F ≠ y) on the test
set, and the training time t* = η × (steps to zero training loss). α ≫ 1 is the lazy regime (the weights move by
O(1/α)), α ≪ 1 feature learning.

T_c(P) as for ``perceptron.crossover_temperature`` (:func:`numerics.models.perceptron.crossover_temperature`):
where the mean relative weight change over the networks crosses ``target``, at the lazy α ``alpha_c``, common
random numbers at every T (the same initialisations and minibatch draws), a weighted power law over P
(:func:`~numerics.models.perceptron.fit_crossovers`) on each of ``n_draws`` independent draws of the nested
training sets; a is the mean over the draws with its standard error across them (Student-t, n_draws − 1 dof), so
that the draw of the data — which one fit's standard error leaves out and which correlates neighbouring P — is
in it. The perceptron's level, the initialisation scale (target 1),
lies where SGD no longer fits the training set here (η ≈ 0.4), so the check's level is 0.2, and a is the exponent
at that level: the law ‖w − w₀‖/‖w₀‖ ∝ T^δ P^γ, under which a = γ/δ would not depend on the level, is not separable
at these sizes (the local δ falls with P), and a rises as the level falls (README: measured at 0.1 and 0.2).

Verdict (criterion rows beyond 5 standard errors): the lazy row's relative change at the largest T where every
network trained exceeds that at the smallest; a > 0. Mutants: equal change at both T; SGD noise does not matter —
gradient descent (B = P) at the same step η moves the lazy network's weights as much (at fixed B a larger T is a
larger η, and GD moves weights in proportion to η too: this mutant separates the noise from the step); a = 0; and
the perceptron's derived a = 1/(1+χ) (``perceptron.temperature_scaling``) at χ = 0 and χ = 1 carried over to the
network — digits have no single boundary exponent χ, so the derived exponent is no prediction here, but it is the
nearest closed form a theorist could take for one.

Seeds: the data by ``seed`` (the phase diagram and the first draw of the T_c search; draw d ≥ 1 by the integer
SeedSequence([seed, d]) gives); a training point (α, T, P) by its task seed s (:func:`numerics.engine.grid.map_grid`,
the seeds a sweep gives its tasks), whose child 0 draws network r's initialisation (its child r) and child 1 the
minibatches (replica r of :func:`~numerics.models.network.run_replicas`).
"""

from __future__ import annotations

import time

import numpy as np
from scipy import stats as sp_stats

from derivations.conventions import Z_THRESHOLD as Z
from numerics.checks import _figures
from numerics.engine.grid import map_grid
from numerics.engine.rng import child_seed
from numerics.errors import (
    DivergenceError, ParameterError, require_independent_runs, require_int_in_range, require_known, require_positive,
)
from numerics.models.perceptron import crossover_temperature, crossovers_of, fit_crossovers
from numerics.stats import power_law_fit, replica_mean
from numerics.verify import Check, Comparison, Mutant, comparison_result, register_check
from numerics.verify.predict import evaluate

TASK_KEYS = ("n_train", "n_test", "data_seed", "hidden", "depth", "alpha", "temperature", "batch_size", "n_seeds",
             "max_steps")


def parity_split(n_train: int, n_test: int, seed):
    """Digits with parity labels: (X (P, 64), y (P, 1) = ±1, X_test, y_test (n_test, 1)), nested in P."""
    from numerics.data import digits

    split = digits(n_train, n_test, seed=seed)
    sign = lambda digit: np.where(digit % 2 == 0, 1.0, -1.0)[:, None]  # noqa: E731
    return split.X, sign(split.y), split.X_test, sign(split.y_test)


def train_point(params: dict, seed) -> dict:
    """Sweep task: ``n_seeds`` networks at one (α, T, P), each from its own initialisation, trained by SGD at
    T = η/B (B = P: gradient descent at step η) until every training margin is met or ``max_steps`` (module
    docstring). Returns per-network lists ``relative_change`` (‖w − w₀‖/‖w₀‖), ``test_error``, ``t_star``
    (η × steps), NaN for a network that hit the cap, ``fitted`` (bools), ``diverged`` (SGD diverged: nothing trained) and ``wall_s`` (the training's wall time)."""
    from numerics.models.network import Network, relu_mlp, relu_mlp_params, run_replicas, stack_replicas

    require_known("network-task", params, TASK_KEYS)
    R = require_int_in_range("n_seeds", params["n_seeds"], 2)
    B = require_int_in_range("batch_size", params["batch_size"], 1, params["n_train"])
    alpha, T = require_positive("alpha", params["alpha"]), require_positive("temperature", params["temperature"])
    X, y, X_test, y_test = parity_split(params["n_train"], params["n_test"], params["data_seed"])
    widths = (X.shape[1], *[require_int_in_range("hidden", params["hidden"], 1)] * params["depth"], 1)
    inits = [relu_mlp_params(widths, child_seed(child_seed(seed, 0), r)) for r in range(R)]
    net = Network(relu_mlp, inits[0], loss="hinge", alpha=alpha, piecewise_linear=True)
    start = time.perf_counter()
    try:
        run = run_replicas(net, X, y, eta=T * B, batch_size=B, n_steps=int(params["max_steps"]), n_replicas=R,
                           sampling="without_replacement", seed=child_seed(seed, 1), initial=stack_replicas(inits),
                           until_fitted=True, chunk_steps=512)
    except DivergenceError:  # a point of the diagram where SGD diverges: no network is trained there
        nan = [float("nan")] * R
        return dict(relative_change=nan, test_error=nan, t_star=nan, fitted=[False] * R, diverged=True,
                    wall_s=time.perf_counter() - start)
    wall = time.perf_counter() - start
    change, error = [], []
    for r, w0 in enumerate(inits):
        w, flat0 = run.replica(r), np.asarray(net.flatten(w0))
        change.append(float(np.linalg.norm(np.asarray(net.flatten(w)) - flat0) / np.linalg.norm(flat0)))
        F = np.asarray(relu_mlp(w, X_test)) - np.asarray(relu_mlp(w0, X_test))  # sign F: α > 0 drops out
        error.append(float(np.mean(np.sign(F) != y_test)))
    fitted = np.asarray(run.fitted)
    keep = lambda a: np.where(fitted, a, np.nan).tolist()  # noqa: E731  (a network at the cap is not trained)
    return dict(relative_change=keep(change), test_error=keep(error), t_star=keep(T * B * run.fitted_step),
                fitted=fitted.tolist(), diverged=False, wall_s=wall)


def crossover_point(params: dict, seed) -> dict:
    """Sweep task: T_c at one (α, P) by :func:`~numerics.models.perceptron.crossover_temperature` — where the mean
    relative change of :func:`train_point` crosses ``target``, secant steps in log T from ``T0`` — with the same
    seed at every T (common random numbers: the same initialisations and minibatch draws). Returns T_c, its log
    standard error, the evaluations (T, mean, stderr) and the wall time of the trainings."""
    task = {k: v for k, v in params.items() if k not in ("target", "T0")}
    walls = []

    def run_at(T):
        res = train_point(dict(task, temperature=T), seed)
        walls.append(res["wall_s"])
        return res

    c = crossover_temperature(run_at, target=params["target"], T0=params["T0"])
    return {"T_c": c.value, "log_stderr": c.log_stderr, "evaluations": [list(e) for e in c.evaluations],
            "wall_s": sum(walls)}


# --------------------------------------------------------------------------- the check
def _validate(params: dict, alphas: list, temps: list, sizes: list) -> None:
    """Refuse, before any training, what would fail or mislead only after the phase diagram is trained."""
    from numerics.data.digits import load_digits_data

    if not alphas or not all(a > 0 for a in alphas):
        raise ParameterError(f"alphas must be positive, at least one, got {alphas}")
    if len(temps) < 2 or not all(0 < s < t for s, t in zip(temps, temps[1:])) or temps[0] <= 0:
        raise ParameterError(f"temperatures must be positive and strictly increasing, >= 2 of them, got {temps}")
    if len(sizes) < 3 or sorted(set(sizes)) != sizes or max(sizes) < 10 * min(sizes):
        raise ParameterError(f"sizes must increase and span at least a decade in >= 3 points, got {sizes}")
    require_int_in_range("depth", params["depth"], 1)
    available = len(load_digits_data(10, True)[0]) - params["n_test"]
    require_int_in_range("n_train", params["n_train"], params["batch_size"], available)
    if min(sizes) < params["batch_size"] or max(sizes) > available:
        raise ParameterError(f"sizes must lie in [batch_size, {available}] (digits images left beside "
                             f"n_test = {params['n_test']}), got {sizes}")
    require_positive("target", params["target"])
    require_positive("T0", params["T0"])
    require_int_in_range("n_draws", params["n_draws"], 3)


def _mean(values) -> tuple[float, float, int]:
    """Mean and standard error over the trained networks (NaN where fewer than two), and how many there are."""
    a = np.asarray(values, dtype=float)
    a = a[np.isfinite(a)]
    if a.size < 2:
        return float("nan"), float("nan"), int(a.size)
    return float(a.mean()), float(a.std(ddof=1) / np.sqrt(a.size)), int(a.size)


def _phase_note(alpha: float, T: float, res: dict) -> str:
    (c, dc, n), (e, de, _), (t, _, _) = (_mean(res[k]) for k in ("relative_change", "test_error", "t_star"))
    return (f"phase alpha={alpha:g} T={T:g}: relative change {c:.4g} ± {dc:.2g}, test error {e:.4g} ± {de:.2g}, "
            f"t* {t:.4g}, trained {n}/{len(res['fitted'])}{' (diverged)' if res['diverged'] else ''}, "
            f"{res['wall_s']:.1f} s")


def _fully_trained(cells: list[dict]) -> list[int]:
    """The indices of an α row's temperatures at which every network trained (a mean over the few that did is a
    selection)."""
    return [i for i, r in enumerate(cells) if all(r["fitted"])]


def _lazy_growth(alpha: float, temps, cells: list[dict]):
    """(measured, stderr, T_low, T_high) of the lazy row's relative change at the largest T with every network
    trained minus that at the smallest such T (independent networks: variances add)."""
    full = _fully_trained(cells)
    if len(full) < 2:
        raise ParameterError(f"alpha = {alpha:g}: every network must be trained at two temperatures at least "
                             f"(trained per T: {[sum(r['fitted']) for r in cells]}); change the temperatures or "
                             "raise max_steps")
    (lo, dlo, _), (hi, dhi, _) = (_mean(cells[i]["relative_change"]) for i in (full[0], full[-1]))
    return hi - lo, float(np.hypot(dlo, dhi)), temps[full[0]], temps[full[-1]]


def _delta_note(alpha: float, temps, cells: list[dict]) -> str:
    """The T-exponent δ of the lazy row's relative change (weighted log-log fit over the fully trained T)."""
    full = [(temps[i], _mean(cells[i]["relative_change"])) for i in _fully_trained(cells)]
    if len(full) < 3:
        return f"lazy alpha={alpha:g}: fewer than three temperatures with every network trained (no delta)"
    fit = power_law_fit([T for T, _ in full], [m for _, (m, _, _) in full], y_stderr=[e for _, (_, e, _) in full])
    return (f"lazy alpha={alpha:g}: T-exponent of the relative change delta = {fit.exponent:.3f}, 95% CI "
            f"[{fit.exponent_interval[0]:.3f}, {fit.exponent_interval[1]:.3f}] over T = "
            + ", ".join(f"{T:g}" for T, _ in full) + " (reported, not judged)")


def _error_effect(alpha: float, temps, cells: list[dict]) -> str:
    """The test error of an α row at its smallest and largest T with every network trained, and the difference."""
    full = _fully_trained(cells)
    if len(full) < 2:
        return f"alpha={alpha:g}: fewer than two temperatures with every network trained"
    (lo, dlo, _), (hi, dhi, _) = (_mean(cells[i]["test_error"]) for i in (full[0], full[-1]))
    return (f"alpha={alpha:g}: test error {lo:.4f} ± {dlo:.4f} at T={temps[full[0]]:g}, {hi:.4f} ± {dhi:.4f} at "
            f"T={temps[full[-1]]:g} (difference {hi - lo:+.4f} ± {np.hypot(dlo, dhi):.4f})")


def _run_network_phases(params: dict, seed: int):
    R = require_independent_runs("n_seeds", params["n_seeds"])
    alphas, temps, sizes = list(params["alphas"]), list(params["temperatures"]), list(params["sizes"])
    _validate(params, alphas, temps, sizes)
    base = dict(n_test=params["n_test"], data_seed=seed, hidden=params["hidden"], depth=params["depth"],
                batch_size=params["batch_size"], n_seeds=R, max_steps=params["max_steps"])
    # (α, T) phase diagram at P = n_train, every cell its own networks (task seeds of one sweep)
    grid = [dict(base, n_train=params["n_train"], alpha=a, temperature=T) for a in alphas for T in temps]
    cells = map_grid("perceptron.network.phase", train_point, grid, seed=seed * 1000)
    rows = [cells[i * len(temps):(i + 1) * len(temps)] for i in range(len(alphas))]
    notes = [_phase_note(g["alpha"], g["temperature"], r) for g, r in zip(grid, cells)]
    lazy = alphas[-1]
    growth, growth_err, T_low, T_high = _lazy_growth(lazy, temps, rows[-1])
    cmp = Comparison([], [], Z).require(
        f"lazy alpha={lazy:g}: relative change at T={T_high:g} minus at T={T_low:g}", growth, growth_err, 0.0,
        "above")
    mutants = [Mutant.judge("T does not move a lazy network's weights (equal change at both T)",
                            growth / growth_err)]
    # the same step without noise: gradient descent (B = P) at η = T_high·B
    eta_high = T_high * params["batch_size"]
    (gd,) = map_grid("perceptron.network.gd", train_point, [dict(
        base, batch_size=params["n_train"], n_train=params["n_train"], alpha=lazy,
        temperature=eta_high / params["n_train"])], seed=seed * 1000 + 2)
    (sgd_c, sgd_e, _), (gd_c, gd_e, n_gd) = _mean(rows[-1][temps.index(T_high)]["relative_change"]), \
        _mean(gd["relative_change"])
    mutants.append(Mutant.judge(f"SGD noise does not matter: gradient descent at the same step eta = {eta_high:g} "
                                "moves the lazy network's weights as much", (sgd_c - gd_c) / np.hypot(sgd_e, gd_e)))
    target, alpha_c = params["target"], params["alpha_c"]
    # T_c(P) on n_draws independent draws of the nested training sets: a's stderr across draws contains the
    # data draw, which correlates neighbouring P within one draw and which a single fit's stderr leaves out
    draws = [seed] + [int(np.random.SeedSequence([seed, d]).generate_state(1)[0]) for d in range(1, params["n_draws"])]
    found = map_grid("perceptron.network.Tc", crossover_point,
                     [dict(base, data_seed=s, n_train=P, alpha=alpha_c, target=target, T0=params["T0"])
                      for s in draws for P in sizes], seed=seed * 1000 + 1)
    per_draw = [found[d * len(sizes):(d + 1) * len(sizes)] for d in range(len(draws))]
    fits = [fit_crossovers(sizes, crossovers_of(f, "T_c")) for f in per_draw]
    a_draws = replica_mean([-f.exponent for f in fits])
    a, a_err = a_draws.value, a_draws.stderr
    cmp = cmp.require("T_c exponent a (T_c ∝ P^-a)", a, a_err, 0.0, "above")
    mutants.append(Mutant.judge("T_c independent of P (a = 0)", a / a_err))
    log_tc = replica_mean(np.log([[r["T_c"] for r in f] for f in per_draw]))  # per P, across the draws
    t_a = sp_stats.t.ppf(0.975, len(draws) - 1) * a_err
    perceptron_a = {chi: float(evaluate("perceptron.temperature_scaling", {"chi": chi}, "exponent_a"))
                    for chi in (0.0, 1.0)}
    mutants += [Mutant.judge(f"the perceptron's exponent at chi = {chi:g} carried over: a = 1/(1+chi) = {pa:g}",
                             (a - pa) / a_err) for chi, pa in perceptron_a.items()]
    perceptron_delta = float(evaluate("perceptron.temperature_scaling", {"chi": 0.0}, "exponent_delta_norm"))
    notes = [
        f"T_c(P) where the mean relative change ||w - w0||/||w0|| = {target:g}, alpha = {alpha_c:g}: P = "
        + ", ".join(map(str, sizes)) + "; T_c = " + ", ".join(f"{t:.4g}" for t in np.exp(log_tc.value))
        + "; log stderr = " + ", ".join(f"{e:.3f}" for e in log_tc.stderr)
        + f" (geometric means over {len(draws)} draws of the training sets, stderr across draws); a = {a:.3f} ± "
        f"{a_err:.3f}, 95% interval [{a - t_a:.3f}, {a + t_a:.3f}] (mean over the draws, Student-t, "
        f"{len(draws) - 1} dof)",
        "per draw: a = " + ", ".join(f"{-f.exponent:.3f} ± {f.exponent_stderr:.3f}" for f in fits)
        + f" (weighted log-log fits, {len(sizes) - 2} dof each: the spread of a across draws against the fits' own "
        f"stderr); {sum(r['wall_s'] for r in found):.0f} s of training",
        f"the perceptron's derived exponents (perceptron.temperature_scaling; carried over as mutants, no prediction "
        f"for this network: digits have no single boundary exponent chi): a = 1/(1+chi) = {perceptron_a[0.0]:g} (chi=0), "
        f"{perceptron_a[1.0]:g} (chi=1); T-exponent delta of the weight change {perceptron_delta:g}",
        _delta_note(lazy, temps, rows[-1]),
        f"noise vs step, lazy alpha={lazy:g}, eta = {eta_high:g}: relative change {sgd_c:.4g} ± {sgd_e:.2g} with SGD "
        f"(B = {params['batch_size']}, T = {T_high:g}), {gd_c:.4g} ± {gd_e:.2g} with gradient descent (B = P, "
        f"{n_gd}/{R} trained)",
        "effect of T on the test error (reported, not judged: claim (i) names no sign per regime for this "
        "network): " + "; ".join(_error_effect(al, temps, r) for al, r in dict(zip(alphas, rows)).items()
                                   if al in (alphas[0], lazy)),
        f"protocol: hinge loss with the alpha-trick, SGD without replacement at T = eta/B, B = {params['batch_size']}, "
        f"until zero training loss or {params['max_steps']} steps; ReLU MLP {params['depth']} x {params['hidden']}, "
        f"no biases; digits parity, P = {params['n_train']} for the diagram, {params['n_test']} test images; "
        f"{R} networks per point (own initialisation and minibatches)",
    ] + notes
    return comparison_result(
        "perceptron.network_phases", params, seed, Comparison(cmp.rows, mutants, Z),
        f"criterion rows, beyond {Z:g} stderr: the lazy network's relative weight change grows with T (stderr of "
        f"the difference of two means over {R} independently trained networks each); the T_c exponent a > 0 "
        f"(stderr of the mean a over {len(draws)} independent draws of the training sets, {len(draws) - 1} dof: "
        f"under a = 0 an excess of {Z:g} stderr has one-sided probability "
        f"{sp_stats.t.sf(Z, len(draws) - 1):.1g}). Mutants: equal change at both T; GD at the same step as SGD; "
        f"a = 0; the perceptron's a = 1/(1+chi) at chi = 0, 1",
        notes)


register_check(Check(
    name="perceptron.network_phases",
    derivation="perceptron.temperature_scaling",
    description="seed 002 on a ReLU MLP (digits parity, hinge loss, alpha-trick, SGD until every margin is met): "
                "the (alpha, T) phase diagram of test error and relative weight change; a lazy network's weight "
                "change grows with T; T_c(P) ~ P^-a with a > 0 over a decade of P; mutants: no effect of T, GD at "
                "the same step moves the weights as much, a = 0, the perceptron's a = 1/(1+chi) at chi = 0, 1",
    run=_run_network_phases,
    figures=_figures.network_phases,
    exact=False,
    extra="network",
    quick=dict(n_train=256, n_test=300, hidden=32, depth=2, batch_size=4, n_seeds=8, max_steps=20000,
               alphas=(0.01, 0.1, 1.0, 10.0, 100.0, 1000.0), temperatures=(0.001, 0.003, 0.01, 0.03, 0.1),
               sizes=(64, 128, 256, 512, 1024), n_draws=5, alpha_c=1000.0, target=0.2, T0=0.02),
    full=dict(n_train=512, n_test=300, hidden=64, depth=3, batch_size=4, n_seeds=16, max_steps=50000,
              alphas=tuple(float(4.0 ** k) for k in range(-4, 6)),
              temperatures=tuple(float(x) for x in np.geomspace(3e-4, 0.1, 11)),
              sizes=(48, 96, 192, 384, 768, 1472), n_draws=5, alpha_c=4096.0, target=0.2, T0=0.02),
))
