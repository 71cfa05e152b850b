"""Exact discrete stationary covariance of least-squares SGD (numerics.models.linreg.discrete_stationary_covariance,
matrix-free preconditioned CG, O(P N²) per iteration): time vs N at P = 4N, B = 16 and
η = 1/(λ_max + tr H / B), half the rough second-moment bound 2/(λ_max + tr H / B). The solver is timed
with ``check_stability=False`` (the stability check is a separate eigenvalue problem)."""

from __future__ import annotations

import numpy as np

from numerics.models.linreg import discrete_stationary_covariance

from .sgd_throughput import problem
from .timing import measure, table


def run(smoke: bool = False, repeats: int = 3) -> str:
    sizes = (8, 16) if smoke else (32, 64, 128, 256)
    rows, previous = [], None
    for N in sizes:
        X, y, _ = problem(N, 4 * N)
        lam = np.linalg.eigvalsh(X.T @ X / len(X))
        eta = 1.0 / (lam[-1] + lam.sum() / 16)
        solve = lambda: discrete_stationary_covariance(X, y, eta, 16, method="iterative",  # noqa: E731
                                                       check_stability=False)
        t = measure(solve, 1 if N >= 256 else repeats, budget_s=30, warmup=False)
        growth = f"{t.best / previous:.1f}x" if previous else ""
        rows.append([N, 4 * N, f"{t.best:.3g}", f"{t.median:.3g}", growth])
        previous = t.best
    head = ("### exact discrete stationary covariance (iterative), P = 4N, B = 16 "
            "(target: N = 256 in < 10 s)\n")
    return head + "\n" + table(["N", "P", "seconds (best)", "(median)", "vs previous N"], rows) + "\n"
