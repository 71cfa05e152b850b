"""Seed 001's γ grid (``curv.gamma_grid``) on the JAX engine: C_ii ∝ H_ii^γ "across datasets, architectures and
loss functions", one cell per (loss, architecture, data set).

γ of one trained network: C = C₁/B and H of the hidden-to-hidden layer W₂ (leaf ``[1]``), diagonals in H's
eigenbasis, the OLS slope of log C_ii on log H_ii over the top 60 % of H's directions with its BCa interval over
directions (:func:`numerics.models.network.noise_vs_curvature`, the fit of ``curv.noise_curvature``).

Training, the authors' public code: SGD with learning rate η = 0.1 on their losses, B = 50 drawn without
replacement, a cosine schedule over the run, gradient-norm clipping at 5 (``run_replicas(schedule="cosine",
clip_norm=...)``); He-normal initialisation, no biases, drawn independently for every training. For the MSE losses
our ℓ = ½‖·‖² is K/2 times theirs (``nn.MSELoss`` averages over the K classes), so their trajectory is our step
2η/K (:func:`~numerics.checks.curv.mlp.authors_step`) with our clipping norm 5·K/2 (clip(s g, c) = s·clip(g, c/s)).
Losses: cross-entropy and MSE on softmax outputs (the paper's), linear MSE (beyond the paper's losses: whether the
claim's "across loss functions" extends to it; its rows are reported beside the claim, with their z against the
band, and are no part of the verdict, as in ``curv.noise_curvature``). Architectures: ReLU MLPs with two
(``mlp2``) and three (``mlp3``) hidden layers of ``hidden`` units, and a CNN (``cnn``: two 3-wide convolutions of ``channels`` channels and a
dense read-out, :func:`~numerics.models.network.relu_cnn`; 2-D on the 8×8 digits, 1-D on the 40-sample MNIST-1D
signals), all without biases; W₂ is the second convolution's kernel in the CNN. Data sets: digits and MNIST-1D
(:mod:`numerics.data`), ``n_train`` samples.

Per cell: γ averaged over ``n_seeds`` independent trainings, standard error across them (Student-t,
n_seeds − 1 dof); a criterion row 1 ≤ γ ≤ 2 against the nearer of the registered bounds (the extras
``gamma_lower``, ``gamma_upper`` of ``curv.noise_curvature``); mutants γ = 1 (C ∝ H: Fisher = Hessian) and γ = 2
(C ∝ H²) judged on the cell's γ. The claim is about trained networks (the paper measures at the end of training,
its networks fit their training sets), and γ moves while a network learns: a cell is judged only when each of its
networks classifies at least ``min_train_accuracy`` of its training set correctly; otherwise its row is reported
with rule ``unmet`` (not judged), its mutants are judged on no data, and the verdict cannot be CONFIRMED.

Seeds: the data sets drawn by ``seed`` (:mod:`numerics.data.split`); cell c is the c-th task of a grid
(:func:`numerics.engine.grid.map_grid`: the seeds a resumable sweep, :func:`numerics.run.sweeps.sweep`, gives the
same tasks), whose task seed's child 0 draws training r's initialisation (its child r), child 1 the minibatches
(replica r of :func:`~numerics.models.network.run_replicas`), child 2 the bootstrap of training r (its child r).
"""

from __future__ import annotations

import functools
import itertools
import time

import numpy as np
from scipy import stats as sp_stats

from derivations.conventions import Z_THRESHOLD as Z
from numerics.checks import _figures
from numerics.checks.curv.mlp import PAPER_LOSSES, authors_step
from numerics.engine.grid import map_grid
from numerics.engine.rng import child_seed
from numerics.errors import ParameterError, require_choice, require_independent_runs, require_known
from numerics.models.mlp import LOSSES
from numerics.models.noise_curvature import fit_gamma, top_count
from numerics.stats import replica_mean
from numerics.verify import Check, CheckResult, Comparison, Mutant, comparison_result, register_check
from numerics.verify.predict import evaluate

ARCHITECTURES = ("mlp2", "mlp3", "cnn")
INPUT_SHAPES = {"digits": (8, 8), "mnist1d": (40,)}  # of one input, as the CNN convolves it
LAYER = "[1]"                                          # W₂: hidden to hidden, conv to conv
WINDOWS = (0.4, 0.8)  # other fit windows (fractions of H's top directions), reported beside the check's


@functools.lru_cache(maxsize=4)  # the cells of one data set share its split
def _load(name: str, n_train: int, seed):
    from numerics import data

    return getattr(data, require_choice("dataset", name, tuple(INPUT_SHAPES)))(n_train, seed=seed)


def _architecture(name: str, dataset: str, n_classes: int, params: dict):
    """(apply, init) of architecture ``name`` on the inputs of ``dataset``; init(seed) draws initial parameters."""
    from numerics.models.network import relu_cnn, relu_cnn_params, relu_mlp, relu_mlp_params

    shape = INPUT_SHAPES[dataset]
    if require_choice("architecture", name, ARCHITECTURES) == "cnn":
        return relu_cnn(shape), lambda seed: relu_cnn_params(shape, params["channels"], n_classes, seed)
    widths = (int(np.prod(shape)), *[params["hidden"]] * int(name[3:]), n_classes)  # mlp<hidden layers>
    return relu_mlp, lambda seed: relu_mlp_params(widths, seed)


CELL_KEYS = ("loss", "architecture", "dataset", "data_seed", "n_train", "hidden", "channels", "eta", "batch_size",
             "n_steps", "clip_norm", "n_seeds", "top_fraction", "n_resamples")


def cell_task(params: dict, seed) -> dict:
    """Sweep task: one cell (``loss``, ``architecture``, ``dataset``; the data drawn by ``data_seed``), ``n_seeds``
    networks trained as replicas of one run (module docstring) and measured each. Returns per-network lists (plain
    numbers, as a sweep stores them): ``gamma`` (γ of C) with ``gamma_interval`` (its BCa interval over
    directions), ``gamma_Eh2`` (of E_p[h_p²]), ``gamma_window`` ({top fraction: γ of C} for ``WINDOWS``),
    ``train_loss``, ``train_accuracy``, ``accuracy`` (test); and ``wall_s``."""
    from numerics.models.network import Network, noise_vs_curvature, run_replicas, stack_replicas

    require_known("gamma-grid cell", params, CELL_KEYS)
    start = time.perf_counter()
    split = _load(params["dataset"], params["n_train"], params["data_seed"])
    n, K, loss = params["n_seeds"], split.n_classes, require_choice("loss", params["loss"], LOSSES)
    apply, init = _architecture(params["architecture"], params["dataset"], K, params)
    inits = [init(child_seed(child_seed(seed, 0), r)) for r in range(n)]
    net = Network(apply, inits[0], loss=loss, piecewise_linear=True)
    step = authors_step(loss, params["eta"], K)
    run = run_replicas(net, split.X, split.y, eta=step, batch_size=params["batch_size"], n_steps=params["n_steps"],
                       n_replicas=n, sampling="without_replacement", schedule="cosine",
                       clip_norm=params["clip_norm"] * params["eta"] / step, seed=child_seed(seed, 1),
                       initial=stack_replicas(inits))
    samples, test = net.samples(split.X, split.y), net.samples(split.X_test, split.y_test)
    out = {k: [] for k in ("gamma", "gamma_interval", "gamma_Eh2", "gamma_window", "train_loss", "train_accuracy",
                           "accuracy")}
    for r in range(n):
        w = run.replica(r)
        m = noise_vs_curvature(net, w, split.X, split.y, LAYER, params["batch_size"],
                               top_fraction=params["top_fraction"], n_resamples=params["n_resamples"], n_rotations=2,
                               seed=child_seed(child_seed(seed, 2), r))
        lam, C_ii, _ = m.measurement.diagonals()
        # the fit window's systematic: log C_ii on log H_ii is not a straight line
        window = {str(f): fit_gamma(lam, C_ii, top_count(len(lam), f), n_resamples=100, seed=0).exponent
                  for f in WINDOWS}
        for key, value in (("gamma", m.gamma_C.exponent), ("gamma_interval", list(m.gamma_C.exponent_interval)),
                           ("gamma_Eh2", m.gamma_Eh2.exponent), ("gamma_window", window),
                           ("train_loss", float(net.loss(w, samples))), ("train_accuracy", net.accuracy(w, samples)),
                           ("accuracy", net.accuracy(w, test))):
            out[key].append(value)
    return dict(out, wall_s=time.perf_counter() - start)


def _cell_note(cell: str, res: dict, confidence: float) -> str:
    g, s = replica_mean(res["gamma"]), replica_mean(res["gamma_Eh2"])
    t = sp_stats.t.ppf(0.5 + confidence / 2, len(res["gamma"]) - 1) * g.stderr
    half = np.median([(hi - lo) / 2 for lo, hi in res["gamma_interval"]])
    return (f"{cell}: gamma_C = {g.value:.3f} ± {g.stderr:.3f}, {100 * confidence:g}% interval [{g.value - t:.3f}, "
            f"{g.value + t:.3f}] (Student-t, {len(res['gamma']) - 1} dof); median per-network BCa half-width "
            f"{half:.3f}; gamma_Eh2 = {s.value:.3f} ± {s.stderr:.3f}; train loss {np.mean(res['train_loss']):.3g}, "
            f"train accuracy {min(res['train_accuracy']):.3f} (the least of the networks), test accuracy "
            f"{np.mean(res['accuracy']):.3f}; gamma_C fitted over the top "
            + ", ".join(f"{100 * f:g}%: {np.mean([w[str(f)] for w in res['gamma_window']]):.3f}" for f in WINDOWS)
            + f" (the fit window's systematic, not in the stderr); {res['wall_s']:.0f} s")


def _run_grid(params: dict, seed: int) -> CheckResult:
    n = require_independent_runs("n_seeds", params["n_seeds"])
    for loss in params["losses"]:
        require_choice("loss", loss, LOSSES)
    if not 0 <= params["min_train_accuracy"] <= 1:
        raise ParameterError(f"min_train_accuracy is a fraction in [0, 1], got {params['min_train_accuracy']!r}")
    low, high = (float(evaluate("curv.noise_curvature", {}, e)) for e in ("gamma_lower", "gamma_upper"))
    cells = list(itertools.product(params["datasets"], params["architectures"], params["losses"]))
    base = {k: params[k] for k in CELL_KEYS if k in params}
    grid = [dict(base, loss=loss, architecture=architecture, dataset=dataset, data_seed=seed)
            for dataset, architecture, loss in cells]
    results = map_grid("curv.gamma_grid.cell", cell_task, grid, seed=seed)
    cmp, mutants, notes = Comparison([], [], Z), [], []
    for (dataset, architecture, loss), res in zip(cells, results):
        cell = f"{loss} {architecture} {dataset}"
        g = replica_mean(res["gamma"])
        trained = min(res["train_accuracy"]) >= params["min_train_accuracy"]
        cmp = cmp.within(f"gamma_C {cell} in [{low:g},{high:g}]", g, low, high, met=trained,
                         scope=loss in PAPER_LOSSES)
        if loss in PAPER_LOSSES:  # an untrained cell's data judge nothing (a NaN z rejects no mutant)
            mutants += [Mutant.judge(f"{cell}: C ∝ H (Fisher = Hessian), gamma = 1", g.z(1.0) if trained else np.nan),
                        Mutant.judge(f"{cell}: C ∝ H^2, gamma = 2", g.z(2.0) if trained else np.nan)]
        why = [] if trained else [f"a network fits less than {100 * params['min_train_accuracy']:g}% of its training set"]
        why += [] if loss in PAPER_LOSSES else ["not a loss of the paper: reported beside the claim"]
        notes.append(_cell_note(cell, res, 0.95) + (f"; not judged: {'; '.join(why)}" if why else ""))
    notes.append(f"protocol: SGD eta = {params['eta']:g} on the authors' losses (step 2 eta/K on l = 1/2|.|^2 for the "
                 f"MSE losses), B = {params['batch_size']} without replacement, {params['n_steps']} steps, cosine "
                 f"schedule, gradient norm clipped at {params['clip_norm']:g}; P = {params['n_train']}, hidden width "
                 f"{params['hidden']}, CNN channels {params['channels']}; gamma of layer W_2 over the top "
                 f"{100 * params['top_fraction']:g}% of H's directions; "
                 f"{', '.join(_load(d, params['n_train'], seed).description for d in params['datasets'])}")
    return comparison_result(
        "curv.gamma_grid", params, seed, Comparison(cmp.rows, mutants, Z),
        f"criterion rows: gamma in [{low:g},{high:g}] against the nearer bound, beyond {Z:g} stderr, judged in the "
        f"cells of the paper's losses whose every network fits >= {100 * params['min_train_accuracy']:g}% of its "
        f"training set (the claim is about trained networks; other cells reported, not judged; linear MSE beside the "
        f"claim); stderr across {n} independently trained networks per cell ({n - 1} dof); mutants gamma = 1 and "
        f"gamma = 2 per cell of the paper's losses; gamma over the top "
        + " and ".join(f"{100 * f:g}%" for f in WINDOWS) + " of H's directions in the notes (the fit window's "
        "systematic, not in the stderr)",
        notes, dof=n - 1)


register_check(Check(
    name="curv.gamma_grid",
    derivation="curv.noise_curvature",
    description="gamma of C_ii ∝ H_ii^gamma per cell of losses (cross-entropy, MSE on softmax outputs, linear MSE) x "
                "architectures (ReLU MLPs of two and three hidden layers, a small CNN) x data sets (digits, "
                "MNIST-1D), trained by the authors' protocol on the JAX engine: 1 <= gamma <= 2 per cell; mutants "
                "gamma = 1 (C ∝ H) and gamma = 2 per cell",
    run=_run_grid,
    figures=_figures.gamma_grid,
    exact=False,
    extra="network",
    quick=dict(losses=PAPER_LOSSES, architectures=("mlp2", "cnn"), datasets=tuple(INPUT_SHAPES), n_train=500,
               hidden=32, channels=4, eta=0.1, batch_size=50, n_steps=10000, clip_norm=5.0, n_seeds=8,
               top_fraction=0.6, n_resamples=1000, min_train_accuracy=0.99),
    full=dict(losses=("ce", "softmax_mse", "mse"), architectures=ARCHITECTURES, datasets=tuple(INPUT_SHAPES),
              n_train=1400, hidden=32, channels=8, eta=0.1, batch_size=50, n_steps=50000, clip_norm=5.0, n_seeds=16,
              top_fraction=0.6, n_resamples=9999, min_train_accuracy=0.99),
))
