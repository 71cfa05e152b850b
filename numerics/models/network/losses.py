"""Per-sample losses ℓ(F, t) of one output vector F (K,) and its target t (K,), the names and conventions of
:mod:`numerics.models.mlp`: ``mse`` ℓ = ½‖F − t‖² (linear MSE), ``softmax_mse`` ℓ = ½‖π − t‖² (the paper's
MSE on softmax outputs; the authors' ``nn.MSELoss`` averages over the K classes, i.e. (2/K)·ℓ, see
:func:`numerics.checks.curv.mlp.authors_step`), ``ce`` ℓ = −Σ_k t_k log π_k = logsumexp(F) − ⟨F, t⟩ for one-hot t,
π = softmax(F);
``hinge`` ℓ = max(0, 1 − F·t) for one output (K = 1) and a target t = ±1 (binary labels as (P, 1) targets), the
authors' loss of seed 002 (with the α-trick, ℓ_p = max(0, 1 − α(f − f₀)t)/α, zero once the margin is met)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from numerics.errors import require_choice


def _mse(F, t):
    return 0.5 * jnp.sum((F - t) ** 2)


def _softmax_mse(F, t):
    return 0.5 * jnp.sum((jax.nn.softmax(F) - t) ** 2)


def _ce(F, t):
    return jax.nn.logsumexp(F) - jnp.dot(F, t)


def _hinge(F, t):
    return jnp.sum(jax.nn.relu(1.0 - F * t))  # K = 1: the one output's hinge


_BY_NAME = {"mse": _mse, "softmax_mse": _softmax_mse, "ce": _ce, "hinge": _hinge}
LOSSES = tuple(_BY_NAME)


def per_sample_loss(name: str):
    """ℓ(F, t) for the loss ``name`` in ``mse | softmax_mse | ce | hinge``."""
    return _BY_NAME[require_choice("loss", name, LOSSES)]
