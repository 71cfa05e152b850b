"""Checks of seed 001 (prefix ``curv``): the estimators' unit tests and the digits MLP on the numpy engine
(:mod:`.mlp`), and the γ grid over losses × architectures × data sets on the JAX engine (:mod:`.grid`)."""

from numerics.checks.curv import grid, mlp

__all__ = ["mlp", "grid"]
