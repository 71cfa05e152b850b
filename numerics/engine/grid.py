"""A parameter grid run in this process: ``function(params, task_seed(seed, i))`` for the i-th point.

The seeds are those a sweep of the same grid gets (:func:`numerics.run.sweeps.sweep`, which adds executors and a
resumable store), so a grid gives the same numbers whichever of the two runs it.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from numerics.engine.progress import bar as progress_bar
from numerics.engine.rng import task_seed


def map_grid(name: str, function: Callable[[dict, int], Any], grid: Iterable[dict], seed: int = 0) -> list:
    """Results of ``function(params, task_seed(seed, i))`` over ``grid``, in order (a progress bar named
    ``name`` where :mod:`numerics.engine.progress` is on)."""
    grid = [dict(params) for params in grid]
    with progress_bar(len(grid), name, unit="task") as bar:
        results = []
        for i, params in enumerate(grid):
            results.append(function(params, task_seed(seed, i)))
            bar.update()
    return results
