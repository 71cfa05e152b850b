"""Counter-based random streams of the compiled engines (:mod:`numerics.engine.fast`, :mod:`numerics.engine.hinge_kernel`).

The 32-bit draw d = 0..B−1 of replica r at step k (k = 1, 2, …) is a pure function of (seed, r, k, d): with
mix = the SplitMix64 finaliser (a bijection of 64-bit words), γ = 0x9E3779B97F4A7C15,
(s₀, s₁) = ``SeedSequence(seed).generate_state(2, uint64)`` and J = ⌈B/2⌉,

    key_r = mix(s₀ + (r + 1) γ),   word(r, k, j) = mix(key_r ⊕ mix(s₁ + (k J + j + 1) γ)),

draw d is the low (d even) or high (d odd) half of word(r, k, ⌊d/2⌋), mapped to 0..n−1 by Lemire's
multiply-shift with exact rejection (a rejected value h is replaced by the high half of mix(h + γ)).
Minibatch indices: with replacement, draw d uniform on 0..P−1; without replacement, Floyd's algorithm
(draw d uniform on 0..P−B+d, replaced by P−B+d if already taken) gives a uniform B-subset.

Nothing depends on the number of threads, on how replicas are blocked, or on how a run is cut into
segments. The word functions work on uint64 scalars and arrays (numba-compiled when numba is installed, so
kernels inline them); :func:`bounded` is the compiled scalar mapping, :func:`bounded_array` its numpy twin.
"""

from __future__ import annotations

import functools

import numpy as np

from numerics.engine.rng import as_seed_sequence

try:  # numba is a dependency; where it has no wheel the numpy functions below draw the same streams
    import numba
except ImportError:  # pragma: no cover - exercised on machines without numba
    numba = None

HAVE_NUMBA = numba is not None

GAMMA = np.uint64(0x9E3779B97F4A7C15)
MASK32 = np.uint64(0xFFFFFFFF)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, SHIFT32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)
_ONE = np.uint64(1)


def _wrapping(fn):
    """``fn`` with numpy's overflow warnings off: the streams are arithmetic modulo 2⁶⁴, so wrap-around is
    intended (numba's compiled integers wrap silently; numpy uint64 *scalars* would warn on every overflow)."""

    @functools.wraps(fn)
    def wrapped(*args):
        with np.errstate(over="ignore"):
            return fn(*args)

    return wrapped


def _maybe_jit(fn):
    """Compile a scalar/array uint64 helper with numba when available (numba also maps it over arrays);
    without numba, the same function in numpy with its intended wrap-around silenced."""
    return numba.njit(cache=True, inline="always")(fn) if HAVE_NUMBA else _wrapping(fn)


@_maybe_jit
def mix(z):
    """SplitMix64 finaliser (Stafford's Mix13): a bijection of uint64 words (scalars or arrays)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@_maybe_jit
def replica_key(s0, r):
    """key_r = mix(s₀ + (r + 1) γ)."""
    return mix(s0 + (r + _ONE) * GAMMA)


@_maybe_jit
def counter_word(s1, counter):
    """mix(s₁ + (counter + 1) γ), counter = k J + j: the replica-independent half of a word."""
    return mix(s1 + (counter + _ONE) * GAMMA)


@_maybe_jit
def stream_word(key, s1, counter):
    """word = mix(key_r ⊕ mix(s₁ + (counter + 1) γ)), counter = k J + j."""
    return mix(key ^ counter_word(s1, counter))


def seed_words(seed) -> tuple[np.uint64, np.uint64]:
    """(s₀, s₁) of a seed (int, SeedSequence or None) via ``SeedSequence.generate_state``."""
    s0, s1 = as_seed_sequence(seed).generate_state(2, np.uint64)
    return np.uint64(s0), np.uint64(s1)


if HAVE_NUMBA:
    @numba.njit(cache=True, inline="always")
    def bounded(h, n, threshold):
        """Lemire's multiply-shift: a 32-bit h → uniform on 0..n−1, exact: the biased low values
        (m mod 2³² < threshold = 2³² mod n) are rejected and h replaced by the high half of mix(h + γ).
        ``threshold`` < 0: not precomputed (computed only in the rare case it can matter).
        Vectorised twin: :func:`bounded_array`."""
        m = h * n
        if (m & MASK32) < n:
            if threshold < 0:
                threshold = np.int64(((MASK32 + _ONE) - n) % n)
            while (m & MASK32) < np.uint64(threshold):
                h = mix(h + GAMMA) >> SHIFT32
                m = h * n
        return np.int64(m >> SHIFT32)


def bounded_array(h: np.ndarray, n: int) -> np.ndarray:
    """Vectorised twin of :func:`bounded` (same rejection chain): 32-bit words h → uniform on 0..n−1."""
    n64 = np.uint64(n)
    threshold = np.uint64(((1 << 32) - n) % n)
    m = h * n64
    bad = (m & MASK32) < threshold
    while bad.any():
        h = np.where(bad, mix(h + GAMMA) >> SHIFT32, h)
        m = h * n64
        bad = (m & MASK32) < threshold
    return (m >> SHIFT32).astype(np.int64)


def draw_indices(keys: np.ndarray, s1, step: int, B: int, P: int, without: bool) -> np.ndarray:
    """The (len(keys), B) minibatch indices at ``step`` of the replicas with ``keys`` (module docstring)."""
    J = (B + 1) // 2
    idx = np.empty((keys.size, B), dtype=np.int64)
    for d in range(B):
        if d % 2 == 0:
            word = stream_word(keys, s1, np.uint64(step * J + d // 2))
            h = word & MASK32
        else:
            h = word >> SHIFT32
        if not without:
            idx[:, d] = bounded_array(h, P)
        else:
            top = P - B + d
            t = bounded_array(h, top + 1)
            taken = (idx[:, :d] == t[:, None]).any(axis=1)
            idx[:, d] = np.where(taken, top, t)
    return idx


def draw_minibatches(seed, replicas, step: int, batch_size: int, n_samples: int, sampling: str) -> np.ndarray:
    """The indices (len(replicas), B) that the compiled engines draw at ``step`` for ``sampling`` =
    ``"with_replacement"`` or ``"without_replacement"`` (numpy; the kernels draw the same)."""
    s0, s1 = seed_words(seed)
    r = np.asarray(replicas, dtype=np.uint64)
    return draw_indices(replica_key(s0, r), s1, step, batch_size, n_samples, sampling == "without_replacement")


__all__ = ["HAVE_NUMBA", "mix", "replica_key", "counter_word", "stream_word", "seed_words", "bounded_array",
           "draw_indices", "draw_minibatches"] + (["bounded"] if HAVE_NUMBA else [])
