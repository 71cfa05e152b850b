"""A finite endpoint e where the density behaves as |x − e|^k, k > −1: the substitution x − e = ±δ s^m
(m(1+k) an integer) that integrates the power exactly, never evaluating f next to e."""

from __future__ import annotations

import math
from typing import Callable

import mpmath

from derivations.calculus.stationary.chebyshev import fit_piece

ROUNDING = 2.0 ** -50  # a relative rounding added to error estimates: of k here, of Z from log Z (× (1 + |log Z|))


def _local_exponent(dlog_f: Callable, e, d, u):
    """k(x) = (x − e)(log f)′(x) at x = e + d·u (d = far − e: signed width of the stretch, u ∈ [0, 1])."""
    return d * u * dlog_f(e + d * u)


class EndPiece:
    """∫ f over the stretch between a finite boundary e and a point ``far`` (width δ = |far − e|), where
    f ~ |x − e|^k with k > −1, by the substitution x − e = ±δ s^m, m = n/(1+k), n = ⌈4(1+k)⌉ (the least
    m ≥ 4 making m(1+k) an integer; m = 1/(1+k) when k ≤ −3/4):

        ∫ f dx = ∫_0^1 h(s) ds,   h = m δ s^(m−1) f(x(s)) = s^(n−1) H(s),   H bounded and nonzero at s = 0,

    so the power is integrated exactly and the Chebyshev fit sees a smooth h. f is never evaluated near e
    (no float resolves 1 − 10⁻⁴⁰⁰): H(1) = m δ f(far), and log |H| has the derivative ψ(s) = m (k(x) − k)/s,
    k(x) = (x − e)(log f)′ the local exponent, which is regular (k(x) − k = O(x − e)); it is evaluated at 256
    bits (k is k(x) at x − e = 10⁻³⁰ δ) and held at its value at x − e = 10⁻¹⁵ δ closer in, which moves Ψ by
    O(10⁻¹⁵). So H = H(1) exp(Ψ(s) − Ψ(1)), Ψ the Chebyshev antiderivative of ψ. ``integral(x)`` is ∫ f from
    the stretch's left end to x, as for the walk's pieces; ``error`` estimates the error of ``total`` (the two
    Chebyshev fits' estimates, and the rounding of k)."""

    _PREC = 256  # bits: resolves x − e = 10⁻³⁰ δ next to e and k(x) − k at x − e ≥ 10⁻¹⁵ δ
    _DEPTH = 24  # bisections towards s = 0, where H − H(0) ~ s^m is only ⌊m⌋ times differentiable for non-integer m

    @classmethod
    def exponent(cls, dlog_f: Callable, e, far):
        """k = lim (x − e)(log f)′ at e, read off at x − e = 10⁻³⁰ (far − e)."""
        with mpmath.workprec(cls._precision(e, far)):
            return _local_exponent(dlog_f, mpmath.mpf(e), mpmath.mpf(far) - e, mpmath.mpf(10) ** -30)

    @classmethod
    def _precision(cls, e, far) -> int:
        return cls._PREC + int(max(0, mpmath.mag(e) - mpmath.mag(far - e)))

    def __init__(self, f_far: float, dlog_f: Callable, e, far, k):
        prec = self._precision(e, far)
        with mpmath.workprec(prec):
            e_mp, d = mpmath.mpf(e), mpmath.mpf(far) - e
        self.e, self.width, self.lower = float(e), float(abs(d)), d > 0
        n = math.ceil(4 * float(1 + k))
        self.m = m = n / float(1 + k)  # 1 + k before rounding: m(1 + k) = n to 2⁻⁵² even for k near −1
        flat = 1e-15 ** (1 / m)  # s at x − e = 10⁻¹⁵ δ

        def psi(s):
            s = max(float(s), flat)
            with mpmath.workprec(prec):
                return float(m * (_local_exponent(dlog_f, e_mp, d, mpmath.mpf(s) ** m) - k) / s)
        psi_piece = fit_piece(psi, lambda s: mpmath.mpf(psi(s)), 0.0, 1.0, self._DEPTH)
        sign, log_h1 = math.copysign(1.0, f_far), math.log(m * self.width * abs(f_far)) - psi_piece.total

        def h(s):
            return sign * s ** (n - 1) * math.exp(log_h1 + psi_piece.integral(s))
        self.piece = fit_piece(h, lambda s: mpmath.mpf(h(float(s))), 0.0, 1.0, self._DEPTH)
        self.total = self.piece.total
        # + a rounding of k (float parameters: sympy rounds α − 1 to 53 bits) moves the total by δk/(1 + k)
        self.error = self.piece.error + (2 * psi_piece.error + ROUNDING / float(1 + k)) * abs(self.total)

    def integral(self, x) -> float:
        inner = self.piece.integral(min(1.0, (abs(float(x) - self.e) / self.width) ** (1 / self.m)))
        return inner if self.lower else self.total - inner
