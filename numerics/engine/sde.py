"""Batched ensemble integrators for Itô SDEs (Euler–Maruyama, Milstein, tamed and adaptive Euler–Maruyama).

Convention (the package's, see ``derivations.calculus.sde``): an Itô SDE

    dX = a(X, t) dt + G(X, t) dW,    X ∈ ℝⁿ,  G ∈ ℝ^{n×m},  E[dW dWᵀ] = Q dt,

is integrated on a uniform grid t_k = t0 + k Δt, Δt = (t1 − t0)/N, for many independent paths
at once: the state of the ensemble is an array of shape ``(n_paths, n)`` and every step is a
handful of vectorised numpy operations (one Python loop over time steps, none over paths).
Itô everywhere: a Stratonovich SDE has to be converted explicitly (``sde.to_ito()``) first.

The Wiener covariance is absorbed into the noise coefficient, G̃ = G L with L Lᵀ = Q (L the
Cholesky factor), so that the schemes only ever see independent standard increments
ΔW_k ~ N(0, Δt I_m). Brownian increments passed by the caller are such standard increments.

Like diffrax, a scheme is a small class whose class attributes declare what it is:
``calculus``, ``strong_order``, ``weak_order`` and ``noise_types`` (the noise structures it
supports: ``"scalar"`` — a single Wiener process, m = 1; ``"diagonal"`` — G̃ square and diagonal,
each Wiener component drives one coordinate; ``"general"`` — anything else), ``needs_derivatives``
(Milstein: the noise's derivatives are compiled) and ``refines`` (adaptive steps); :func:`integrate` asks the
scheme, never its type.

Pipeline::

    compiled = compile_sde(sde, {"mu": 1.0, "sigma": 0.5})        # substitute + lambdify once
    sol = integrate(compiled, x0=1.0, t1=1.0, n_steps=100, n_paths=10_000, seed=0)
    sol.values.shape == (2, 10_000, 1)                               # saved at t0 and t1
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, ClassVar, Mapping

import numpy as np
import sympy as sp

from derivations.errors import ParameterError, UnknownNameError
from derivations.calculus.sde import SDE

from numerics.engine import limits
from numerics.errors import DivergenceError, require_int_in_range, require_positive
from numerics.engine.progress import bar as progress_bar
from numerics.engine.rng import as_generator

__all__ = [
    "DivergenceError",
    "CompiledSDE",
    "compile_sde",
    "EulerMaruyama",
    "Milstein",
    "TamedEulerMaruyama",
    "AdaptiveEulerMaruyama",
    "SCHEMES",
    "SDESolution",
    "integrate",
    "brownian_increments",
    "coarsen_increments",
]


# --------------------------------------------------------------------------- compilation

_Array = np.ndarray


@dataclass(frozen=True, eq=False)
class CompiledSDE:
    """A numeric Itô SDE ``dX = a dt + G̃ dW`` (G̃ = G·chol(Q), standard increments), ready to step.

    All callables take ``(t, x)`` with ``t`` a float and ``x`` of shape ``(n_paths, n)``:

    - ``drift(t, x)`` → ``(n_paths, n)``: a(x, t);
    - ``noise(t, x)`` → ``(n_paths, n, m)``: G̃(x, t) = G(x, t) L with L Lᵀ = Q;
    - ``noise_compact(t, x)`` → ``(n_paths, n)`` or ``None``: for ``"scalar"`` noise the single
      column of G̃, for ``"diagonal"`` noise its diagonal (``None`` for general noise);
    - ``milstein_correction(t, x)`` → ``(n_paths, n)`` or ``None``: for scalar noise
      c_i = Σ_k g̃_k ∂_k g̃_i, for diagonal noise c_i = g̃_i ∂_i g̃_i (``None`` where Milstein does
      not apply; ``milstein_reason`` then says why).

    Constant components are broadcast to ``n_paths``.
    """

    state: tuple[sp.Symbol, ...]
    time: sp.Symbol
    drift_expr: sp.Matrix
    noise_expr: sp.Matrix
    noise_type: str
    drift: Callable[[float, _Array], _Array]
    noise: Callable[[float, _Array], _Array]
    noise_compact: Callable[[float, _Array], _Array] | None
    milstein_correction: Callable[[float, _Array], _Array] | None
    milstein_reason: str = ""
    parameters: Mapping[str, float] = field(default_factory=dict)

    @property
    def dimension(self) -> int:
        return len(self.state)

    @property
    def noise_dimension(self) -> int:
        return self.noise_expr.shape[1]


def _symbols_by_name(symbols) -> dict[str, list[sp.Symbol]]:
    out: dict[str, list[sp.Symbol]] = {}
    for s in symbols:
        out.setdefault(s.name, []).append(s)
    return out


def _lambdify_components(args, exprs: list[sp.Expr], shape: tuple[int, ...]):
    """A function ``(t, x) -> array (n_paths, *shape)`` filling the non-zero entries of ``exprs``.

    ``exprs`` is the row-major flattening of an array of expressions of ``shape``; zero entries
    are not evaluated; constants broadcast to the number of paths.
    """
    flat = [(i, e) for i, e in enumerate(exprs) if e != 0]
    fn = (sp.lambdify(args, [e for _, e in flat], modules="numpy", cse=True, dummify=True)
          if flat else None)
    size = int(np.prod(shape))

    def evaluate(t: float, x: _Array) -> _Array:
        out = np.zeros((x.shape[0], size))
        if fn is not None:
            for (i, _), v in zip(flat, fn(t, *x.T)):
                out[:, i] = v
        return out.reshape(x.shape[0], *shape)

    return evaluate


def _wiener_factor(q: sp.Matrix) -> sp.Matrix | None:
    """L with L Lᵀ = Q (Cholesky; symmetric square root if Q is only semi-definite); None if Q = I."""
    m = q.shape[0]
    if q == sp.eye(m):
        return None
    if q.is_diagonal():
        if any(float(q[i, i]) < 0 for i in range(m)):
            raise ParameterError(f"wiener_covariance must be positive semi-definite, got diagonal {list(q.diagonal())}")
        return sp.diag(*[sp.sqrt(q[i, i]) for i in range(m)])
    qn = np.array(q.evalf(), dtype=float)
    if not np.allclose(qn, qn.T, rtol=1e-12, atol=1e-14):
        raise ParameterError(f"wiener_covariance must be symmetric, got {qn.tolist()}")
    try:
        lower = np.linalg.cholesky(qn)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(qn)
        if w.min() < -1e-12 * max(1.0, abs(w).max()):
            raise ParameterError(
                f"wiener_covariance must be positive semi-definite, its eigenvalues are {w.tolist()}") from None
        lower = v * np.sqrt(np.clip(w, 0.0, None))
    return sp.Matrix(m, m, lambda i, j: sp.S.Zero if lower[i, j] == 0 else sp.Float(lower[i, j]))


def compile_sde(sde: SDE, parameters: Mapping[sp.Symbol | str, Any] | None = None, *,
                derivatives: bool = True) -> CompiledSDE:
    """Substitute numeric parameters into an Itô SDE and lambdify it for batched evaluation.

    The SDE is ``dX = a(X, t) dt + G(X, t) dW`` in the Itô sense with ``E dW dWᵀ = Q dt``.
    ``parameters`` maps sympy Symbols or their names to numbers; a name matches every free
    symbol of that name whatever its assumptions (``Symbol("mu")`` fixes ``Symbol("mu",
    positive=True)``); keys that do not occur in the SDE are ignored. Every free symbol other
    than the state and the time must receive a value, otherwise :class:`ParameterError` names
    the missing ones. Q must be constant; it is absorbed as G̃ = G·L, L Lᵀ = Q (Cholesky).

    Drift, noise and — with ``derivatives=True``, where Milstein applies — the Milstein
    correction (scalar noise: Σ_k g̃_k ∂_k g̃_i; diagonal noise: g̃_i ∂_i g̃_i) are lambdified with
    ``sympy.lambdify(..., modules="numpy", cse=True)``. See :class:`CompiledSDE` for the shapes.
    """
    if not isinstance(sde, SDE):
        raise ParameterError(f"sde must be a derivations.calculus.sde.ItoSDE, got {type(sde).__name__}")
    if sde.calculus != "ito":
        raise ParameterError(
            f"sde must be an Itô SDE (the integrators are Itô schemes), got a {sde.calculus} SDE; "
            "convert it explicitly with .to_ito()")
    state = tuple(sde.state)
    time = sde.time
    parameters = dict(parameters or {})

    exprs = list(sde.drift) + list(sde.noise) + list(sde.wiener_covariance)
    free = set().union(*(sp.sympify(e).free_symbols for e in exprs)) if exprs else set()
    protected = {s.name for s in state} | {time.name}
    by_name = _symbols_by_name(free - set(state) - {time})
    subs: dict[sp.Symbol, sp.Expr] = {}
    names: dict[str, float] = {}
    for key, value in parameters.items():
        name = key.name if isinstance(key, sp.Symbol) else str(key)
        if name in protected:
            raise ParameterError(
                f"parameter {name!r} is the SDE's state or time variable and cannot be given a value")
        if name not in by_name:
            continue
        try:
            val = sp.sympify(value)
        except (sp.SympifyError, TypeError) as exc:
            raise ParameterError(f"parameter {name!r} must be a real number, got {value!r}") from exc
        if val.free_symbols or not val.is_real or not val.is_finite:
            raise ParameterError(f"parameter {name!r} must be a finite real number, got {value!r}")
        for s in by_name[name]:
            subs[s] = val
        names[name] = float(val)
    missing = sorted(n for n in by_name if n not in names)
    if missing:
        raise ParameterError(
            f"no value for the SDE parameter(s) {', '.join(missing)}; pass them in parameters "
            f"(a dict of Symbol or name -> number)")

    drift = sde.drift.xreplace(subs) if subs else sde.drift
    noise = sde.noise.xreplace(subs) if subs else sde.noise
    q = sde.wiener_covariance.xreplace(subs) if subs else sde.wiener_covariance
    if q.free_symbols:
        raise ParameterError(
            f"wiener_covariance must be constant (fold state or time dependence into the diffusion), "
            f"it depends on {sorted(s.name for s in q.free_symbols)}")
    factor = _wiener_factor(q)
    if factor is not None:
        noise = noise * factor
    n, m = noise.shape

    if m == 1:
        noise_type = "scalar"
    elif n == m and all(noise[i, j] == 0 for i in range(n) for j in range(m) if i != j):
        noise_type = "diagonal"
    else:
        noise_type = "general"

    args = [time, *state]
    drift_fn = _lambdify_components(args, list(drift), (n,))
    noise_fn = _lambdify_components(args, list(noise), (n, m))
    compact_fn = None
    if noise_type == "scalar":
        compact_fn = _lambdify_components(args, list(noise[:, 0]), (n,))
    elif noise_type == "diagonal":
        compact_fn = _lambdify_components(args, [noise[i, i] for i in range(n)], (n,))

    correction_fn = None
    reason = ""
    if noise_type == "general":
        reason = (f"Milstein needs Lévy areas (iterated Itô integrals ∫∫dW_j dW_l, j≠l) for general "
                  f"noise; this SDE's noise is {n}x{m} and neither scalar (m = 1) nor diagonal; use EulerMaruyama")
    elif noise_type == "diagonal":
        # Diagonal noise is commutative (no Lévy areas) only if g_i depends on x_i alone.
        coupled = [(i, state[k]) for i in range(n) for k in range(n)
                   if k != i and sp.diff(noise[i, i], state[k]) != 0]
        if coupled:
            i, s = coupled[0]
            reason = (f"diagonal noise is non-commutative (g_{i} depends on {s}), Milstein would need "
                      "Lévy areas; use EulerMaruyama")
    if derivatives and not reason:
        if noise_type == "scalar":
            g = noise[:, 0]
            corr = [sum(g[k] * sp.diff(g[i], state[k]) for k in range(n)) for i in range(n)]
        else:
            corr = [noise[i, i] * sp.diff(noise[i, i], state[i]) for i in range(n)]
        correction_fn = _lambdify_components(args, corr, (n,))
    elif not derivatives and not reason:
        reason = "compiled with derivatives=False; recompile with derivatives=True for Milstein"

    return CompiledSDE(state=state, time=time, drift_expr=drift, noise_expr=noise, noise_type=noise_type,
                       drift=drift_fn, noise=noise_fn, noise_compact=compact_fn,
                       milstein_correction=correction_fn, milstein_reason=reason, parameters=names)


# --------------------------------------------------------------------------- schemes

def _noise_coefficient(sde: CompiledSDE, t: float, x: _Array) -> _Array:
    """G̃(x, t) per path: (n_paths, n) for scalar and diagonal noise (the compact form), else (n_paths, n, m)."""
    return sde.noise(t, x) if sde.noise_type == "general" else sde.noise_compact(t, x)


def _apply_noise(sde: CompiledSDE, g: _Array, dw: _Array) -> tuple[_Array, _Array | None]:
    """G̃ ΔW (n_paths, n) from :func:`_noise_coefficient`'s ``g``, and the per-coordinate ΔW Milstein uses (or None)."""
    if sde.noise_type == "scalar":
        return g * dw[:, :1], dw[:, :1]
    if sde.noise_type == "diagonal":
        return g * dw, dw
    return np.einsum("pij,pj->pi", g, dw), None


def _diffusion_increment(sde: CompiledSDE, t: float, x: _Array, dw: _Array) -> tuple[_Array, _Array | None]:
    """G̃(x, t) ΔW (n_paths, n), and the per-coordinate increment ΔW used by Milstein (or None)."""
    return _apply_noise(sde, _noise_coefficient(sde, t, x), dw)


class EulerMaruyama:
    """Euler–Maruyama: X_{k+1} = X_k + a(X_k, t_k) Δt + G̃(X_k, t_k) ΔW_k.

    Itô; strong order 0.5 (1.0 for additive noise), weak order 1.0; any noise structure.
    """

    name: ClassVar[str] = "euler_maruyama"
    calculus: ClassVar[str] = "ito"
    strong_order: ClassVar[float] = 0.5
    weak_order: ClassVar[float] = 1.0
    noise_types: ClassVar[frozenset[str]] = frozenset({"scalar", "diagonal", "general"})
    refines: ClassVar[bool] = False  # True: step() takes a ``bridge`` generator to split steps (Brownian bridge)
    needs_derivatives: ClassVar[bool] = False  # True: the noise's derivatives are compiled too (compile_sde)

    def check(self, sde: CompiledSDE) -> None:
        """Raise :class:`ParameterError` if this scheme cannot integrate ``sde``."""
        if sde.noise_type not in self.noise_types:
            raise ParameterError(f"{type(self).__name__} does not support {sde.noise_type} noise")

    def step(self, sde: CompiledSDE, t: float, x: _Array, dt: float, dw: _Array) -> _Array:
        """One step X_k → X_{k+1} = X_k + a Δt + G̃ ΔW_k for the whole ensemble ``x`` (n_paths, n)."""
        diff, _ = _diffusion_increment(sde, t, x, dw)
        return x + sde.drift(t, x) * dt + diff

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Milstein(EulerMaruyama):
    """Milstein: X_{k+1} = X_k + a Δt + G̃ ΔW_k + ½ c ⊙ (ΔW_k² − Δt).

    Itô; strong order 1.0, weak order 1.0. Scalar noise (m = 1): c_i = Σ_k g_k ∂_k g_i with the
    single increment ΔW; diagonal noise: c_i = g_i ∂_i g_i with the i-th increment ΔW_i (requires
    g_i to depend on x_i only, i.e. commutative noise). General noise is refused: it needs Lévy
    areas, which this package does not simulate — use :class:`EulerMaruyama`.
    """

    name: ClassVar[str] = "milstein"
    needs_derivatives: ClassVar[bool] = True
    strong_order: ClassVar[float] = 1.0
    weak_order: ClassVar[float] = 1.0
    noise_types: ClassVar[frozenset[str]] = frozenset({"scalar", "diagonal"})

    def check(self, sde: CompiledSDE) -> None:
        """Raise :class:`ParameterError` for general or non-commutative noise (Lévy areas needed)."""
        if sde.noise_type not in self.noise_types or sde.milstein_correction is None:
            raise ParameterError(
                f"Milstein supports noise types {sorted(self.noise_types)} (commutative); "
                f"{sde.milstein_reason or f'this SDE has {sde.noise_type} noise'}")

    def step(self, sde: CompiledSDE, t: float, x: _Array, dt: float, dw: _Array) -> _Array:
        """One step X_k → X_k + a Δt + G̃ ΔW_k + ½ c (ΔW_k² − Δt) for the ensemble ``x`` (n_paths, n)."""
        diff, dw_eff = _diffusion_increment(sde, t, x, dw)
        corr = sde.milstein_correction(t, x)
        return x + sde.drift(t, x) * dt + diff + 0.5 * corr * (dw_eff * dw_eff - dt)


class TamedEulerMaruyama(EulerMaruyama):
    """Tamed Euler–Maruyama (Hutzenthaler, Jentzen & Kloeden 2012, Ann. Appl. Probab. 22, 1611):
    X_{k+1} = X_k + a Δt / (1 + Δt ‖a‖) + G̃ ΔW_k, with ‖a‖ the Euclidean norm of the drift of each path.

    Itô; strong order 0.5, weak order 1.0 (the taming changes a step by O(Δt²)). For superlinearly growing
    drifts with at most linearly growing noise plain Euler–Maruyama has diverging moments and blows up on rare
    paths whatever Δt; the tamed drift increment is bounded by 1 per step. The noise is not tamed: where it
    grows superlinearly too (the deep-linear mode SDE) use :class:`AdaptiveEulerMaruyama`.
    """

    name: ClassVar[str] = "tamed_euler_maruyama"

    def step(self, sde: CompiledSDE, t: float, x: _Array, dt: float, dw: _Array) -> _Array:
        """One step X_k → X_k + a Δt/(1 + Δt‖a‖) + G̃ ΔW_k for the ensemble ``x`` (n_paths, n)."""
        diff, _ = _diffusion_increment(sde, t, x, dw)
        a = sde.drift(t, x)
        return x + a * dt / (1.0 + dt * np.linalg.norm(a, axis=1, keepdims=True)) + diff


class AdaptiveEulerMaruyama(EulerMaruyama):
    """Euler–Maruyama with per-path dyadic refinement of steps that would be too large.

    A step of size h from X is taken as X + a h + G̃ ΔW if both the drift increment and the noise scale are small
    relative to the state, ‖a(X)‖ h ≤ ρ(1 + ‖X‖) and ‖G̃(X)‖_F √h ≤ ρ(1 + ‖X‖); otherwise it is split in two halves,
    recursively (at most ``max_halvings`` times, and at most ``max_substeps`` substeps per path and step), the
    increment of the first half drawn from the Brownian bridge, ΔW₁ | ΔW ~ N(ΔW/2, (h/4) I) (Lévy's construction, as in Gaines & Lyons 1997, SIAM J. Appl. Math. 57, 1455), so
    every path is still driven by one Brownian path. The refinement rule is in the spirit of the adaptive
    Euler–Maruyama of Lamba, Mattingly & Stuart (2007, IMA J. Numer. Anal. 27, 479), here bounding the noise as
    well as the drift: with a superlinearly growing *diffusion* (the deep-linear mode SDE, G̃ ∝ a^{2L−1}) plain
    and drift-tamed Euler–Maruyama blow up on rare excursions whatever Δt, because one Gaussian kick at large |a|
    lands where the next is larger still.

    Paths that never need refining are stepped exactly as by :class:`EulerMaruyama` (bit for bit, with the same
    increments); the bridge draws come from a stream of their own (see :func:`integrate`). Itô; strong order
    0.5, weak order 1 (as Δt → 0 at fixed ρ no step on a bounded set is refined). A split is decided from the
    state at the left end of a (sub)step, never from its own increment, so the split points are stopping times
    and refining introduces no bias; in turn a single large Gaussian kick is not undone afterwards. Bridge points
    are drawn afresh at the step size in use, so a run on coarsened increments (:func:`coarsen_increments`)
    follows the fine run's Brownian path only where neither refines.
    """

    name: ClassVar[str] = "adaptive_euler_maruyama"
    refines: ClassVar[bool] = True

    def __init__(self, rho: float = 0.25, max_halvings: int = 60, max_substeps: int = 1_000_000):
        self.rho = require_positive("rho", rho)
        self.max_halvings = require_int_in_range("max_halvings", max_halvings, 0)
        self.max_substeps = require_int_in_range("max_substeps", max_substeps, 1)

    def step(self, sde: CompiledSDE, t: float, x: _Array, dt: float, dw: _Array, *,
             bridge: np.random.Generator | None = None) -> _Array:
        """One step of size ``dt`` for the ensemble ``x`` (n_paths, n), refined per path where needed.

        ``bridge``: the generator of the Brownian-bridge draws (fresh entropy if None). Raises
        :class:`DivergenceError` when a path would need more than ``max_halvings`` halvings, or more than
        ``max_substeps`` substeps, within this step (an exploding or hopelessly stiff SDE)."""
        spent = np.zeros(len(x), dtype=np.int64)  # substeps per path within this step
        return self._advance(sde, t, x, dt, dw, as_generator(bridge), 0, np.arange(len(x)), spent)

    def _advance(self, sde, t, x, dt, dw, bridge, level, ids, spent):
        """Advance the paths ``ids`` (rows of ``x``) by ``dt``, splitting where needed; ``spent`` counts substeps."""
        a, g = sde.drift(t, x), _noise_coefficient(sde, t, x)
        size = self.rho * (1.0 + np.linalg.norm(x, axis=1))
        noise = np.sqrt((g * g).reshape(len(x), -1).sum(axis=1) * dt)
        # a non-finite state is stepped (and reported by integrate), not refined
        coarse = (np.linalg.norm(a, axis=1) * dt > size) | (noise > size)
        out = x + a * dt + _apply_noise(sde, g, dw)[0]  # Euler–Maruyama; the coarse rows are replaced below
        if not coarse.any():
            return out
        split = ids[coarse]
        spent[split] += 2  # ids are distinct within a call
        if level == self.max_halvings or spent[split].max() > self.max_substeps:
            why = (f"a path still needs a smaller step after max_halvings = {level} halvings" if level == self.max_halvings
                   else f"a path needs more than max_substeps = {self.max_substeps} substeps")
            raise DivergenceError(f"{why} (state {x[coarse][0].tolist()}): the solution explodes, or it is too "
                                  f"stiff for rho = {self.rho:g} at this dt")
        w = dw[coarse]
        w1 = 0.5 * w + 0.5 * np.sqrt(dt) * bridge.standard_normal(w.shape)
        mid = self._advance(sde, t, x[coarse], 0.5 * dt, w1, bridge, level + 1, split, spent)
        out[coarse] = self._advance(sde, t + 0.5 * dt, mid, 0.5 * dt, w - w1, bridge, level + 1, split, spent)
        return out

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(rho={self.rho!r}, max_halvings={self.max_halvings!r}, "
                f"max_substeps={self.max_substeps!r})")


SCHEMES: dict[str, type[EulerMaruyama]] = {"euler_maruyama": EulerMaruyama, "milstein": Milstein,
                                           "tamed_euler_maruyama": TamedEulerMaruyama,
                                           "adaptive_euler_maruyama": AdaptiveEulerMaruyama}


def _resolve_scheme(scheme) -> EulerMaruyama:
    if isinstance(scheme, EulerMaruyama):
        return scheme
    if isinstance(scheme, type) and issubclass(scheme, EulerMaruyama):
        return scheme()
    if isinstance(scheme, str):
        key = scheme.lower().replace("-", "_").replace(" ", "_")
        if key in SCHEMES:
            return SCHEMES[key]()
        raise UnknownNameError("scheme", scheme, list(SCHEMES))
    raise ParameterError(f"scheme must be one of {sorted(SCHEMES)} or a scheme instance, got {scheme!r}")


# --------------------------------------------------------------------------- Brownian increments

def brownian_increments(n_steps: int, n_paths: int, m: int, dt: float, seed=None) -> _Array:
    """Independent standard Wiener increments ΔW_k ~ N(0, Δt I_m), shape (n_steps, n_paths, m).

    Drawn as ``sqrt(dt) * default_rng(seed).standard_normal((n_steps, n_paths, m))``: the same
    stream :func:`integrate` draws step by step, so ``integrate(..., seed=s)`` and
    ``integrate(..., brownian_increments=brownian_increments(..., seed=s))`` agree bit for bit.
    ``seed``: non-negative int, ``numpy.random.SeedSequence``, Generator or None (fresh entropy).
    """
    n_steps = require_int_in_range("n_steps", n_steps, 1)
    n_paths = require_int_in_range("n_paths", n_paths, 1)
    m = require_int_in_range("m", m, 1)
    if not (np.isfinite(dt) and dt > 0):
        raise ParameterError(f"dt must be a finite number > 0, got {dt!r}")
    rng = as_generator(seed)
    return np.sqrt(dt) * rng.standard_normal((n_steps, n_paths, m))


def coarsen_increments(increments: _Array, factor: int = 2) -> _Array:
    """Sum ``factor`` consecutive increments: the same Brownian paths on a grid ``factor`` times coarser.

    ``increments`` has shape (n_steps, n_paths, m) with n_steps divisible by ``factor``; the result
    has shape (n_steps // factor, n_paths, m) and the same endpoint W(t1) − W(t0).
    """
    factor = require_int_in_range("factor", factor, 1)
    dw = np.asarray(increments, dtype=float)
    if dw.ndim != 3:
        raise ParameterError(f"increments must have shape (n_steps, n_paths, m), got {dw.shape}")
    if dw.shape[0] % factor:
        raise ParameterError(f"n_steps = {dw.shape[0]} must be divisible by factor = {factor}")
    return dw.reshape(dw.shape[0] // factor, factor, *dw.shape[1:]).sum(axis=1)


# --------------------------------------------------------------------------- integration

@dataclass(frozen=True, eq=False)
class SDESolution:
    """Saved states of an ensemble: ``times`` (n_saved,), ``values`` (n_saved, n_paths, n)."""

    times: _Array
    values: _Array

    @property
    def final(self) -> _Array:
        """The states at t1, shape (n_paths, n)."""
        return self.values[-1]


def _divergence_prefix(scheme: str, step: int, n_steps: int, t: float, dt: float) -> str:
    return f"{scheme} diverged at step {step} of {n_steps} (t = {t:.6g}, dt = {dt:.3g})"


def integrate(sde: SDE | CompiledSDE, x0, t1: float, n_steps: int, n_paths: int, *,
              parameters: Mapping[sp.Symbol | str, Any] | None = None,
              scheme: str | EulerMaruyama = "euler_maruyama", seed=None,
              save_every: int | None = None, brownian_increments: _Array | None = None,
              t0: float = 0.0, progress: bool | None = None) -> SDESolution:
    """Integrate an ensemble of ``n_paths`` independent paths of an Itô SDE on a uniform grid.

    ``dX = a(X, t) dt + G(X, t) dW`` (Itô) from ``t0`` to ``t1`` in ``n_steps`` steps of
    Δt = (t1 − t0)/n_steps with

    - ``scheme="euler_maruyama"`` (default): X_{k+1} = X_k + a(X_k)Δt + G̃(X_k)ΔW_k — strong
      order 0.5, weak order 1; any noise;
    - ``scheme="milstein"``: adds ½ c (ΔW_k² − Δt) (see :class:`Milstein`) — strong order 1,
      weak order 1; scalar or commutative diagonal noise only.
    - ``scheme="tamed_euler_maruyama"`` (:class:`TamedEulerMaruyama`): drift increments bounded;
    - ``scheme="adaptive_euler_maruyama"`` (:class:`AdaptiveEulerMaruyama`): Euler–Maruyama whose steps are
      halved per path (Brownian bridge) where drift or noise would move a path too far — for superlinear noise.

    ``sde`` is an :class:`~derivations.calculus.sde.ItoSDE` (compiled here with ``parameters``) or a
    :class:`CompiledSDE` from :func:`compile_sde` (reuse it across calls to lambdify once).
    ``x0``: a number, shape (n,), or shape (n_paths, n). ``seed``: non-negative int or
    ``SeedSequence`` (stream ``numpy.random.default_rng(seed)``; see ``numerics.engine.rng``); or give
    ``brownian_increments`` of shape (n_steps, n_paths, m), independent standard increments with
    variance Δt (see :func:`brownian_increments`,
    :func:`coarsen_increments`), to reuse the same Brownian paths at several step sizes.
    A refining scheme draws its Brownian-bridge points from a child stream of ``seed`` (``rng.spawn``), or
    — with ``brownian_increments`` — from ``default_rng(seed)`` (give ``seed`` too for a reproducible run:
    with ``seed=None`` the bridge points, where any are needed, come from fresh entropy).
    ``save_every=k`` saves every k-th step (and always t0 and t1); by default only t0 and t1.

    Runs beyond the caps of :mod:`numerics.engine.limits` (steps, memory) are refused before they start;
    ``progress`` (None: the process-wide setting of :mod:`numerics.engine.progress`) shows a bar with an ETA.

    Returns :class:`SDESolution` with ``values`` of shape (n_saved, n_paths, n).
    Raises :class:`numerics.errors.DivergenceError` (message naming the step and time; ``.step``
    the step, ``.partial`` the :class:`SDESolution` saved before it) when a state becomes non-finite.
    """
    scheme_obj = _resolve_scheme(scheme)
    if isinstance(sde, CompiledSDE):
        if parameters:
            raise ParameterError("parameters must be None for an already compiled SDE (compile_sde took them)")
        compiled = sde
    else:
        compiled = compile_sde(sde, parameters, derivatives=scheme_obj.needs_derivatives)
    scheme_obj.check(compiled)
    n, m = compiled.dimension, compiled.noise_dimension

    n_steps = require_int_in_range("n_steps", n_steps, 1)
    n_paths = require_int_in_range("n_paths", n_paths, 1)
    try:
        t0f, t1f = float(t0), float(t1)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"t0 and t1 must be real numbers, got t0={t0!r}, t1={t1!r}") from exc
    if not np.isfinite(t0f):
        raise ParameterError(f"t0 must be finite, got {t0!r}")
    if not (np.isfinite(t1f) and t1f > t0f):
        raise ParameterError(f"t1 must be a finite number > t0 = {t0f:g}, got {t1!r}")
    if save_every is None:
        save_every = n_steps
    save_every = require_int_in_range("save_every", save_every, 1)
    limits.require_steps(n_steps, f"the SDE ensemble ({scheme_obj.name})")
    limits.require_memory(limits.float_array_bytes(4, n_paths, n + n * m), f"the SDE ensemble of {n_paths} paths")

    x = np.asarray(x0, dtype=float)
    if x.ndim == 0:
        x = np.full((n_paths, n), float(x))
    elif x.shape == (n,):
        x = np.broadcast_to(x, (n_paths, n)).copy()
    elif x.shape == (n_paths, n):
        x = x.copy()
    else:
        raise ParameterError(
            f"x0 must be a number, shape ({n},) or shape (n_paths, n) = ({n_paths}, {n}), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ParameterError("x0 must be finite")

    dt = (t1f - t0f) / n_steps
    sqrt_dt = np.sqrt(dt)
    bridge = None
    if brownian_increments is not None:
        if seed is not None and not scheme_obj.refines:
            raise ParameterError("give either seed or brownian_increments, not both")
        if scheme_obj.refines:
            bridge = as_generator(seed)
        dws = np.asarray(brownian_increments, dtype=float)
        if dws.shape != (n_steps, n_paths, m):
            raise ParameterError(
                f"brownian_increments must have shape (n_steps, n_paths, m) = ({n_steps}, {n_paths}, {m}), "
                f"got {dws.shape}")
        rng = None
    else:
        dws = None
        rng = as_generator(seed)
        if scheme_obj.refines:  # a child stream: the increments are those of every other scheme with this seed
            bridge = rng.spawn(1)[0]
    step = partial(scheme_obj.step, bridge=bridge) if scheme_obj.refines else scheme_obj.step

    saved_steps = list(range(0, n_steps + 1, save_every))
    if saved_steps[-1] != n_steps:
        saved_steps.append(n_steps)
    values = limits.full((len(saved_steps), n_paths, n), np.nan, f"the saved states of {n_paths} SDE paths")
    values[0] = x
    slot = 1

    def _saved(n_saved: int) -> SDESolution:
        return SDESolution(times=t0f + np.array(saved_steps[:n_saved], dtype=float) * dt, values=values[:n_saved])

    with progress_bar(n_steps, f"SDE {scheme_obj.name}", enabled=progress) as bar, \
            np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for k in range(n_steps):
            bar.update()
            t = t0f + k * dt
            if dws is None:
                dw = rng.standard_normal((n_paths, m))
                dw = sqrt_dt * dw
            else:
                dw = dws[k]
            try:
                x = step(compiled, t, x, dt, dw)
            except DivergenceError as exc:
                raise DivergenceError(f"{_divergence_prefix(scheme_obj.name, k + 1, n_steps, t + dt, dt)}: {exc}",
                                      step=k + 1, partial=_saved(slot)) from None
            if not np.isfinite(x.sum()):
                bad = ~np.isfinite(x).all(axis=1)
                if bad.any():
                    first = int(np.argmax(bad))
                    raise DivergenceError(
                        f"{_divergence_prefix(scheme_obj.name, k + 1, n_steps, t + dt, dt)}: {int(bad.sum())} of {n_paths} paths non-finite (first: path "
                        f"{first}, state {x[first].tolist()}); reduce dt or check the SDE",
                        step=k + 1, partial=_saved(slot))
            if k + 1 == saved_steps[slot]:
                values[slot] = x
                slot += 1
    times = t0f + np.array(saved_steps, dtype=float) * dt
    return SDESolution(times=times, values=values)
