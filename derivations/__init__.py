"""sgdnoise's symbolic half: named derivations about the noise of SGD (sympy + mpmath only).

``derivations.get(name)`` builds a registered :class:`Derivation`; ``derivations.names()`` lists them.
This package never imports ``numerics``.
"""

from derivations.derivation import Derivation, Reference, Step, example, get, names, plain_text, register, title
from derivations.errors import NotNormalisableError, ParameterError, QuadratureError, SgdNoiseError, UnknownNameError
from derivations.calculus.sde import ItoSDE, StratonovichSDE

__all__ = ["Derivation", "Reference", "Step", "get", "names", "register", "title", "example", "plain_text", "ItoSDE", "StratonovichSDE",
           "SgdNoiseError", "ParameterError", "UnknownNameError", "NotNormalisableError", "QuadratureError"]
