"""Scaling of the replica engine with the number of replicas R (small workload, N=5, P=12, B=3) and with
1 vs 2 workers: the numpy engine split over worker processes, the fast engine over numba threads."""

from __future__ import annotations

import functools
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

from numerics.engine import fast
from numerics.engine.data import Dataset
from numerics.models import LeastSquares
from numerics.engine.sgd import run_sgd

from .sgd_throughput import problem
from .timing import measure, table


@functools.lru_cache(maxsize=None)
def _problem():
    X, y, eta = problem(5, 12)
    return Dataset(X, y), eta


def _run(backend, R, steps, seed=0):
    data, eta = _problem()
    return run_sgd(LeastSquares(5), data, eta=eta, batch_size=3, n_steps=steps, n_replicas=R,
                   seed=seed, check_stability=False, backend=backend).final


def _processes(n_workers, R, steps) -> float:
    """Seconds for R replicas split over n_workers spawned processes (pool started and warmed first)."""
    with ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_run, ["numpy"] * n_workers, [1] * n_workers, [1] * n_workers))
        t0 = time.perf_counter()
        list(pool.map(_run, ["numpy"] * n_workers, [R // n_workers] * n_workers, [steps] * n_workers,
                      range(n_workers)))
        return time.perf_counter() - t0


def run(smoke: bool = False, repeats: int = 3) -> str:
    steps = 20 if smoke else 200
    sizes = (1, 10, 100) if smoke else (1, 10, 100, 1_000, 10_000, 100_000)
    backends = ["numpy"] + (["fast"] if fast.HAVE_NUMBA else [])
    rows = []
    for R in sizes:
        row = [R]
        for backend in backends:
            t = measure(lambda: _run(backend, R, steps), repeats, budget_s=5 if smoke else 30)
            row.append(f"{R * steps / t.best:.3g}")
        rows.append(row)
    out = [f"### replica-steps/s vs R ({steps} steps, N=5, P=12, B=3)\n",
           table(["R"] + [f"backend={b}" for b in backends], rows), ""]
    R = 2_000 if smoke else 40_000
    wrows = []
    for n in (1, 2):
        if smoke:  # spawning interpreters that import sympy costs seconds each
            wrows.append([f"numpy engine, {n} worker process(es)", "skipped in --smoke"])
            continue
        best = min(_processes(n, R, steps) for _ in range(repeats))
        wrows.append([f"numpy engine, {n} worker process(es)", f"{R * steps / best:.3g}"])
    if fast.HAVE_NUMBA:
        import numba

        previous = numba.get_num_threads()
        for n in (1, 2):
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
            t = measure(lambda: _run("fast", R, steps), repeats, budget_s=5 if smoke else 30)
            wrows.append([f"fast engine, {numba.get_num_threads()} numba thread(s)", f"{R * steps / t.best:.3g}"])
        numba.set_num_threads(previous)
    out += [f"### 1 vs 2 workers (R = {R}, {steps} steps)\n", table(["configuration", "replica-steps/s"], wrows), ""]
    return "\n".join(out)
