"""Euler–Maruyama ensembles of the 1-D multiplicative-noise Itô SDE dX = −θX dt + σX dW (θ = 1, σ = 0.5,
X₀ = 1, t ∈ [0, 1]): numerics.engine.sde.integrate vs sdeint (one path per call, its API) and diffrax (jit+vmap).
Issue 9: 10⁴ paths, 10³ steps. Compilation (lambdify, jit) excluded; each row states its first call."""

from __future__ import annotations

import numpy as np
import sympy as sp

from derivations.calculus.sde import ItoSDE
from numerics.engine.sde import compile_sde, integrate

from .timing import measure, table

THETA, SIGMA = 1.0, 0.5
SDEINT_PATHS = 20  # sdeint integrates one path per call; timed on this many and scaled up


def _ours(paths, steps):
    x = sp.Symbol("x", real=True)
    compiled = compile_sde(ItoSDE([x], [-THETA * x], [[SIGMA * x]]), derivatives=False)
    return lambda: integrate(compiled, x0=1.0, t1=1.0, n_steps=steps, n_paths=paths, seed=0).final


def _sdeint(paths, steps):
    try:
        import sdeint
    except ImportError:
        return None, "sdeint not installed (extra 'bench')"
    tspan = np.linspace(0.0, 1.0, steps + 1)
    f = lambda x, t: -THETA * x  # noqa: E731
    G = lambda x, t: np.array([[SIGMA * x[0]]])  # noqa: E731
    n = min(paths, SDEINT_PATHS)

    def run():
        rng = np.random.default_rng(0)
        return [sdeint.itoEuler(f, G, np.array([1.0]), tspan, generator=rng)[-1] for _ in range(n)]

    return run, f"timed on {n} paths, scaled x{paths / n:g}" if n < paths else ""


def _diffrax(paths, steps):
    try:
        import diffrax
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None, "diffrax/jax not installed (extra 'bench')"
    jax.config.update("jax_enable_x64", True)
    dt = 1.0 / steps

    def solve(key):
        bm = diffrax.UnsafeBrownianPath(shape=(), key=key)
        terms = diffrax.MultiTerm(diffrax.ODETerm(lambda t, x, a: -THETA * x),
                                  diffrax.ControlTerm(lambda t, x, a: SIGMA * x, bm))
        return diffrax.diffeqsolve(terms, diffrax.Euler(), 0.0, 1.0, dt, jnp.float64(1.0),
                                   saveat=diffrax.SaveAt(t1=True), max_steps=steps + 1,
                                   adjoint=diffrax.ForwardMode()).ys

    keys = jax.random.split(jax.random.PRNGKey(0), paths)
    fn = jax.jit(jax.vmap(solve))
    return lambda: fn(keys).block_until_ready(), ""


def run(smoke: bool = False, repeats: int = 3) -> str:
    paths, steps = (200, 50) if smoke else (10_000, 1_000)
    rows, results = [], []
    results.append(("sgdnoise numerics.engine.sde.integrate (numpy)", _ours(paths, steps), "", 1.0))
    for label, maker in [("sdeint.itoEuler", _sdeint), ("diffrax Euler (jit + vmap)", _diffrax)]:
        fn, note = maker(paths, steps)
        scale = paths / min(paths, SDEINT_PATHS) if label.startswith("sdeint") else 1.0
        results.append((label, fn, note, scale))
    times = {}
    for label, fn, note, scale in results:
        if fn is None:
            rows.append([label, "skipped", "", "", note])
            continue
        t = measure(fn, repeats if scale == 1.0 else 1, budget_s=5 if smoke else 60)
        times[label] = (t.best * scale, t.median * scale)
        rows.append([label, f"{t.best * scale:.3g}", f"{t.median * scale:.3g}", None,
                     f"{note}; first call {t.first * scale:.2f} s".strip("; ")])
    ours = times[results[0][0]][0]
    for row in rows:
        if row[3] is None:
            row[3] = f"{times[row[0]][0] / ours:.2f}x"
    head = f"### SDE ensemble: {paths} paths x {steps} Euler–Maruyama steps, dX = -X dt + 0.5 X dW\n"
    return head + "\n" + table(["integrator", "seconds (best)", "(median)", "its time / ours", "note"], rows) + "\n"
