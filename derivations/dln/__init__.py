"""Deep linear networks (prefix ``dln``): per-mode SDEs, diffusion peak, gradient flow, stationary density
(:mod:`.modes`) and the law of balance (:mod:`.balance`)."""

from derivations.dln import balance, modes

__all__ = ["modes", "balance"]
