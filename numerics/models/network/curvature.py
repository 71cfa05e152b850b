"""Noise and curvature of one layer of a :class:`~numerics.models.network.network.Network`, jit-compiled
(the measurements of :mod:`numerics.models.noise_curvature`, same conventions and names):

- per-sample gradients g_p = ∇_θ ℓ_p (P, n_l) by ``vmap`` of ``grad``;
- C = [(1/P) Σ_p g_pg_pᵀ − ḡḡᵀ]/B (the paper's normalisation, as
  :func:`numerics.models.noise_curvature.gradient_covariance`);
- H = ∇²_θ L of the mean loss, by ``jax.hessian`` or, for large layers, by Hessian–vector products on the basis
  vectors in batches (``hvp_batch``: memory of that many HVPs instead of the whole forward-over-reverse Jacobian);
- E_p[h_p²] = (1/P) Σ_p h_p h_p with h_p = ∇²_θ ℓ_p, the matrix square of the per-sample Hessian. A network that
  declares ``piecewise_linear`` has h_p = J_pᵀG_pJ_p (J_p = ∂F/∂θ (K, n_l), G_p = ∇²_F ℓ_p (K, K)), so
  h_p² = J_pᵀ G_p (J_pJ_pᵀ) G_p J_p costs O(K n_l²) per sample; otherwise h_p is formed densely, ``sample_batch``
  samples at a time (O(n_l³) per sample).

θ is the layer's flattened parameters (``Network.get_layer``), the other parameters held at their values.
Arrays come back as numpy float64.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from numerics.errors import require_int_in_range
from numerics.models.network.network import Network
from numerics.models.noise_curvature import NoiseCurvature

_SAMPLE_AXES = (None, None, 0, 0, 0)  # (θ, params, x, t, f0): map over the samples only


def _layer_sample_loss(net: Network, layer: str):
    """(θ, params, x, t, f0) ↦ ℓ_p with the layer's parameters replaced by θ."""
    return lambda theta, params, x, t, f0: net.sample_loss(net.set_layer(params, layer, theta), x, t, f0)


def _per_sample_gradients(net, layer, params, samples):
    theta = net.get_layer(params, layer)
    return jax.vmap(jax.grad(_layer_sample_loss(net, layer)), in_axes=_SAMPLE_AXES)(theta, params, *samples)


def per_sample_gradients(net: Network, params, X, y, layer: str) -> np.ndarray:
    """g_p = ∇_θ ℓ_p of layer ``layer``, (P, n_l)."""
    return np.asarray(_jit_per_sample_gradients(net, layer, params, net.samples(X, y)))


def _covariance(g, batch_size):
    gbar = jnp.mean(g, axis=0)
    return (g.T @ g / g.shape[0] - jnp.outer(gbar, gbar)) / batch_size


def gradient_covariance(net: Network, params, X, y, layer: str, batch_size: int = 1) -> np.ndarray:
    """C = [(1/P) Σ_p g_pg_pᵀ − ḡḡᵀ]/B of layer ``layer`` (n_l, n_l), the per-sample gradients kept on the device."""
    B = require_int_in_range("batch_size", batch_size, 1)
    return np.asarray(_jit_covariance(net, layer, params, net.samples(X, y), B))


def _layer_mean_loss(net, layer, params, samples):
    return lambda theta: net.loss(net.set_layer(params, layer, theta), samples)


def _hessian(net, layer, params, samples, hvp_batch):
    f = _layer_mean_loss(net, layer, params, samples)
    theta = net.get_layer(params, layer)
    if hvp_batch is None:
        return jax.hessian(f)(theta)
    hvp = lambda v: jax.jvp(jax.grad(f), (theta,), (v,))[1]  # noqa: E731  (forward over reverse: H v)
    return jax.lax.map(hvp, jnp.eye(theta.size), batch_size=hvp_batch)  # rows H e_i of a symmetric H


def _hvp_batch(hvp_batch):
    return None if hvp_batch is None else require_int_in_range("hvp_batch", hvp_batch, 1)


def layer_hessian(net: Network, params, X, y, layer: str, *, hvp_batch: int | None = None) -> np.ndarray:
    """H = ∇²_θ L of layer ``layer`` (n_l, n_l): ``jax.hessian``, or Hessian–vector products ``hvp_batch`` at a
    time (for layers whose dense forward-over-reverse Jacobian does not fit in memory)."""
    return np.asarray(_jit_hessian(net, layer, params, net.samples(X, y), _hvp_batch(hvp_batch)))


def _factored_h2(net, layer, params, samples):
    """Σ_p J_pᵀ G_p (J_pJ_pᵀ) G_p J_p over the samples, for h_p = J_pᵀG_pJ_p (piecewise-linear networks)."""
    theta = net.get_layer(params, layer)

    def output(theta, x, f0):  # F for one sample, as a function of θ
        return net.sample_output(net.set_layer(params, layer, theta), x, f0)

    J = jax.vmap(jax.jacrev(output), in_axes=(None, 0, 0))(theta, samples.x, samples.f0)         # (P, K, n)
    G = jax.vmap(jax.hessian(net.output_loss))(net.output(params, samples), samples.t)           # (P, K, K)
    A = G @ (J @ jnp.swapaxes(J, 1, 2)) @ G
    return jnp.einsum("pki,pkl,plj->ij", J, A, J)


def _dense_h2(net, layer, params, samples, sample_batch):
    """Σ_p h_p h_p with dense per-sample Hessians, ``sample_batch`` samples at a time (padding weighted 0)."""
    theta = net.get_layer(params, layer)
    hess = jax.hessian(_layer_sample_loss(net, layer))
    P = samples.n_samples
    pad = -P % sample_batch
    weights = jnp.concatenate([jnp.ones(P), jnp.zeros(pad)]).reshape(-1, sample_batch)
    chunks = jax.tree_util.tree_map(
        lambda a: jnp.concatenate([a, jnp.repeat(a[:1], pad, axis=0)]).reshape((-1, sample_batch) + a.shape[1:]),
        samples)

    def add(total, chunk):
        w, s = chunk
        h = jax.vmap(hess, in_axes=_SAMPLE_AXES)(theta, params, *s)
        return total + jnp.einsum("p,pij,pjk->ik", w, h, h), None

    return jax.lax.scan(add, jnp.zeros((theta.size, theta.size)), (weights, tuple(chunks)))[0]


def _eh2(net, layer, params, samples, sample_batch):
    if net.piecewise_linear:
        total = _factored_h2(net, layer, params, samples)
    else:
        total = _dense_h2(net, layer, params, samples, sample_batch)
    return total / samples.n_samples


def per_sample_hessian_moments(net: Network, params, X, y, layer: str, *, hvp_batch: int | None = None,
                               sample_batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(H, E_p[h_p²]) of layer ``layer``: H = E_p[h_p] = ∇²_θ L (:func:`layer_hessian`) and the mean matrix square
    of the per-sample Hessians (factored when the network declares ``piecewise_linear``)."""
    C, H, Eh2 = _jit_measure(net, layer, params, net.samples(X, y), 1, _hvp_batch(hvp_batch),
                             require_int_in_range("sample_batch", sample_batch, 1), False)
    return np.asarray(H), np.asarray(Eh2)


def _measure(net, layer, params, samples, batch_size, hvp_batch, sample_batch, with_covariance):
    C = _covariance(_per_sample_gradients(net, layer, params, samples), batch_size) if with_covariance else None
    return C, _hessian(net, layer, params, samples, hvp_batch), _eh2(net, layer, params, samples, sample_batch)


# one compiled function per (network, layer, static options); measure_layer fuses C, H and E_p[h_p²] in one
_jit_per_sample_gradients = jax.jit(_per_sample_gradients, static_argnums=(0, 1))
_jit_covariance = jax.jit(lambda net, layer, params, samples, B: _covariance(_per_sample_gradients(net, layer, params, samples), B),
                          static_argnums=(0, 1, 4))
_jit_hessian = jax.jit(_hessian, static_argnums=(0, 1, 4))
_jit_measure = jax.jit(_measure, static_argnums=(0, 1, 4, 5, 6, 7))


def measure_layer(net: Network, params, X, y, layer: str, batch_size: int, *, hvp_batch: int | None = None,
                  sample_batch: int = 64) -> NoiseCurvature:
    """C, H and E_p[h_p²] of layer ``layer`` over the samples (X, y) at ``params`` (as
    :func:`numerics.models.noise_curvature.measure_layer` for the numpy MLP), compiled as one function."""
    C, H, Eh2 = _jit_measure(net, layer, params, net.samples(X, y), require_int_in_range("batch_size", batch_size, 1),
                             _hvp_batch(hvp_batch), require_int_in_range("sample_batch", sample_batch, 1), True)
    return NoiseCurvature(np.asarray(C), np.asarray(H), np.asarray(Eh2), batch_size)
