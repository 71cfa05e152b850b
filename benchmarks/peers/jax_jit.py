"""Peer: JAX, the whole run jitted as one ``lax.fori_loop`` (float64, CPU), keys split per step."""

from __future__ import annotations

try:
    import jax
    import jax.numpy as jnp
except ImportError:  # pragma: no cover
    jax = None

NAME = "JAX jit (fori_loop)"
MISSING = None if jax is not None else "jax not installed (extra 'bench')"


def make(X, y, eta, B, R, n_steps, seed=0):
    jax.config.update("jax_enable_x64", True)
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    P = X.shape[0]

    @jax.jit
    def sgd(key):
        def body(k, w):
            idx = jax.random.randint(jax.random.fold_in(key, k), (R, B), 0, P)
            Xb = Xj[idx]
            res = jnp.einsum("rbn,rn->rb", Xb, w) - yj[idx]
            return w - (eta / B) * jnp.einsum("rbn,rb->rn", Xb, res)

        return jax.lax.fori_loop(0, n_steps, body, jnp.zeros((R, X.shape[1])))

    key = jax.random.PRNGKey(seed)

    def run():
        return sgd(key).block_until_ready()

    return run
