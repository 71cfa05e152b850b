"""Minibatch indices of SGD on a fixed data set of P samples: the one sampler of every engine.

R replicas share one numpy generator and draw in lockstep: step k's indices, an (R, B) array, are drawn before
step k+1's. This is the numpy engine's draw order (:mod:`numerics.engine.sgd`: one generator per block of
replicas). The JAX network engine (:mod:`numerics.models.network.replicas`) gives every replica its own
generator (R = 1), which is the numpy engine at ``block_size=1``: for the same seed both draw the same indices.

Schemes (ARCHITECTURE.md): ``with_replacement``: B independent uniform indices; ``without_replacement``: a
uniform B-subset per step (the positions of the B smallest of P uniform keys), independent across steps;
``epoch``: random reshuffling, a permutation per replica (the argsort of P uniform keys) cut into P // B
minibatches, the last incomplete one dropped.
"""

from __future__ import annotations

import numpy as np

from derivations.conventions import SAMPLING_SCHEMES
from numerics.errors import require_choice, require_int_in_range

INDEX_SCHEMES = tuple(s for s in SAMPLING_SCHEMES if s != "online")  # online draws samples, not indices
_MAX_KEYS = 1 << 22  # uniform keys drawn at once (32 MiB): bounds the memory of many steps of a large P


class MinibatchSampler:
    """Indices of the minibatches of ``n_replicas`` replicas that share the generator ``rng``."""

    def __init__(self, rng: np.random.Generator, sampling: str, n_samples: int, batch_size: int,
                 n_replicas: int = 1):
        self.rng, self.sampling = rng, require_choice("sampling", sampling, INDEX_SCHEMES)
        self.P = require_int_in_range("n_samples", n_samples, 1)
        self.B = require_int_in_range("batch_size", batch_size, 1, self.P)
        self.R = require_int_in_range("n_replicas", n_replicas, 1)
        self._per_epoch = self.P // self.B
        self._position = self._per_epoch  # the first epoch draw reshuffles

    def draw(self, n_steps: int = 1) -> np.ndarray:
        """Indices of the next ``n_steps`` steps, (n_steps, R, B); the same as ``n_steps`` draws of one step
        (numpy fills arrays in stream order, and keeps the spare 32-bit half of a bounded integer draw in the
        bit generator, not in the call), so how many steps are drawn at a time never changes a run."""
        n, P, R = require_int_in_range("n_steps", n_steps, 1), self.P, self.R
        if self.sampling == "with_replacement":
            return self.rng.integers(0, P, size=(n, R, self.B))
        if self.sampling == "epoch":
            return self._epoch_steps(n)
        chunk = max(1, _MAX_KEYS // (R * P))
        return np.concatenate([self._subsets(min(chunk, n - k)) for k in range(0, n, chunk)])

    def _subsets(self, n: int) -> np.ndarray:
        keys = self.rng.random((n, self.R, self.P))
        # B == P sorts: the order inside a minibatch sets the summation order of its mean gradient, and the
        # numpy engine has always drawn full batches in argsort order
        if self.B == self.P:
            return keys.argsort(axis=-1)
        return np.argpartition(keys, self.B - 1, axis=-1)[..., :self.B]

    def _epoch_steps(self, n: int) -> np.ndarray:
        B, out = self.B, np.empty((n, self.R, self.B), dtype=np.int64)
        for k in range(n):
            if self._position == self._per_epoch:
                self._perm = self.rng.random((self.R, self.P)).argsort(axis=1)
                self._position = 0
            out[k] = self._perm[:, self._position * B:(self._position + 1) * B]
            self._position += 1
        return out
