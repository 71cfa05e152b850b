"""Linear (Ornstein–Uhlenbeck) SDEs: the continuous Lyapunov equation, solved symbolically.

For dx = −A x dt + G dW the stationary covariance Σ solves A Σ + Σ Aᵀ = G Gᵀ (Itô). Numerically the
package uses ``scipy.linalg.solve_continuous_lyapunov`` (see ``numerics.models.linreg``); here the equation is
solved exactly for small dimension, e.g. to derive closed forms and to test the numeric solvers.
"""

from __future__ import annotations

import sympy as sp

from derivations.errors import ParameterError


def lyapunov_solve(A: sp.Matrix, Q: sp.Matrix) -> sp.Matrix:
    """Symmetric Σ with A Σ + Σ Aᵀ = Q (continuous Lyapunov equation), exact, for small dimension.

    Solved as a linear system in the n(n+1)/2 free entries of Σ; raises ParameterError when the
    solution is not unique (A and −A share an eigenvalue, e.g. A singular).
    """
    A, Q = sp.Matrix(A), sp.Matrix(Q)
    n = A.shape[0]
    if A.shape != (n, n) or Q.shape != (n, n):
        raise ParameterError(f"A and Q must be square of the same size, got {A.shape} and {Q.shape}")
    entries = {(i, j): sp.Dummy(f"S{i}{j}") for i in range(n) for j in range(i, n)}
    S = sp.Matrix(n, n, lambda i, j: entries[(min(i, j), max(i, j))])
    residual = A * S + S * A.T - Q
    equations = [residual[i, j] for i in range(n) for j in range(i, n)]
    solution = sp.solve(equations, list(entries.values()), dict=True)
    if len(solution) != 1 or len(solution[0]) != len(entries):
        raise ParameterError("the Lyapunov equation has no unique solution (A has eigenvalues λ, μ with λ + μ = 0)")
    return S.subs(solution[0]).applyfunc(sp.simplify)


def ou_stationary_covariance(drift_matrix: sp.Matrix, noise: sp.Matrix) -> sp.Matrix:
    """Stationary covariance of dx = −A x dt + G dW: the solution of A Σ + Σ Aᵀ = G Gᵀ."""
    G = sp.Matrix(noise)
    return lyapunov_solve(drift_matrix, G * G.T)
