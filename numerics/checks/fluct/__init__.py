"""Checks of seed 003 (prefix ``fluct``): one- and two-layer covariances (:mod:`.layers`) and the inverse
variance–flatness relation (:mod:`.ivfr`)."""

from numerics.checks.fluct import ivfr, layers

__all__ = ["layers", "ivfr"]
