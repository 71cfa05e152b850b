"""Checks of seed 003 (prefix ``fluct``): one- and two-layer covariances (:mod:`.layers`) and the inverse
variance–flatness relation, in linear networks (:mod:`.ivfr`) and in a trained ReLU MLP on the JAX engine
(:mod:`.network`, importing it only when run)."""

from numerics.checks.fluct import ivfr, layers, network

__all__ = ["layers", "ivfr", "network"]
