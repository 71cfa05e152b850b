"""Ready-made networks in the engine's form ``apply(params, x)``: a ReLU MLP with the numpy MLP's parameter layout
(so that the two can be run on the same weights) and a small ReLU CNN for inputs that are 1-D signals or 2-D images
stored flat; both without biases, so piecewise linear in each layer (``Network(..., piecewise_linear=True)``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

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
    model = MLP(tuple(widths), loss="mse")  # the draw does not depend on the loss; "mse" admits one output (hinge)
    return [W for W, _ in model.unpack(model.init(seed))]


def _patches(a, window):
    """The 'SAME' (stride 1) patches of a (P, c, *spatial): (P, c·prod(window), *spatial), channel-major and then
    the window's offsets row-major, the order of a kernel (c_out, c, *window) reshaped to (c_out, c·prod(window))."""
    spatial = a.shape[2:]
    a = jnp.pad(a, [(0, 0), (0, 0)] + [((k - 1) // 2, k // 2) for k in window])   # lax's 'SAME'
    shifted = [a[(slice(None), slice(None)) + tuple(slice(o, o + n) for o, n in zip(offset, spatial))]
               for offset in np.ndindex(*window)]
    return jnp.reshape(jnp.stack(shifted, axis=2), (a.shape[0], -1) + spatial)


def relu_cnn(shape):
    """apply(params, x) of a CNN on inputs x (P, prod(shape)) that are row-major flattened signals (``shape`` (L,))
    or images ((rows, cols)): two convolutions (cross-correlations) with stride 1 and 'SAME' padding, ReLU after
    each, then a dense read-out; params = [K_1 (c, 1, k, …), K_2 (c, c, k, …), W (n_out, c·prod(shape))], no
    biases. A convolution is patches times kernel, built from slices: the per-sample derivatives in the kernel are
    then batched matrix products (vmap of ``lax.conv``'s kernel derivative gives grouped convolutions, which XLA's
    CPU backend runs tens of times slower)."""
    shape = tuple(shape)

    def apply(params, x):
        a = jnp.reshape(x, (x.shape[0], 1) + shape)  # (P, channels, *spatial)
        for K in params[:-1]:
            a = jax.nn.relu(jnp.einsum("oi,pi...->po...", jnp.reshape(K, (K.shape[0], -1)), _patches(a, K.shape[2:])))
        return jnp.reshape(a, (x.shape[0], -1)) @ params[-1].T

    return apply


def relu_cnn_params(shape, channels: int, n_out: int, seed, kernel: int = 3) -> list:
    """Initial [K_1, K_2, W] of :func:`relu_cnn`: He-normal as :func:`relu_mlp_params`, fan-in the receptive field
    (input channels × kernel^d) for the convolutions and c·prod(shape) for the read-out."""
    rng = np.random.default_rng(seed)
    window = (kernel,) * len(shape)
    shapes = [(channels, 1) + window, (channels, channels) + window, (n_out, channels * int(np.prod(shape)))]
    fan_in = [int(np.prod(s[1:])) for s in shapes]
    gains = (2.0, 2.0, 1.0)
    return [rng.standard_normal(s) * np.sqrt(g / f) for s, f, g in zip(shapes, fan_in, gains)]
