"""Counter-based streams (numerics.engine.streams): the documented formula, uniform and independent minibatches,
the compiled scalar mapping and its numpy twin agree."""

import numpy as np
import pytest

from numerics.engine import streams
from numerics.engine.rng import as_seed_sequence
from numerics.stats import replica_mean
from numerics.engine.streams import draw_minibatches
from numerics.testing import assert_mc_agrees

SCHEMES = ["with_replacement", "without_replacement"]
U64 = (1 << 64) - 1


def _mix(z):  # the SplitMix64 finaliser in Python integers, written from its definition
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & U64
    return z ^ (z >> 31)


def _draw(seed, r, k, B, P, without):
    """The module docstring's definition, in Python integers."""
    g = 0x9E3779B97F4A7C15
    s0, s1 = (int(v) for v in as_seed_sequence(seed).generate_state(2, np.uint64))
    key, J, out = _mix((s0 + (r + 1) * g) & U64), (B + 1) // 2, []
    for d in range(B):
        word = _mix(key ^ _mix((s1 + (k * J + d // 2 + 1) * g) & U64))
        h = word & 0xFFFFFFFF if d % 2 == 0 else word >> 32
        n = P - B + d + 1 if without else P
        m = h * n
        while m & 0xFFFFFFFF < (1 << 32) % n:  # Lemire's rejection
            h = _mix((h + g) & U64) >> 32
            m = h * n
        u = m >> 32
        out.append(P - B + d if without and u in out else u)
    return out


@pytest.mark.parametrize("sampling", SCHEMES)
@pytest.mark.parametrize("seed, P, B", [(0, 7, 3), (11, 5, 5), (2**40 + 3, 1000, 6), (5, 3, 1)])
def test_draws_follow_the_documented_definition(seed, P, B, sampling):
    without = sampling == "without_replacement"
    got = draw_minibatches(seed, np.arange(6), 9, B, P, sampling)
    assert got.tolist() == [_draw(seed, r, 9, B, P, without) for r in range(6)]


@pytest.mark.skipif(not streams.HAVE_NUMBA, reason="numba not installed")
def test_compiled_bounded_mapping_equals_its_numpy_twin():
    h = np.random.default_rng(0).integers(0, 2**32, 5000, dtype=np.uint64)
    for n in (1, 3, 7, 1000, 2**31 + 1):  # 2**31 + 1: about half of all h are rejected at least once
        twin = streams.bounded_array(h, n)
        assert [streams.bounded(v, np.uint64(n), -1) for v in h] == twin.tolist()
        assert twin.min() >= 0 and twin.max() < n


@pytest.mark.parametrize("sampling", SCHEMES)
def test_minibatches_are_uniform_and_the_right_kind(sampling):
    """Every index is equally frequent (chi-square, p > 1e-6; each index is in a uniform B-subset with
    probability B/P); the minibatches of neighbouring replicas, and of one replica at neighbouring steps,
    are independent (chi-square contingency on their smallest indices); without replacement never
    repeats an index within a step, with replacement does as often as it should."""
    from scipy.stats import chi2_contingency, chisquare

    P, B, R = 7, 3, 20_000
    idx = draw_minibatches(11, np.arange(R), 4, B, P, sampling)
    assert idx.shape == (R, B) and idx.min() >= 0 and idx.max() < P
    assert chisquare(np.bincount(idx.ravel(), minlength=P)).pvalue > 1e-6
    following = draw_minibatches(11, np.arange(R), 5, B, P, sampling)
    for a, b in [(idx[:-1:2], idx[1::2]), (idx, following)]:
        table = np.zeros((P, P))
        np.add.at(table, (a.min(axis=1), b.min(axis=1)), 1)
        table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
        assert chi2_contingency(table).pvalue > 1e-6
    repeats = (np.sort(idx, axis=1)[:, 1:] == np.sort(idx, axis=1)[:, :-1]).any(axis=1)
    if sampling == "without_replacement":
        assert not repeats.any()
    else:  # P(repeat) = 1 − (P−1)(P−2)/P² for B = 3
        assert_mc_agrees(replica_mean(repeats.astype(float)), 1 - (P - 1) * (P - 2) / P**2)


def test_numpy_streams_without_numba_raise_no_warning():
    """Without numba the streams run in numpy uint64 arithmetic, whose wrap-around is intended: no overflow
    warning may reach the user (run with warnings as errors, numba made unimportable)."""
    import subprocess
    import sys

    code = ("import sys, warnings; sys.modules['numba'] = None; warnings.simplefilter('error'); "
            "import numpy as np; from numerics.engine import streams, hinge_kernel; assert not streams.HAVE_NUMBA; "
            "streams.draw_minibatches(3, range(5), 7, 4, 10, 'without_replacement'); "
            "streams.draw_minibatches(3, range(5), 7, 3, 10, 'with_replacement'); "
            "Z = np.random.default_rng(0).standard_normal((2, 6, 3)); "
            "hinge_kernel.train_to_zero_loss(Z, 1.0, 0.5, 2, 50, seed=1)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
