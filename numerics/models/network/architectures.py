"""Ready-made networks in the engine's form ``apply(params, x)``, with the numpy MLP's parameter layout so that
the two can be run on the same weights."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from numerics.models.mlp import MLP


def relu_mlp(params, x):
    """f(x) = W_L σ(W_{L−1} ⋯ σ(W_1 x)) with σ = ReLU, no biases; params = [W_1, …, W_L], W_l of shape
    (m_out, m_in) as :meth:`numerics.models.mlp.MLP.unpack` gives them (its flat layout is W_l row-major, which is
    the order in which the engine flattens a leaf); x (P, n_in) → (P, n_out)."""
    a = x
    for W in params[:-1]:
        a = jax.nn.relu(a @ W.T)
    return a @ jnp.asarray(params[-1]).T


def relu_mlp_params(widths, seed) -> list:
    """Initial [W_1, …, W_L] of :func:`relu_mlp` with layer widths (n_in, m_1, …, n_out): the numpy MLP's
    He-normal draw (:meth:`numerics.models.mlp.MLP.init`, N(0, 2/fan_in), the last layer N(0, 1/fan_in))."""
    model = MLP(tuple(widths))
    return [W for W, _ in model.unpack(model.init(seed))]
