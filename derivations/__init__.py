"""sgdnoise's symbolic half: named derivations about the noise of SGD (sympy + mpmath only).

``derivations.get(name)`` builds a registered :class:`Derivation`; ``derivations.names()`` lists them.
This package never imports ``numerics``.
"""

from .derivation import Derivation, Reference, Step, get, names, plain_text, register, title
from .errors import NotNormalisableError, ParameterError, SgdNoiseError, UnknownNameError
from .sde import ItoSDE, StratonovichSDE

__all__ = ["Derivation", "Reference", "Step", "get", "names", "register", "title", "plain_text", "ItoSDE", "StratonovichSDE",
           "SgdNoiseError", "ParameterError", "UnknownNameError", "NotNormalisableError"]
