"""A number given for a symbol: the one rule by which user-supplied values are accepted.

A value must be a number, never text (strings are not parsed: ``sympify`` of user text would evaluate it), real
and finite (complex, nan and ±inf have no meaning in a density or a Gaussian integral), and within the symbol's
declared assumptions (``positive``, ``nonnegative``, ``integer``): a value outside them would contradict the
simplifications sympy made under them.
"""

from __future__ import annotations

import numbers

import sympy as sp

from derivations.errors import ParameterError

__all__ = ["checked_number"]


def checked_number(symbol: sp.Symbol, value) -> sp.Expr:
    """``value`` as a sympy number for ``symbol``, or a one-line ParameterError saying what is wrong."""
    if isinstance(value, str) or not isinstance(value, (sp.Expr, numbers.Number)) or isinstance(value, bool):
        raise ParameterError(f"the value of {symbol} must be a number, got {type(value).__name__} {value!r}")
    v = value if isinstance(value, sp.Expr) else sp.sympify(value)  # a number, not text
    if not (v.is_number and v.is_extended_real and v.is_finite):
        raise ParameterError(f"the value of {symbol} must be a finite real number, got {value!r}")
    if (symbol.is_positive and not v.is_positive) or (symbol.is_nonnegative and v.is_negative):
        raise ParameterError(f"{symbol} is declared {'positive' if symbol.is_positive else 'nonnegative'}, "
                             f"got {value!r}")
    if symbol.is_integer and v != sp.floor(v):
        raise ParameterError(f"{symbol} is declared an integer, got {value!r}")
    return v
