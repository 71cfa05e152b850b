"""Replica-steps per second of least-squares minibatch SGD with replacement (float64), engine vs peers.

Workloads of issue 9: small (N=5, P=12, B=3, R=4096, 2000 steps) and medium (N=64, P=256, B=16,
R=1024, 500 steps); every replica draws its own minibatch every step. Useful work: 4BN flops per
replica-step (residuals and gradient), reported against this machine's measured float64 matmul peak.
"""

from __future__ import annotations

import numpy as np

from numerics.engine import fast
from numerics.engine.data import Dataset
from numerics.models import LeastSquares
from numerics.engine.sgd import run_sgd

from .peers import PEERS
from .timing import measure, table

WORKLOADS = {"small": dict(N=5, P=12, B=3, R=4096, steps=2000),
             "medium": dict(N=64, P=256, B=16, R=1024, steps=500)}
SMOKE = {"small": dict(N=5, P=12, B=3, R=64, steps=50), "medium": dict(N=5, P=12, B=3, R=32, steps=20)}  # one kernel


def problem(N, P, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((P, N))
    y = X @ rng.standard_normal(N) + 0.5 * rng.standard_normal(P)
    eta = 0.5 / np.linalg.eigvalsh(X.T @ X / P)[-1]
    return X, y, eta


def matmul_peak(n: int = 1024, repeats: int = 3) -> float:
    """Measured float64 GFLOP/s of numpy's matmul (2n³ flops), all threads."""
    a = np.random.default_rng(0).standard_normal((n, n))
    return 2 * n**3 / measure(lambda: a @ a, repeats).best / 1e9


def engines(X, y, eta, B, R, steps):
    """(name, note, run) for the sgdnoise engines and every installed peer."""
    data, model = Dataset(X, y), LeastSquares(X.shape[1])
    kw = dict(eta=eta, batch_size=B, n_steps=steps, n_replicas=R, seed=0, check_stability=False)
    out = []
    if fast.HAVE_NUMBA:
        out.append(("sgdnoise run_sgd(backend='fast')", "", lambda: run_sgd(model, data, backend="fast", **kw).final))
    out.append(("sgdnoise run_sgd(backend='numpy')", "reference engine", lambda: run_sgd(model, data, **kw).final))
    for peer in PEERS:
        out.append((f"peer: {peer.NAME}", peer.MISSING or "", None if peer.MISSING else peer.make(X, y, eta, B, R, steps)))
    return out


def run(smoke: bool = False, repeats: int = 3) -> str:
    lines = []
    peak = matmul_peak(256 if smoke else 1024)
    lines.append(f"float64 matmul peak of this machine (numpy, all threads): {peak:.1f} GFLOP/s\n")
    for name, w in (SMOKE if smoke else WORKLOADS).items():
        X, y, eta = problem(w["N"], w["P"])
        work = w["R"] * w["steps"]
        rows, results = [], []
        for label, note, fn in engines(X, y, eta, w["B"], w["R"], w["steps"]):
            if fn is None:
                results.append((label, None, note))
                continue
            t = measure(fn, repeats, budget_s=5 if smoke else 60)
            results.append((label, t, note))
        peers = [t.best for label, t, _ in results if t is not None and label.startswith("peer")]
        fastest_peer = min(peers) if peers else None
        flops = 4 * w["B"] * w["N"]
        for label, t, note in results:
            if t is None:
                rows.append([label, "skipped", "", "", "", note])
                continue
            rate = work / t.best
            ratio = f"{fastest_peer / t.best:.2f}x" if fastest_peer else "n/a"
            rows.append([label, f"{rate:.3g}", f"{work / t.median:.3g}", ratio, f"{rate * flops / 1e9:.2f}",
                         f"{note}; first call {t.first:.2f} s".strip("; ")])
        lines.append(f"### {name}: N={w['N']}, P={w['P']}, B={w['B']}, R={w['R']}, {w['steps']} steps "
                     f"({flops} useful flops per replica-step)\n")
        lines.append(table(["engine", "replica-steps/s (best)", "(median)", "vs fastest peer", "GFLOP/s", "note"], rows))
        lines.append("")
    return "\n".join(lines)
