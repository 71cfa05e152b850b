"""A user's JAX network as the engine sees it: ``apply(params, x)`` (x a batch (P, …) → outputs (P, K)), its
initial parameters w₀ (any pytree), the per-sample loss, the α-trick, and layers as groups of pytree leaves.

Output and loss (the α-trick of Chizat, Oyallon & Bach as set up in the authors' code of Sclocchi et al.,
seed 002): F(w, x) = α·(f(w, x) − f(w₀, x)) and ℓ_p(w) = ℓ(F(w, x_p), t_p)/α, so F = 0 at initialisation;
α ≫ 1 is the lazy regime, α ≪ 1 feature learning. ``alpha=None`` is the plain network, F = f and ℓ_p = ℓ(f, t_p)
(the convention of :mod:`numerics.models.mlp`). L(w) = (1/P) Σ_p ℓ_p(w).

A layer is a named group of leaves; its parameters θ_l are the leaves' entries flattened row-major and
concatenated in the group's order. By default every leaf is its own layer, named by its path
(``jax.tree_util.keystr``: ``[0]``, ``['dense']['w']``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from numerics.errors import ParameterError, require_positive
from numerics.models.network.losses import per_sample_loss


class Samples(NamedTuple):
    """The data as the engine's functions take it: inputs x (P, …), targets t (P, K) (one-hot for class labels)
    and the initial outputs f0 = f(w₀, x) (P, K) of the α-trick (zeros without it). A pytree: ``vmap`` maps
    over samples, indexing takes minibatches."""

    x: jax.Array
    t: jax.Array
    f0: jax.Array

    def take(self, idx) -> "Samples":
        return Samples(self.x[idx], self.t[idx], self.f0[idx])

    @property
    def n_samples(self) -> int:
        return self.x.shape[0]


class Network:
    """``apply(params, x)`` with initial parameters ``params`` (w₀), loss in ``mse | softmax_mse | ce | hinge``
    (:mod:`~numerics.models.network.losses`).

    ``layers``: None (one layer per leaf) or {name: (leaf path, …)} with paths as ``keystr`` writes them.
    ``piecewise_linear=True`` declares that f is piecewise linear in each layer's parameters (ReLU networks
    without normalisation: ∇²_θ f = 0 almost everywhere), so that h_p = J_pᵀ G_p J_p exactly, J_p = ∂F/∂θ_l and
    G_p = ∇²_F ℓ_p; the curvature functions then use these factors instead of dense per-sample Hessians.
    """

    def __init__(self, apply, params, *, loss: str = "ce", alpha: float | None = None, layers=None,
                 piecewise_linear: bool = False):
        self.apply = apply
        self.params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=jnp.float64), params)
        self.loss_name, self._loss = loss, per_sample_loss(loss)
        self.alpha = None if alpha is None else require_positive("alpha", alpha)
        self.piecewise_linear = bool(piecewise_linear)
        with_path, self._treedef = jax.tree_util.tree_flatten_with_path(self.params)
        self.leaf_names = tuple(jax.tree_util.keystr(path) for path, _ in with_path)
        groups = {name: (name,) for name in self.leaf_names} if layers is None else dict(layers)
        self.layers = {}
        for name, paths in groups.items():
            unknown = [p for p in paths if p not in self.leaf_names]
            if unknown or not paths:
                raise ParameterError(f"layer {name!r}: unknown leaves {unknown} (leaves: {self.leaf_names})")
            self.layers[name] = tuple(self.leaf_names.index(p) for p in paths)
        self._flat0, self._unravel = ravel_pytree(self.params)

    # ------------------------------------------------------------------ parameters
    @property
    def n_params(self) -> int:
        return int(self._flat0.size)

    def flatten(self, params) -> jax.Array:
        """All parameters as one vector (leaves in pytree order, each row-major)."""
        return ravel_pytree(params)[0]

    def unflatten(self, flat) -> object:
        return self._unravel(jnp.asarray(flat, dtype=jnp.float64))

    def layer_size(self, layer: str) -> int:
        leaves = self._treedef.flatten_up_to(self.params)
        return sum(int(leaves[i].size) for i in self._indices(layer))

    def _indices(self, layer: str) -> tuple:
        try:
            return self.layers[layer]
        except KeyError:
            raise ParameterError(f"unknown layer {layer!r}; layers: {list(self.layers)}") from None

    def get_layer(self, params, layer: str) -> jax.Array:
        """θ_l: the layer's leaves flattened row-major and concatenated."""
        leaves = self._treedef.flatten_up_to(params)
        return jnp.concatenate([jnp.ravel(leaves[i]) for i in self._indices(layer)])

    def layer_indices(self, layer: str) -> np.ndarray:
        """Positions of θ_l's entries in the flat parameter vector of :meth:`flatten` (θ_l = flat[indices]):
        the layer read out of the vector 0, 1, …, n − 1."""
        return np.asarray(self.get_layer(self.unflatten(np.arange(self.n_params)), layer)).astype(np.int64)

    def set_layer(self, params, layer: str, theta) -> object:
        """``params`` with layer ``layer``'s leaves replaced by the entries of θ_l."""
        leaves = list(self._treedef.flatten_up_to(params))
        start = 0
        for i in self._indices(layer):
            size = leaves[i].size
            leaves[i] = jnp.reshape(theta[start:start + size], leaves[i].shape)
            start += size
        return self._treedef.unflatten(leaves)

    # ------------------------------------------------------------------ data, output, loss
    def samples(self, X, y) -> Samples:
        """Samples of inputs X and labels y: integer classes (P,) (one-hot targets) or targets (P, K)."""
        x = jnp.asarray(X, dtype=jnp.float64)
        f0 = self.apply(self.params, x)
        y = np.asarray(y)
        K = f0.shape[-1]
        if y.ndim == 1:
            if not np.all(y == np.round(y)) or (y.size and (y.min() < 0 or y.max() >= K)):
                raise ParameterError(f"class labels must be integers 0..{K - 1}")
            t = jax.nn.one_hot(y.astype(int), K, dtype=jnp.float64)
        elif y.shape == f0.shape:
            t = jnp.asarray(y, dtype=jnp.float64)
        else:
            raise ParameterError(f"y must be class labels ({len(x)},) or targets {f0.shape}, got {y.shape}")
        return Samples(x, t, f0 if self.alpha is not None else jnp.zeros_like(f0))

    def output(self, params, samples: Samples) -> jax.Array:
        """F = α(f(w, x) − f(w₀, x)) (α-trick) or f(w, x), (P, K)."""
        return self.output_scale * (self.apply(params, samples.x) - samples.f0)

    @property
    def output_scale(self) -> float:
        """α with the α-trick, else 1."""
        return 1.0 if self.alpha is None else self.alpha

    def output_loss(self, F, t) -> jax.Array:
        """ℓ(F, t)/α (1/α only with the α-trick) for one output F (K,)."""
        return self._loss(F, t) / self.output_scale

    def sample_output(self, params, x, f0) -> jax.Array:
        """F for one sample (x without the batch axis), (K,)."""
        return self.output_scale * (self.apply(params, x[None])[0] - f0)

    def sample_loss(self, params, x, t, f0) -> jax.Array:
        """ℓ_p(w) for one sample."""
        return self.output_loss(self.sample_output(params, x, f0), t)

    def loss(self, params, samples: Samples) -> jax.Array:
        """L(w) = (1/P) Σ_p ℓ_p(w)."""
        return jnp.mean(jax.vmap(self.output_loss)(self.output(params, samples), samples.t))

    def accuracy(self, params, samples: Samples) -> float:
        """The fraction of samples classified right: argmax_k F_k = argmax_k t_k (one-hot targets)."""
        right = jnp.argmax(self.output(params, samples), axis=-1) == jnp.argmax(samples.t, axis=-1)
        return float(np.mean(np.asarray(right)))  # in float64: jnp.mean of booleans is float32
