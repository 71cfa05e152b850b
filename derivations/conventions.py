"""The package's conventions, defined once (ARCHITECTURE.md, "Conventions").

- ``SAMPLING_SCHEMES``: how a minibatch of size B is drawn — ``with_replacement`` (B i.i.d. uniform indices),
  ``without_replacement`` (a uniformly random B-subset, independent across steps), ``epoch`` (random
  reshuffling) and ``online`` (B fresh samples from a data model). ``IID_SAMPLING``: the schemes whose
  minibatches are independent across steps (all but ``epoch``), so that one κ describes the noise;
  ``FINITE_IID_SAMPLING``: those of them on a finite data set.
- κ, :func:`minibatch_noise_scale`: Cov[ĝ] = κ C for the minibatch-mean gradient ĝ.
- ``Z_THRESHOLD``: a prediction agrees with a Monte Carlo estimate when |measured − predicted| ≤ 5 standard
  errors (two-sided normal tail 5.7e-7 per entry).
"""

from __future__ import annotations

import sympy as sp

from derivations.errors import ParameterError

__all__ = ["SAMPLING_SCHEMES", "IID_SAMPLING", "FINITE_IID_SAMPLING", "Z_THRESHOLD", "minibatch_noise_scale"]

SAMPLING_SCHEMES = ("with_replacement", "without_replacement", "epoch", "online")
IID_SAMPLING = ("with_replacement", "without_replacement", "online")
FINITE_IID_SAMPLING = ("with_replacement", "without_replacement")
Z_THRESHOLD = 5.0


def minibatch_noise_scale(batch_size, sampling: str, n_samples=None) -> sp.Expr:
    """Factor multiplying the per-sample-gradient covariance C for the minibatch-mean gradient.

    ``Cov[ĝ] = factor · C`` with ĝ the mean of B per-sample gradients:

    - ``"with_replacement"``: B i.i.d. uniform indices ⇒ factor ``1/B``;
    - ``"online"``: B fresh samples from the data model ⇒ ``1/B`` (C the population covariance);
    - ``"without_replacement"``: a uniformly random B-subset of the P samples ⇒
      ``(P − B) / (B (P − 1))`` (finite-population correction; 0 at B = P: full batch);
    - ``"epoch"`` (random reshuffling): the minibatches of one epoch are correlated, so no
      single-step i.i.d. factor describes the noise — a :class:`ParameterError` says so.

    ``batch_size`` (and ``n_samples``) may be numbers or sympy symbols; the result is sympy.
    Validates B ≥ 1 (integer when numeric) and, without replacement, 1 ≤ B ≤ P.
    """
    if sampling not in SAMPLING_SCHEMES:
        raise ParameterError(f"unknown sampling scheme {sampling!r}; expected one of {', '.join(SAMPLING_SCHEMES)}")
    if sampling == "epoch":
        raise ParameterError(
            "sampling='epoch' (random reshuffling): the P/B minibatches within an epoch are drawn without "
            "replacement from one permutation, so they are correlated and the i.i.d. minibatch formula C/B "
            "does not apply; use 'without_replacement' for independent B-subsets or analyse the epoch as a whole")
    b = _count(batch_size, "batch_size")
    if sampling in ("with_replacement", "online"):
        return 1 / b
    if n_samples is None:
        raise ParameterError("sampling='without_replacement' needs n_samples (the number P of training samples)")
    p = _count(n_samples, "n_samples")
    le = sp.Le(b, p) if not (b.is_number and p.is_number) else (b <= p)
    if le in (sp.false, False):
        raise ParameterError(f"without replacement the batch size B = {b} cannot exceed the number of samples P = {p}")
    if (b - p) == 0 or (b.is_number and p.is_number and b == p):
        return sp.S.Zero
    if p.is_number and p == 1:
        return sp.S.Zero  # B = P = 1
    return (p - b) / (b * (p - 1))


def _count(value, name: str) -> sp.Expr:
    v = sp.sympify(value)
    if v.is_Float and float(v).is_integer():
        v = sp.Integer(int(v))
    if v.is_number:
        if not v.is_integer:
            raise ParameterError(f"{name} must be an integer >= 1, got {value!r}")
        if v < 1:
            raise ParameterError(f"{name} must be >= 1, got {value!r}")
        return sp.Integer(v)
    if v.is_positive is False or (v - 1).is_negative is True:
        raise ParameterError(f"{name} must be >= 1, got {value!r}")
    if v.is_real is False:
        raise ParameterError(f"{name} must be real, got {value!r}")
    return v
