"""``SGDModel``: a user's per-sample sympy loss + a Gaussian data model → SGD's drift, noise and SDE.

Conventions (ARCHITECTURE.md): per-sample loss ℓ(w; x, y); L(w) = E ℓ (population) or the mean over P samples;
SGD w_{k+1} = w_k − η ĝ_k with ĝ_k the minibatch-mean gradient; continuum time t = η k; Itô SDE

    dw = −∇L(w) dt + √(η κ) C(w)^{1/2} dW,    C(w) = E[g gᵀ] − E[g] E[g]ᵀ,   g = ∂ℓ/∂w,

κ the minibatch noise scale (1/B with replacement and online, (P − B)/(B(P − 1)) without replacement;
``derivations.conventions.minibatch_noise_scale``).

Data model: inputs x ~ N(μ, Σ_x) (default N(0, I): whitened); labels either regression ones, y = f*(x) + ε with
ε ~ N(0, σ²) independent of x (``labels="gaussian"``), or classification ones, y ∈ {−1, +1} with
P(y = +1 | x) = ρ(f*(x)) (``labels="bernoulli"``; ρ the logistic function, or the step function for the
noise-free y = sign f*(x)). Expectations over (x, ε) are exact by Isserlis' theorem when the per-sample gradient
(after y → f*(x) + ε) is a polynomial in the Gaussian variables. Otherwise (opt-in with ``fallback="quadrature"``)
each expectation keeps the directions it is not polynomial in as a displayed integral
(``derivations.calculus.gaussian_integral``), computed by adaptive cubature with an error estimate
(:meth:`SGDModel.evaluate`): flagged (``model.exact is False``, ``model.method == "quadrature"``), logged and
written into the derivation's assumptions.

Noise factor. In the polynomial case g − E g = J(w) (ψ − E ψ) with ψ the Gaussian monomials that occur in
g and J their coefficients, so C = J M Jᵀ with M = Cov ψ independent of w. The SDE uses the noise
coefficient G = √(ηκ) J M^{1/2} (M^{1/2} a Cholesky factor of the constant M): the same diffusion matrix
D = ηκ C as ``continuum.sgd_sde`` (same law), but polynomial in w and exact for rank-deficient C (models
with symmetries, e.g. the rescaling symmetry of f = w₁w₂x), so the Itô lemma needs no square roots of
w-dependent expressions.

Models are built from sympy objects only: strings are refused (never ``sympify``-ed).
"""

from __future__ import annotations

import functools
import logging
import numbers
from typing import Mapping, Sequence

import numpy as np
import sympy as sp

from derivations.sgd import B as B_SYMBOL
from derivations.sgd import P as P_SYMBOL
from derivations.sgd import eta as ETA_SYMBOL
from derivations.sgd import kappa as KAPPA_SYMBOL
from derivations.sgd import sgd_sde
from derivations.derivation import Derivation
from derivations.errors import ParameterError
from derivations.calculus import gaussian_integral
from derivations.calculus.numbers import checked_number
from derivations.calculus.gaussian import gaussian_expectation, noise_covariance
from derivations.conventions import IID_SAMPLING, minibatch_noise_scale
from derivations.calculus.linear_sde import lyapunov_solve
from derivations.references import ISSERLIS_1918, LI_TAI_E_2017
from derivations.calculus.sde import ItoSDE
from derivations.calculus.stationary import StationaryDensity, stationary_density

__all__ = ["SGDModel", "FALLBACKS", "matrix_equation"]

log = logging.getLogger(__name__)

FALLBACKS = (None, "quadrature")
LABELS = ("gaussian", "bernoulli")
LINKS = {"logistic": lambda f: 1 / (1 + sp.exp(-f)), "step": sp.Heaviside}


# =========================================================================== input validation
def _as_expr(name: str, value) -> sp.Expr:
    """A sympy expression, or a plain number; anything else (strings above all) is refused."""
    if isinstance(value, str):
        raise ParameterError(f"{name} must be a sympy expression, got the string {value!r} "
                             "(models are built from sympy objects; strings are never parsed)")
    if isinstance(value, sp.Expr):
        return value
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return sp.sympify(value)  # a number, not text
    raise ParameterError(f"{name} must be a sympy expression, got {type(value).__name__} {value!r}")


def _as_symbols(name: str, value) -> list[sp.Symbol]:
    if isinstance(value, sp.MatrixBase):
        items = list(value)
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    if not items:
        raise ParameterError(f"{name} must name at least one sympy Symbol")
    for s in items:
        if not isinstance(s, sp.Symbol):
            raise ParameterError(f"{name} must be sympy Symbols (or a sympy Matrix of them), got {s!r}")
    if len(set(items)) != len(items):
        raise ParameterError(f"{name} contains a symbol twice: {items}")
    return items


def _check_eta(eta) -> sp.Expr:
    eta = _as_expr("eta", eta)
    if eta.is_positive is False or eta.is_zero or (eta.is_number and not eta.is_positive):
        raise ParameterError(f"the learning rate eta must be > 0, got {eta}")
    return eta


def _check_batch(batch_size, sampling: str, n_samples) -> tuple[sp.Expr, sp.Expr | None]:
    """B (and P) validated for ``sampling``: B integer ≥ 1, and B ≤ P without replacement."""
    if sampling not in IID_SAMPLING:
        raise ParameterError(f"sampling must be one of {', '.join(map(repr, IID_SAMPLING))}; got {sampling!r} "
                             "('epoch' reshuffling correlates minibatches: no i.i.d. continuum SDE)")
    B = _as_expr("batch_size", batch_size)
    if B.is_number and (not B.is_integer or B < 1):
        raise ParameterError(f"batch_size B must be an integer >= 1, got {batch_size}")
    P = None
    if sampling == "without_replacement":
        P = _as_expr("n_samples", P_SYMBOL if n_samples is None else n_samples)
        if P.is_number and (not P.is_integer or P < 1):
            raise ParameterError(f"n_samples P must be an integer >= 1, got {n_samples}")
        if B.is_number and P.is_number and B > P:
            raise ParameterError(f"batch_size B = {B} is out of range: without replacement 1 <= B <= P = {P}")
    return B, P


def matrix_equation(name: str, matrix: sp.Matrix) -> sp.Equality:
    """``name = matrix`` as a displayable equation (a plain Symbol = Matrix would evaluate to False)."""
    matrix = sp.Matrix(matrix)
    return sp.Eq(sp.MatrixSymbol(name, *matrix.shape), matrix, evaluate=False)


# =========================================================================== the model
class SGDModel:
    """SGD on a user's per-sample loss ℓ(w; x, y) under a Gaussian data model, derived symbolically.

    Parameters
    ----------
    loss:
        ℓ(w; x, y), a sympy expression (regression convention: ℓ = ½(f(x; w) − y)²).
    weights:
        the trained parameters: sympy Symbols or a sympy Matrix of them; each must occur in ``loss``.
    inputs:
        the Gaussian input symbols x (one or several), x ~ N(``input_mean``, ``input_cov``); default N(0, I).
    target, teacher, noise_std, labels, link:
        the label symbol y of ``loss`` and its law: ``labels="gaussian"`` (default) y = ``teacher``(x) + ε,
        ε ~ N(0, ``noise_std``²) independent of x; ``labels="bernoulli"``: y ∈ {−1, +1} with
        P(y = +1 | x) = ρ(``teacher``(x)), ρ = ``link`` ("logistic": 1/(1 + e^{−f}); "step": Heaviside, i.e. the
        noise-free y = sign f*(x)). ``target`` may be omitted for a loss without labels.
    parameters:
        constants of ``loss`` that are neither weights nor data (e.g. a regularisation strength). Every
        other symbol of ``loss`` must be a weight, an input or the target: a data symbol without a
        distribution is an error, not a silently constant.
    fallback:
        ``None`` (default): a gradient that is not polynomial in the Gaussian variables raises ParameterError;
        ``"quadrature"``: such expectations are kept as integrals over the whitened directions they are not
        polynomial in (shown in the LaTeX) and computed with an error estimate by :meth:`evaluate` (stated in
        ``notes``, ``exact = False`` and the derivation's assumptions). Bernoulli labels need it.

    Attributes: ``weights`` (column Matrix), ``inputs``, ``gaussian_variables`` (inputs, then ε),
    ``per_sample_gradient`` g(w; x, y), ``gradient`` g(w; x, ε) after y → f*(x) + ε, ``mean_gradient`` ∇L,
    ``noise_covariance`` C(w), ``exact``, ``method`` ("isserlis" or "quadrature"), ``notes``, ``parameters``,
    ``label_probability`` ρ(f*(x)) for Bernoulli labels (else None).
    """

    def __init__(self, loss, weights, inputs, *, target: sp.Symbol | None = None, teacher=None, noise_std=0,
                 labels: str = "gaussian", link: str = "logistic", input_mean=None, input_cov=None,
                 parameters: Sequence[sp.Symbol] = (), fallback: str | None = None, name: str = "user.model"):
        self.loss = _as_expr("loss", loss)
        self.name = name
        w = _as_symbols("weights", weights)
        x = _as_symbols("inputs", inputs)
        constants = _as_symbols("parameters", parameters) if len(parameters) else []
        if set(w) & set(x):
            raise ParameterError(f"a symbol cannot be both a weight and an input: {sorted(set(w) & set(x), key=str)}")
        missing = [s for s in w if not self.loss.has(s)]
        if missing:
            raise ParameterError(f"weight(s) {missing} do not appear in the loss {self.loss}")
        if fallback not in FALLBACKS:
            raise ParameterError(f"fallback must be None or 'quadrature', got {fallback!r}")
        if labels not in LABELS:
            raise ParameterError(f"labels must be 'gaussian' or 'bernoulli', got {labels!r}")
        if link not in LINKS:
            raise ParameterError(f"link must be one of {sorted(LINKS)}, got {link!r}")
        self.weights, self.inputs = sp.Matrix(w), x
        self.fallback, self.labels, self.link = fallback, labels, link

        # ---- labels
        if target is not None and not isinstance(target, sp.Symbol):
            raise ParameterError(f"target must be the sympy Symbol of the label y, got {target!r}")
        if target is not None and (target in w or target in x):
            raise ParameterError(f"target {target} is also a weight or an input")
        if target is not None and teacher is None:
            raise ParameterError(f"the label symbol {target} has no distribution: pass teacher=f*(x) "
                                 "(y = f*(x) + ε, ε ~ N(0, noise_std²))")
        if target is None and teacher is not None:
            raise ParameterError("teacher given without target: name the label symbol y of the loss with target=")
        self.target = target
        self.teacher = None if teacher is None else _as_expr("teacher", teacher)
        self.noise_std = _as_expr("noise_std", noise_std)
        if self.noise_std.is_negative or (self.noise_std.is_number and self.noise_std < 0):
            raise ParameterError(f"noise_std (σ) must be >= 0, got {noise_std}")
        if self.teacher is not None and self.teacher.has(*w):
            raise ParameterError(f"the teacher {self.teacher} depends on the weights")
        if labels == "bernoulli" and not self.noise_std.is_zero:
            raise ParameterError("Bernoulli labels take no noise_std: their randomness is P(y = +1 | x) = "
                                 "link(teacher(x)) (use link='step' for noise-free labels y = sign teacher(x))")
        if labels == "bernoulli" and target is None:
            raise ParameterError("labels='bernoulli' needs the label symbol: pass target= and teacher=")

        # ---- input distribution
        n_in = len(x)
        self.input_mean = sp.zeros(n_in, 1) if input_mean is None else sp.Matrix(
            [_as_expr("input_mean entry", m) for m in (input_mean if isinstance(input_mean, (list, tuple, sp.MatrixBase)) else [input_mean])])
        if self.input_mean.shape != (n_in, 1):
            raise ParameterError(f"input_mean must have {n_in} entries (one per input), got {self.input_mean.shape[0]}")
        if input_cov is None:
            self.input_cov = sp.eye(n_in)
        else:
            cov = input_cov if isinstance(input_cov, sp.MatrixBase) else sp.Matrix(
                [[input_cov]] if not isinstance(input_cov, (list, tuple)) else input_cov)
            self.input_cov = sp.Matrix(cov).applyfunc(lambda e: _as_expr("input_cov entry", e))
        if self.input_cov.shape != (n_in, n_in):
            raise ParameterError(f"input_cov must be {n_in}x{n_in} for inputs {x}, got {self.input_cov.shape}")
        if self.input_cov != self.input_cov.T:
            raise ParameterError("input_cov must be symmetric")
        dist_syms = set().union(*(e.free_symbols for e in list(self.input_mean) + list(self.input_cov)))
        if dist_syms & (set(w) | set(x)):
            raise ParameterError("input_mean and input_cov may not depend on the weights or the inputs")

        # ---- every symbol of the loss must be accounted for
        known = set(w) | set(x) | set(constants) | ({target} if target is not None else set())
        unknown = sorted(self.loss.free_symbols - known, key=str)
        if unknown:
            raise ParameterError(
                f"symbol(s) {unknown} of the loss are neither weights, Gaussian inputs, the target nor declared "
                "constants: give data symbols a distribution (inputs=..., target=/teacher=) and list constants "
                "in parameters=...")
        if self.teacher is not None:
            stray = self.teacher.free_symbols & ({target} if target is not None else set())
            if stray:
                raise ParameterError(f"the teacher may not contain the label symbol {target}")

        # ---- label noise variable
        used = self.loss.free_symbols | (self.teacher.free_symbols if self.teacher is not None else set()) | dist_syms
        eps = sp.Symbol("epsilon", real=True)
        self.label_noise = eps if eps not in used | self.noise_std.free_symbols else sp.Dummy("epsilon", real=True)
        has_noise = (labels == "gaussian" and target is not None and self.loss.has(target)
                     and not self.noise_std.is_zero)
        self.gaussian_variables = list(x) + ([self.label_noise] if has_noise else [])
        self._mean = self.input_mean.col_join(sp.zeros(1, 1)) if has_noise else self.input_mean
        self._cov = sp.diag(self.input_cov, sp.Matrix([[self.noise_std ** 2]])) if has_noise else self.input_cov

        self.per_sample_gradient = sp.Matrix([sp.diff(self.loss, wi) for wi in w])
        label = {}
        if target is not None and labels == "gaussian":
            label = {target: self.teacher + (self.label_noise if has_noise else 0)}
        self.gradient = self.per_sample_gradient.subs(label)
        self.label_probability = LINKS[link](self.teacher) if labels == "bernoulli" else None
        teacher_syms = self.teacher.free_symbols if self.teacher is not None else set()
        self.parameters = tuple(sorted((self.loss.free_symbols | self.gradient.free_symbols | dist_syms
                                        | self.noise_std.free_symbols | teacher_syms) - set(w) - set(x)
                                       - {self.label_noise} - ({target} if target else set()), key=str))
        self.notes: list[str] = []
        # Bernoulli labels average to ρ(f*(x)) h(+1) + (1 − ρ) h(−1): never a Gaussian polynomial
        self.exact = labels == "gaussian" and all(gi.is_polynomial(*self.gaussian_variables) for gi in self.gradient)
        if self.exact:
            self.method = "isserlis"
        elif fallback is None:
            raise ParameterError(
                f"the per-sample gradient {list(self.gradient)} is not a polynomial in the Gaussian variables "
                f"{self.gaussian_variables}{' under Bernoulli labels' if labels == 'bernoulli' else ''}: its Gaussian "
                "expectations have no Isserlis form. Pass fallback='quadrature' to keep them as integrals "
                "computed with an error estimate")
        else:
            self.method = "quadrature"
            note = ("non-polynomial gradient: E[g] and C(w) keep the directions they are not polynomial in as "
                    "integrals against the standard normal density, computed by adaptive cubature with an error "
                    "estimate (SGDModel.evaluate)")
            self.notes.append(note)
            log.warning("%s: %s", name, note)

    # ------------------------------------------------------------------ expectations
    def _label_average(self, expr: sp.Expr) -> sp.Expr:
        """E over the label given the inputs: y → f*(x) + ε (Gaussian), ρ h(+1) + (1 − ρ) h(−1) (Bernoulli)."""
        if self.target is None or not expr.has(self.target):
            return expr
        if self.labels == "bernoulli":
            rho = self.label_probability
            return rho * expr.subs(self.target, 1) + (1 - rho) * expr.subs(self.target, -1)
        noise = self.label_noise if self.label_noise in self.gaussian_variables else 0
        return expr.subs(self.target, self.teacher + noise)

    def expectation(self, expr) -> sp.Expr:
        """E over the data model of an expression in (w, x, y or ε): exact (Isserlis) when it is a Gaussian
        polynomial, else with its non-polynomial directions as displayed integrals (``fallback="quadrature"``)."""
        expr = self._label_average(_as_expr("expr", expr))
        if expr.is_polynomial(*self.gaussian_variables):
            return gaussian_expectation(expr, self.gaussian_variables, self._mean, self._cov)
        if self.fallback is None:
            raise ParameterError(f"E[{expr}] is not a Gaussian polynomial moment and fallback=None")
        return gaussian_integral.expectation(expr, self.gaussian_variables, self._mean, self._cov)

    def numeric_values(self, values: Mapping) -> dict:
        """{symbol: number} from ``values`` keyed by symbols or names: the weights, η, B, κ and the parameters.

        Each value must be a finite real number within its symbol's declared assumptions (``positive``,
        ``nonnegative``, ``integer``), else ParameterError."""
        known = list(self.weights) + [ETA_SYMBOL, B_SYMBOL, KAPPA_SYMBOL, P_SYMBOL] + list(self.parameters)
        by_name = {str(s): s for s in known}
        out = {}
        for key, val in dict(values).items():
            sym = key if key in known else by_name.get(str(key))
            if sym is None:
                raise ParameterError(f"unknown symbol {key!r}: expected one of {sorted(by_name)}")
            out[sym] = checked_number(sym, val)
        return out

    def evaluate(self, expr, values: Mapping, *, rtol: float = 1e-10, atol: float = 1e-13):
        """``expr`` (an expression or matrix of this model: ``mean_gradient``, ``noise_covariance``, …) at
        ``values`` (by symbol or name) as a :class:`~derivations.calculus.gaussian_integral.NumericValue`:
        the number and an estimate of its error (zero for exact parts; QuadratureError if an integral does not
        reach ``atol + rtol·|I|``)."""
        return gaussian_integral.evaluate(expr, self.numeric_values(values), rtol=rtol, atol=atol)

    @functools.cached_property
    def mean_gradient(self) -> sp.Matrix:
        """∇L(w) = E g (column)."""
        mean = self.gradient.applyfunc(self.expectation)
        return mean.applyfunc(sp.expand) if self.exact else mean  # expanding would undo the integrands' factoring

    @functools.cached_property
    def noise_covariance(self) -> sp.Matrix:
        """C(w) = E[g gᵀ] − ∇L ∇Lᵀ (population covariance of the per-sample gradient)."""
        if self.exact:
            return noise_covariance(self.gradient, self.gaussian_variables, self._mean, self._cov)
        n = self.weights.shape[0]
        g = self.per_sample_gradient  # the label average acts on the product (y² = 1 for Bernoulli labels)
        second = sp.Matrix(n, n, lambda i, j: self.expectation(g[i] * g[j]))
        return second - self.mean_gradient * self.mean_gradient.T

    @functools.cached_property
    def noise_factor(self) -> tuple[sp.Matrix, sp.Matrix, sp.Matrix]:
        """(J, ψ, M): g − E g = J (ψ − E ψ), M = Cov ψ (w-free), so C = J M Jᵀ (polynomial case only)."""
        if not self.exact:
            raise ParameterError("the monomial noise factor needs a polynomial gradient (method 'isserlis')")
        gvars = self.gaussian_variables
        polys = [sp.Poly(sp.expand(gi), *gvars) for gi in self.gradient]
        monomials = sorted({m for p in polys for m in p.monoms() if any(m)})
        psi = sp.Matrix([sp.Mul(*[v ** e for v, e in zip(gvars, m)]) for m in monomials])
        J = sp.Matrix(len(polys), len(monomials), lambda i, k: polys[i].coeff_monomial(monomials[k]))
        E = functools.partial(gaussian_expectation, variables=gvars, mean=self._mean, cov=self._cov)
        mean_psi = psi.applyfunc(E)
        m = len(monomials)
        M = sp.Matrix(m, m, lambda k, l: sp.expand(E(psi[k] * psi[l]) - mean_psi[k] * mean_psi[l]))
        return J, psi, M

    @functools.cached_property
    def _noise_root(self) -> sp.Matrix:
        """G₀ with G₀ G₀ᵀ = C: J M^{1/2} (polynomial case) or a Cholesky factor of C (quadrature)."""
        if self.exact:
            J, _, M = self.noise_factor
            if M.shape == (0, 0):
                return sp.zeros(self.weights.shape[0], 1)
            return (J * M.cholesky(hermitian=False)).applyfunc(sp.expand)
        return sgd_sde(self.weights, sp.zeros(self.weights.shape[0], 1), self.noise_covariance, 1, 1).noise

    # ------------------------------------------------------------------ SDEs
    def minibatch_scale(self, sampling: str = "with_replacement", batch_size=B_SYMBOL, n_samples=None) -> sp.Expr:
        """κ for ``sampling`` (validated: B integer ≥ 1, B ≤ P without replacement)."""
        B, P = _check_batch(batch_size, sampling, n_samples)
        return minibatch_noise_scale(B, sampling, P)

    def sde(self, sampling: str = "with_replacement", eta=ETA_SYMBOL, batch_size=B_SYMBOL, n_samples=None) -> ItoSDE:
        """The continuum Itô SDE dw = −∇L dt + √(ηκ) G₀ dW (t = ηk), G₀G₀ᵀ = C(w), for one sampling scheme.

        Same drift and diffusion matrix D = ηκC as ``continuum.sgd_sde``. Without replacement the
        population C stands for the empirical covariance of the P samples (exact for P → ∞).
        """
        eta = _check_eta(eta)
        kappa = self.minibatch_scale(sampling, batch_size, n_samples)
        return ItoSDE(self.weights, -self.mean_gradient, sp.sqrt(eta * kappa) * self._noise_root)

    def sdes(self, eta=ETA_SYMBOL, batch_size=B_SYMBOL, n_samples=None) -> dict[str, ItoSDE]:
        """{sampling scheme: SDE} for with_replacement, without_replacement and online."""
        return {s: self.sde(s, eta, batch_size, n_samples) for s in IID_SAMPLING}

    def ito(self, f, new_state: sp.Symbol | None = None, inverse: Mapping | None = None,
            sampling: str = "with_replacement", eta=ETA_SYMBOL, batch_size=B_SYMBOL, n_samples=None) -> ItoSDE:
        """The SDE of φ = f(w) by Itô's lemma, dφ = 𝒜f dt + ∇fᵀ G dW (``ItoSDE.ito_lemma``)."""
        f = _as_expr("f", f)
        return self.sde(sampling, eta, batch_size, n_samples).ito_lemma(f, new_state, inverse=dict(inverse or {}))

    def stationary_density(self, sde: ItoSDE | None = None, domain=None, time_budget: float | None = 10.0,
                           **sde_options) -> StationaryDensity:
        """Zero-flux stationary density p ∝ D⁻¹ exp ∫2A/D of a 1-D SDE (the model's own when it has one
        weight, or one obtained with :meth:`ito`), with its normalisability condition ``.normalisable``.

        ``domain`` defaults to what the state symbol's assumptions allow: (0, ∞) for ``positive=True``,
        [0, ∞) → (0, ∞) for ``nonnegative=True``, (−∞, 0) for ``negative=True``, ℝ otherwise.
        What is attempted symbolically is decided by work bounds, so the result depends on the input alone; its
        ``.path`` and ``.notes`` say what produced each part (closed form or quadrature). ``time_budget`` (seconds,
        None = no limit) is only a hang guard over the whole call: past it ``SymbolicTimeout`` names the stage
        (``derivations.calculus.stationary``)."""
        if sde is None:
            if self.weights.shape[0] != 1:
                raise ParameterError(f"the state has {self.weights.shape[0]} weights: pass a 1-D SDE of a function "
                                     "of the state (model.ito(f, new_state, inverse=...))")
            sde = self.sde(**sde_options)
        if sde.dimension != 1:
            raise ParameterError(f"stationary_density needs a 1-D SDE, got dimension {sde.dimension}")
        stray = (sde.drift.free_symbols | sde.diffusion_matrix.free_symbols) & (set(self.weights) - set(sde.state))
        if stray:
            raise ParameterError(f"the 1-D SDE still depends on the weights {sorted(stray, key=str)}: it is not closed "
                                 "in its state (pass inverse= to model.ito, or substitute a reduction)")
        return stationary_density(sde, _domain_of(sde.state[0]) if domain is None else domain, time_budget=time_budget)

    def lyapunov_covariance(self, fixed_point: Mapping, sampling: str = "with_replacement", eta=ETA_SYMBOL,
                            batch_size=B_SYMBOL, n_samples=None, values: Mapping | None = None,
                            fixed_point_tol: float = 1e-8):
        """Linearised (OU) stationary covariance near w*: A Σ + Σ Aᵀ = ηκ C(w*), A = ∂∇L/∂w at w*.

        ``fixed_point`` maps every weight to its value; ∇L(w*) must vanish. Exact models return a sympy Matrix.
        Quadrature models need numbers (``fixed_point``, η, B and ``values`` for the model's parameters) and
        return a symmetric ``NumericValue`` whose ``error`` is a first-order bound on Σ's error given the integrals'
        error estimates; there w* counts as a fixed point when |∇L(w*)| ≤ ``fixed_point_tol`` + 5 × its error
        estimate.
        """
        eta = _check_eta(eta)
        kappa = self.minibatch_scale(sampling, batch_size, n_samples)
        point = dict(fixed_point)
        if set(point) != set(self.weights):
            raise ParameterError(f"fixed_point must give every weight {list(self.weights)}, got {list(point)}")
        if not self.exact:
            if not fixed_point_tol >= 0:
                raise ParameterError(f"fixed_point_tol must be >= 0, got {fixed_point_tol!r}")
            return self._numeric_lyapunov(point, eta * kappa, values or {}, fixed_point_tol)
        residual = self.mean_gradient.subs(point).applyfunc(sp.simplify)
        if any(r != 0 for r in residual):
            raise ParameterError(f"{point} is not a fixed point: the mean gradient there is {list(residual)}")
        A = self.mean_gradient.jacobian(self.weights).subs(point)
        # the OU covariance exists only where the linearised drift −A is stable: an eigenvalue of A that is
        # provably ≤ 0 (a maximum, a saddle, or a flat direction of a manifold of minima) is refused rather than
        # returned as a negative or infinite "variance"
        for ev in A.eigenvals():
            ev = sp.simplify(ev)
            if ev.is_positive is False:  # provably not > 0 (sympy's three-valued logic; None: undecided)
                raise ParameterError(f"{point} is not a stable fixed point: the Hessian of L there has the eigenvalue "
                                     f"{ev} (needs > 0 for a stationary covariance; on a manifold of minima restrict "
                                     "the model to the non-degenerate directions)")
        return lyapunov_solve(A, eta * kappa * self.noise_covariance.subs(point))

    def _numeric_lyapunov(self, point: dict, scale: sp.Expr, values: Mapping, tol: float):
        """A Σ + Σ Aᵀ = Q at numbers, with the first-order error bound
        ‖δΣ‖_F ≤ ‖𝓛⁻¹‖₂ (‖δQ‖_F + 2 ‖δA‖_F ‖Σ‖₂), 𝓛 = I ⊗ A + A ⊗ I (scipy.linalg.solve_continuous_lyapunov)."""
        from scipy.linalg import solve_continuous_lyapunov

        at = {**self.numeric_values(values), **point}
        residual = self.evaluate(self.mean_gradient, at)
        if np.any(np.abs(residual.value) > tol + 5 * residual.error):
            raise ParameterError(f"{point} is not a fixed point: the mean gradient there is {residual.value.ravel()} "
                                 f"(± {residual.error.ravel()}; |grad L| <= fixed_point_tol={tol:g} needed)")
        A = self.evaluate(self.mean_gradient.jacobian(self.weights), at)
        Q = self.evaluate(scale * self.noise_covariance, at)
        a = (A.value + A.value.T) / 2  # the Hessian of L: symmetric up to quadrature error
        lowest = float(np.linalg.eigvalsh(a)[0])
        if lowest <= np.linalg.norm(A.error):
            raise ParameterError(f"{point} is not a provably stable fixed point: the Hessian of L there has the "
                                 f"eigenvalue {lowest:.6g} (quadrature error {np.linalg.norm(A.error):.2g}; needs > 0)")
        sigma = solve_continuous_lyapunov(a, Q.value)
        sigma = (sigma + sigma.T) / 2  # the exact solution is symmetric; the solver's rounding is not
        n = a.shape[0]
        inverse_norm = 1 / np.linalg.svd(np.kron(np.eye(n), a) + np.kron(a, np.eye(n)), compute_uv=False)[-1]
        bound = inverse_norm * (np.linalg.norm(Q.error) + 2 * np.linalg.norm(A.error) * np.linalg.norm(sigma, 2))
        return gaussian_integral.NumericValue(sigma, np.full_like(sigma, bound), A.integrals + Q.integrals,
                                              "cubature + scipy.linalg.solve_continuous_lyapunov")

    # ------------------------------------------------------------------ derivation
    def derivation(self, sampling: str | None = None) -> Derivation:
        """A :class:`Derivation` with every step (render with ``.latex()``); the result is the Itô SDE with κ
        symbolic, and one step per sampling scheme gives κ (or only ``sampling`` when given)."""
        w = self.weights
        grad_syms = [sp.Symbol(f"g_{{{sp.latex(wi)}}}") for wi in w]
        x_desc = ", ".join(sp.latex(v) for v in self.inputs)
        assumptions = [
            f"Gaussian inputs $({x_desc}) \\sim N(\\mu, \\Sigma_x)$ with $\\mu = {sp.latex(self.input_mean.T)}^T$, "
            f"$\\Sigma_x = {sp.latex(self.input_cov)}$.",
            "Loss $L(w) = E\\,\\ell(w; x, y)$ (population); with $P$ fixed samples the empirical moments replace the "
            "Gaussian ones.",
            "SGD $w_{k+1} = w_k - \\eta \\hat g_k$, continuum time $t = \\eta k$, It\\^o calculus; the SDE is a weak "
            "first-order approximation (errors $O(\\eta)$).",
        ]
        if self.labels == "bernoulli":
            assumptions.insert(1, f"Labels ${sp.latex(self.target)} \\in \\{{-1, +1\\}}$ with $P({sp.latex(self.target)} = +1 "
                                  f"\\mid x) = {sp.latex(self.label_probability)}$ ({self.link} link).")
        elif self.target is not None:
            assumptions.insert(1, f"Labels ${sp.latex(self.target)} = {sp.latex(self.teacher)} + "
                                  f"{sp.latex(self.label_noise)}$, ${sp.latex(self.label_noise)} \\sim N(0, "
                                  f"{sp.latex(self.noise_std ** 2)})$ independent of the inputs.")
        if self.exact:
            assumptions.append("Expectations exact by Isserlis' theorem (the gradient is polynomial in the Gaussian variables).")
        else:
            assumptions.append("The gradient is not polynomial in the Gaussian variables: after whitening ($z \\sim N(0, I)$) "
                               "the polynomial directions are integrated exactly and the others are kept as the integrals "
                               "shown, computed by adaptive cubature with an error estimate (SGDModel.evaluate).")
        kappa, dt = KAPPA_SYMBOL, sp.Symbol("dt", positive=True)
        G = self._noise_root
        dW = sp.Matrix([sp.Symbol(f"dW_{i + 1}") for i in range(G.shape[1])])
        dw = sp.Matrix([sp.Symbol(f"d{sp.latex(wi)}") for wi in w])
        # the standard form dw = a dt + b G dW, held unevaluated so that it prints so (``.doit()`` evaluates it)
        result = sp.Eq(dw, sp.MatAdd(sp.MatMul(-sp.ImmutableMatrix(self.mean_gradient), dt, evaluate=False),
                                     sp.MatMul(sp.sqrt(ETA_SYMBOL * kappa), sp.ImmutableMatrix(G), sp.ImmutableMatrix(dW),
                                               evaluate=False), evaluate=False), evaluate=False)
        d = Derivation(
            name=self.name, title=f"SGD on a per-sample loss: {self.name}",
            summary=("Per-sample gradient, mean gradient and noise covariance of SGD under the stated data model, and "
                     "the continuum It\\^o SDE with state-dependent noise (SGDModel)."),
            assumptions=assumptions, steps=[], result=result,
            parameters=tuple(w) + (ETA_SYMBOL, kappa) + self.parameters,
            references=(ISSERLIS_1918, LI_TAI_E_2017))
        d.step("Per-sample loss $\\ell(w; x, y)$.", sp.Eq(sp.Symbol(r"\ell"), self.loss))
        d.step("Per-sample gradient $g = \\partial \\ell / \\partial w$.", sp.Eq(sp.Matrix(grad_syms), self.per_sample_gradient))
        if self.labels == "gaussian" and self.target is not None:
            d.step("Labels from the data model.", sp.Eq(self.target, self.teacher + (
                self.label_noise if self.label_noise in self.gaussian_variables else 0)))
            d.step("Gradient in the Gaussian variables.", sp.Eq(sp.Matrix(grad_syms), self.gradient))
        how = "Isserlis' theorem" if self.exact else "label average; integrals over the non-polynomial directions"
        if not self.exact:
            # the integration variables of the integrals below (the names gaussian_integral.expectation gives them)
            used = (self.gradient.free_symbols | self._mean.free_symbols | self._cov.free_symbols
                    | ({self.target} if self.target is not None else set()))
            z = sp.Matrix(gaussian_integral.standard_normal_variables(len(self.gaussian_variables), used))
            d.step("Whitened Gaussian variables, $z \\sim N(0, I)$ (the integration variables below).",
                   sp.Eq(sp.Matrix(self.gaussian_variables), self._mean + self._cov.cholesky(hermitian=False) * z,
                         evaluate=False))
        d.step(f"Mean gradient $\\nabla L = E g$ ({how}).", matrix_equation(r"\nabla L", self.mean_gradient))
        C = self.noise_covariance
        d.step(f"Noise covariance $C = E[g g^T] - \\nabla L \\nabla L^T$ ({how}).",
               matrix_equation("C(w)", C.applyfunc(sp.factor) if self.exact else C))
        if self.exact:
            J, psi, M = self.noise_factor
            d.step("Gaussian monomials $\\psi$ in $g$: $g - E g = J(\\psi - E\\psi)$, so $C = J M J^T$ with the "
                   "$w$-independent $M = \\mathrm{Cov}\\,\\psi$.", matrix_equation(r"\psi", psi))
            d.step("Covariance of the monomials.", matrix_equation("M", M))
            d.step("Noise coefficient $G_0 = J M^{1/2}$ ($G_0 G_0^T = C$, no square root of $w$-dependent terms).",
                   matrix_equation("G_0", G))
        schemes = IID_SAMPLING if sampling is None else (sampling,)
        for s in schemes:
            d.step(f"Minibatch scale, sampling {s.replace('_', ' ')}.", sp.Eq(kappa, self.minibatch_scale(s, B_SYMBOL, P_SYMBOL)))
        d.step("Continuum It\\^o SDE of SGD ($t = \\eta k$).", result)
        d.extras.update({"mean_gradient": self.mean_gradient, "noise_covariance": C, "noise_root": G})
        return d

    def __repr__(self) -> str:
        return (f"SGDModel(loss={self.loss}, weights={list(self.weights)}, inputs={self.inputs}, "
                f"target={self.target}, teacher={self.teacher}, noise_std={self.noise_std}, method={self.method!r})")


def _domain_of(state: sp.Symbol) -> tuple:
    """The interval a 1-D state may occupy, from its symbol's assumptions (ℝ when none restrict it)."""
    if state.is_positive or state.is_nonnegative:
        return (sp.Integer(0), sp.oo)
    if state.is_negative or state.is_nonpositive:
        return (-sp.oo, sp.Integer(0))
    return (-sp.oo, sp.oo)

