"""Reference implementations of least-squares replica SGD (with replacement) to race the engine against.

Each peer module has ``NAME``, ``MISSING`` (None, or why it cannot run here: its package is not installed)
and ``make(X, y, eta, B, R, n_steps, seed) -> run``, a zero-argument callable that runs R replicas from
w = 0 for n_steps steps (each replica its own minibatch every step) and returns the final weights (R, N).
Same update everywhere: w ← w − (η/B) Σ_b x_{i_b}(x_{i_b}ᵀw − y_{i_b}), float64.
"""

from . import jax_jit, numba_prange, numpy_gather, torch_cpu

PEERS = (numpy_gather, torch_cpu, jax_jit, numba_prange)
