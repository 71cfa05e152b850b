"""Checks of seed 002 (prefix ``perceptron``): the hinge perceptron's exponents and crossovers on the compiled
perceptron engine (:mod:`.hinge`), and the (α, T) phase diagram and T_c(P) of a ReLU network on the JAX engine
(:mod:`.network`, importing it only when run)."""

from numerics.checks.perceptron import hinge, network

__all__ = ["hinge", "network"]
