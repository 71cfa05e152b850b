"""Detailed balance of an n-D Itô SDE: zero stationary current iff D⁻¹(2a − ∇·D) is a gradient."""

from __future__ import annotations

from typing import Any

import sympy as sp
from sympy.integrals.rationaltools import ratint

from derivations.errors import ParameterError
from derivations.calculus.budget import hang_guard
from derivations.calculus.sde import ItoSDE
from derivations.calculus.stationary.symbolic import INTEGRATE_OPS, attempt, light, rational_work, small, tidy


def detailed_balance(sde: ItoSDE, time_budget: float | None = 10.0) -> tuple[Any, sp.Expr | None]:
    """Detailed-balance test for an n-D Itô SDE ``dX = a dt + G dW`` with invertible ``D = G Q Gᵀ``.

    Zero stationary current ``J_i = a_i p − ½ Σ_j ∂_j(D_ij p) = 0`` ⇔
    ``∇ log p = v := D⁻¹ (2a − ∇·D)`` with ``(∇·D)_i = Σ_j ∂_j D_ij``; such a ``p`` exists iff
    ``v`` is a gradient, i.e. ``∂_j v_i = ∂_i v_j`` for all i < j (curl-free).

    Returns ``(condition, potential)``: ``condition`` is ``sympy.true``/``false`` or, with
    symbolic parameters, the sympy Boolean (coefficient equations, to hold for every state)
    under which the Jacobian of ``v`` is symmetric; ``potential`` Φ (``p ∝ exp(−Φ)``,
    ``−∇Φ = v``, up to a constant) when the condition is identically true, else ``None``.
    For the OU process ``dx = −Hx dt + B dW`` (D = BBᵀ) the condition is that ``D⁻¹H`` is
    symmetric — for symmetric ``H``, that ``H`` and ``D`` commute.

    Work bounds decide what is attempted (:mod:`.symbolic`: simplify on small expressions, ``ratint`` on
    rational components of the potential below its gate :func:`.symbolic.rational_work`, ``sympy.integrate``
    on small ones); ``time_budget`` (seconds, ``None`` = no limit) is only a hang guard over the whole call
    (``SymbolicTimeout`` past it).
    """
    with hang_guard(time_budget, "detailed_balance"):
        return _detailed_balance(sde)


def _detailed_balance(sde: ItoSDE) -> tuple[Any, sp.Expr | None]:
    x = list(sde.state)
    n = len(x)
    d = sde.diffusion_matrix
    if d.shape != (n, n):
        raise ParameterError(f"diffusion matrix has shape {d.shape}, the state has dimension {n}")
    det = tidy(d.det())
    if det == 0:
        raise ParameterError("detailed_balance needs an invertible diffusion matrix D = G Q Gᵀ (det D = 0)")
    div_d = sp.Matrix([sum(sp.diff(d[i, j], x[j]) for j in range(n)) for i in range(n)])
    v = (d.inv() * (2 * sde.drift - div_d)).applyfunc(lambda e: light(sp.cancel(e)))
    conditions = []
    for i in range(n):
        for j in range(i + 1, n):
            diff = sp.cancel(sp.together(sp.diff(v[i], x[j]) - sp.diff(v[j], x[i])))
            if diff != 0:
                diff = tidy(diff)
            if diff == 0:
                continue
            num = sp.numer(sp.together(diff))
            try:
                coeffs = sp.Poly(sp.expand(num), *x).coeffs()
            except sp.PolynomialError:
                coeffs = [num]
            for c in coeffs:
                c = sp.factor(c)
                rel = sp.Eq(c, 0)
                if rel is sp.false or (c.is_number and c != 0):
                    return sp.false, None
                conditions.append(rel)
    condition = sp.And(*conditions) if conditions else sp.true
    if condition is not sp.true:
        condition = tidy(condition)
        return condition, None
    # integrate the gradient field coordinate by coordinate
    phi = sp.S.Zero
    for i in range(n):
        remainder = tidy(v[i] - sp.diff(phi, x[i]))
        if remainder != 0:
            if remainder.is_rational_function(x[i]):
                part = attempt(ratint, remainder, x[i]) if rational_work(remainder, x[i]) is None else None
            else:
                part = attempt(sp.integrate, remainder, x[i]) if small(remainder, INTEGRATE_OPS) else None
            if part is None or part.has(sp.Integral):
                return condition, None
            phi += part
    return condition, tidy(-phi)
