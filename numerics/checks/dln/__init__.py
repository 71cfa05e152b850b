"""Checks of the deep-linear-network derivations (prefix ``dln``): modes (:mod:`.modes`) and the law of
balance (:mod:`.balance`)."""

from numerics.checks.dln import balance, modes

__all__ = ["modes", "balance"]
