"""The network engine on JAX: a user's own network ``apply(params, x)`` (params any pytree) and data →
per-sample gradients (``vmap`` of ``grad``), the layer-wise per-sample-gradient covariance C, the layer Hessian
H of the mean loss, E_p[h_p²], and independent SGD replicas (``vmap`` over parameter copies), all jit-compiled.

Conventions are those of :mod:`numerics.models.mlp` and :mod:`numerics.models.noise_curvature` (the numpy MLP is
the independent cross-check in the tests): L = (1/P) Σ_p ℓ_p with the same per-sample losses (``mse``,
``softmax_mse``, ``ce``), C = [(1/P) Σ_p g_pg_pᵀ − ḡḡᵀ]/B, h_p the per-sample Hessian of one layer's flattened
parameters, E_p[h_p²] the mean of its matrix square.

Importing this package needs jax (the ``network`` extra) and switches jax to float64 for the whole process
(``jax_enable_x64``): the curvature spectra that γ is fitted on span many decades, float32's 7 digits lose the
small eigenvalues, and the cross-checks against the numpy MLP hold to ~1e-10 only in float64. Nothing else in
:mod:`numerics` imports this package, so ``import numerics`` stays cheap and works without jax.
"""

import jax

jax.config.update("jax_enable_x64", True)

from numerics.models.network.network import Network, Samples  # noqa: E402  (after the precision switch)
from numerics.models.network.curvature import (  # noqa: E402
    gradient_covariance, layer_hessian, measure_layer, per_sample_gradients, per_sample_hessian_moments,
)
from numerics.models.network.replicas import ReplicaRun, run_replicas, stack_replicas  # noqa: E402
from numerics.models.network.architectures import relu_cnn, relu_cnn_params, relu_mlp, relu_mlp_params  # noqa: E402
from numerics.models.network.measure import (  # noqa: E402
    NoiseVsCurvature, VarianceFlatness, drift_fraction, noise_vs_curvature, variance_flatness,
)

__all__ = ["Network", "Samples", "per_sample_gradients", "gradient_covariance", "layer_hessian",
           "per_sample_hessian_moments", "measure_layer", "run_replicas", "stack_replicas", "ReplicaRun", "relu_mlp",
           "relu_mlp_params", "relu_cnn", "relu_cnn_params", "noise_vs_curvature", "NoiseVsCurvature", "variance_flatness",
           "VarianceFlatness", "drift_fraction"]
