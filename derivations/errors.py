"""Exceptions shared by the whole package (``numerics`` re-exports them)."""

from __future__ import annotations

import difflib


class SgdNoiseError(Exception):
    """Base class of every error the package raises on purpose."""


class ParameterError(SgdNoiseError, ValueError):
    """A parameter is outside its allowed range; the message names it and the range."""


class DerivationError(SgdNoiseError, TypeError):
    """A derivation is malformed, e.g. a step whose equation sympy evaluated to True/False."""


class UnknownNameError(SgdNoiseError, KeyError):
    """An unknown derivation or check name; the message suggests close matches."""

    def __init__(self, kind: str, name: str, known: list[str]):
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        self.message = f"unknown {kind} {name!r}{hint} (known: {', '.join(sorted(known))})"
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.message


class NotNormalisableError(SgdNoiseError):
    """A stationary density exists formally but does not integrate to a finite value."""


class QuadratureError(SgdNoiseError):
    """A numerical integral failed or did not reach its accuracy: a statement about the numerics, not about
    the integrand (a density whose normalisability conditions hold can still be too hard to integrate)."""
