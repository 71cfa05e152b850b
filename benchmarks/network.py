"""The JAX network engine (numerics.models.network) against the hand-written numpy MLP (numerics.models.mlp) on
the same network and weights: digits (P = 1797, 10 classes), 64 → h → h → 10 ReLU without biases, cross-entropy,
the hidden-to-hidden layer (n_l = h²). Timed: C (per-sample gradients and their covariance), H with E_p[h_p²]
(numpy: Kronecker factors; JAX: ``jax.hessian`` and the factored per-sample Hessians of a ``piecewise_linear``
network) and the whole ``measure_layer``. Float64, compilation excluded (the first call is reported)."""

from __future__ import annotations

import numpy as np

from numerics.models.mlp import MLP, curvature_moments, load_digits_data
from numerics.models.noise_curvature import gradient_covariance as numpy_covariance
from numerics.models.noise_curvature import measure_layer as numpy_measure_layer

from .timing import measure, table

try:
    from numerics.models import network
except ImportError:  # pragma: no cover - the network extra is not installed
    network = None

B = 50  # the authors' batch size


def _pairs(model, w, net, X, y):
    """(what, numpy function, JAX function) on layer 1, each returning a tuple of arrays."""
    params = net.params

    def fields(nc):
        return nc.C, nc.H, nc.Eh2

    return [
        ("C: per-sample gradients + covariance",
         lambda: (numpy_covariance(model.per_sample_gradients(w, X, y, layer=1), B),),
         lambda: (network.gradient_covariance(net, params, X, y, "[1]", B),)),
        ("H and E_p[h_p^2]",
         lambda: curvature_moments(*model.kronecker_factors(w, X, y, 1)),
         lambda: network.per_sample_hessian_moments(net, params, X, y, "[1]")),
        ("measure_layer (C, H, E_p[h_p^2])",
         lambda: fields(numpy_measure_layer(model, w, X, y, 1, B)),
         lambda: fields(network.measure_layer(net, params, X, y, "[1]", B))),
    ]


def run(smoke: bool = False, repeats: int = 3) -> str:
    head = "### network engine: JAX vs the numpy MLP, hidden layer of a digits MLP (float64)\n"
    if network is None:
        return head + "\nskipped: jax not installed (extra 'network')\n"
    X, y = load_digits_data()
    if smoke:
        X, y = X[:100], y[:100]
    rows = []
    for h in ((4,) if smoke else (16, 32)):
        model = MLP((X.shape[1], h, h, 10), loss="ce")
        w = model.init(0)
        net = network.Network(network.relu_mlp, [W for W, _ in model.unpack(w)], loss="ce", piecewise_linear=True)
        for what, numpy_fn, jax_fn in _pairs(model, w, net, X, y):
            tn = measure(numpy_fn, repeats, budget_s=5 if smoke else 60, warmup=False)
            tj = measure(jax_fn, repeats, budget_s=5 if smoke else 60)  # its warm-up call compiles
            agree = max(float(np.max(np.abs(a - b)) / np.max(np.abs(a))) for a, b in zip(numpy_fn(), jax_fn()))
            rows.append([h * h, what, f"{tn.best:.3g}", f"{tj.best:.3g}", f"{tn.best / tj.best:.2f}x",
                         f"{tj.first:.2f}", f"{agree:.1e}"])
    return (head + f"\nP = {len(X)}, B = {B}\n\n"
            + table(["n_l", "quantity", "numpy MLP s (best)", "JAX s (best)", "numpy / JAX", "JAX first call s",
                     "max rel. difference"], rows) + "\n")

