"""Symbolic stochastic differential equations (Itô and Stratonovich).

Convention: ``dX = a(X) dt + G(X) dW`` with ``X`` of dimension n, ``G`` of shape n×m and
``W`` an m-dimensional Brownian motion with instantaneous covariance ``Q`` (``E dW dWᵀ = Q dt``,
default the identity). The *diffusion matrix* is ``D = G Q Gᵀ`` (n×n). Itô is the package's
internal calculus; Stratonovich only enters through explicit conversion.

Like diffrax's solvers, each class declares its calculus in a class attribute.
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import sympy as sp

from derivations.errors import ParameterError

__all__ = ["SDE", "ItoSDE", "StratonovichSDE"]

_SIMPLIFY_OPS = 400  # coefficients above this size (count_ops) are left as they are: a work bound, deterministic


def _tidy(expr: sp.Expr) -> sp.Expr:
    """``sp.simplify`` within a work bound. Coefficients holding an unevaluated ``Integral`` (Gaussian expectations
    of non-polynomial models) or larger than ``_SIMPLIFY_OPS`` operations are returned unchanged: simplify's
    cost on them is unbounded (and may try to evaluate the integrals), and what it would change is their form."""
    if expr.has(sp.Integral) or sp.count_ops(expr) > _SIMPLIFY_OPS:
        return expr
    return sp.simplify(expr)


def _column(x) -> sp.Matrix:
    if isinstance(x, sp.MatrixBase):
        m = sp.Matrix(x)
        return m if m.shape[1] == 1 else m.reshape(m.shape[0] * m.shape[1], 1)
    if isinstance(x, (list, tuple)):
        return sp.Matrix(list(x))
    return sp.Matrix([x])


class SDE:
    """Common data of an SDE dX = a dt + G dW: state X, drift a, noise amplitude G, Wiener covariance Q.

    One meaning per word: ``noise`` is the amplitude G (a scalar b for a 1-D SDE); the diffusion is always
    D = G Q Gᵀ (``diffusion_matrix``), as in ``stationary_density((A, D, x))``. The keyword ``diffusion=`` is
    refused, since it would read as D where G is meant."""

    calculus: ClassVar[str] = ""

    def __init__(self, state, drift, noise=None, wiener_covariance=None, time: sp.Symbol | None = None, **kwargs):
        if "diffusion" in kwargs:
            raise ParameterError("SDE(..., diffusion=...) is ambiguous: give the noise amplitude G as noise= "
                                 "(the diffusion D = G Q G^T is .diffusion_matrix)")
        if kwargs:
            raise ParameterError(f"unexpected arguments {sorted(kwargs)}")
        if noise is None:
            raise ParameterError("give the noise amplitude G (noise=)")
        self.state = _column(state)
        self.drift = _column(drift)
        n = self.state.shape[0]
        g = sp.Matrix(noise) if isinstance(noise, (sp.MatrixBase, list)) else sp.Matrix([[noise]])
        if g.shape[0] != n and g.shape == (1, n):
            g = g.T
        self.noise = g
        m = self.noise.shape[1]
        self.wiener_covariance = sp.eye(m) if wiener_covariance is None else sp.Matrix(wiener_covariance)
        self.time = time if time is not None else sp.Symbol("t", nonnegative=True)
        if not all(s.is_Symbol for s in self.state):
            raise ParameterError(f"state must be sympy Symbols, got {list(self.state)}")
        if self.drift.shape != (n, 1):
            raise ParameterError(f"drift has shape {self.drift.shape}, the state has dimension {n}")
        if self.noise.shape[0] != n:
            raise ParameterError(f"noise has {self.noise.shape[0]} rows, the state has dimension {n}")
        if self.wiener_covariance.shape != (m, m):
            raise ParameterError(f"wiener_covariance must be {m}x{m}, got {self.wiener_covariance.shape}")

    # ------------------------------------------------------------------ structure
    @property
    def dimension(self) -> int:
        return self.state.shape[0]

    @property
    def noise_dimension(self) -> int:
        return self.noise.shape[1]

    @property
    def diffusion_matrix(self) -> sp.Matrix:
        """D = G Q Gᵀ: the infinitesimal covariance, E[dX dXᵀ | X] = D dt."""
        return (self.noise * self.wiener_covariance * self.noise.T).applyfunc(_tidy)

    @property
    def is_scalar(self) -> bool:
        return self.dimension == 1 and self.noise_dimension == 1

    @property
    def is_diagonal_noise(self) -> bool:
        """G square and diagonal with independent Wiener components (each noise drives one coordinate)."""
        g = self.noise
        return g.is_square and g.is_diagonal() and self.wiener_covariance == sp.eye(g.shape[0])

    @property
    def is_additive_noise(self) -> bool:
        return all(sp.diff(gij, x) == 0 for gij in self.noise for x in self.state)

    def _correction(self) -> sp.Matrix:
        """½ Σ_{j,l} Q_jl Σ_k G_kl ∂_k G_ij: the drift difference Itô − Stratonovich."""
        n, m = self.noise.shape
        q = self.wiener_covariance
        out = sp.zeros(n, 1)
        for i in range(n):
            acc = 0
            for j in range(m):
                for l in range(m):
                    if q[j, l] == 0:
                        continue
                    acc += q[j, l] * sum(self.noise[k, l] * sp.diff(self.noise[i, j], self.state[k]) for k in range(n))
            out[i] = _tidy(acc / 2)
        return out

    def subs(self, *args, **kwargs):
        """The same SDE with parameters substituted (``sympy.Basic.subs`` semantics)."""
        return type(self)(self.state, self.drift.subs(*args, **kwargs), self.noise.subs(*args, **kwargs),
                          self.wiener_covariance.subs(*args, **kwargs), self.time)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(state={list(self.state)}, drift={list(self.drift)}, "
                f"noise={self.noise.tolist()})")


class ItoSDE(SDE):
    """``dX = a dt + G dW`` in the Itô sense."""

    calculus: ClassVar[str] = "ito"

    def generator(self, f) -> sp.Expr:
        """Backward operator: 𝒜f = Σ a_i ∂_i f + ½ Σ D_ij ∂_i∂_j f."""
        x, a, d = self.state, self.drift, self.diffusion_matrix
        n = self.dimension
        first = sum(a[i] * sp.diff(f, x[i]) for i in range(n))
        second = sum(d[i, j] * sp.diff(f, x[i], x[j]) for i in range(n) for j in range(n)) / 2
        return first + second

    def fokker_planck(self, p) -> sp.Expr:
        """Forward operator: ∂_t p = −Σ ∂_i(a_i p) + ½ Σ ∂_i∂_j(D_ij p)."""
        x, a, d = self.state, self.drift, self.diffusion_matrix
        n = self.dimension
        return (-sum(sp.diff(a[i] * p, x[i]) for i in range(n))
                + sum(sp.diff(d[i, j] * p, x[i], x[j]) for i in range(n) for j in range(n)) / 2)

    def probability_current(self, p) -> sp.Matrix:
        """J_i = a_i p − ½ Σ_j ∂_j(D_ij p), so that ∂_t p = −∇·J."""
        x, a, d = self.state, self.drift, self.diffusion_matrix
        n = self.dimension
        return sp.Matrix([a[i] * p - sum(sp.diff(d[i, j] * p, x[j]) for j in range(n)) / 2 for i in range(n)])

    def ito_lemma(self, f, new_state: sp.Symbol | Sequence[sp.Symbol] | None = None,
                  inverse: dict | None = None) -> "ItoSDE":
        """SDE of Y = f(X) by Itô's lemma: dY = 𝒜f dt + (∂f/∂x) G dW.

        ``new_state`` names Y (default: fresh symbols ``y0, y1, …``). If ``inverse`` maps the
        old state symbols to expressions of the new ones (X = f⁻¹(Y)), the coefficients are
        rewritten in Y; otherwise they stay functions of X.
        """
        fs = _column(f)
        k = fs.shape[0]
        if new_state is None:
            new_state = sp.symbols(f"y0:{k}", real=True)
        new = _column(new_state)
        if new.shape[0] != k:
            raise ParameterError(f"new_state has {new.shape[0]} symbols for {k} functions")
        drift = sp.Matrix([self.generator(fi) for fi in fs])
        jac = fs.jacobian(self.state)
        noise = jac * self.noise
        if inverse:
            drift, noise = drift.subs(inverse), noise.subs(inverse)
        drift = drift.applyfunc(lambda e: _tidy(sp.powsimp(sp.expand_power_base(e, force=False))))
        noise = noise.applyfunc(_tidy)
        return ItoSDE(new, drift, noise, self.wiener_covariance, self.time)

    def to_stratonovich(self) -> "StratonovichSDE":
        """Same process in Stratonovich form: drift a − ½ Σ Q_jl G_kl ∂_k G_ij, same G."""
        return StratonovichSDE(self.state, (self.drift - self._correction()).applyfunc(_tidy),
                               self.noise, self.wiener_covariance, self.time)

    @classmethod
    def from_stratonovich(cls, sde: "StratonovichSDE") -> "ItoSDE":
        return sde.to_ito()


class StratonovichSDE(SDE):
    """``dX = a dt + G ∘ dW`` in the Stratonovich sense."""

    calculus: ClassVar[str] = "stratonovich"

    def to_ito(self) -> ItoSDE:
        """Same process in Itô form: drift a + ½ Σ Q_jl G_kl ∂_k G_ij, same G."""
        return ItoSDE(self.state, (self.drift + self._correction()).applyfunc(_tidy),
                      self.noise, self.wiener_covariance, self.time)
