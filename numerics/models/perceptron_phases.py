"""Phase diagrams of the SGD perceptron: a replica-mean observable of :func:`numerics.models.perceptron.train` over a
grid of two training parameters, as a heat map.

Diagrams of seed 002: the (B, η) plane with the crossover batch size B* marked (a report figure of
``perceptron.crossover_batch_size``), where log ‖w − w₀‖ separates the three phases (noise-dominated ∝ η/B,
large first step ∝ η, gradient descent ∝ κ); and the (α, T) plane (notebook). For the centred perceptron only
α(w − w₀) enters the dynamics, so at B = 1 every observable is a function of αT (times a power of α): the
(α, T) diagram's level lines are αT = const, an exact symmetry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from numerics.models.perceptron import replica_mean_of, train
from numerics.engine.grid import map_grid


def phase_grid(base: dict, row: str, row_values: Sequence, col: str, col_values: Sequence,
               key: str = "test_error", seed: int = 0) -> np.ndarray:
    """Replica means of ``key`` (len(row_values), len(col_values)) from ``train(dict(base, row=r, col=c))``;
    grid point i trains with ``task_seed(seed, i)`` (:func:`numerics.engine.grid.map_grid`)."""
    grid = [dict(base, **{row: r, col: c}) for r in row_values for c in col_values]
    results = map_grid(f"perceptron.phase.{row}.{col}", train, grid, seed)
    means, _ = replica_mean_of(results, key)
    return means.reshape(len(row_values), len(col_values))


def plot_phase(values: np.ndarray, row_values: Sequence, col_values: Sequence, row_label: str, col_label: str,
               title: str, path: Path, vlines: Sequence[tuple[float, str]] = (),
               lines: Sequence[tuple[np.ndarray, np.ndarray, str]] = (), label: str = "test error") -> Path:
    """Heat map on log-log axes (cells centred on the grid values), optional vertical marks (x, label) and
    curves (x, y, label); written to ``path`` (PNG)."""
    from matplotlib.figure import Figure  # object API: no pyplot state, no display backend needed

    def edges(v):
        lv = np.log(np.asarray(v, dtype=float))
        mid = (lv[1:] + lv[:-1]) / 2
        return np.exp(np.concatenate([[2 * lv[0] - mid[0]], mid, [2 * lv[-1] - mid[-1]]]))

    fig = Figure(figsize=(5.2, 4.2))
    ax = fig.add_subplot()
    im = ax.pcolormesh(edges(col_values), edges(row_values), values, cmap="viridis", shading="flat")
    for x, name in vlines:
        ax.axvline(x, color="w", ls="--", lw=1.2, label=name)
    for x, y, name in lines:
        ax.plot(x, y, color="w", ls=":", lw=1.2, label=name)
    ax.set(xscale="log", yscale="log", xlabel=col_label, ylabel=row_label, title=title)
    ax.set_xlim(edges(col_values)[[0, -1]])
    ax.set_ylim(edges(row_values)[[0, -1]])
    if vlines or lines:
        ax.legend(loc="upper right", fontsize=7)
    fig.colorbar(im, ax=ax, label=label)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return Path(path)
