"""Predictions from registered derivations: the route from the LaTeX a user reads to a check's predicted column.

Every check takes its prediction from ``derivations.get(check.derivation)`` through this module, so the formula
tested is the formula published (``tests/test_catalog.py`` mutates the derivations and watches each check's
predicted column move):

* :func:`predictor` — a numpy function of the derivation's result, or of one of its named extras
  (``Derivation.lambdify``); :func:`evaluate` — the same at values given by symbol name;
* :func:`solve_linear_matrix_equation` — the symmetric matrix that solves a derivation whose result is a linear
  matrix equation (a Lyapunov equation, the exact stationary equation of discrete SGD), with the equation's
  symbols given numbers and its data-dependent operators (such as 𝓜(S)) given as functions;
  :func:`stationary_covariances` — the two least-squares ones for a data set.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import sympy as sp

import derivations

from numerics.errors import ParameterError
from numerics.models.linreg import SecondMomentOperator, hessian, minibatch_scale, noise_covariance


def predictor(name: str, parameters: Sequence[sp.Basic], expression: str | None = None) -> Callable:
    """numpy function of ``parameters`` evaluating the registered derivation ``name``'s result (right-hand side
    of an equation), or its extra ``expression``."""
    d = derivations.get(name)
    if expression is not None and expression not in d.extras:
        raise ParameterError(f"derivation {name!r} has no extra {expression!r}; its extras: {', '.join(d.extras)}")
    return d.lambdify(tuple(parameters), d.result_expression if expression is None else d.extras[expression])


def evaluate(name: str, values: Mapping[str, Any], expression: str | None = None):
    """The registered derivation ``name``'s result (or extra ``expression``) at ``values``, given by symbol name
    (matrices as arrays); every free symbol of the expression must have a value."""
    d = derivations.get(name)
    expr = d.result_expression if expression is None else d.extras[expression]
    symbols = {str(s): s for s in expr.free_symbols}
    missing = set(symbols) - set(values)
    if missing:
        raise ParameterError(f"derivation {name!r}: give values for {', '.join(sorted(missing))}")
    return predictor(name, [symbols[k] for k in values if k in symbols], expression)(
        *(v for k, v in values.items() if k in symbols))


def solve_linear_matrix_equation(name: str, unknown: str, values: Mapping[str, Any],
                                 operators: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None = None, *,
                                 equation: str | None = None, basis: np.ndarray | None = None) -> np.ndarray:
    """The symmetric n×n matrix S (the symbol named ``unknown``) solving lhs = rhs, linear in S: the registered
    result of derivation ``name`` or its extra ``equation``. ``values`` give every other symbol by name
    (matrices as arrays, scalars as numbers); ``operators`` give the matrix symbols that stand for a linear
    function of S (e.g. ``{"\\mathcal{M}(S)": moment}``). With ``basis`` (n×r, orthonormal columns) the
    solution is sought as S = Q X Qᵀ and the equation projected, Qᵀ(lhs − rhs)Q = 0: the equation on a subspace
    (e.g. the range of a singular Hessian). The residual is lambdified once and applied to the symmetric basis
    matrices; the resulting linear system is solved exactly (``numpy.linalg.solve``)."""
    d = derivations.get(name)
    eq = d.result if equation is None else d.extras[equation]
    residual = eq.lhs - eq.rhs
    symbols = {str(s): s for s in residual.free_symbols}
    operators = dict(operators or {})
    missing = set(symbols) - {unknown} - set(values) - set(operators)
    if unknown not in symbols or missing:
        raise ParameterError(f"derivation {name!r}: unknown {unknown!r} not in its equation, or symbols without "
                             f"values: {', '.join(sorted(missing))}")
    names = list(operators) + list(values)
    f = d.lambdify((symbols[unknown], *(symbols[k] for k in names)), residual)
    n = next(np.shape(v)[0] for v in values.values() if np.ndim(v) == 2)
    Q = np.eye(n) if basis is None else np.asarray(basis, dtype=float)
    r = Q.shape[1]

    def apply(X: np.ndarray) -> np.ndarray:
        S = Q @ X @ Q.T
        args = [operators[k](S) for k in operators] + [values[k] for k in values]
        return Q.T @ np.broadcast_to(np.asarray(f(S, *args), dtype=float), (n, n)) @ Q

    iu = np.triu_indices(r)
    constant = apply(np.zeros((r, r)))
    columns = []
    for i, j in zip(*iu):
        E = np.zeros((r, r))
        E[i, j] = E[j, i] = 1.0
        columns.append((apply(E) - constant)[iu])
    x = np.linalg.solve(np.column_stack(columns), -constant[iu])
    X = np.zeros((r, r))
    X[iu] = x
    return Q @ (X + np.triu(X, 1).T) @ Q.T


def stationary_covariances(X, y, eta: float, batch_size: int, sampling: str) -> tuple[np.ndarray, np.ndarray]:
    """(exact discrete S, continuum Σ) of SGD on least squares at ŵ from the registered derivations
    ``linreg.discrete_stationary_covariance`` and ``linreg.stationary_covariance``, for the data's H,
    C_* = C(ŵ), 𝓜 and κ. (``numerics.models.linreg`` solves the same equations faster, for large N; tested equal.)"""
    kappa = minibatch_scale(batch_size, sampling, X.shape[0])
    values = {"H": hessian(X), "C_*": noise_covariance(X, y), "eta": eta, "kappa": kappa}
    exact = solve_linear_matrix_equation("linreg.discrete_stationary_covariance", "S", values,
                                         {r"\mathcal{M}(S)": SecondMomentOperator(X, eta, kappa).moment})
    return exact, solve_linear_matrix_equation("linreg.stationary_covariance", r"\Sigma", values)
