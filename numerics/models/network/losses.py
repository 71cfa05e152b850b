"""Per-sample losses ℓ(F, t) of one output vector F (K,) and its target t (K,), the names and conventions of
:mod:`numerics.models.mlp`: ``mse`` ℓ = ½‖F − t‖² (linear MSE), ``softmax_mse`` ℓ = ½‖π − t‖² (the paper's
MSE on softmax outputs; the authors' ``nn.MSELoss`` averages over the K classes, i.e. (2/K)·ℓ, see
:func:`numerics.checks.curv.mlp.authors_step`), ``ce`` ℓ = −Σ_k t_k log π_k = logsumexp(F) − ⟨F, t⟩ for one-hot t,
π = softmax(F)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from numerics.errors import require_choice
from numerics.models.mlp import LOSSES


def _mse(F, t):
    return 0.5 * jnp.sum((F - t) ** 2)


def _softmax_mse(F, t):
    return 0.5 * jnp.sum((jax.nn.softmax(F) - t) ** 2)


def _ce(F, t):
    return jax.nn.logsumexp(F) - jnp.dot(F, t)


_BY_NAME = {"mse": _mse, "softmax_mse": _softmax_mse, "ce": _ce}


def per_sample_loss(name: str):
    """ℓ(F, t) for the loss ``name`` in ``mse | softmax_mse | ce``."""
    return _BY_NAME[require_choice("loss", name, LOSSES)]
