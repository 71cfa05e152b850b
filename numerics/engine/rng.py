"""Seeding: every random stream comes from a ``numpy.random.SeedSequence``.

Replica blocks (and sweep tasks) get children ``SeedSequence(seed, spawn_key=(i,))`` that depend only
on their index, never on how many workers run them, so results are identical for any worker count.
"""

from __future__ import annotations

import numpy as np

from numerics.errors import ParameterError, require_int_in_range


def as_seed_sequence(seed) -> np.random.SeedSequence:
    """An int, a SeedSequence or None (fresh entropy) as a SeedSequence."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.SeedSequence(int(seed))
    raise ParameterError(f"seed must be a non-negative integer or a numpy SeedSequence, got {seed!r}")


def child_seed(seed, index: int) -> np.random.SeedSequence:
    """The ``index``-th child of ``seed``: same as ``as_seed_sequence(seed).spawn(index + 1)[index]``."""
    root = as_seed_sequence(seed)
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, index), pool_size=root.pool_size)


def as_generator(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(as_seed_sequence(seed))


def task_seed(seed, index: int) -> int:
    """Seed of task ``index`` of a sweep with root ``seed``: 64 bits of ``SeedSequence(seed, spawn_key=(index,))``.

    Depends on (seed, index) only — never on the executor or the number of workers.
    """
    require_int_in_range("index", index, 0)
    return int(child_seed(seed, index).generate_state(1, np.uint64)[0])
